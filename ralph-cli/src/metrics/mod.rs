//! Prometheus metrics of a run (`--metrics`): series fed live by the loop's events, the run's totals
//! read from the saved state at scrape time, and the HTTP server for `/metrics` and `/healthz`
//! ([`server`]).
//!
//! Names follow the Prometheus conventions: the `ralph_` prefix, base units (seconds, USD, tokens) and
//! `_total` for counters. Counters count what this process saw (they start at 0 with ralph, as usual);
//! the `ralph_run_*` gauges are the run's true totals from `state.json`, so a dashboard shows the same
//! figures after a restart or a resume. Labels only ever hold fixed words, the run id, the agent name and
//! ralph's version: never a secret, a prompt or an agent's output. The README lists every series.

pub mod server;
mod state_collector;

use crate::health::unix_now;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use ralph_core::{ExitClass, LoopEvent, ObserverMut, OutcomeStatus, StopReason};
pub use state_collector::LimitValues;
use std::path::Path;
use std::sync::atomic::AtomicU64;

/// Buckets of `ralph_iteration_duration_seconds`, seconds: agent iterations take from seconds to the
/// 30-minute default iteration timeout.
pub const DURATION_BUCKETS: [f64; 12] = [
    1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1200.0, 1800.0, 3600.0,
];

/// The values of `ralph_run_status{status}`, one of which is 1 at any time.
pub const STATUSES: [&str; 5] = [
    "running",
    "completed",
    "limit_reached",
    "failed",
    "interrupted",
];

/// The `outcome` values of `ralph_iterations_total` (see [`OutcomeStatus::label`]).
pub const OUTCOMES: [&str; 5] = [
    "success",
    "failed",
    "timed_out",
    "rate_limited",
    "cancelled",
];

/// The `result` values of `ralph_verifications_total` (see [`ralph_core::VerifyResult::label`]).
pub const VERIFY_RESULTS: [&str; 3] = ["passed", "failed", "error"];

/// The `kind` values of the token series.
pub const TOKEN_KINDS: [&str; 4] = ["input", "output", "cache_creation", "cache_read"];

type FloatCounter = Counter<f64, AtomicU64>;
type FloatGauge = Gauge<f64, AtomicU64>;

/// A one-label label set; the label's name is fixed per family.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct One(&'static str, String);

impl EncodeLabelSet for One {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelSetEncoder,
    ) -> Result<(), std::fmt::Error> {
        [(self.0, self.1.as_str())].encode(encoder)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunInfo {
    run_id: String,
    agent: String,
    version: String,
}

/// The series fed by loop events. Cloning shares them (they are handles into one registry).
#[derive(Clone)]
pub struct Metrics {
    run_info: Family<RunInfo, Gauge>,
    status: Family<One, Gauge>,
    iterations: Family<One, Counter>,
    duration: Histogram,
    in_progress: Gauge,
    tokens: Family<One, Counter>,
    cost: Family<One, FloatCounter>,
    checkpoints: Family<One, Counter>,
    consecutive_failures: Gauge,
    retries: Counter,
    backoff_seconds: FloatCounter,
    rate_limit_waits: Counter,
    rate_limit_wait_seconds: FloatCounter,
    verifications: Family<One, Counter>,
    last_progress: FloatGauge,
}

impl Metrics {
    /// Registers every series in a new registry; the `ralph_run_*` totals and the limit ratios are read
    /// from `state_dir` at each scrape, against `limits`.
    pub fn new(state_dir: &Path, limits: LimitValues) -> (Metrics, Registry) {
        let mut registry = Registry::with_prefix("ralph");
        let m = Metrics {
            run_info: Family::default(),
            status: Family::default(),
            iterations: Family::default(),
            duration: Histogram::new(DURATION_BUCKETS),
            in_progress: Gauge::default(),
            tokens: Family::default(),
            cost: Family::default(),
            checkpoints: Family::default(),
            consecutive_failures: Gauge::default(),
            retries: Counter::default(),
            backoff_seconds: FloatCounter::default(),
            rate_limit_waits: Counter::default(),
            rate_limit_wait_seconds: FloatCounter::default(),
            verifications: Family::default(),
            last_progress: FloatGauge::default(),
        };
        let r = &mut registry;
        r.register(
            "run_info",
            "The run this process drives (always 1): run id, agent, ralph version",
            m.run_info.clone(),
        );
        r.register(
            "run_status",
            "1 for the run's current status (running, completed, limit_reached, failed, interrupted), 0 for the others",
            m.status.clone(),
        );
        r.register(
            "iterations",
            "Iterations ended in this process, by outcome (success, failed, timed_out, rate_limited, cancelled)",
            m.iterations.clone(),
        );
        r.register(
            "iteration_duration_seconds",
            "Wall-clock duration of each iteration, seconds",
            m.duration.clone(),
        );
        r.register(
            "iteration_in_progress",
            "Number of the running iteration, 0 between iterations",
            m.in_progress.clone(),
        );
        r.register(
            "tokens",
            "Tokens reported by the agent in this process, by kind (input, output, cache_creation, cache_read)",
            m.tokens.clone(),
        );
        r.register(
            "cost_usd",
            "Cost in USD in this process; estimated=\"true\" where ralph priced the tokens because the agent reports no cost",
            m.cost.clone(),
        );
        r.register(
            "checkpoints",
            "Git checkpoints by result (created, unchanged, failed)",
            m.checkpoints.clone(),
        );
        r.register(
            "consecutive_failures",
            "Failed iterations in a row",
            m.consecutive_failures.clone(),
        );
        r.register(
            "retries",
            "Back-offs after a failed iteration",
            m.retries.clone(),
        );
        r.register(
            "backoff_seconds",
            "Seconds spent backing off after failed iterations",
            m.backoff_seconds.clone(),
        );
        r.register(
            "rate_limit_waits",
            "Waits for a usage limit to reset",
            m.rate_limit_waits.clone(),
        );
        r.register(
            "rate_limit_wait_seconds",
            "Seconds of waits for usage limits to reset",
            m.rate_limit_wait_seconds.clone(),
        );
        r.register(
            "verifications",
            "Checks of completion claims by --verify, by result (passed, failed, error)",
            m.verifications.clone(),
        );
        r.register(
            "last_progress_timestamp_seconds",
            "Unix time of the last agent event or iteration end, seconds",
            m.last_progress.clone(),
        );
        for s in STATUSES {
            m.status.get_or_create(&One("status", s.into())).set(0);
        }
        for o in OUTCOMES {
            let _ = m.iterations.get_or_create(&One("outcome", o.into()));
        }
        for k in TOKEN_KINDS {
            let _ = m.tokens.get_or_create(&One("kind", k.into()));
        }
        for e in ["false", "true"] {
            let _ = m.cost.get_or_create(&One("estimated", e.into()));
        }
        for r in VERIFY_RESULTS {
            let _ = m.verifications.get_or_create(&One("result", r.into()));
        }
        for r in ["created", "unchanged", "failed"] {
            let _ = m.checkpoints.get_or_create(&One("result", r.into()));
        }
        m.last_progress.set(unix_now());
        registry.register_collector(Box::new(state_collector::StateCollector::new(
            state_dir, limits,
        )));
        (m, registry)
    }

    fn set_status(&self, status: &str) {
        for s in STATUSES {
            self.status
                .get_or_create(&One("status", s.into()))
                .set(i64::from(s == status));
        }
    }

    fn progress(&self) {
        self.last_progress.set(unix_now());
    }
}

/// The `ralph_run_status` value of a run that stopped for `reason`.
pub fn status_of(reason: &StopReason) -> &'static str {
    match reason.exit_class() {
        ExitClass::Completed => "completed",
        ExitClass::Limit => "limit_reached",
        ExitClass::Interrupted(_) | ExitClass::Stopped => "interrupted",
        ExitClass::Failed | ExitClass::Usage => "failed",
    }
}

impl ObserverMut for Metrics {
    fn on_event(&mut self, event: &LoopEvent) {
        match event {
            LoopEvent::RunStarted { run_id, agent, .. } => {
                self.run_info.clear();
                self.run_info
                    .get_or_create(&RunInfo {
                        run_id: run_id.clone(),
                        agent: agent.clone(),
                        version: env!("CARGO_PKG_VERSION").into(),
                    })
                    .set(1);
                self.set_status("running");
                self.progress();
            }
            LoopEvent::AlreadyFinished { reason, .. } => self.set_status(status_of(reason)),
            LoopEvent::IterationStarted { iteration, .. } => {
                self.in_progress.set(*iteration as i64);
                self.progress();
            }
            // Tokens and cost are counted at the iteration's end, from its final figures.
            LoopEvent::Agent { .. } => self.progress(),
            LoopEvent::IterationFinished {
                outcome,
                duration_secs,
                usage,
                cost_usd,
                cost_estimated,
                ..
            } => {
                self.in_progress.set(0);
                self.iterations
                    .get_or_create(&One("outcome", outcome.label().into()))
                    .inc();
                self.duration.observe(*duration_secs);
                for (kind, n) in [
                    ("input", usage.input_tokens),
                    ("output", usage.output_tokens),
                    ("cache_creation", usage.cache_creation_input_tokens),
                    ("cache_read", usage.cache_read_input_tokens),
                ] {
                    self.tokens
                        .get_or_create(&One("kind", kind.into()))
                        .inc_by(n);
                }
                if *cost_usd > 0.0 {
                    self.cost
                        .get_or_create(&One("estimated", cost_estimated.to_string()))
                        .inc_by(*cost_usd);
                }
                match outcome {
                    OutcomeStatus::Success => {
                        self.consecutive_failures.set(0);
                    }
                    OutcomeStatus::RateLimited { .. } | OutcomeStatus::Cancelled => {}
                    _ => {
                        self.consecutive_failures.inc();
                    }
                }
                self.progress();
            }
            LoopEvent::Checkpoint { id, .. } => {
                let result = if id.is_some() { "created" } else { "unchanged" };
                self.checkpoints
                    .get_or_create(&One("result", result.into()))
                    .inc();
            }
            LoopEvent::CheckpointFailed { .. } => {
                self.checkpoints
                    .get_or_create(&One("result", "failed".into()))
                    .inc();
            }
            LoopEvent::Backoff {
                delay_secs,
                consecutive_failures,
            } => {
                self.retries.inc();
                self.backoff_seconds.inc_by(*delay_secs);
                self.consecutive_failures
                    .set(i64::from(*consecutive_failures));
            }
            LoopEvent::RateLimitWait { wait_secs, .. } => {
                self.rate_limit_waits.inc();
                self.rate_limit_wait_seconds.inc_by(*wait_secs);
                self.progress();
            }
            LoopEvent::Verification { result, .. } => {
                self.verifications
                    .get_or_create(&One("result", result.label().into()))
                    .inc();
                self.progress();
            }
            LoopEvent::RunFinished { reason, .. } => {
                self.in_progress.set(0);
                self.set_status(status_of(reason));
            }
            _ => {}
        }
    }
}

/// Encodes `registry` in the Prometheus text format 0.0.4 (`openmetrics = false`) or OpenMetrics 1.0.
pub fn encode(registry: &Registry, openmetrics: bool) -> String {
    let mut out = String::new();
    let result = if openmetrics {
        prometheus_client::encoding::text::encode(&mut out, registry)
    } else {
        prometheus_client::encoding::prometheus_text::encode(&mut out, registry)
    };
    if result.is_err() {
        out.clear();
    }
    out
}

#[cfg(test)]
mod tests;
