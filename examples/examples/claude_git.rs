//! The full loop with Claude Code and git checkpoints, in a few lines.
//!
//! - [`ClaudeAgent`] (ralph-agents) runs `claude -p --output-format stream-json --verbose
//!   --dangerously-skip-permissions` once per iteration in the workspace, the prompt on stdin.
//! - [`GitCheckpointer`] (ralph-git) commits the workspace as `ralph: checkpoint <N> (run <id>)` every
//!   5 iterations and when the run ends; the workspace becomes a git repository if it is not one.
//! - [`FileStateStore`] keeps the run state in `<workspace>/.agent/`, so a run stopped with Ctrl-C resumes
//!   where it stopped when started again; the engine locks it for the run, so a second run on the same
//!   workspace fails at once (`Engine::try_run` returns `Error::Locked`).
//!
//! The task: create `hello.txt`. It needs Claude Code and a key (`ANTHROPIC_API_KEY`, or `claude` logged
//! in), and it spends tokens: at most 5 iterations and 0.50 USD.
//!
//! Run with `cargo run -p ralph-examples --example claude_git [DIR]` (default: a new directory in the
//! temporary directory, kept). `CLAUDE=/path/to/claude` picks the program (default `claude` on `PATH`).
//! `tests/claude_git.rs` runs it offline with the pinned Claude Code CLI against a scripted model server.

use ralph_agents::ClaudeAgent;
use ralph_core::prompt::PromptSource;
use ralph_core::state::FileStateStore;
use ralph_core::{Engine, EngineConfig, RunSummary, Signal, StopHandle, StopReason};
use ralph_git::{CheckpointOptions, GitCheckpointer, init_repository};
use std::path::{Path, PathBuf};

/// The task given to Claude.
const TASK: &str = "Create hello.txt containing a friendly greeting.";

/// Runs Claude Code (`claude`, the program) in `workspace` until it completes the task or a limit stops it.
pub async fn run(
    workspace: &Path,
    claude: String,
) -> Result<RunSummary, Box<dyn std::error::Error>> {
    init_repository(workspace)?;
    let config = EngineConfig::new(PromptSource::Text(TASK.into()), workspace.into())
        .with_max_iterations(Some(5))
        .with_max_cost_usd(Some(0.50));
    let state = FileStateStore::open(&config.state_dir)?; // creates `.agent/`
    let agent = ClaudeAgent::new().with_command(vec![claude]);
    let git = GitCheckpointer::open(workspace, CheckpointOptions::default())?;
    let engine = Engine::new(config, Box::new(agent))
        .with_checkpointer(Box::new(git))
        .with_state_store(Box::new(state));

    let stop = StopHandle::new();
    let on_ctrl_c = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_ctrl_c.stop(StopReason::Interrupted {
                signal: Signal::Int,
            });
        }
    });
    Ok(engine.try_run(stop).await?)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let workspace = match std::env::args_os().nth(1) {
        Some(dir) => PathBuf::from(dir),
        None => tempfile::Builder::new()
            .prefix("claude-git-")
            .tempdir()?
            .keep(),
    };
    std::fs::create_dir_all(&workspace)?;
    println!("workspace: {}", workspace.display());
    let claude = std::env::var("CLAUDE").unwrap_or_else(|_| "claude".into());
    let summary = run(&workspace, claude).await?;
    println!(
        "run {}: {} ({} iterations, {:.4} USD)",
        summary.run_id, summary.reason, summary.iterations, summary.cost_usd
    );
    Ok(())
}
