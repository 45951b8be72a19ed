//! The run's totals and limit ratios, read from `state.json` at each scrape: they are the run's true
//! figures across restarts and resumes, not what this process happened to see.

use crate::health::unix_now;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;
use ralph_core::state::{FileStateStore, RunState, RunStatus, StateStore};
use std::path::{Path, PathBuf};

/// The limits `ralph_limit_usage_ratio` divides by; `None` = no limit (no series).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LimitValues {
    /// `max_iterations`.
    pub iterations: Option<u64>,
    /// `max_runtime`, seconds.
    pub runtime_secs: Option<f64>,
    /// `max_tokens`, tokens.
    pub tokens: Option<u64>,
    /// `max_cost`, USD.
    pub cost_usd: Option<f64>,
    /// `max_retries`: the run stops at `max_retries + 1` failures in a row.
    pub max_retries: u32,
}

impl LimitValues {
    /// `(limit label, used / limit)` for each limit that is set; 1.0 means the limit stops the run.
    pub fn ratios(&self, state: &RunState, runtime_secs: f64) -> Vec<(&'static str, f64)> {
        let mut out = Vec::new();
        if let Some(n) = self.iterations {
            // Iterations ended: the limit stops the run when its last iteration ends, not when it starts.
            let ended = state.iteration - u64::from(state.in_progress.is_some());
            out.push(("iterations", ended as f64 / n as f64));
        }
        if let Some(s) = self.runtime_secs {
            out.push(("runtime", runtime_secs / s));
        }
        if let Some(n) = self.tokens {
            out.push(("tokens", state.tokens_total as f64 / n as f64));
        }
        if let Some(c) = self.cost_usd {
            out.push(("cost", state.cost_usd / c));
        }
        out.push((
            "failures",
            f64::from(state.consecutive_failures) / (f64::from(self.max_retries) + 1.0),
        ));
        out
    }
}

/// Reads `state.json` on every scrape.
#[derive(Debug)]
pub struct StateCollector {
    dir: PathBuf,
    limits: LimitValues,
}

impl StateCollector {
    /// A collector over the state directory `dir`.
    pub fn new(dir: &Path, limits: LimitValues) -> Self {
        StateCollector {
            dir: dir.to_path_buf(),
            limits,
        }
    }
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    values: &[(Option<(&str, &str)>, f64)],
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (label, v) in values {
        match label {
            Some(l) => ConstGauge::new(*v).encode(family.encode_family(&[*l])?)?,
            None => return ConstGauge::new(*v).encode(family),
        }
    }
    Ok(())
}

impl Collector for StateCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // No state yet (the first save comes with the first iteration): no series, rather than zeros
        // that a dashboard would take for the run's totals.
        let Ok(Some(state)) = FileStateStore::existing(&self.dir).load() else {
            return Ok(());
        };
        // The saved runtime is as of the last save; a running run has been running since.
        let runtime = if state.status == RunStatus::Running {
            state.runtime_secs + (unix_now() - state.updated_at_unix as f64).max(0.0)
        } else {
            state.runtime_secs
        };
        let e = &mut encoder;
        gauge(
            e,
            "run_iterations",
            "Iterations started in the run, from the saved state (survives restarts).",
            &[(None, state.iteration as f64)],
        )?;
        let u = &state.usage;
        gauge(
            e,
            "run_tokens",
            "Tokens used by the run, by kind, from the saved state.",
            &[
                (Some(("kind", "input")), u.input_tokens as f64),
                (Some(("kind", "output")), u.output_tokens as f64),
                (
                    Some(("kind", "cache_creation")),
                    u.cache_creation_input_tokens as f64,
                ),
                (
                    Some(("kind", "cache_read")),
                    u.cache_read_input_tokens as f64,
                ),
            ],
        )?;
        gauge(
            e,
            "run_cost_usd",
            "Cost of the run in USD, from the saved state.",
            &[(None, state.cost_usd)],
        )?;
        gauge(
            e,
            "run_runtime_seconds",
            "Wall-clock seconds used by the run (across restarts), from the saved state.",
            &[(None, runtime)],
        )?;
        let ratios: Vec<_> = self
            .limits
            .ratios(&state, runtime)
            .into_iter()
            .map(|(l, v)| (Some(("limit", l)), v))
            .collect();
        gauge(
            e,
            "limit_usage_ratio",
            "Used / limit for each limit that is set (iterations, runtime, tokens, cost, failures); 1 stops the run.",
            &ratios,
        )?;
        Ok(())
    }
}
