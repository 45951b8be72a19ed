//! Limit policies: when must the loop stop even though the task is not complete?
//!
//! A [`LimitPolicy`] is a quick check over [`LoopStats`] (which names the workspace). The engine calls every policy before each
//! iteration, after each iteration, and whenever the running agent reports usage (so token and cost limits
//! stop an iteration as soon as they are crossed). Library users add their own policies next to the
//! built-ins:
//!
//! ```
//! use ralph_core::limits::{LimitPolicy, LoopStats, StopReason};
//!
//! /// Stops once the agent has written more than 50 000 output tokens.
//! struct OutputCap;
//!
//! impl LimitPolicy for OutputCap {
//!     fn name(&self) -> &str { "output_cap" }
//!     fn check(&self, stats: &LoopStats) -> Option<StopReason> {
//!         (stats.usage.output_tokens > 50_000).then(|| StopReason::Custom {
//!             policy: "output_cap".into(),
//!             message: format!("{} output tokens", stats.usage.output_tokens),
//!         })
//!     }
//! }
//!
//! /// Stops once the agent has written `DONE` into the workspace.
//! struct DoneFile;
//!
//! impl LimitPolicy for DoneFile {
//!     fn name(&self) -> &str { "done_file" }
//!     fn check(&self, stats: &LoopStats) -> Option<StopReason> {
//!         stats.workspace.join("DONE").exists().then(|| StopReason::Custom {
//!             policy: "done_file".into(),
//!             message: "DONE exists".into(),
//!         })
//!     }
//! }
//! ```

use crate::completion::CompletionSource;
use crate::usage::Usage;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// What the engine knows about the run so far. Owned by the engine; policies only read it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoopStats {
    /// Iterations started so far in this run (including one in progress). A rate-limited attempt gives
    /// its number back once it ends: it is retried under the same number and never counts here.
    pub iterations: u64,
    /// Wall-clock time used by this run, across restarts.
    pub elapsed: Duration,
    /// Tokens used so far, by kind (including the running iteration's usage reported so far).
    pub usage: Usage,
    /// Cost so far in USD (including the running iteration's).
    pub cost_usd: f64,
    /// True when any part of `cost_usd` was estimated from a price table.
    pub cost_estimated: bool,
    /// Failed iterations in a row (reset by a success; rate limits and cancellations do not count).
    pub consecutive_failures: u32,
    /// A one-line description of the last failure.
    pub last_failure: Option<String>,
    /// Successful iterations in a row that changed nothing in the workspace, as told by the engine's
    /// [`crate::progress::Fingerprint`] (stays 0 without one). Reset by an iteration that changed something
    /// or that failed; rate-limited attempts leave it alone. Not saved: a resumed run starts from 0.
    #[serde(default)]
    pub unchanged_iterations: u32,
    /// The final answers of the last successful iterations in a row, oldest first (at most
    /// [`crate::progress::RECENT_ANSWERS`], each its last [`crate::progress::ANSWER_CAP`] bytes). A failed
    /// iteration empties it; rate-limited attempts leave it alone. Not saved: a resumed run starts empty.
    #[serde(default)]
    pub recent_answers: Vec<String>,
    /// The directory the agent works in ([`crate::EngineConfig::workspace`]), for policies that look
    /// at what the agent produced (a file that must exist, a size budget). Empty before the run
    /// started. Not saved.
    #[serde(default, skip_serializing)]
    pub workspace: PathBuf,
}

/// Why the loop stopped. Mapped to exit codes by the CLI (`ralph-cli`'s `exit_codes` module) through
/// [`StopReason::exit_class`].
///
/// `#[non_exhaustive]`: new reasons will be added in minor releases; match with a `_` arm (or use
/// [`StopReason::exit_class`], [`StopReason::is_resumable`] and [`StopReason::is_limit`], which classify
/// every reason).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum StopReason {
    /// The agent declared completion (or the prompt file was marked complete).
    Completed {
        /// Iteration in which completion was detected (0 = before any iteration).
        iteration: u64,
        /// How it was detected.
        source: CompletionSource,
    },
    /// `max_iterations` agent runs happened without completion.
    MaxIterations {
        /// The limit.
        limit: u64,
    },
    /// The run used its `max_runtime`.
    MaxRuntime {
        /// The limit, seconds.
        limit_secs: u64,
    },
    /// The run used its `max_tokens` (see [`Usage::billable_total`]).
    MaxTokens {
        /// The limit, tokens.
        limit: u64,
        /// Tokens used, tokens.
        used: u64,
    },
    /// The run used its `max_cost`.
    MaxCost {
        /// The limit, USD.
        limit_usd: f64,
        /// Spent, USD.
        used_usd: f64,
    },
    /// More than `max_retries` iterations failed in a row.
    TooManyFailures {
        /// Failures in a row.
        failures: u32,
        /// The last failure's description.
        last_failure: String,
    },
    /// The agent is rate or usage limited beyond what the remaining runtime can wait for.
    RateLimited {
        /// What the agent said, and when the limit resets if known.
        message: String,
    },
    /// The agent cannot be run (not installed).
    AgentUnavailable {
        /// The message, with the fix.
        message: String,
    },
    /// ralph was asked to stop by a signal.
    Interrupted {
        /// Which signal; serialized by its name (`"SIGINT"`, `"SIGTERM"`, `"SIGHUP"`).
        signal: Signal,
    },
    /// Code asked the run to stop ([`crate::StopHandle::request_stop`]): an embedding program shutting
    /// down, a supervisor, a user pressing "stop" in a GUI. Resumable, like a signal: the next run with
    /// the same prompt goes on from here. The CLI never produces it.
    Requested {
        /// Who asked and why, free text (for example `"supervisor: shutting down"`).
        by: String,
    },
    /// A policy supplied by a library user stopped the run.
    Custom {
        /// The policy's name.
        policy: String,
        /// Why.
        message: String,
    },
    /// An internal error stopped the run (state could not be saved, ...).
    Error {
        /// The error.
        message: String,
    },
}

impl StopReason {
    /// True when the task was completed.
    pub fn is_completed(&self) -> bool {
        matches!(self, StopReason::Completed { .. })
    }

    /// True when the next run should resume this one (interrupted, internal error, agent missing) rather
    /// than report it as finished: nothing about the task or the budgets says it is over.
    pub fn is_resumable(&self) -> bool {
        matches!(
            self,
            StopReason::Interrupted { .. }
                | StopReason::Requested { .. }
                | StopReason::Error { .. }
                | StopReason::AgentUnavailable { .. }
        )
    }

    /// How the run ended, for exit codes and run outcomes. Every variant is mapped here, so a new one
    /// does not compile until it is classified.
    pub fn exit_class(&self) -> ExitClass {
        match self {
            StopReason::Completed { .. } => ExitClass::Completed,
            StopReason::MaxIterations { .. }
            | StopReason::MaxRuntime { .. }
            | StopReason::MaxTokens { .. }
            | StopReason::MaxCost { .. }
            | StopReason::RateLimited { .. }
            | StopReason::Custom { .. } => ExitClass::Limit,
            StopReason::AgentUnavailable { .. } => ExitClass::Usage,
            StopReason::Interrupted { signal } => ExitClass::Interrupted(*signal),
            StopReason::Requested { .. } => ExitClass::Stopped,
            StopReason::TooManyFailures { .. } | StopReason::Error { .. } => ExitClass::Failed,
        }
    }

    /// This reason with `redact` applied to every free-text field (messages, the last failure, a custom
    /// policy's name), for reasons shown or stored where secrets must not appear. Numbers, signals and
    /// completion sources are kept.
    pub fn redacted(&self, redact: impl Fn(&str) -> String) -> StopReason {
        match self {
            StopReason::Completed { .. }
            | StopReason::MaxIterations { .. }
            | StopReason::MaxRuntime { .. }
            | StopReason::MaxTokens { .. }
            | StopReason::MaxCost { .. }
            | StopReason::Interrupted { .. } => self.clone(),
            StopReason::TooManyFailures {
                failures,
                last_failure,
            } => StopReason::TooManyFailures {
                failures: *failures,
                last_failure: redact(last_failure),
            },
            StopReason::RateLimited { message } => StopReason::RateLimited {
                message: redact(message),
            },
            StopReason::AgentUnavailable { message } => StopReason::AgentUnavailable {
                message: redact(message),
            },
            StopReason::Custom { policy, message } => StopReason::Custom {
                policy: redact(policy),
                message: redact(message),
            },
            StopReason::Error { message } => StopReason::Error {
                message: redact(message),
            },
            StopReason::Requested { by } => StopReason::Requested { by: redact(by) },
        }
    }

    /// True for the limits that stop a run before completion (iterations, runtime, tokens, cost, custom).
    pub fn is_limit(&self) -> bool {
        matches!(
            self,
            StopReason::MaxIterations { .. }
                | StopReason::MaxRuntime { .. }
                | StopReason::MaxTokens { .. }
                | StopReason::MaxCost { .. }
                | StopReason::Custom { .. }
        )
    }
}

/// A signal that asked ralph to stop. Serialized by its name (`"SIGINT"`); [`std::fmt::Display`] prints
/// the same name. Not `#[non_exhaustive]`: each signal has its own exit code, so a new one must be
/// mapped by every user before it compiles. Programs that stop a loop from code use
/// [`StopReason::Requested`] instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Signal {
    /// SIGINT (Ctrl-C), signal 2.
    #[serde(rename = "SIGINT")]
    Int,
    /// SIGTERM, signal 15.
    #[serde(rename = "SIGTERM")]
    Term,
    /// SIGHUP (the terminal closed), signal 1.
    #[serde(rename = "SIGHUP")]
    Hup,
}

impl Signal {
    /// The signal's name: `SIGINT`, `SIGTERM`, `SIGHUP`.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Int => "SIGINT",
            Signal::Term => "SIGTERM",
            Signal::Hup => "SIGHUP",
        }
    }

    /// The signal's number on Linux (and every other Unix): 2, 15, 1.
    pub fn number(self) -> u8 {
        match self {
            Signal::Int => 2,
            Signal::Term => 15,
            Signal::Hup => 1,
        }
    }
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How a run ended, as a program exit reports it: the classes the CLI maps to exit codes. Not
/// `#[non_exhaustive]`: a new class must be mapped by every user before it compiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitClass {
    /// The task was completed.
    Completed,
    /// A limit (iterations, runtime, tokens, cost, a custom policy, or a rate limit that outlasts the
    /// runtime) was reached before completion.
    Limit,
    /// The run failed: too many agent failures in a row, or an internal error.
    Failed,
    /// The agent cannot be run (not installed): a usage or setup problem.
    Usage,
    /// A signal stopped the run.
    Interrupted(Signal),
    /// Code stopped the run ([`StopReason::Requested`]): a graceful, resumable stop, like a signal but
    /// without one. The CLI maps it to exit code 130, as for SIGINT (it never produces it itself).
    Stopped,
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::Completed { iteration, source } => {
                let how = match source {
                    CompletionSource::PromiseLine | CompletionSource::PromiseTag => {
                        "completion promise"
                    }
                    CompletionSource::TaskMarker => "TASK_COMPLETE marker in the prompt file",
                };
                write!(f, "completed in iteration {iteration} ({how})")
            }
            StopReason::MaxIterations { limit } => write!(f, "max iterations reached ({limit})"),
            StopReason::MaxRuntime { limit_secs } => {
                write!(f, "max runtime reached ({limit_secs} s)")
            }
            StopReason::MaxTokens { limit, used } => {
                write!(f, "max tokens reached ({used} of {limit} tokens)")
            }
            StopReason::MaxCost {
                limit_usd,
                used_usd,
            } => {
                write!(f, "max cost reached (${used_usd:.4} of ${limit_usd:.2})")
            }
            StopReason::TooManyFailures {
                failures,
                last_failure,
            } => {
                write!(
                    f,
                    "{failures} consecutive failed iterations; last: {last_failure}"
                )
            }
            StopReason::RateLimited { message } => write!(f, "rate limited: {message}"),
            StopReason::AgentUnavailable { message } => write!(f, "{message}"),
            StopReason::Interrupted { signal } => write!(f, "interrupted by {signal}"),
            StopReason::Requested { by } => write!(f, "stop requested by {by}"),
            StopReason::Custom { policy, message } => write!(f, "limit `{policy}`: {message}"),
            StopReason::Error { message } => write!(f, "error: {message}"),
        }
    }
}

/// A limit on the loop. Synchronous and quick: the engine calls [`LimitPolicy::check`] before and after
/// every iteration and on every usage report of a running agent, on its own task. Use no clocks (the
/// engine puts time into [`LoopStats::elapsed`]); looking at a small file in [`LoopStats::workspace`]
/// is fine, anything slow is not.
pub trait LimitPolicy: Send + Sync {
    /// Short name for logs.
    fn name(&self) -> &str;

    /// `Some(reason)` when the loop must stop now.
    fn check(&self, stats: &LoopStats) -> Option<StopReason>;

    /// For policies that bound wall-clock time: how much of it is left, so a running agent can be
    /// interrupted when it runs out. `None` for other policies.
    fn remaining_time(&self, _stats: &LoopStats) -> Option<Duration> {
        None
    }

    /// True when the policy stops the loop *before* starting another iteration but must not interrupt
    /// one in progress (the iteration limit). Defaults to `false`.
    fn only_between_iterations(&self) -> bool {
        false
    }
}

/// Stops before an iteration beyond `limit` would start.
#[derive(Debug, Clone, Copy)]
pub struct MaxIterations(pub u64);

impl LimitPolicy for MaxIterations {
    fn name(&self) -> &str {
        "max_iterations"
    }
    fn check(&self, stats: &LoopStats) -> Option<StopReason> {
        (stats.iterations >= self.0).then_some(StopReason::MaxIterations { limit: self.0 })
    }
    fn only_between_iterations(&self) -> bool {
        true
    }
}

/// Stops when the run's wall-clock time reaches the limit; interrupts a running agent.
#[derive(Debug, Clone, Copy)]
pub struct MaxRuntime(pub Duration);

impl LimitPolicy for MaxRuntime {
    fn name(&self) -> &str {
        "max_runtime"
    }
    fn check(&self, stats: &LoopStats) -> Option<StopReason> {
        (stats.elapsed >= self.0).then_some(StopReason::MaxRuntime {
            limit_secs: self.0.as_secs(),
        })
    }
    fn remaining_time(&self, stats: &LoopStats) -> Option<Duration> {
        Some(self.0.saturating_sub(stats.elapsed))
    }
}

/// Stops when [`Usage::billable_total`] reaches the limit (tokens).
#[derive(Debug, Clone, Copy)]
pub struct MaxTokens(pub u64);

impl LimitPolicy for MaxTokens {
    fn name(&self) -> &str {
        "max_tokens"
    }
    fn check(&self, stats: &LoopStats) -> Option<StopReason> {
        let used = stats.usage.billable_total();
        (used >= self.0).then_some(StopReason::MaxTokens {
            limit: self.0,
            used,
        })
    }
}

/// Stops when the cost reaches the limit (USD).
#[derive(Debug, Clone, Copy)]
pub struct MaxCost(pub f64);

impl LimitPolicy for MaxCost {
    fn name(&self) -> &str {
        "max_cost"
    }
    fn check(&self, stats: &LoopStats) -> Option<StopReason> {
        (stats.cost_usd >= self.0).then_some(StopReason::MaxCost {
            limit_usd: self.0,
            used_usd: stats.cost_usd,
        })
    }
}

/// Stops when more than `max_retries` iterations failed in a row.
#[derive(Debug, Clone, Copy)]
pub struct ConsecutiveFailures {
    /// Failed iterations in a row that are still tolerated.
    pub max_retries: u32,
}

impl LimitPolicy for ConsecutiveFailures {
    fn name(&self) -> &str {
        "max_retries"
    }
    fn check(&self, stats: &LoopStats) -> Option<StopReason> {
        (stats.consecutive_failures > self.max_retries).then(|| StopReason::TooManyFailures {
            failures: stats.consecutive_failures,
            last_failure: stats
                .last_failure
                .clone()
                .unwrap_or_else(|| "unknown".into()),
        })
    }
}

/// The built-in limits, from the run settings. [`Limits::default`] gives the documented defaults,
/// [`Limits::unlimited`] none; set fields directly or through the `EngineConfig::with_max_*` builders.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Agent runs per run; `None` = unlimited.
    pub max_iterations: Option<u64>,
    /// Wall-clock time per run; `None` = unlimited.
    pub max_runtime: Option<Duration>,
    /// Tokens per run ([`Usage::billable_total`]); `None` = unlimited.
    pub max_tokens: Option<u64>,
    /// USD per run; `None` = unlimited.
    pub max_cost_usd: Option<f64>,
    /// Consecutive failed iterations tolerated.
    pub max_retries: u32,
}

impl Default for Limits {
    /// The defaults (100 iterations, 14 400 s, 1 000 000 tokens, 50 USD, 5 retries), from
    /// [`crate::defaults`].
    fn default() -> Self {
        Limits {
            max_iterations: Some(crate::defaults::MAX_ITERATIONS),
            max_runtime: Some(Duration::from_secs(crate::defaults::MAX_RUNTIME_SECS)),
            max_tokens: Some(crate::defaults::MAX_TOKENS),
            max_cost_usd: Some(crate::defaults::MAX_COST_USD),
            max_retries: crate::defaults::MAX_RETRIES,
        }
    }
}

impl Limits {
    /// No limit at all: no iteration, runtime, token or cost limit, and `max_retries` at its default
    /// (a run that fails forever still stops). Only the task's completion or a stop ends such a run.
    pub fn unlimited() -> Self {
        Limits {
            max_iterations: None,
            max_runtime: None,
            max_tokens: None,
            max_cost_usd: None,
            max_retries: crate::defaults::MAX_RETRIES,
        }
    }

    /// The built-in policies for these limits.
    pub fn policies(&self) -> Vec<Box<dyn LimitPolicy>> {
        let mut out: Vec<Box<dyn LimitPolicy>> = Vec::new();
        if let Some(n) = self.max_iterations {
            out.push(Box::new(MaxIterations(n)));
        }
        if let Some(d) = self.max_runtime {
            out.push(Box::new(MaxRuntime(d)));
        }
        if let Some(n) = self.max_tokens {
            out.push(Box::new(MaxTokens(n)));
        }
        if let Some(c) = self.max_cost_usd {
            out.push(Box::new(MaxCost(c)));
        }
        out.push(Box::new(ConsecutiveFailures {
            max_retries: self.max_retries,
        }));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats() -> LoopStats {
        LoopStats::default()
    }

    #[test]
    fn max_iterations_stops_at_the_limit_only_between_iterations() {
        let p = MaxIterations(3);
        assert!(
            p.check(&LoopStats {
                iterations: 2,
                ..stats()
            })
            .is_none()
        );
        assert_eq!(
            p.check(&LoopStats {
                iterations: 3,
                ..stats()
            }),
            Some(StopReason::MaxIterations { limit: 3 })
        );
        assert!(p.only_between_iterations());
    }

    #[test]
    fn max_runtime_reports_remaining_time() {
        let p = MaxRuntime(Duration::from_secs(10));
        let s = LoopStats {
            elapsed: Duration::from_secs(4),
            ..stats()
        };
        assert_eq!(p.remaining_time(&s), Some(Duration::from_secs(6)));
        assert!(p.check(&s).is_none());
        let s = LoopStats {
            elapsed: Duration::from_secs(10),
            ..stats()
        };
        assert_eq!(p.check(&s), Some(StopReason::MaxRuntime { limit_secs: 10 }));
    }

    #[test]
    fn max_tokens_counts_billable_tokens() {
        let p = MaxTokens(100);
        let mut s = stats();
        s.usage.cache_read_input_tokens = 10_000;
        assert!(p.check(&s).is_none(), "cache reads do not count");
        s.usage.input_tokens = 60;
        s.usage.output_tokens = 40;
        assert_eq!(
            p.check(&s),
            Some(StopReason::MaxTokens {
                limit: 100,
                used: 100
            })
        );
    }

    #[test]
    fn max_cost_stops_at_the_limit() {
        let p = MaxCost(1.5);
        assert!(
            p.check(&LoopStats {
                cost_usd: 1.49,
                ..stats()
            })
            .is_none()
        );
        assert!(matches!(
            p.check(&LoopStats {
                cost_usd: 1.5,
                ..stats()
            }),
            Some(StopReason::MaxCost { .. })
        ));
    }

    #[test]
    fn consecutive_failures_tolerates_max_retries() {
        let p = ConsecutiveFailures { max_retries: 2 };
        assert!(
            p.check(&LoopStats {
                consecutive_failures: 2,
                ..stats()
            })
            .is_none()
        );
        let s = LoopStats {
            consecutive_failures: 3,
            last_failure: Some("HTTP 401".into()),
            ..stats()
        };
        assert_eq!(
            p.check(&s),
            Some(StopReason::TooManyFailures {
                failures: 3,
                last_failure: "HTTP 401".into()
            })
        );
    }

    #[test]
    fn default_limits_match_the_spec() {
        let l = Limits::default();
        assert_eq!(l.max_iterations, Some(100));
        assert_eq!(l.max_runtime, Some(Duration::from_secs(14_400)));
        assert_eq!(l.max_tokens, Some(1_000_000));
        assert_eq!(l.max_cost_usd, Some(50.0));
        assert_eq!(l.max_retries, 5);
        assert_eq!(l.policies().len(), 5);
    }

    #[test]
    fn an_interrupted_reason_keeps_its_on_disk_form() {
        let reason = StopReason::Interrupted {
            signal: Signal::Term,
        };
        let json = serde_json::to_string(&reason).unwrap();
        assert_eq!(json, r#"{"reason":"interrupted","signal":"SIGTERM"}"#);
        for (text, signal) in [
            (r#"{"reason":"interrupted","signal":"SIGINT"}"#, Signal::Int),
            (
                r#"{"reason":"interrupted","signal":"SIGTERM"}"#,
                Signal::Term,
            ),
            (r#"{"reason":"interrupted","signal":"SIGHUP"}"#, Signal::Hup),
        ] {
            assert_eq!(
                serde_json::from_str::<StopReason>(text).unwrap(),
                StopReason::Interrupted { signal }
            );
        }
        assert_eq!(Signal::Hup.to_string(), "SIGHUP");
        assert_eq!(reason.to_string(), "interrupted by SIGTERM");
    }

    #[test]
    fn every_reason_has_an_exit_class() {
        assert_eq!(
            StopReason::RateLimited {
                message: String::new()
            }
            .exit_class(),
            ExitClass::Limit
        );
        assert_eq!(
            StopReason::Custom {
                policy: "p".into(),
                message: String::new()
            }
            .exit_class(),
            ExitClass::Limit
        );
        assert_eq!(
            StopReason::Interrupted {
                signal: Signal::Hup
            }
            .exit_class(),
            ExitClass::Interrupted(Signal::Hup)
        );
        assert_eq!(
            StopReason::Error {
                message: String::new()
            }
            .exit_class(),
            ExitClass::Failed
        );
    }

    #[test]
    fn redacted_maps_every_text_and_keeps_the_rest() {
        let mask = |t: &str| t.replace("sk-123", "****");
        assert_eq!(
            StopReason::Custom {
                policy: "p sk-123".into(),
                message: "key sk-123".into()
            }
            .redacted(mask),
            StopReason::Custom {
                policy: "p ****".into(),
                message: "key ****".into()
            }
        );
        assert_eq!(
            StopReason::TooManyFailures {
                failures: 2,
                last_failure: "HTTP 401 sk-123".into()
            }
            .redacted(mask),
            StopReason::TooManyFailures {
                failures: 2,
                last_failure: "HTTP 401 ****".into()
            }
        );
        let limit = StopReason::MaxTokens { limit: 1, used: 2 };
        assert_eq!(limit.redacted(mask), limit);
    }

    #[test]
    fn a_stop_requested_by_code_is_resumable_and_has_its_own_class() {
        let reason = StopReason::Requested {
            by: "supervisor sk-123".into(),
        };
        assert!(reason.is_resumable());
        assert!(!reason.is_limit());
        assert_eq!(reason.exit_class(), ExitClass::Stopped);
        assert_eq!(reason.to_string(), "stop requested by supervisor sk-123");
        assert_eq!(
            reason.redacted(|t| t.replace("sk-123", "****")),
            StopReason::Requested {
                by: "supervisor ****".into()
            }
        );
        let json = serde_json::to_string(&reason).unwrap();
        assert_eq!(json, r#"{"reason":"requested","by":"supervisor sk-123"}"#);
        assert_eq!(serde_json::from_str::<StopReason>(&json).unwrap(), reason);
    }
}
