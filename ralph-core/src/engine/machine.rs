//! The loop as a pure state machine: inputs in, actions out, no I/O and no clocks.
//!
//! The async driver ([`super::Engine`]) feeds it what happened (the run state was loaded, the prompt was
//! read, usage arrived, the agent finished, a save failed, a stop was requested) with the current time, and
//! performs the actions it returns, in order (run the agent, stop it, report, checkpoint, record, wait,
//! finish). Every decision is the machine's: the driver holds no policy. Unit tests drive it directly.
//!
//! A stop is told to the machine whenever it is requested, also when it raced with the step that just
//! ended (the agent finishing on its own, the verifier giving its verdict): the machine then still
//! checks a pending completion claim (the verifier sees the stop and ends at once) and records the
//! iteration, and finishes instead of waiting.

use super::backoff::Backoff;
use crate::agent::{AgentOutcome, OutcomeStatus, TimeoutKind};
use crate::completion::{CompletionSource, find_promise};
use crate::limits::{LimitPolicy, LoopStats, StopReason};
use crate::usage::{Cost, Usage};
use std::time::Duration;

/// What happened, as told to [`Machine::step`].
#[derive(Debug, Clone)]
pub enum Input {
    /// The run state is ready (a new run, or a resumed one with its saved counters) and the agent's
    /// preflight check ran. The first input of a run.
    Started {
        /// The counters to start from (zero for a new run).
        stats: LoopStats,
        /// Why the agent cannot be run, when its preflight check failed: the run finishes with
        /// [`StopReason::AgentUnavailable`] before any iteration.
        agent_unavailable: Option<String>,
    },
    /// The run could not start: the prompt could not be read, or the run state could not be loaded,
    /// recovered or first saved. The run ends with [`Action::Abort`].
    StartFailed {
        /// The error.
        error: String,
    },
    /// A step of a started run failed: the prompt could not be read, or the run state could not be
    /// saved (before an iteration, or after [`Action::Record`]). The run finishes with
    /// [`StopReason::Error`]; an iteration not yet started is not run.
    Failed {
        /// The error.
        error: String,
    },
    /// The iteration was recorded and the run state saved (after [`Action::Record`]).
    Recorded,
    /// Ready to start the next iteration; the prompt was read and checked for the task marker.
    Ready {
        /// True when the prompt file holds a `- [x] TASK_COMPLETE` line.
        prompt_marked_complete: bool,
        /// Wall-clock time used by the run so far.
        elapsed: Duration,
    },
    /// The running agent reported usage so far in this iteration (cumulative for the iteration).
    Progress {
        /// Tokens by kind so far in this iteration.
        usage: Usage,
        /// Cost so far in this iteration.
        cost: Option<Cost>,
        /// Wall-clock time used by the run so far.
        elapsed: Duration,
    },
    /// The agent run ended.
    Finished {
        /// Its outcome.
        outcome: AgentOutcome,
        /// Wall-clock time used by the run so far.
        elapsed: Duration,
        /// Current time, Unix seconds (to turn a rate-limit reset time into a wait).
        now_unix: u64,
        /// Whether the agent run changed the workspace (its fingerprint before and after differ); `None`
        /// when not known (no fingerprint configured or it could not be taken), which counts as a change.
        workspace_changed: Option<bool>,
    },
    /// The verifier finished checking a completion claim (after [`Action::Verify`]).
    Verified {
        /// True when the claim holds.
        passed: bool,
        /// Why it does not, for [`Action::RejectCompletion`] (ignored when `passed`).
        reason: String,
        /// Wall-clock time used by the run so far.
        elapsed: Duration,
    },
    /// A stop was requested (a signal, or code through the stop handle). It takes effect at once
    /// between iterations; while the agent runs the machine asks to stop it ([`Action::CancelAgent`])
    /// and finishes once it has ended and its iteration is recorded; while a claim is checked or an
    /// iteration recorded, it finishes after that. Telling the same stop again changes nothing.
    Stop(StopReason),
}

/// What the driver must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Start iteration `iteration`, stopping the agent after `timeout` (if any).
    RunIteration {
        /// 1-based iteration.
        iteration: u64,
        /// Time the agent may run.
        timeout: Option<Duration>,
        /// Which limit `timeout` comes from.
        timeout_kind: TimeoutKind,
    },
    /// Stop the running agent; the stop reason is reported when it has stopped.
    CancelAgent,
    /// Tell observers the iteration ended (before its checkpoint, so lines print in order).
    Report {
        /// Iteration.
        iteration: u64,
        /// True when it completed the task.
        completed: bool,
    },
    /// Record the finished iteration (the iteration record, naming the checkpoint taken just before if
    /// any, and the run state), then feed [`Input::Recorded`], or [`Input::Failed`] when the state could
    /// not be saved.
    Record {
        /// Iteration.
        iteration: u64,
        /// True when it completed the task.
        completed: bool,
    },
    /// Check the completion claim of `iteration` with the verifier, then feed [`Input::Verified`].
    Verify {
        /// Iteration whose claim is checked.
        iteration: u64,
        /// Time the check may take (the iteration timeout bounded by the remaining runtime).
        timeout: Option<Duration>,
    },
    /// Tell observers that a completion claim was not accepted.
    RejectCompletion {
        /// Why.
        reason: String,
    },
    /// Take a checkpoint after `iteration` (before its [`Action::Record`], which names it).
    Checkpoint {
        /// Iteration.
        iteration: u64,
    },
    /// Wait before the next iteration after a failure.
    Backoff {
        /// How long.
        delay: Duration,
        /// Failures in a row.
        consecutive_failures: u32,
    },
    /// Wait for a rate limit to reset.
    WaitRateLimit {
        /// How long.
        wait: Duration,
        /// Reset time, Unix seconds, if known.
        reset_at_unix: Option<u64>,
    },
    /// The run is over: take the final checkpoint, save, report.
    Finish(StopReason),
    /// The run could not start: report `reason`; there is no run state to checkpoint or save.
    Abort(StopReason),
}

/// Settings of the state machine.
#[derive(Debug, Clone)]
pub struct MachineConfig {
    /// The completion promise; empty disables promise detection.
    pub completion_promise: String,
    /// Completion claims before this many iterations are rejected.
    pub min_iterations: u64,
    /// Checkpoint every N iterations; 0 = only the final checkpoint.
    pub checkpoint_interval: u64,
    /// Per-iteration wall-clock timeout.
    pub iteration_timeout: Option<Duration>,
    /// Backoff after failures.
    pub backoff: Backoff,
    /// Wait after the first rate-limited attempt whose reset time is unknown (the `rate_limit_wait`
    /// setting); it doubles with each further rate-limited attempt in a row.
    pub rate_limit_fallback_wait: Duration,
    /// Cap of the doubling rate-limit wait (never below `rate_limit_fallback_wait`).
    pub rate_limit_max_wait: Duration,
    /// True when completion claims are checked by a verifier ([`Action::Verify`]).
    pub verify: bool,
}

/// Default cap of the doubling rate-limit wait: 30 minutes.
pub const DEFAULT_RATE_LIMIT_MAX_WAIT: Duration = Duration::from_secs(1800);

/// The loop's state.
pub struct Machine {
    config: MachineConfig,
    policies: Vec<Box<dyn LimitPolicy>>,
    stats: LoopStats,
    /// Totals up to the end of the previous iteration.
    base_usage: Usage,
    base_cost: f64,
    running: Option<u64>,
    pending_stop: Option<StopReason>,
    finished: bool,
    /// Rate-limited attempts in a row (reset by any other outcome); drives the doubling fallback wait.
    consecutive_rate_limits: u32,
    /// The iteration whose completion claim the verifier is checking, and how it was claimed.
    verifying: Option<(u64, CompletionSource)>,
    /// An iteration being recorded ([`Action::Record`]), and what comes after it.
    recording: Option<AfterRecord>,
}

/// What an iteration's end decided, applied once it is recorded ([`Input::Recorded`]).
#[derive(Debug)]
struct AfterRecord {
    /// The task was completed: finish with this reason.
    completed: Option<StopReason>,
    /// A rate-limit wait, already checked against the runtime.
    wait: Option<Action>,
    /// The iteration failed: back off.
    failed: bool,
}

impl Machine {
    /// A machine that starts from `stats` (zero for a new run, the saved counters for a resumed one).
    pub fn new(
        config: MachineConfig,
        policies: Vec<Box<dyn LimitPolicy>>,
        stats: LoopStats,
    ) -> Self {
        Machine {
            base_usage: stats.usage,
            base_cost: stats.cost_usd,
            config,
            policies,
            stats,
            running: None,
            pending_stop: None,
            finished: false,
            consecutive_rate_limits: 0,
            verifying: None,
            recording: None,
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> &LoopStats {
        &self.stats
    }

    /// True once a [`Action::Finish`] was returned.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    fn finish(&mut self, reason: StopReason) -> Vec<Action> {
        self.finished = true;
        vec![Action::Finish(reason)]
    }

    fn check_policies(&self, between_iterations: bool) -> Option<StopReason> {
        self.policies
            .iter()
            .filter(|p| between_iterations || !p.only_between_iterations())
            .find_map(|p| p.check(&self.stats))
    }

    /// The iteration timeout bounded by the remaining runtime, and which of the two it is.
    fn timeout(&self) -> (Option<Duration>, TimeoutKind) {
        match (self.config.iteration_timeout, self.remaining_time()) {
            (Some(t), Some(r)) if r < t => (Some(r), TimeoutKind::Runtime),
            (Some(t), _) => (Some(t), TimeoutKind::Iteration),
            (None, Some(r)) => (Some(r), TimeoutKind::Runtime),
            (None, None) => (None, TimeoutKind::Iteration),
        }
    }

    fn remaining_time(&self) -> Option<Duration> {
        self.policies
            .iter()
            .filter_map(|p| p.remaining_time(&self.stats))
            .min()
    }

    /// Feeds one input; returns the actions to perform, in order.
    pub fn step(&mut self, input: Input) -> Vec<Action> {
        if self.finished {
            return Vec::new();
        }
        match input {
            Input::Started {
                stats,
                agent_unavailable,
            } => {
                self.base_usage = stats.usage;
                self.base_cost = stats.cost_usd;
                self.stats = stats;
                match agent_unavailable {
                    Some(message) => self.finish(StopReason::AgentUnavailable { message }),
                    None => Vec::new(),
                }
            }
            Input::StartFailed { error } => {
                self.finished = true;
                vec![Action::Abort(StopReason::Error { message: error })]
            }
            Input::Failed { error } => {
                // Without saved state nothing more may run: not the iteration about to start, not what
                // the recorded one decided.
                self.running = None;
                self.verifying = None;
                self.recording = None;
                self.finish(StopReason::Error { message: error })
            }
            Input::Recorded => self.on_recorded(),
            Input::Stop(reason) => {
                if self.verifying.is_some() || self.recording.is_some() {
                    // The driver stops the verifier; the iteration is concluded on `Verified`, and the
                    // stop takes effect once the iteration is recorded.
                    self.pending_stop.get_or_insert(reason);
                    Vec::new()
                } else if self.running.is_some() {
                    self.pending_stop.get_or_insert(reason);
                    vec![Action::CancelAgent]
                } else {
                    self.finish(reason)
                }
            }
            Input::Ready {
                prompt_marked_complete,
                elapsed,
            } => {
                self.stats.elapsed = elapsed;
                if let Some(reason) = self.pending_stop.take() {
                    return self.finish(reason);
                }
                if prompt_marked_complete {
                    let iteration = self.stats.iterations;
                    return self.finish(StopReason::Completed {
                        iteration,
                        source: CompletionSource::TaskMarker,
                    });
                }
                if let Some(reason) = self.check_policies(true) {
                    return self.finish(reason);
                }
                self.stats.iterations += 1;
                let iteration = self.stats.iterations;
                self.running = Some(iteration);
                let (timeout, timeout_kind) = self.timeout();
                vec![Action::RunIteration {
                    iteration,
                    timeout,
                    timeout_kind,
                }]
            }
            Input::Progress {
                usage,
                cost,
                elapsed,
            } => {
                if self.running.is_none() || self.pending_stop.is_some() {
                    return Vec::new();
                }
                self.stats.elapsed = elapsed;
                self.apply_iteration_usage(usage, cost);
                match self.check_policies(false) {
                    Some(reason) => {
                        self.pending_stop = Some(reason);
                        vec![Action::CancelAgent]
                    }
                    None => Vec::new(),
                }
            }
            Input::Finished {
                outcome,
                elapsed,
                now_unix,
                workspace_changed,
            } => self.on_finished(outcome, elapsed, now_unix, workspace_changed),
            Input::Verified {
                passed,
                reason,
                elapsed,
            } => self.on_verified(passed, reason, elapsed),
        }
    }

    fn apply_iteration_usage(&mut self, usage: Usage, cost: Option<Cost>) {
        let mut total = self.base_usage;
        total += usage;
        self.stats.usage = total;
        if let Some(c) = cost {
            self.stats.cost_usd = self.base_cost + c.usd;
            self.stats.cost_estimated |= c.estimated;
        }
    }

    fn on_finished(
        &mut self,
        outcome: AgentOutcome,
        elapsed: Duration,
        now_unix: u64,
        workspace_changed: Option<bool>,
    ) -> Vec<Action> {
        let Some(iteration) = self.running.take() else {
            return Vec::new();
        };
        self.track_progress(&outcome, workspace_changed);
        self.stats.elapsed = elapsed;
        self.stats.cost_usd = self.base_cost;
        self.apply_iteration_usage(outcome.usage, outcome.cost);
        self.base_usage = self.stats.usage;
        self.base_cost = self.stats.cost_usd;

        let mut actions = Vec::new();
        let mut completed = None;
        let mut wait = None;
        let rate_limited = matches!(outcome.status, OutcomeStatus::RateLimited { .. });
        if !rate_limited {
            self.consecutive_rate_limits = 0;
        }
        match &outcome.status {
            OutcomeStatus::Success => {
                self.stats.consecutive_failures = 0;
                let claim = outcome
                    .final_text
                    .as_deref()
                    .and_then(|t| find_promise(t, &self.config.completion_promise));
                if let Some(source) = claim {
                    if iteration < self.config.min_iterations {
                        actions.push(Action::RejectCompletion {
                            reason: format!(
                                "completion claimed in iteration {iteration}, before --min-iterations {}",
                                self.config.min_iterations
                            ),
                        });
                    } else if self.config.verify {
                        // The claim stands only if the verifier agrees: ask it, conclude on `Verified`.
                        // With a stop pending there is no time to check it: the stop wins.
                        if self.pending_stop.is_none() {
                            self.verifying = Some((iteration, source));
                            let timeout = self.timeout().0;
                            return vec![Action::Verify { iteration, timeout }];
                        }
                    } else {
                        completed = Some(StopReason::Completed { iteration, source });
                    }
                }
            }
            OutcomeStatus::Failed { .. } | OutcomeStatus::TimedOut { .. } => {
                self.stats.consecutive_failures += 1;
                self.stats.last_failure = Some(describe_failure(&outcome));
            }
            OutcomeStatus::RateLimited { reset_at_unix } => {
                // A rate-limited attempt is not an iteration: the same iteration number is tried again
                // after the wait. It counts against the runtime and against tokens/cost it reported.
                self.stats.iterations -= 1;
                self.consecutive_rate_limits += 1;
                // A reset time already past (a clock skew, a stale message) is no better than none: it
                // would retry at once, again and again, without using up an iteration.
                let reset_at_unix = &reset_at_unix.filter(|reset| *reset >= now_unix);
                let wait_for = match reset_at_unix {
                    Some(reset) => Duration::from_secs(reset - now_unix),
                    None => self.fallback_wait(),
                };
                let said = outcome
                    .message
                    .clone()
                    .unwrap_or_else(|| "usage limit reached".into());
                match self.remaining_time() {
                    Some(r) if wait_for >= r => {
                        let when = match reset_at_unix {
                            Some(_) => format!("the limit resets in {} s", wait_for.as_secs()),
                            None => {
                                format!(
                                    "no reset time given; the wait is {} s",
                                    wait_for.as_secs_f64()
                                )
                            }
                        };
                        let message = format!(
                            "{said}; {when}, beyond the remaining runtime of {:.1} s",
                            r.as_secs_f64()
                        );
                        self.pending_stop
                            .get_or_insert(StopReason::RateLimited { message });
                    }
                    _ => {
                        wait = Some(Action::WaitRateLimit {
                            wait: wait_for,
                            reset_at_unix: *reset_at_unix,
                        });
                    }
                }
            }
            OutcomeStatus::Cancelled => {}
        }
        let failed = !outcome.status.is_success() && self.stats.consecutive_failures > 0;
        actions.extend(self.conclude(
            iteration,
            completed,
            wait,
            failed && !rate_limited,
            rate_limited,
        ));
        actions
    }

    fn on_verified(&mut self, passed: bool, reason: String, elapsed: Duration) -> Vec<Action> {
        let Some((iteration, source)) = self.verifying.take() else {
            return Vec::new();
        };
        self.stats.elapsed = elapsed;
        if passed {
            let reason = StopReason::Completed { iteration, source };
            return self.conclude(iteration, Some(reason), None, false, false);
        }
        let mut actions = vec![Action::RejectCompletion { reason }];
        actions.extend(self.conclude(iteration, None, None, false, false));
        actions
    }

    /// After an iteration (and its verification): report it, checkpoint when due, record it; what comes
    /// next is decided once it is recorded ([`Machine::on_recorded`]). `wait` is a rate-limit wait
    /// already checked against the runtime; `failed` asks for the back-off; a `rate_limited` attempt
    /// takes no interval checkpoint.
    fn conclude(
        &mut self,
        iteration: u64,
        completed: Option<StopReason>,
        wait: Option<Action>,
        failed: bool,
        rate_limited: bool,
    ) -> Vec<Action> {
        let done = completed.is_some();
        let mut actions = vec![Action::Report {
            iteration,
            completed: done,
        }];
        let interval = self.config.checkpoint_interval;
        if interval > 0 && iteration.is_multiple_of(interval) && !rate_limited {
            actions.push(Action::Checkpoint { iteration });
        }
        actions.push(Action::Record {
            iteration,
            completed: done,
        });
        self.recording = Some(AfterRecord {
            completed,
            wait,
            failed,
        });
        actions
    }

    /// The iteration is recorded: finish (completed, a pending stop, a limit), wait for a rate limit, or
    /// back off after a failure.
    fn on_recorded(&mut self) -> Vec<Action> {
        let Some(AfterRecord {
            completed,
            wait,
            failed,
        }) = self.recording.take()
        else {
            return Vec::new();
        };
        if let Some(reason) = completed {
            return self.finish(reason);
        }
        if let Some(reason) = self.pending_stop.take() {
            return self.finish(reason);
        }
        if let Some(reason) = self.check_policies(true) {
            return self.finish(reason);
        }
        let mut actions = Vec::new();
        if let Some(w) = wait {
            actions.push(w);
        } else if failed {
            let failures = self.stats.consecutive_failures;
            let delay = self.config.backoff.delay(failures);
            match self.remaining_time() {
                // Waiting would use up the runtime: stop now instead of sleeping into the limit.
                Some(r) if !delay.is_zero() && delay >= r => {
                    let limit_secs = (self.stats.elapsed + r).as_secs_f64().round() as u64;
                    actions.extend(self.finish(StopReason::MaxRuntime { limit_secs }));
                }
                _ => actions.push(Action::Backoff {
                    delay,
                    consecutive_failures: failures,
                }),
            }
        }
        actions
    }

    /// Updates the progress counters the stall and loop policies read.
    fn track_progress(&mut self, outcome: &AgentOutcome, workspace_changed: Option<bool>) {
        match outcome.status {
            OutcomeStatus::RateLimited { .. } => {}
            OutcomeStatus::Success => {
                if workspace_changed == Some(false) {
                    self.stats.unchanged_iterations += 1;
                } else {
                    self.stats.unchanged_iterations = 0;
                }
                let answers = &mut self.stats.recent_answers;
                answers.push(crate::progress::keep_answer(
                    outcome.final_text.as_deref().unwrap_or(""),
                ));
                if answers.len() > crate::progress::RECENT_ANSWERS {
                    answers.remove(0);
                }
            }
            _ => {
                self.stats.unchanged_iterations = 0;
                self.stats.recent_answers.clear();
            }
        }
    }

    /// The wait for a rate limit without a reset time: `rate_limit_fallback_wait` doubled for each
    /// rate-limited attempt in a row after the first, capped at `rate_limit_max_wait`.
    fn fallback_wait(&self) -> Duration {
        let base = self.config.rate_limit_fallback_wait;
        let cap = self.config.rate_limit_max_wait.max(base);
        let exp = self.consecutive_rate_limits.saturating_sub(1).min(30);
        base.saturating_mul(1u32 << exp).min(cap)
    }
}

/// A one-line description of a failed outcome: its message, else its status.
fn describe_failure(outcome: &AgentOutcome) -> String {
    if let Some(m) = &outcome.message {
        return m.clone();
    }
    match &outcome.status {
        OutcomeStatus::TimedOut { kind } => format!("timed out ({kind:?} timeout)").to_lowercase(),
        OutcomeStatus::Failed {
            kind,
            api_status: Some(s),
        } => format!("{kind:?} failure (HTTP {s})").to_lowercase(),
        OutcomeStatus::Failed { kind, .. } => match outcome.exit_code {
            Some(code) => format!("{kind:?} failure (exit code {code})").to_lowercase(),
            None => format!("{kind:?} failure").to_lowercase(),
        },
        other => other.label().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::FailureKind;
    use crate::limits::{Limits, Signal};

    fn config() -> MachineConfig {
        MachineConfig {
            completion_promise: "LOOP_COMPLETE".into(),
            min_iterations: 0,
            checkpoint_interval: 5,
            iteration_timeout: Some(Duration::from_secs(600)),
            backoff: Backoff::new(Duration::from_secs(2), Duration::from_secs(300), Some(7)),
            rate_limit_fallback_wait: Duration::from_secs(60),
            rate_limit_max_wait: DEFAULT_RATE_LIMIT_MAX_WAIT,
            verify: false,
        }
    }

    fn machine(limits: Limits) -> Machine {
        Machine::new(config(), limits.policies(), LoopStats::default())
    }

    fn ready(m: &mut Machine, secs: u64) -> Vec<Action> {
        m.step(Input::Ready {
            prompt_marked_complete: false,
            elapsed: Duration::from_secs(secs),
        })
    }

    /// `actions`, and when they end by recording an iteration, what the machine does once it is recorded.
    fn recorded(m: &mut Machine, mut actions: Vec<Action>) -> Vec<Action> {
        if matches!(actions.last(), Some(Action::Record { .. })) {
            actions.extend(m.step(Input::Recorded));
        }
        actions
    }

    fn finished(m: &mut Machine, outcome: AgentOutcome, secs: u64) -> Vec<Action> {
        let actions = m.step(Input::Finished {
            outcome,
            elapsed: Duration::from_secs(secs),
            now_unix: 1_000,
            workspace_changed: None,
        });
        recorded(m, actions)
    }

    fn failed(kind: FailureKind) -> AgentOutcome {
        AgentOutcome {
            message: Some("HTTP 401".into()),
            ..AgentOutcome::new(OutcomeStatus::Failed {
                kind,
                api_status: Some(401),
            })
        }
    }

    #[test]
    fn promise_on_its_own_line_completes_the_run() {
        let mut m = machine(Limits::default());
        assert!(matches!(
            ready(&mut m, 0)[..],
            [Action::RunIteration { iteration: 1, .. }]
        ));
        let actions = finished(&mut m, AgentOutcome::success("Done.\nLOOP_COMPLETE"), 1);
        assert_eq!(
            actions,
            vec![
                Action::Report {
                    iteration: 1,
                    completed: true
                },
                Action::Record {
                    iteration: 1,
                    completed: true
                },
                Action::Finish(StopReason::Completed {
                    iteration: 1,
                    source: CompletionSource::PromiseLine
                })
            ]
        );
        assert!(m.is_finished());
    }

    #[test]
    fn promise_in_a_sentence_runs_until_max_iterations() {
        let mut m = machine(Limits {
            max_iterations: Some(2),
            ..Limits::default()
        });
        for i in 1..=2 {
            assert!(matches!(
                ready(&mut m, i)[..],
                [Action::RunIteration { .. }]
            ));
            let actions = finished(
                &mut m,
                AgentOutcome::success("I will print LOOP_COMPLETE when done"),
                i,
            );
            if i == 1 {
                assert_eq!(
                    actions,
                    vec![
                        Action::Report {
                            iteration: 1,
                            completed: false
                        },
                        Action::Record {
                            iteration: 1,
                            completed: false
                        }
                    ]
                );
            } else {
                assert_eq!(
                    actions.last(),
                    Some(&Action::Finish(StopReason::MaxIterations { limit: 2 }))
                );
            }
        }
        assert_eq!(m.stats().iterations, 2);
    }

    #[test]
    fn failures_back_off_exponentially_and_stop_after_max_retries() {
        let mut m = machine(Limits {
            max_retries: 2,
            ..Limits::default()
        });
        let mut delays = Vec::new();
        for i in 1..=3 {
            ready(&mut m, 0);
            let actions = finished(&mut m, failed(FailureKind::Auth), 0);
            match actions.last().unwrap() {
                Action::Backoff {
                    delay,
                    consecutive_failures,
                } => {
                    assert_eq!(*consecutive_failures, i);
                    delays.push(*delay);
                }
                Action::Finish(StopReason::TooManyFailures {
                    failures,
                    last_failure,
                }) => {
                    assert_eq!((i, *failures, last_failure.as_str()), (3, 3, "HTTP 401"));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(delays.len(), 2);
        assert!(delays[1] > delays[0], "{delays:?}");
    }

    #[test]
    fn success_resets_consecutive_failures() {
        let mut m = machine(Limits {
            max_retries: 1,
            ..Limits::default()
        });
        ready(&mut m, 0);
        finished(&mut m, failed(FailureKind::Api), 0);
        ready(&mut m, 0);
        finished(&mut m, AgentOutcome::success("progress"), 0);
        assert_eq!(m.stats().consecutive_failures, 0);
        ready(&mut m, 0);
        let actions = finished(&mut m, failed(FailureKind::Api), 0);
        assert!(
            matches!(actions.last(), Some(Action::Backoff { .. })),
            "{actions:?}"
        );
    }

    #[test]
    fn a_timeout_counts_as_a_failure_not_a_rate_limit() {
        let mut m = machine(Limits {
            max_retries: 0,
            ..Limits::default()
        });
        ready(&mut m, 0);
        let actions = finished(
            &mut m,
            AgentOutcome::new(OutcomeStatus::TimedOut {
                kind: TimeoutKind::Iteration,
            }),
            5,
        );
        assert!(
            matches!(
                actions.last(),
                Some(Action::Finish(StopReason::TooManyFailures { .. }))
            ),
            "{actions:?}"
        );
    }

    #[test]
    fn runtime_limit_bounds_the_iteration_timeout() {
        let mut m = machine(Limits {
            max_runtime: Some(Duration::from_secs(100)),
            ..Limits::default()
        });
        let actions = ready(&mut m, 70);
        assert_eq!(
            actions,
            vec![Action::RunIteration {
                iteration: 1,
                timeout: Some(Duration::from_secs(30)),
                timeout_kind: TimeoutKind::Runtime
            }]
        );
    }

    #[test]
    fn token_limit_cancels_the_running_agent_as_usage_arrives() {
        let mut m = machine(Limits {
            max_tokens: Some(1000),
            ..Limits::default()
        });
        ready(&mut m, 0);
        let small = Usage {
            input_tokens: 500,
            ..Default::default()
        };
        assert!(
            m.step(Input::Progress {
                usage: small,
                cost: None,
                elapsed: Duration::ZERO
            })
            .is_empty()
        );
        let big = Usage {
            input_tokens: 900,
            output_tokens: 200,
            ..Default::default()
        };
        assert_eq!(
            m.step(Input::Progress {
                usage: big,
                cost: None,
                elapsed: Duration::ZERO
            }),
            vec![Action::CancelAgent]
        );
        let outcome = AgentOutcome {
            usage: big,
            ..AgentOutcome::new(OutcomeStatus::Cancelled)
        };
        let actions = finished(&mut m, outcome, 1);
        assert_eq!(
            actions.last(),
            Some(&Action::Finish(StopReason::MaxTokens {
                limit: 1000,
                used: 1100
            }))
        );
    }

    #[test]
    fn cost_limit_stops_between_iterations() {
        let mut m = machine(Limits {
            max_cost_usd: Some(1.0),
            ..Limits::default()
        });
        ready(&mut m, 0);
        let outcome = AgentOutcome {
            cost: Some(Cost {
                usd: 0.6,
                estimated: false,
            }),
            ..AgentOutcome::success("x")
        };
        finished(&mut m, outcome.clone(), 0);
        ready(&mut m, 0);
        let actions = finished(&mut m, outcome, 0);
        assert!(
            matches!(
                actions.last(),
                Some(Action::Finish(StopReason::MaxCost { .. }))
            ),
            "{actions:?}"
        );
        assert!((m.stats().cost_usd - 1.2).abs() < 1e-9);
    }

    #[test]
    fn task_marker_completes_before_the_next_iteration() {
        let mut m = machine(Limits::default());
        let actions = m.step(Input::Ready {
            prompt_marked_complete: true,
            elapsed: Duration::ZERO,
        });
        assert_eq!(
            actions,
            vec![Action::Finish(StopReason::Completed {
                iteration: 0,
                source: CompletionSource::TaskMarker
            })]
        );
    }

    #[test]
    fn checkpoint_every_interval() {
        let mut m = machine(Limits::default());
        let mut checkpoints = Vec::new();
        for i in 1..=10 {
            ready(&mut m, 0);
            for a in finished(&mut m, AgentOutcome::success("x"), 0) {
                if let Action::Checkpoint { iteration } = a {
                    checkpoints.push(iteration);
                }
            }
            assert_eq!(m.stats().iterations, i);
        }
        assert_eq!(checkpoints, vec![5, 10]);
    }

    #[test]
    fn min_iterations_rejects_early_completion() {
        let mut cfg = config();
        cfg.min_iterations = 2;
        let mut m = Machine::new(cfg, Limits::default().policies(), LoopStats::default());
        ready(&mut m, 0);
        let actions = finished(&mut m, AgentOutcome::success("LOOP_COMPLETE"), 0);
        assert!(
            matches!(actions[0], Action::RejectCompletion { .. }),
            "{actions:?}"
        );
        ready(&mut m, 0);
        let actions = finished(&mut m, AgentOutcome::success("LOOP_COMPLETE"), 0);
        assert!(matches!(
            actions.last(),
            Some(Action::Finish(StopReason::Completed { iteration: 2, .. }))
        ));
    }

    #[test]
    fn rate_limit_waits_for_reset_when_it_fits_and_is_not_a_failure() {
        let mut m = machine(Limits::default());
        ready(&mut m, 0);
        let outcome = AgentOutcome::new(OutcomeStatus::RateLimited {
            reset_at_unix: Some(1_120),
        });
        let actions = finished(&mut m, outcome, 0);
        assert_eq!(
            actions.last(),
            Some(&Action::WaitRateLimit {
                wait: Duration::from_secs(120),
                reset_at_unix: Some(1_120)
            })
        );
        assert_eq!(m.stats().consecutive_failures, 0);
    }

    #[test]
    fn rate_limit_beyond_the_runtime_stops_with_a_reason() {
        let mut m = machine(Limits {
            max_runtime: Some(Duration::from_secs(60)),
            ..Limits::default()
        });
        ready(&mut m, 0);
        let outcome = AgentOutcome::new(OutcomeStatus::RateLimited {
            reset_at_unix: Some(1_000 + 3600),
        });
        let actions = finished(&mut m, outcome, 1);
        assert!(
            matches!(
                actions.last(),
                Some(Action::Finish(StopReason::RateLimited { .. }))
            ),
            "{actions:?}"
        );
    }

    #[test]
    fn stop_during_an_iteration_cancels_then_finishes() {
        let mut m = machine(Limits::default());
        ready(&mut m, 0);
        let reason = StopReason::Interrupted {
            signal: Signal::Int,
        };
        assert_eq!(
            m.step(Input::Stop(reason.clone())),
            vec![Action::CancelAgent]
        );
        let actions = finished(&mut m, AgentOutcome::new(OutcomeStatus::Cancelled), 1);
        assert_eq!(
            actions,
            vec![
                Action::Report {
                    iteration: 1,
                    completed: false
                },
                Action::Record {
                    iteration: 1,
                    completed: false
                },
                Action::Finish(reason)
            ]
        );
    }

    #[test]
    fn resumed_stats_keep_counting() {
        let stats = LoopStats {
            iterations: 4,
            ..LoopStats::default()
        };
        let mut m = Machine::new(
            config(),
            Limits {
                max_iterations: Some(5),
                ..Limits::default()
            }
            .policies(),
            stats,
        );
        assert!(matches!(
            ready(&mut m, 0)[..],
            [Action::RunIteration { iteration: 5, .. }]
        ));
        let actions = finished(&mut m, AgentOutcome::success("x"), 0);
        assert_eq!(
            actions.last(),
            Some(&Action::Finish(StopReason::MaxIterations { limit: 5 }))
        );
    }

    fn rate_limited(reset_at_unix: Option<u64>) -> AgentOutcome {
        AgentOutcome::new(OutcomeStatus::RateLimited { reset_at_unix })
    }

    fn runtime(secs: u64) -> Limits {
        Limits {
            max_runtime: Some(Duration::from_secs(secs)),
            ..Limits::default()
        }
    }

    #[test]
    fn a_fallback_wait_longer_than_the_remaining_runtime_stops_at_once() {
        // 60 s fallback wait, 15 s of runtime left: stop now, do not sleep 60 s.
        let mut m = machine(runtime(100));
        ready(&mut m, 80);
        let actions = finished(&mut m, rate_limited(None), 85);
        assert!(
            !actions
                .iter()
                .any(|a| matches!(a, Action::WaitRateLimit { .. })),
            "{actions:?}"
        );
        match actions.last() {
            Some(Action::Finish(StopReason::RateLimited { message })) => {
                assert!(message.contains("60 s"), "{message}");
                assert!(message.contains("15.0 s"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_fallback_wait_that_fits_is_waited() {
        let mut m = machine(runtime(1000));
        ready(&mut m, 0);
        let actions = finished(&mut m, rate_limited(None), 5);
        assert_eq!(
            actions.last(),
            Some(&Action::WaitRateLimit {
                wait: Duration::from_secs(60),
                reset_at_unix: None
            })
        );
    }

    #[test]
    fn a_backoff_longer_than_the_remaining_runtime_stops_at_once_with_max_runtime() {
        let mut cfg = config();
        cfg.backoff = Backoff::new(Duration::from_secs(60), Duration::from_secs(300), Some(7));
        let mut m = Machine::new(cfg, runtime(100).policies(), LoopStats::default());
        ready(&mut m, 80);
        let actions = finished(&mut m, failed(FailureKind::Api), 85);
        assert!(
            !actions.iter().any(|a| matches!(a, Action::Backoff { .. })),
            "{actions:?}"
        );
        assert_eq!(
            actions.last(),
            Some(&Action::Finish(StopReason::MaxRuntime { limit_secs: 100 }))
        );
    }

    #[test]
    fn a_backoff_that_fits_is_waited_in_full() {
        let mut m = machine(runtime(100));
        ready(&mut m, 0);
        let actions = finished(&mut m, failed(FailureKind::Api), 1);
        match actions.last() {
            Some(Action::Backoff { delay, .. }) => {
                assert!(*delay >= Duration::from_millis(1600), "{delay:?}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_fallback_wait_doubles_per_rate_limit_in_a_row_up_to_the_cap_and_resets() {
        let mut cfg = config();
        cfg.rate_limit_max_wait = Duration::from_secs(200);
        let mut m = Machine::new(cfg, Limits::default().policies(), LoopStats::default());
        let mut waits = Vec::new();
        for _ in 0..4 {
            ready(&mut m, 0);
            match finished(&mut m, rate_limited(None), 0).last() {
                Some(Action::WaitRateLimit { wait, .. }) => waits.push(wait.as_secs()),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(waits, vec![60, 120, 200, 200]);
        ready(&mut m, 0);
        finished(&mut m, AgentOutcome::success("progress"), 0);
        ready(&mut m, 0);
        assert_eq!(
            finished(&mut m, rate_limited(None), 0).last(),
            Some(&Action::WaitRateLimit {
                wait: Duration::from_secs(60),
                reset_at_unix: None
            }),
            "a non-rate-limited iteration resets the doubling"
        );
    }

    #[test]
    fn a_rate_limited_attempt_does_not_use_an_iteration_or_count_as_a_failure() {
        let mut m = machine(Limits {
            max_iterations: Some(2),
            max_retries: 0,
            ..Limits::default()
        });
        assert!(matches!(
            ready(&mut m, 0)[..],
            [Action::RunIteration { iteration: 1, .. }]
        ));
        let outcome = AgentOutcome {
            usage: Usage {
                input_tokens: 40,
                ..Default::default()
            },
            cost: Some(Cost {
                usd: 0.25,
                estimated: false,
            }),
            ..rate_limited(Some(1_010))
        };
        let actions = finished(&mut m, outcome, 1);
        assert_eq!(
            actions[..2],
            [
                Action::Report {
                    iteration: 1,
                    completed: false
                },
                Action::Record {
                    iteration: 1,
                    completed: false
                }
            ],
            "the attempt is recorded under the iteration it retries"
        );
        assert_eq!(m.stats().iterations, 0);
        assert_eq!(m.stats().consecutive_failures, 0);
        assert_eq!(m.stats().usage.input_tokens, 40, "its tokens count");
        assert!((m.stats().cost_usd - 0.25).abs() < 1e-9, "its cost counts");
        // The same iteration number again, and still two iterations to go.
        assert!(matches!(
            ready(&mut m, 2)[..],
            [Action::RunIteration { iteration: 1, .. }]
        ));
        finished(&mut m, AgentOutcome::success("x"), 3);
        assert!(matches!(
            ready(&mut m, 3)[..],
            [Action::RunIteration { iteration: 2, .. }]
        ));
        let actions = finished(&mut m, AgentOutcome::success("x"), 4);
        assert_eq!(
            actions.last(),
            Some(&Action::Finish(StopReason::MaxIterations { limit: 2 }))
        );
    }

    #[test]
    fn a_rate_limited_attempt_takes_no_interval_checkpoint() {
        let mut cfg = config();
        cfg.checkpoint_interval = 1;
        let mut m = Machine::new(cfg, Limits::default().policies(), LoopStats::default());
        ready(&mut m, 0);
        let actions = finished(&mut m, rate_limited(Some(1_001)), 0);
        assert!(
            !actions
                .iter()
                .any(|a| matches!(a, Action::Checkpoint { .. })),
            "{actions:?}"
        );
    }

    fn verifying_machine(min_iterations: u64) -> Machine {
        let mut cfg = config();
        cfg.verify = true;
        cfg.min_iterations = min_iterations;
        Machine::new(cfg, Limits::default().policies(), LoopStats::default())
    }

    fn verified(m: &mut Machine, passed: bool) -> Vec<Action> {
        let actions = m.step(Input::Verified {
            passed,
            reason: "verification `make check` failed: exit code 1".into(),
            elapsed: Duration::from_secs(2),
        });
        recorded(m, actions)
    }

    #[test]
    fn with_a_verifier_a_claim_is_checked_before_it_completes_the_run() {
        let mut m = verifying_machine(0);
        ready(&mut m, 0);
        let actions = finished(&mut m, AgentOutcome::success("LOOP_COMPLETE"), 1);
        assert_eq!(
            actions,
            vec![Action::Verify {
                iteration: 1,
                timeout: Some(Duration::from_secs(600))
            }],
            "nothing is recorded before the verdict"
        );
        assert_eq!(
            verified(&mut m, true),
            vec![
                Action::Report {
                    iteration: 1,
                    completed: true
                },
                Action::Record {
                    iteration: 1,
                    completed: true
                },
                Action::Finish(StopReason::Completed {
                    iteration: 1,
                    source: CompletionSource::PromiseLine
                })
            ]
        );
    }

    #[test]
    fn a_failed_verification_rejects_the_claim_and_the_run_goes_on() {
        let mut m = verifying_machine(0);
        ready(&mut m, 0);
        finished(&mut m, AgentOutcome::success("LOOP_COMPLETE"), 1);
        let actions = verified(&mut m, false);
        assert!(
            matches!(&actions[0], Action::RejectCompletion { reason } if reason.contains("make check")),
            "{actions:?}"
        );
        assert_eq!(
            actions[1..],
            [
                Action::Report {
                    iteration: 1,
                    completed: false
                },
                Action::Record {
                    iteration: 1,
                    completed: false
                }
            ]
        );
        assert!(!m.is_finished());
        assert_eq!(
            m.stats().consecutive_failures,
            0,
            "a rejection is no failure"
        );
        assert!(matches!(
            ready(&mut m, 3)[..],
            [Action::RunIteration { iteration: 2, .. }]
        ));
    }

    #[test]
    fn min_iterations_rejects_before_the_verifier_is_asked() {
        let mut m = verifying_machine(2);
        ready(&mut m, 0);
        let actions = finished(&mut m, AgentOutcome::success("LOOP_COMPLETE"), 0);
        assert!(
            matches!(actions[0], Action::RejectCompletion { .. }),
            "{actions:?}"
        );
        assert!(!actions.iter().any(|a| matches!(a, Action::Verify { .. })));
        ready(&mut m, 0);
        let actions = finished(&mut m, AgentOutcome::success("LOOP_COMPLETE"), 0);
        assert!(
            matches!(actions[..], [Action::Verify { iteration: 2, .. }]),
            "{actions:?}"
        );
    }

    #[test]
    fn the_verification_timeout_is_bounded_by_the_remaining_runtime() {
        let mut cfg = config();
        cfg.verify = true;
        let mut m = Machine::new(cfg, runtime(100).policies(), LoopStats::default());
        ready(&mut m, 0);
        let actions = finished(&mut m, AgentOutcome::success("LOOP_COMPLETE"), 90);
        assert_eq!(
            actions,
            vec![Action::Verify {
                iteration: 1,
                timeout: Some(Duration::from_secs(10))
            }]
        );
    }

    #[test]
    fn a_stop_during_verification_finishes_after_the_verdict() {
        let mut m = verifying_machine(0);
        ready(&mut m, 0);
        finished(&mut m, AgentOutcome::success("LOOP_COMPLETE"), 1);
        let reason = StopReason::Interrupted {
            signal: Signal::Int,
        };
        assert!(m.step(Input::Stop(reason.clone())).is_empty());
        let actions = verified(&mut m, false);
        assert_eq!(actions.last(), Some(&Action::Finish(reason)));
        assert!(actions.contains(&Action::Record {
            iteration: 1,
            completed: false
        }));
    }

    fn finished_in(m: &mut Machine, outcome: AgentOutcome, changed: Option<bool>) -> Vec<Action> {
        let actions = m.step(Input::Finished {
            outcome,
            elapsed: Duration::ZERO,
            now_unix: 1_000,
            workspace_changed: changed,
        });
        recorded(m, actions)
    }

    #[test]
    fn unchanged_successful_iterations_in_a_row_are_counted_and_reset() {
        let mut m = machine(Limits::default());
        let mut streak = Vec::new();
        for (outcome, changed) in [
            (AgentOutcome::success("a"), Some(false)),
            (AgentOutcome::success("b"), Some(false)),
            (rate_limited(Some(1_000)), Some(false)),
            (AgentOutcome::success("c"), Some(false)),
            (AgentOutcome::success("d"), None),
            (AgentOutcome::success("e"), Some(false)),
            (failed(FailureKind::Api), Some(false)),
            (AgentOutcome::success("f"), Some(true)),
        ] {
            ready(&mut m, 0);
            finished_in(&mut m, outcome, changed);
            streak.push(m.stats().unchanged_iterations);
        }
        assert_eq!(
            streak,
            vec![1, 2, 2, 3, 0, 1, 0, 0],
            "rate limits are skipped; unknown, failed and changing iterations reset"
        );
    }

    #[test]
    fn recent_answers_keep_the_successful_ones_in_a_row() {
        let mut m = machine(Limits::default());
        for outcome in [
            AgentOutcome::success("one"),
            failed(FailureKind::Api),
            AgentOutcome::success("two"),
            rate_limited(Some(1_000)),
            AgentOutcome::success("three"),
        ] {
            ready(&mut m, 0);
            finished_in(&mut m, outcome, None);
        }
        assert_eq!(m.stats().recent_answers, vec!["two", "three"]);
    }

    #[test]
    fn a_stall_policy_stops_between_iterations_with_no_progress() {
        let mut policies = Limits::default().policies();
        policies.push(Box::new(crate::progress::StallDetection(2)));
        let mut m = Machine::new(config(), policies, LoopStats::default());
        ready(&mut m, 0);
        assert!(!matches!(
            finished_in(&mut m, AgentOutcome::success("a"), Some(false)).last(),
            Some(Action::Finish(_))
        ));
        ready(&mut m, 0);
        match finished_in(&mut m, AgentOutcome::success("b"), Some(false)).last() {
            Some(Action::Finish(StopReason::Custom { policy, message })) => {
                assert_eq!(policy, "stall_iterations");
                assert!(message.starts_with("no progress"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_reset_time_in_the_past_waits_the_fallback_instead_of_retrying_at_once() {
        let mut m = machine(Limits::default());
        ready(&mut m, 0);
        assert_eq!(
            finished(&mut m, rate_limited(Some(900)), 0).last(),
            Some(&Action::WaitRateLimit {
                wait: Duration::from_secs(60),
                reset_at_unix: None
            })
        );
    }

    fn sigint() -> StopReason {
        StopReason::Interrupted {
            signal: Signal::Int,
        }
    }

    /// The agent ended: what the machine does before the iteration is recorded.
    fn agent_ended(m: &mut Machine, outcome: AgentOutcome) -> Vec<Action> {
        m.step(Input::Finished {
            outcome,
            elapsed: Duration::ZERO,
            now_unix: 1_000,
            workspace_changed: None,
        })
    }

    #[test]
    fn started_resumes_from_the_saved_counters() {
        let mut m = machine(Limits {
            max_iterations: Some(3),
            ..Limits::default()
        });
        let stats = LoopStats {
            iterations: 2,
            cost_usd: 1.0,
            ..LoopStats::default()
        };
        assert!(
            m.step(Input::Started {
                stats,
                agent_unavailable: None
            })
            .is_empty()
        );
        assert!(matches!(
            ready(&mut m, 0)[..],
            [Action::RunIteration { iteration: 3, .. }]
        ));
        let outcome = AgentOutcome {
            cost: Some(Cost {
                usd: 0.5,
                estimated: false,
            }),
            ..AgentOutcome::success("x")
        };
        let actions = finished(&mut m, outcome, 0);
        assert_eq!(
            actions.last(),
            Some(&Action::Finish(StopReason::MaxIterations { limit: 3 }))
        );
        assert!(
            (m.stats().cost_usd - 1.5).abs() < 1e-9,
            "the saved cost counts"
        );
    }

    #[test]
    fn an_unavailable_agent_finishes_the_run_before_any_iteration() {
        let mut m = machine(Limits::default());
        let actions = m.step(Input::Started {
            stats: LoopStats::default(),
            agent_unavailable: Some("claude is not installed".into()),
        });
        assert_eq!(
            actions,
            vec![Action::Finish(StopReason::AgentUnavailable {
                message: "claude is not installed".into()
            })]
        );
        assert!(ready(&mut m, 0).is_empty(), "nothing runs after the finish");
    }

    #[test]
    fn a_run_that_cannot_start_is_aborted() {
        let mut m = machine(Limits::default());
        assert_eq!(
            m.step(Input::StartFailed {
                error: "prompt PROMPT.md: file not found".into()
            }),
            vec![Action::Abort(StopReason::Error {
                message: "prompt PROMPT.md: file not found".into()
            })]
        );
        assert!(m.is_finished());
        assert!(m.step(Input::Stop(sigint())).is_empty());
    }

    #[test]
    fn state_not_saved_before_the_agent_runs_finishes_with_the_error() {
        let mut m = machine(Limits::default());
        ready(&mut m, 0);
        let error = StopReason::Error {
            message: "state: No space left on device".into(),
        };
        assert_eq!(
            m.step(Input::Failed {
                error: "state: No space left on device".into()
            }),
            vec![Action::Finish(error)]
        );
        assert!(
            ready(&mut m, 0).is_empty(),
            "no iteration runs without saved state"
        );
    }

    #[test]
    fn state_not_saved_after_the_record_wins_over_what_the_iteration_decided() {
        let mut m = machine(Limits::default());
        ready(&mut m, 0);
        let actions = agent_ended(&mut m, AgentOutcome::success("LOOP_COMPLETE"));
        assert!(
            matches!(
                actions.last(),
                Some(Action::Record {
                    completed: true,
                    ..
                })
            ),
            "{actions:?}"
        );
        assert_eq!(
            m.step(Input::Failed {
                error: "disk full".into()
            }),
            vec![Action::Finish(StopReason::Error {
                message: "disk full".into()
            })]
        );
        assert!(m.step(Input::Recorded).is_empty());
    }

    #[test]
    fn a_due_checkpoint_comes_after_the_report_and_before_the_record_that_names_it() {
        let mut cfg = config();
        cfg.checkpoint_interval = 1;
        let mut m = Machine::new(cfg, Limits::default().policies(), LoopStats::default());
        ready(&mut m, 0);
        assert_eq!(
            agent_ended(&mut m, AgentOutcome::success("x")),
            vec![
                Action::Report {
                    iteration: 1,
                    completed: false
                },
                Action::Checkpoint { iteration: 1 },
                Action::Record {
                    iteration: 1,
                    completed: false
                }
            ]
        );
        assert!(
            m.step(Input::Recorded).is_empty(),
            "then the next iteration"
        );
    }

    #[test]
    fn a_stop_racing_the_agents_end_records_the_iteration_and_finishes_instead_of_backing_off() {
        let mut m = machine(Limits::default());
        ready(&mut m, 0);
        // The agent failed on its own just as the stop came: the machine hears of the stop after it.
        let actions = agent_ended(&mut m, failed(FailureKind::Api));
        assert!(
            matches!(actions.last(), Some(Action::Record { .. })),
            "{actions:?}"
        );
        assert!(m.step(Input::Stop(sigint())).is_empty());
        assert_eq!(m.step(Input::Recorded), vec![Action::Finish(sigint())]);
    }

    #[test]
    fn a_stop_racing_a_claim_still_has_it_checked() {
        for (passed, reason) in [
            (
                true,
                StopReason::Completed {
                    iteration: 1,
                    source: CompletionSource::PromiseLine,
                },
            ),
            (false, sigint()),
        ] {
            let mut m = verifying_machine(0);
            ready(&mut m, 0);
            assert!(matches!(
                agent_ended(&mut m, AgentOutcome::success("LOOP_COMPLETE"))[..],
                [Action::Verify { iteration: 1, .. }]
            ));
            assert!(
                m.step(Input::Stop(sigint())).is_empty(),
                "the verdict is awaited"
            );
            assert_eq!(
                verified(&mut m, passed).last(),
                Some(&Action::Finish(reason))
            );
        }
    }

    #[test]
    fn a_stop_seen_while_the_agent_ran_skips_checking_its_claim() {
        let mut m = verifying_machine(0);
        ready(&mut m, 0);
        assert_eq!(m.step(Input::Stop(sigint())), vec![Action::CancelAgent]);
        let actions = finished(&mut m, AgentOutcome::success("LOOP_COMPLETE"), 0);
        assert!(
            !actions.iter().any(|a| matches!(a, Action::Verify { .. })),
            "{actions:?}"
        );
        assert_eq!(actions.last(), Some(&Action::Finish(sigint())));
    }

    #[test]
    fn the_first_stop_told_wins_and_telling_it_again_changes_nothing() {
        let mut m = machine(Limits::default());
        ready(&mut m, 0);
        assert_eq!(m.step(Input::Stop(sigint())), vec![Action::CancelAgent]);
        let term = StopReason::Interrupted {
            signal: Signal::Term,
        };
        m.step(Input::Stop(term.clone()));
        let actions = finished(&mut m, AgentOutcome::new(OutcomeStatus::Cancelled), 0);
        assert_eq!(actions.last(), Some(&Action::Finish(sigint())));
        assert!(
            m.step(Input::Stop(term)).is_empty(),
            "finished: nothing more"
        );
    }

    #[test]
    fn a_prompt_that_cannot_be_read_between_iterations_finishes_with_the_error() {
        let mut m = machine(Limits::default());
        ready(&mut m, 0);
        finished(&mut m, AgentOutcome::success("x"), 0);
        assert_eq!(
            m.step(Input::Failed {
                error: "prompt: gone".into()
            }),
            vec![Action::Finish(StopReason::Error {
                message: "prompt: gone".into()
            })]
        );
    }
}
