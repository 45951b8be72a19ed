//! A custom agent: implement `ralph_core::Agent` and hand it to the engine.
//!
//! Run with `cargo run -p ralph-examples --example custom_agent`.

use async_trait::async_trait;
use ralph_core::prompt::PromptSource;
use ralph_core::{
    Agent, AgentEvent, AgentOutcome, AgentRequest, Engine, EngineConfig, Error, EventSender,
    StopHandle,
};
use std::sync::atomic::{AtomicU32, Ordering};
use tokio_util::sync::CancellationToken;

/// Counts to three, one number per iteration, then declares completion.
struct Counter {
    runs: AtomicU32,
}

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
        let n = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
        let _ = events.send(AgentEvent::Text {
            text: format!("iteration {}: counted {n}", req.iteration),
        });
        Ok(AgentOutcome::success(if n == 3 {
            "Counted to three.\nLOOP_COMPLETE"
        } else {
            "still counting"
        }))
    }
}

#[tokio::main]
async fn main() {
    let workspace = std::env::temp_dir();
    let config = EngineConfig::new(PromptSource::Text("Count to three.".into()), workspace);
    let engine = Engine::new(
        config,
        Box::new(Counter {
            runs: AtomicU32::new(0),
        }),
    );
    let summary = engine.run(StopHandle::new()).await;
    println!("{} after {} iterations", summary.reason, summary.iterations);
}
