//! A custom limit policy: stop the run once the agent has written more than an output-token budget.
//!
//! `OutputBudget` implements [`ralph_core::LimitPolicy`]: a pure check over the run's [`LoopStats`] that
//! returns `StopReason::Custom` when `stats.usage.output_tokens` exceeds its budget. The `Verbose` agent
//! never completes and reports 400 output tokens per iteration, so with a budget of 1000 the loop stops
//! after iteration 3 (1200 tokens) with `StopReason::Custom { policy: "output_budget", .. }`.
//!
//! Run with `cargo run -p ralph-examples --example custom_limit [DIR]` (default: a temporary directory).

use ralph_core::async_trait;
use ralph_core::limits::{LimitPolicy, LoopStats, StopReason};
use ralph_core::prompt::PromptSource;
use ralph_core::{
    Agent, AgentOutcome, AgentRequest, CancellationToken, Engine, EngineConfig, Error, EventSender,
    RunSummary, StopHandle,
};
use std::path::{Path, PathBuf};

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
            policy: self.name().into(),
            message: format!(
                "{} output tokens, budget {}",
                stats.usage.output_tokens, self.max_output
            ),
        })
    }
}

/// Reports 400 output tokens per iteration and never finishes.
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

/// Runs the loop in `workspace` until the budget of 1000 output tokens is exceeded.
pub async fn run(workspace: &Path) -> RunSummary {
    let config = EngineConfig::new(PromptSource::Text("Talk.".into()), workspace.into());
    Engine::new(config, Box::new(Verbose))
        .with_policy(Box::new(OutputBudget { max_output: 1000 }))
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
