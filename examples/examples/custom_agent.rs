//! A custom agent: implement [`ralph_core::Agent`] and hand it to the engine.
//!
//! `Counter` works like a real coding agent: it has no memory between runs, reads the workspace, does
//! one step (adds one to the number in `count.txt`) and, once the number is 3, ends its answer with the
//! completion promise `LOOP_COMPLETE` on a line of its own. The loop therefore stops with
//! `StopReason::Completed` after 3 iterations, leaving `count.txt` holding `3`.
//!
//! Run with `cargo run -p ralph-examples --example custom_agent [DIR]` (default: a temporary directory).

use ralph_core::async_trait;
use ralph_core::prompt::PromptSource;
use ralph_core::{
    Agent, AgentEvent, AgentOutcome, AgentRequest, CancellationToken, Engine, EngineConfig, Error,
    EventSender, RunSummary, StopHandle,
};
use std::path::{Path, PathBuf};

/// Adds one to `count.txt` per run; declares completion when it reaches 3.
struct Counter;

#[async_trait]
impl Agent for Counter {
    fn name(&self) -> &str {
        "counter"
    }

    async fn run(
        &self,
        req: AgentRequest,
        events: EventSender,
        _cancel: CancellationToken,
    ) -> Result<AgentOutcome, Error> {
        let file = req.workspace.join("count.txt");
        let old = tokio::fs::read_to_string(&file).await.unwrap_or_default();
        let n = old.trim().parse::<u32>().unwrap_or(0) + 1;
        if let Err(e) = tokio::fs::write(&file, format!("{n}\n")).await {
            return Err(Error::Agent {
                agent: self.name().into(),
                message: format!("cannot write {}", file.display()),
                source: Some(Box::new(e)),
            });
        }
        // Streamed events reach the engine's observers as `LoopEvent::Agent`.
        let _ = events.send(AgentEvent::Text {
            text: format!("iteration {}: count is {n}", req.iteration),
        });
        Ok(AgentOutcome::success(if n >= 3 {
            "Counted to three.\nLOOP_COMPLETE"
        } else {
            "Still counting."
        }))
    }
}

/// Runs the loop in `workspace` until `Counter` completes.
pub async fn run(workspace: &Path) -> RunSummary {
    let config = EngineConfig::new(
        PromptSource::Text("Count to three.".into()),
        workspace.into(),
    );
    Engine::new(config, Box::new(Counter))
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
}
