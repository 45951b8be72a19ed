//! The defaults of the run settings the engine shares with the command line, in one place.
//!
//! [`Limits::default`](crate::Limits::default) and [`EngineConfig::new`](crate::EngineConfig::new) are
//! built from these, and so are `ralph run`'s defaults, its `--help`, `ralph init`'s `ralph.yml` and the
//! settings table of the README. Change a default here and all of them follow.

/// Agent runs per run (`max_iterations`).
pub const MAX_ITERATIONS: u64 = 100;
/// Wall-clock time per run, seconds (`max_runtime`): 4 hours.
pub const MAX_RUNTIME_SECS: u64 = 14_400;
/// Tokens per run, counted as [`Usage::billable_total`](crate::Usage::billable_total) (`max_tokens`).
pub const MAX_TOKENS: u64 = 1_000_000;
/// Cost per run, USD (`max_cost`).
pub const MAX_COST_USD: f64 = 50.0;
/// Consecutive failed iterations tolerated; one more stops the run (`max_retries`).
pub const MAX_RETRIES: u32 = 5;
/// Base of the exponential backoff after a failed iteration, seconds (`retry_delay`).
pub const RETRY_DELAY_SECS: u64 = 2;
/// Wall clock for one agent run, seconds (`iteration_timeout`). Claude Code iterations that edit and
/// test code commonly take 5 to 20 minutes; 30 minutes leaves room without letting a hung agent burn
/// the night.
pub const ITERATION_TIMEOUT_SECS: u64 = 1800;
/// Seconds without any output on the agent's stdout and stderr after which it counts as hung
/// (`idle_timeout`): 10 minutes.
pub const IDLE_TIMEOUT_SECS: u64 = 600;
/// Wait after a usage limit whose reset time the agent did not say, seconds (`rate_limit_wait`).
pub const RATE_LIMIT_WAIT_SECS: u64 = 60;
/// A git checkpoint every this many iterations (`checkpoint_interval`).
pub const CHECKPOINT_INTERVAL: u64 = 5;
/// Completion claims before this iteration are rejected (`min_iterations`).
pub const MIN_ITERATIONS: u64 = 0;
/// The line the agent prints when the whole task is done (`completion_promise`).
pub const COMPLETION_PROMISE: &str = "LOOP_COMPLETE";
/// Iterations whose transcripts (the prompt sent and the agent's output) are kept per run; older ones
/// are deleted (`keep_transcripts`, see [`FileStateStore::with_keep_transcripts`]). At the 4 MiB cap per
/// file that is at most 800 MiB per run.
///
/// [`FileStateStore::with_keep_transcripts`]: crate::FileStateStore::with_keep_transcripts
pub const KEEP_TRANSCRIPTS: u64 = 100;
/// ralph's state directory, relative to the workspace (`state_dir`).
pub const STATE_DIR: &str = ".agent";
