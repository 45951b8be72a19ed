//! The loop engine: a pure state machine ([`machine`]) that decides, and the async driver ([`Engine`])
//! that performs its actions.
//!
//! One iteration: read the prompt → assemble it → run the agent (under the deadline, the idle timeout and
//! the stop handle) → classify and account → report it → checkpoint if due → record state → check
//! limits → back off if it failed.

pub mod backoff;
mod driver;
pub use driver::DEADLINE_BACKSTOP;
pub mod machine;
mod run_state;

use crate::agent::Agent;
use crate::checkpoint::{Checkpointer, NoCheckpoints};
use crate::events::{LoopEvent, Observer};
use crate::limits::{LimitPolicy, Limits, LoopStats, StopReason};
use crate::lock::RunLock;
use crate::progress::Fingerprint;
use crate::prompt::{PromptSource, PromptTemplate};
use crate::state::{NoState, RunState, StateStore};
use crate::usage::Usage;
use crate::verify::Verifier;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio_util::sync::CancellationToken;

/// Everything the engine needs besides the agent. Build with [`EngineConfig::new`] (the prompt and the
/// workspace have no sensible default, so there is no `Default`), then adjust with the `with_*` methods
/// or set the public fields directly.
///
/// ```
/// use ralph_core::{EngineConfig, prompt::PromptSource};
/// use std::time::Duration;
///
/// let config = EngineConfig::new(PromptSource::Text("Write hello.txt".into()), "/tmp/ws".into())
///     .with_max_iterations(Some(10))
///     .with_max_cost_usd(Some(2.5))
///     .with_iteration_timeout(Some(Duration::from_secs(600)))
///     .with_checkpoint_interval(1);
/// assert_eq!(config.limits.max_iterations, Some(10));
/// assert_eq!(config.state_dir, std::path::Path::new("/tmp/ws/.agent"));
/// ```
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Where the task prompt comes from (re-read every iteration).
    pub prompt: PromptSource,
    /// Directory the agent works in.
    pub workspace: PathBuf,
    /// ralph's state directory (absolute, or relative to the current directory; default
    /// `workspace/.agent`). Set it here only: the engine passes it, made absolute, to the agent
    /// ([`crate::AgentRequest::state_dir`]) and the checkpointer ([`crate::CheckpointRequest::state_dir`]).
    /// The state store has its own location ([`crate::FileStateStore::open`]): open it on this
    /// directory.
    pub state_dir: PathBuf,
    /// How each iteration's prompt is assembled.
    pub template: PromptTemplate,
    /// The completion promise (default `LOOP_COMPLETE`); empty disables promise detection.
    pub completion_promise: String,
    /// Completion claims before this many iterations are rejected (default 0).
    pub min_iterations: u64,
    /// The built-in limits.
    pub limits: Limits,
    /// Base of the exponential backoff after a failed iteration (default 2 s).
    pub retry_delay: Duration,
    /// Cap of the backoff (default 300 s).
    pub max_backoff: Duration,
    /// Wall clock for one agent run (default 1800 s).
    pub iteration_timeout: Option<Duration>,
    /// Silence after which the agent counts as hung (default 600 s).
    pub idle_timeout: Option<Duration>,
    /// Checkpoint every N iterations (default 5); 0 = only at the end of the run.
    pub checkpoint_interval: u64,
    /// Start a new run even if an unfinished or finished one is in the state directory.
    pub fresh: bool,
    /// Wait after a rate limit whose reset time the agent did not say (default 60 s); doubled for each
    /// further rate-limited attempt in a row, up to `rate_limit_max_wait`.
    pub rate_limit_fallback_wait: Duration,
    /// Cap of the doubling rate-limit wait (default 1800 s).
    pub rate_limit_max_wait: Duration,
    /// Seed for the backoff jitter (tests); `None` = random.
    pub jitter_seed: Option<u64>,
}

impl EngineConfig {
    /// A configuration with the defaults ([`crate::defaults`]) for `prompt` in `workspace` (state in
    /// `workspace/.agent`).
    ///
    /// The built-in limits apply unless changed ([`Limits::default`]: 100 iterations, 4 hours, 1,000,000
    /// tokens, 50 USD, 5 consecutive failures; see [`crate::defaults`]); [`Limits::unlimited`] or the
    /// `with_max_*` builders change them. Each agent run gets a 1800 s deadline and a 600 s idle timeout.
    pub fn new(prompt: PromptSource, workspace: PathBuf) -> Self {
        EngineConfig {
            prompt,
            state_dir: workspace.join(crate::defaults::STATE_DIR),
            workspace,
            template: PromptTemplate::default(),
            completion_promise: crate::defaults::COMPLETION_PROMISE.into(),
            min_iterations: crate::defaults::MIN_ITERATIONS,
            limits: Limits::default(),
            retry_delay: Duration::from_secs(crate::defaults::RETRY_DELAY_SECS),
            max_backoff: Duration::from_secs(300),
            iteration_timeout: Some(Duration::from_secs(crate::defaults::ITERATION_TIMEOUT_SECS)),
            idle_timeout: Some(Duration::from_secs(crate::defaults::IDLE_TIMEOUT_SECS)),
            checkpoint_interval: crate::defaults::CHECKPOINT_INTERVAL,
            fresh: false,
            rate_limit_fallback_wait: Duration::from_secs(crate::defaults::RATE_LIMIT_WAIT_SECS),
            rate_limit_max_wait: machine::DEFAULT_RATE_LIMIT_MAX_WAIT,
            jitter_seed: None,
        }
    }

    /// Sets [`EngineConfig::state_dir`]: the one place that sets ralph's state directory (the engine
    /// gives it to the agent, the checkpointer and the lock).
    pub fn with_state_dir(mut self, state_dir: impl Into<PathBuf>) -> Self {
        self.state_dir = state_dir.into();
        self
    }

    /// Sets [`EngineConfig::template`].
    pub fn with_template(mut self, template: PromptTemplate) -> Self {
        self.template = template;
        self
    }

    /// Sets [`EngineConfig::completion_promise`].
    pub fn with_completion_promise(mut self, promise: impl Into<String>) -> Self {
        self.completion_promise = promise.into();
        self
    }

    /// Sets [`EngineConfig::min_iterations`].
    pub fn with_min_iterations(mut self, iterations: u64) -> Self {
        self.min_iterations = iterations;
        self
    }

    /// Sets all the built-in limits at once ([`EngineConfig::limits`]).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets [`Limits::max_iterations`] (agent runs; `None` = unlimited).
    pub fn with_max_iterations(mut self, limit: Option<u64>) -> Self {
        self.limits.max_iterations = limit;
        self
    }

    /// Sets [`Limits::max_runtime`] (wall-clock time of the run; `None` = unlimited).
    pub fn with_max_runtime(mut self, limit: Option<Duration>) -> Self {
        self.limits.max_runtime = limit;
        self
    }

    /// Sets [`Limits::max_tokens`] (billable tokens; `None` = unlimited).
    pub fn with_max_tokens(mut self, limit: Option<u64>) -> Self {
        self.limits.max_tokens = limit;
        self
    }

    /// Sets [`Limits::max_cost_usd`] (USD; `None` = unlimited).
    pub fn with_max_cost_usd(mut self, limit: Option<f64>) -> Self {
        self.limits.max_cost_usd = limit;
        self
    }

    /// Sets [`Limits::max_retries`] (failed iterations in a row tolerated).
    pub fn with_max_retries(mut self, retries: u32) -> Self {
        self.limits.max_retries = retries;
        self
    }

    /// Sets [`EngineConfig::retry_delay`] and [`EngineConfig::max_backoff`].
    pub fn with_backoff(mut self, retry_delay: Duration, max_backoff: Duration) -> Self {
        self.retry_delay = retry_delay;
        self.max_backoff = max_backoff;
        self
    }

    /// Sets [`EngineConfig::iteration_timeout`] (`None` = no per-iteration limit).
    pub fn with_iteration_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.iteration_timeout = timeout;
        self
    }

    /// Sets [`EngineConfig::idle_timeout`] (`None` = silence is never a hang).
    pub fn with_idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets [`EngineConfig::checkpoint_interval`] (0 = only at the end of the run).
    pub fn with_checkpoint_interval(mut self, iterations: u64) -> Self {
        self.checkpoint_interval = iterations;
        self
    }

    /// Sets [`EngineConfig::fresh`].
    pub fn with_fresh(mut self, fresh: bool) -> Self {
        self.fresh = fresh;
        self
    }

    /// Sets [`EngineConfig::rate_limit_fallback_wait`] and [`EngineConfig::rate_limit_max_wait`].
    pub fn with_rate_limit_wait(mut self, fallback: Duration, max: Duration) -> Self {
        self.rate_limit_fallback_wait = fallback;
        self.rate_limit_max_wait = max;
        self
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Run id.
    pub run_id: String,
    /// Why it stopped.
    pub reason: StopReason,
    /// Iterations run (across restarts).
    pub iterations: u64,
    /// Tokens by kind.
    pub usage: Usage,
    /// Cost, USD.
    pub cost_usd: f64,
    /// True when any part of the cost is an estimate.
    pub cost_estimated: bool,
    /// Wall-clock time used (across restarts), seconds.
    pub elapsed_secs: f64,
    /// True when this invocation found the run already finished and ran nothing.
    pub already_finished: bool,
}

/// Asks a running engine to stop gracefully: the agent is stopped, state saved, the final checkpoint
/// taken. Cloneable (clones share the stop): keep one, give one to [`Engine::run`]. The first reason
/// given wins. A program stops a loop with [`StopHandle::request_stop`]; the CLI turns signals into
/// [`StopReason::Interrupted`] with [`StopHandle::stop`].
#[derive(Debug, Clone, Default)]
pub struct StopHandle {
    token: CancellationToken,
    reason: Arc<Mutex<Option<StopReason>>>,
}

impl StopHandle {
    /// A handle that has not been triggered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests a stop for `reason` (for example [`StopReason::Interrupted`]).
    pub fn stop(&self, reason: StopReason) {
        let mut slot = self.reason.lock().unwrap_or_else(|p| p.into_inner());
        slot.get_or_insert(reason);
        self.token.cancel();
    }

    /// Requests a graceful stop from code, for [`StopReason::Requested`] with `by` (who asks and why,
    /// free text). The run ends as for a signal: the agent is stopped (the iteration it interrupted counts
    /// as run), state saved, and the next engine given the same state store
    /// ([`crate::FileStateStore`], or a clone of the same [`crate::MemoryStateStore`]) resumes it: same
    /// run id, next iteration number, budgets carried over. With the default store ([`crate::NoState`],
    /// [`Engine::new`] without [`Engine::with_state_store`]) nothing is saved and the next run starts over.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use ralph_core::{StopHandle, StopReason};
    /// let stop = StopHandle::new();
    /// let for_engine = stop.clone(); // give this one to `Engine::run`
    /// stop.request_stop("shutting down");
    /// assert!(for_engine.is_stopped());
    /// assert_eq!(for_engine.reason(), Some(StopReason::Requested { by: "shutting down".into() }));
    /// # });
    /// ```
    pub fn request_stop(&self, by: impl Into<String>) {
        self.stop(StopReason::Requested { by: by.into() });
    }

    /// True once a stop was requested ([`StopHandle::stop`] or [`StopHandle::request_stop`]).
    pub fn is_stopped(&self) -> bool {
        self.token.is_cancelled()
    }

    /// The reason of the first stop requested, if any.
    pub fn reason(&self) -> Option<StopReason> {
        self.requested()
    }

    /// Waits until a stop is requested (returns at once if one already was). Cancel-safe.
    pub async fn stopped(&self) {
        self.token.cancelled().await
    }

    /// The reason of the stop, once one was requested (set before the token is cancelled, so it is
    /// there whenever the token is).
    fn requested(&self) -> Option<StopReason> {
        self.reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// The loop engine. Build with [`Engine::new`], add collaborators, then [`Engine::run`].
pub struct Engine {
    config: EngineConfig,
    agent: Box<dyn Agent>,
    checkpointer: Box<dyn Checkpointer>,
    state: Arc<dyn StateStore>,
    observers: Vec<Box<dyn Observer>>,
    policies: Vec<Box<dyn LimitPolicy>>,
    verifier: Option<Box<dyn Verifier>>,
    fingerprint: Option<Box<dyn Fingerprint>>,
    /// The run lock, once taken (or given by [`Engine::with_run_lock`]); released when the engine is
    /// dropped at the end of the run.
    lock: Option<RunLock>,
}

/// Bytes of a verifier's output tail carried by [`LoopEvent::Verification`] (the prompt feedback keeps
/// up to [`crate::verify::OUTPUT_TAIL_CAP`]): 4 KiB.
pub const EVENT_OUTPUT_TAIL_CAP: usize = 4 * 1024;

impl Engine {
    /// An engine with no checkpoints, no persisted state and no observers.
    pub fn new(config: EngineConfig, agent: Box<dyn Agent>) -> Self {
        Engine {
            config,
            agent,
            checkpointer: Box::new(NoCheckpoints),
            state: Arc::new(NoState),
            observers: Vec::new(),
            policies: Vec::new(),
            verifier: None,
            fingerprint: None,
            lock: None,
        }
    }

    /// Fingerprints the workspace before and after every agent run, so that
    /// [`LoopStats::unchanged_iterations`] counts iterations that changed nothing (for
    /// [`crate::progress::StallDetection`]). Only worth its cost with that policy.
    pub fn with_fingerprint(mut self, fingerprint: Box<dyn Fingerprint>) -> Self {
        self.fingerprint = Some(fingerprint);
        self
    }

    /// Checks completion claims with `verifier` (`--verify CMD`): a claim counts only when it passes;
    /// otherwise the run goes on and the verifier's output tail is fed back in the next prompt.
    pub fn with_verifier(mut self, verifier: Box<dyn Verifier>) -> Self {
        self.verifier = Some(verifier);
        self
    }

    /// Uses `checkpointer` to save the workspace.
    pub fn with_checkpointer(mut self, checkpointer: Box<dyn Checkpointer>) -> Self {
        self.checkpointer = checkpointer;
        self
    }

    /// Keeps run state in `store` (resume after a crash needs a persistent store such as
    /// [`crate::state::FileStateStore`]; [`crate::state::MemoryStateStore`] keeps it in memory). When
    /// the run starts, the engine takes the store's lock ([`StateStore::lock`]) and holds it until the
    /// run ends: a second engine on the same state directory fails with [`crate::Error::Locked`].
    pub fn with_state_store(mut self, store: Box<dyn StateStore>) -> Self {
        self.state = Arc::from(store);
        self
    }

    /// Runs under `lock`, already taken by the caller (for example with [`StateStore::lock`], to do
    /// things under it before the run starts), instead of taking the store's lock itself. The lock must
    /// be the one of this engine's state store; it is released when the run ends.
    pub fn with_run_lock(mut self, lock: RunLock) -> Self {
        self.lock = Some(lock);
        self
    }

    /// Adds an observer of [`LoopEvent`]s (it can be shared: see [`Observer`]).
    pub fn with_observer(mut self, observer: Box<dyn Observer>) -> Self {
        self.observers.push(observer);
        self
    }

    /// Adds a limit policy next to the built-in ones.
    pub fn with_policy(mut self, policy: Box<dyn LimitPolicy>) -> Self {
        self.policies.push(policy);
        self
    }

    fn emit(&mut self, event: LoopEvent) {
        for o in &mut self.observers {
            o.on_event(&event);
        }
    }
}

/// A duration read from saved state: negative, NaN or absurd values (a hand-edited file) count as zero
/// instead of panicking.
fn saved_duration(secs: f64) -> Duration {
    Duration::try_from_secs_f64(secs).unwrap_or(Duration::ZERO)
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl LoopStats {
    /// Stats for a run restored from saved state.
    pub fn from_state(state: &RunState) -> Self {
        run_state::stats_of(state, saved_duration(state.runtime_secs))
    }
}

#[cfg(test)]
mod tests;
