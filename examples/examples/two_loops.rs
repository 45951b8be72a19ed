//! Two loops at once in one process, each on its own workspace.
//!
//! Each [`Engine`] owns its agent, configuration and observers, so independent loops run side by side
//! on one tokio runtime; give each its own workspace (two engines on one workspace would share its state
//! directory). The `Greeter` agent writes `hello.txt` in its first iteration and completes in its
//! second, so both loops end with `StopReason::Completed` after 2 iterations, each with its own run id.
//!
//! Run with `cargo run -p ralph-examples --example two_loops [DIR]` (workspaces `DIR/a` and `DIR/b`;
//! default: a temporary directory).

use ralph_core::async_trait;
use ralph_core::prompt::PromptSource;
use ralph_core::{
    Agent, AgentOutcome, AgentRequest, CancellationToken, Engine, EngineConfig, Error, EventSender,
    RunSummary, StopHandle,
};
use std::path::{Path, PathBuf};

/// Writes `hello.txt` if it is missing, else declares completion.
struct Greeter;

#[async_trait]
impl Agent for Greeter {
    fn name(&self) -> &str {
        "greeter"
    }

    async fn run(
        &self,
        req: AgentRequest,
        _: EventSender,
        _: CancellationToken,
    ) -> Result<AgentOutcome, Error> {
        let file = req.workspace.join("hello.txt");
        if tokio::fs::try_exists(&file).await.unwrap_or(false) {
            return Ok(AgentOutcome::success("hello.txt is there.\nLOOP_COMPLETE"));
        }
        let greeting = format!("hello from run {}\n", req.run_id);
        let _ = tokio::fs::write(&file, greeting).await;
        Ok(AgentOutcome::success("Wrote hello.txt."))
    }
}

/// An engine for `workspace`.
fn engine(workspace: &Path) -> Engine {
    let config = EngineConfig::new(PromptSource::Text("Say hello.".into()), workspace.into());
    Engine::new(config, Box::new(Greeter))
}

/// Runs one loop in `first` and one in `second` at the same time; returns both summaries.
pub async fn run(first: &Path, second: &Path) -> (RunSummary, RunSummary) {
    // `Engine::run` is a `Send` future: each loop is a task of its own on the runtime.
    let a = tokio::spawn(engine(first).run(StopHandle::new()));
    let b = tokio::spawn(engine(second).run(StopHandle::new()));
    (
        a.await.expect("the first loop's task"),
        b.await.expect("the second loop's task"),
    )
}

#[tokio::main]
async fn main() {
    let temp = tempfile::tempdir().expect("a temporary directory");
    let root = std::env::args_os()
        .nth(1)
        .map_or_else(|| temp.path().to_path_buf(), PathBuf::from);
    let (a, b) = (root.join("a"), root.join("b"));
    for dir in [&a, &b] {
        std::fs::create_dir_all(dir).expect("create a workspace");
    }
    let (first, second) = run(&a, &b).await;
    for (dir, summary) in [(&a, first), (&b, second)] {
        println!(
            "{}: run {}: {}",
            dir.display(),
            summary.run_id,
            summary.reason
        );
    }
}
