//! An observer that prints every loop event as one JSON object per line (JSON Lines), as
//! `ralph --log-format json` does.
//!
//! `JsonLines` implements [`ralph_core::Observer`]: the engine calls it with each [`LoopEvent`], in
//! order, and it writes `serde_json::to_string(event)` and a newline to any `Write` (stdout here).
//! Observers take `&self` (so one can be shared as an `Arc<dyn Observer>`): the writer sits in a `Mutex`. Each
//! line is an object tagged by `"event"`: `run_started`, `iteration_started`, `agent`,
//! `iteration_finished`, `checkpoint`, `run_finished`, ... The agent completes in its first iteration, so
//! the last line is `{"event":"run_finished","reason":{"reason":"completed",...},...}`.
//!
//! Run with `cargo run -p ralph-examples --example json_observer [DIR]` (default: a temporary directory).

use ralph_core::async_trait;
use ralph_core::prompt::PromptSource;
use ralph_core::{
    Agent, AgentOutcome, AgentRequest, CancellationToken, Engine, EngineConfig, Error, EventSender,
    LoopEvent, Observer, RunSummary, StopHandle,
};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Writes each event as a line of JSON to its writer.
pub struct JsonLines<W>(Mutex<W>);

impl<W> JsonLines<W> {
    /// Writes to `out`.
    pub fn new(out: W) -> Self {
        JsonLines(Mutex::new(out))
    }
}

impl<W: Write + Send> Observer for JsonLines<W> {
    fn on_event(&self, event: &LoopEvent) {
        // Observers cannot fail the run: a closed pipe just loses the line.
        if let (Ok(line), Ok(mut out)) = (serde_json::to_string(event), self.0.lock()) {
            let _ = writeln!(out, "{line}");
        }
    }
}

/// Completes in its first iteration.
struct Done;

#[async_trait]
impl Agent for Done {
    fn name(&self) -> &str {
        "done"
    }

    async fn run(
        &self,
        _: AgentRequest,
        _: EventSender,
        _: CancellationToken,
    ) -> Result<AgentOutcome, Error> {
        Ok(AgentOutcome::success("<promise>LOOP_COMPLETE</promise>"))
    }
}

/// Runs the loop in `workspace`, writing its events to `out` as JSON lines.
pub async fn run(workspace: &Path, out: impl Write + Send + 'static) -> RunSummary {
    let config = EngineConfig::new(PromptSource::Text("Finish.".into()), workspace.into());
    Engine::new(config, Box::new(Done))
        .with_observer(Box::new(JsonLines::new(out)))
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
    run(&workspace, std::io::stdout()).await;
}
