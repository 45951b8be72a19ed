//! A custom limit policy: stop when the agent fails twice in total, not just twice in a row.
//!
//! Run with `cargo run -p ralph-examples --example custom_limit`.

use async_trait::async_trait;
use ralph_core::limits::{LimitPolicy, LoopStats, StopReason};
use ralph_core::prompt::PromptSource;
use ralph_core::{
    Agent, AgentOutcome, AgentRequest, Engine, EngineConfig, Error, EventSender, StopHandle,
};
use tokio_util::sync::CancellationToken;

/// Stops once the run has used more than `max_output` output tokens.
struct OutputBudget {
    max_output: u64,
}

impl LimitPolicy for OutputBudget {
    fn name(&self) -> &str {
        "output_budget"
    }
    fn check(&self, stats: &LoopStats) -> Option<StopReason> {
        (stats.usage.output_tokens > self.max_output).then(|| StopReason::Custom {
            policy: "output_budget".into(),
            message: format!(
                "{} output tokens, budget {}",
                stats.usage.output_tokens, self.max_output
            ),
        })
    }
}

/// Writes 400 output tokens per iteration and never finishes.
struct Verbose;

#[async_trait]
impl Agent for Verbose {
    fn name(&self) -> &str {
        "verbose"
    }
    async fn run(
        &self,
        _: AgentRequest,
        _: EventSender,
        _: CancellationToken,
    ) -> Result<AgentOutcome, Error> {
        let mut outcome = AgentOutcome::success("lots of words");
        outcome.usage.output_tokens = 400;
        Ok(outcome)
    }
}

#[tokio::main]
async fn main() {
    let config = EngineConfig::new(PromptSource::Text("Talk.".into()), std::env::temp_dir());
    let engine = Engine::new(config, Box::new(Verbose))
        .with_policy(Box::new(OutputBudget { max_output: 1000 }));
    let summary = engine.run(StopHandle::new()).await;
    println!("{} after {} iterations", summary.reason, summary.iterations);
}
