//! An observer: print every loop event as JSON, as `ralph --log-format json` does.
//!
//! Run with `cargo run -p ralph-examples --example observer`.

use async_trait::async_trait;
use ralph_core::prompt::PromptSource;
use ralph_core::{
    Agent, AgentOutcome, AgentRequest, Engine, EngineConfig, Error, EventSender, LoopEvent,
    StopHandle,
};
use tokio_util::sync::CancellationToken;

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

#[tokio::main]
async fn main() {
    let config = EngineConfig::new(PromptSource::Text("Finish.".into()), std::env::temp_dir());
    let printer =
        |event: &LoopEvent| println!("{}", serde_json::to_string(event).unwrap_or_default());
    let engine = Engine::new(config, Box::new(Done)).with_observer(Box::new(printer));
    engine.run(StopHandle::new()).await;
}
