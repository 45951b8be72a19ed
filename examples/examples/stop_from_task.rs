//! Stopping a loop from another task: clone the [`StopHandle`] passed to [`Engine::run`] and call
//! [`StopHandle::request_stop`] from anywhere (a spawned task, a signal handler, a web request).
//!
//! The `Endless` agent never finishes on its own: it reports progress every 10 ms until it is cancelled.
//! An observer forwards the loop's events to a spawned watcher task, which stops the loop after it has
//! seen 5 agent events (or after 30 s, whichever comes first). The engine then cancels the running agent,
//! which returns `OutcomeStatus::Cancelled`, and the run ends in iteration 1 with
//! `StopReason::Requested { by }` carrying the watcher's text: resumable, like Ctrl-C.
//!
//! Run with `cargo run -p ralph-examples --example stop_from_task [DIR]` (default: a temporary
//! directory).

use ralph_core::async_trait;
use ralph_core::prompt::PromptSource;
use ralph_core::{
    Agent, AgentEvent, AgentOutcome, AgentRequest, CancellationToken, Engine, EngineConfig, Error,
    EventSender, LoopEvent, OutcomeStatus, RunSummary, StopHandle,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Reports progress every 10 ms until cancelled or out of time.
struct Endless;

#[async_trait]
impl Agent for Endless {
    fn name(&self) -> &str {
        "endless"
    }

    async fn run(
        &self,
        req: AgentRequest,
        events: EventSender,
        cancel: CancellationToken,
    ) -> Result<AgentOutcome, Error> {
        // An agent honours the cancellation token and its deadline itself.
        let deadline = async {
            match req.deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(deadline);
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        for step in 1.. {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = &mut deadline => {
                    return Ok(AgentOutcome::new(OutcomeStatus::TimedOut { kind: req.deadline_kind }));
                }
                _ = tick.tick() => {
                    let _ = events.send(AgentEvent::Text { text: format!("working, step {step}") });
                }
            }
        }
        Ok(AgentOutcome::new(OutcomeStatus::Cancelled))
    }
}

/// Runs the loop in `workspace` until the watcher task stops it; returns the summary and the number of
/// agent events the watcher saw.
pub async fn run(workspace: &Path) -> (RunSummary, usize) {
    let config = EngineConfig::new(PromptSource::Text("Work forever.".into()), workspace.into());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let engine =
        Engine::new(config, Box::new(Endless)).with_observer(Box::new(move |event: &LoopEvent| {
            let _ = tx.send(event.clone());
        }));
    let stop = StopHandle::new();
    let watcher = tokio::spawn({
        let stop = stop.clone();
        async move {
            let mut seen = 0;
            let timeout = tokio::time::sleep(Duration::from_secs(30));
            tokio::pin!(timeout);
            while seen < 5 {
                tokio::select! {
                    event = rx.recv() => match event {
                        Some(LoopEvent::Agent { .. }) => seen += 1,
                        Some(_) => {}
                        None => break, // the run ended by itself
                    },
                    _ = &mut timeout => break,
                }
            }
            // A stop requested by code: resumable, so the next run with this state dir goes on.
            stop.request_stop(format!("watcher: stopped after {seen} agent events"));
            seen
        }
    });
    let summary = engine.run(stop).await;
    (summary, watcher.await.expect("the watcher task"))
}

#[tokio::main]
async fn main() {
    let temp = tempfile::tempdir().expect("a temporary directory");
    let workspace = std::env::args_os()
        .nth(1)
        .map_or_else(|| temp.path().to_path_buf(), PathBuf::from);
    std::fs::create_dir_all(&workspace).expect("create the workspace");
    let (summary, seen) = run(&workspace).await;
    println!(
        "{} ({} iterations, {seen} agent events seen by the watcher)",
        summary.reason, summary.iterations
    );
}
