//! Loop events: what observers (terminal output, JSON logs, metrics) see of a run.

use crate::agent::{AgentEvent, OutcomeStatus};
use crate::limits::StopReason;
use crate::usage::Usage;
use crate::verify::VerifyResult;
use serde::{Deserialize, Serialize};

/// Something that happened in the loop. Serialisable: `--log-format json` prints one per line.
///
/// `#[non_exhaustive]`: variants will be added in minor releases; match with a `_` arm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum LoopEvent {
    /// The run started or resumed.
    RunStarted {
        /// Run id.
        run_id: String,
        /// Agent name.
        agent: String,
        /// True when an unfinished run was resumed.
        resumed: bool,
        /// Iterations already done (non-zero when resumed).
        iterations_done: u64,
    },
    /// The previous run with the same prompt already finished; nothing is run again.
    AlreadyFinished {
        /// Run id of the finished run.
        run_id: String,
        /// Why it finished.
        reason: StopReason,
    },
    /// An iteration started.
    IterationStarted {
        /// 1-based iteration.
        iteration: u64,
        /// The iteration limit, if any.
        max_iterations: Option<u64>,
        /// Bytes of the assembled prompt.
        prompt_bytes: usize,
    },
    /// The agent did something.
    Agent {
        /// Iteration.
        iteration: u64,
        /// What it did.
        activity: AgentEvent,
    },
    /// An iteration ended.
    IterationFinished {
        /// Iteration.
        iteration: u64,
        /// How the agent run ended.
        outcome: OutcomeStatus,
        /// Explanation of a non-success outcome.
        message: Option<String>,
        /// Seconds the iteration took.
        duration_secs: f64,
        /// Tokens used in this iteration, by kind.
        usage: Usage,
        /// Cost of this iteration, USD.
        cost_usd: f64,
        /// True when the cost is an estimate.
        cost_estimated: bool,
        /// Billable tokens used by the run so far (see [`Usage::billable_total`]).
        total_tokens: u64,
        /// Cost of the run so far, USD.
        total_cost_usd: f64,
        /// True when this iteration completed the task.
        completed: bool,
    },
    /// The agent claimed completion but the claim was not accepted.
    CompletionRejected {
        /// Iteration.
        iteration: u64,
        /// Why.
        reason: String,
    },
    /// The verifier started checking a completion claim (`--verify`).
    VerificationStarted {
        /// Iteration whose claim is checked.
        iteration: u64,
        /// What is checked (the command, secrets masked).
        check: String,
        /// Seconds the check may take, if bounded.
        timeout_secs: Option<f64>,
    },
    /// A completion claim was checked by the verifier (`--verify`). A result other than `passed` is
    /// followed by [`LoopEvent::CompletionRejected`].
    Verification {
        /// Iteration whose claim was checked.
        iteration: u64,
        /// `passed`, `failed` or `error`.
        result: VerifyResult,
        /// Exit code of the command, when it exited by itself.
        exit_code: Option<i32>,
        /// One line on how it ended ("exit code 1", "timed out after 30 s").
        summary: String,
        /// Seconds the check took.
        duration_secs: f64,
        /// The last 4 KiB of its output (stdout and stderr), secrets masked.
        output_tail: String,
    },
    /// Waiting after a failed iteration.
    Backoff {
        /// Seconds to wait.
        delay_secs: f64,
        /// Failures in a row so far.
        consecutive_failures: u32,
    },
    /// Waiting for a rate or usage limit to reset.
    RateLimitWait {
        /// Seconds to wait.
        wait_secs: f64,
        /// Reset time, Unix seconds, if known.
        reset_at_unix: Option<u64>,
    },
    /// A checkpoint was made (or nothing had changed).
    Checkpoint {
        /// Iteration after which it was taken.
        iteration: u64,
        /// The checkpoint id, `None` when nothing changed.
        id: Option<String>,
        /// True for the end-of-run checkpoint.
        is_final: bool,
    },
    /// A checkpoint could not be made (the run goes on; the next checkpoint tries again).
    CheckpointFailed {
        /// Iteration after which it was due.
        iteration: u64,
        /// True for the end-of-run checkpoint.
        is_final: bool,
        /// Why.
        message: String,
    },
    /// Something went wrong that does not stop the run.
    Warning {
        /// What.
        message: String,
    },
    /// The run ended.
    RunFinished {
        /// Why.
        reason: StopReason,
        /// Iterations in the run.
        iterations: u64,
        /// Tokens by kind.
        usage: Usage,
        /// Cost, USD.
        cost_usd: f64,
        /// True when any part of the cost is an estimate.
        cost_estimated: bool,
        /// Wall-clock seconds used by the run (across restarts).
        elapsed_secs: f64,
    },
}

/// Receives every [`LoopEvent`] of a run, in order, on the engine's task. Keep it quick: the loop waits
/// for it.
///
/// `on_event` takes `&self` and observers are `Send + Sync`, so one observer can be shared: an
/// `Arc<dyn Observer>` (or `Arc<T>`) is an observer too, for example to give one observer to two engines
/// or to read what it collected after the run. Keep state in atomics or a lock; an observer that wants
/// `&mut self` implements [`ObserverMut`] instead and is registered as `Mutex::new(observer)`.
/// Events do not say which engine sent them (only [`LoopEvent::RunStarted`] carries the run id): to
/// tell two engines apart, give each a closure that tags the event before passing it to the shared
/// observer, for example `move |e: &LoopEvent| shared.record("first", e)`.
///
/// Implemented for:
/// - closures `Fn(&LoopEvent) + Send + Sync`;
/// - `Arc<T>` for any observer `T`, including `Arc<dyn Observer>`;
/// - `Mutex<T>` for any [`ObserverMut`] `T`, including closures `FnMut(&LoopEvent) + Send`.
///
/// ```
/// use ralph_core::{LoopEvent, Observer};
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// #[derive(Default)]
/// struct Iterations(AtomicU64);
///
/// impl Observer for Iterations {
///     fn on_event(&self, event: &LoopEvent) {
///         if let LoopEvent::IterationStarted { .. } = event {
///             self.0.fetch_add(1, Ordering::Relaxed);
///         }
///     }
/// }
///
/// let shared: Arc<Iterations> = Arc::default();
/// let observer: Arc<dyn Observer> = shared.clone();
/// let for_engine: Box<dyn Observer> = Box::new(observer); // given to `Engine::with_observer`
/// for_engine.on_event(&LoopEvent::IterationStarted { iteration: 1, max_iterations: None, prompt_bytes: 10 });
/// assert_eq!(shared.0.load(Ordering::Relaxed), 1); // ... read after the run
/// ```
pub trait Observer: Send + Sync {
    /// Called for each event, in order.
    fn on_event(&self, event: &LoopEvent);
}

impl<F: Fn(&LoopEvent) + Send + Sync> Observer for F {
    fn on_event(&self, event: &LoopEvent) {
        self(event)
    }
}

impl<T: Observer + ?Sized> Observer for std::sync::Arc<T> {
    fn on_event(&self, event: &LoopEvent) {
        (**self).on_event(event)
    }
}

/// An observer that keeps its state in plain fields (`&mut self`). Register it as
/// `Box::new(Mutex::new(observer))`: a [`std::sync::Mutex`] of it is an [`Observer`], locked for each
/// event (a poisoned lock is used anyway: an observer that panicked once still sees the events that
/// follow). Closures `FnMut(&LoopEvent) + Send` implement it.
///
/// ```
/// use ralph_core::{LoopEvent, Observer, ObserverMut};
/// use std::sync::Mutex;
///
/// #[derive(Default)]
/// struct Lines(Vec<String>);
///
/// impl ObserverMut for Lines {
///     fn on_event(&mut self, event: &LoopEvent) {
///         self.0.push(format!("{event:?}"));
///     }
/// }
///
/// let observer: Box<dyn Observer> = Box::new(Mutex::new(Lines::default()));
/// # drop(observer);
/// ```
pub trait ObserverMut: Send {
    /// Called for each event, in order.
    fn on_event(&mut self, event: &LoopEvent);
}

impl<F: FnMut(&LoopEvent) + Send> ObserverMut for F {
    fn on_event(&mut self, event: &LoopEvent) {
        self(event)
    }
}

impl<T: ObserverMut + ?Sized> Observer for std::sync::Mutex<T> {
    fn on_event(&self, event: &LoopEvent) {
        self.lock()
            .unwrap_or_else(|p| p.into_inner())
            .on_event(event)
    }
}
