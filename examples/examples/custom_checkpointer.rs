//! A custom checkpointer: implement [`ralph_core::Checkpointer`] to save the workspace your own way
//! instead of with git.
//!
//! `Snapshots` copies the workspace's top-level files into `<workspace>/.snapshots/<iteration>/` and
//! returns that directory as the [`CheckpointId`]; when nothing changed since its last snapshot it saves
//! nothing and returns `Ok(None)`. With `checkpoint_interval = 1` the engine asks for a checkpoint after
//! every iteration and a final one when the run ends. The `Steps` agent writes `step-<N>.txt` and
//! completes in iteration 2, so the run leaves `.snapshots/1/` (`step-1.txt`) and `.snapshots/2/`
//! (`step-1.txt`, `step-2.txt`); the final checkpoint finds nothing new.
//!
//! Run with `cargo run -p ralph-examples --example custom_checkpointer [DIR]` (default: a temporary
//! directory).

use ralph_core::async_trait;
use ralph_core::prompt::PromptSource;
use ralph_core::{
    Agent, AgentOutcome, AgentRequest, CancellationToken, CheckpointId, CheckpointRequest,
    Checkpointer, Engine, EngineConfig, Error, EventSender, RunSummary, StopHandle,
};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Copies the workspace's top-level files into `.snapshots/<iteration>/`.
struct Snapshots {
    workspace: PathBuf,
    /// The files of the last snapshot, to skip one that would change nothing.
    last: Mutex<BTreeMap<OsString, Vec<u8>>>,
}

impl Snapshots {
    /// Saves the workspace's files unless they are the same as in the last snapshot.
    async fn save(&self, request: &CheckpointRequest) -> std::io::Result<Option<CheckpointId>> {
        let mut files = BTreeMap::new();
        let mut entries = tokio::fs::read_dir(&self.workspace).await?;
        while let Some(entry) = entries.next_entry().await? {
            if entry.file_type().await?.is_file() {
                files.insert(entry.file_name(), tokio::fs::read(entry.path()).await?);
            }
        }
        if *self.last.lock().unwrap_or_else(|p| p.into_inner()) == files {
            return Ok(None);
        }
        let dir = self
            .workspace
            .join(".snapshots")
            .join(request.iteration.to_string());
        tokio::fs::create_dir_all(&dir).await?;
        for (name, bytes) in &files {
            tokio::fs::write(dir.join(name), bytes).await?;
        }
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = files;
        Ok(Some(CheckpointId(dir.display().to_string())))
    }
}

#[async_trait]
impl Checkpointer for Snapshots {
    async fn checkpoint(&self, request: &CheckpointRequest) -> Result<Option<CheckpointId>, Error> {
        // The engine reports an error as `LoopEvent::CheckpointFailed` and carries on.
        self.save(request).await.map_err(|e| Error::Checkpoint {
            message: format!("snapshot of iteration {}", request.iteration),
            source: Some(Box::new(e)),
        })
    }
}

/// Writes `step-<iteration>.txt`; completes in iteration 2.
struct Steps;

#[async_trait]
impl Agent for Steps {
    fn name(&self) -> &str {
        "steps"
    }

    async fn run(
        &self,
        req: AgentRequest,
        _: EventSender,
        _: CancellationToken,
    ) -> Result<AgentOutcome, Error> {
        let file = req.workspace.join(format!("step-{}.txt", req.iteration));
        let _ = tokio::fs::write(file, "done\n").await;
        Ok(AgentOutcome::success(if req.iteration == 2 {
            "LOOP_COMPLETE"
        } else {
            "one step done"
        }))
    }
}

/// Runs the loop in `workspace` with a snapshot after every iteration.
pub async fn run(workspace: &Path) -> RunSummary {
    let mut config = EngineConfig::new(PromptSource::Text("Two steps.".into()), workspace.into());
    config.checkpoint_interval = 1;
    let snapshots = Snapshots {
        workspace: workspace.into(),
        last: Mutex::default(),
    };
    Engine::new(config, Box::new(Steps))
        .with_checkpointer(Box::new(snapshots))
        .run(StopHandle::new())
        .await
}

#[tokio::main]
async fn main() {
    let temp = tempfile::tempdir().expect("a temporary directory");
    let workspace = std::env::args_os()
        .nth(1)
        .map_or_else(|| temp.path().to_path_buf(), PathBuf::from);
    std::fs::create_dir_all(&workspace).expect("create the workspace");
    let summary = run(&workspace).await;
    println!("{} ({} iterations)", summary.reason, summary.iterations);
    for entry in std::fs::read_dir(workspace.join(".snapshots"))
        .into_iter()
        .flatten()
    {
        println!("snapshot {}", entry.expect("a snapshot").path().display());
    }
}
