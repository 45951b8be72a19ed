//! The report's data: one run's state, limits, iteration records and checkpoints, gathered from the state
//! directory (and git), redacted, and serialised as `ralph report --format json` prints it.
//!
//! Field names are a contract (documented in the README's "Run report" section); add fields, never rename.

use crate::redact::Redactor;
use ralph_core::state::{IterationRecord, RunLimits, RunState, RunStatus};
use ralph_core::{OutcomeStatus, StopReason, Usage};
use serde::{Deserialize, Serialize};

/// Identifies the JSON format; bumped only on an incompatible change.
pub const FORMAT: &str = "ralph-report/1";

/// Everything the report shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Always [`FORMAT`].
    pub format: String,
    /// Unix seconds when the report was made.
    pub generated_at_unix: u64,
    /// The `ralph` version that made the report.
    pub ralph_version: String,
    /// The run.
    pub run: RunInfo,
    /// The limits the run had; `None` for runs recorded before limits were saved, and for earlier runs
    /// (only the current run's state is kept).
    pub limits: Option<RunLimits>,
    /// Run totals.
    pub totals: Totals,
    /// One entry per recorded iteration, in order.
    pub iterations: Vec<IterationRow>,
    /// The run's git checkpoints, oldest first.
    pub checkpoints: Vec<CheckpointRow>,
}

/// Who ran and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// Run id (`YYYYMMDD-HHMMSS-xxxx`).
    pub run_id: String,
    /// Agent name(s): the state's agent, or the distinct agents of the records, comma-separated.
    pub agent: String,
    /// `running` (a ralph process holds the workspace), `stopped` (unfinished, resumable), `finished`,
    /// or `unknown` (an earlier run: its state was replaced by a later run's).
    pub status: String,
    /// True when this is the run in `state.json`.
    pub current: bool,
    /// Why the run stopped, as in `state.json` (tagged by `reason`), when known.
    pub stop_reason: Option<StopReason>,
    /// The stop reason as one human-readable line (or what is known instead).
    pub stop_reason_text: String,
    /// Unix seconds when the run started (the first record's start for earlier runs).
    pub started_at_unix: Option<u64>,
    /// Unix seconds of the last state save or record.
    pub updated_at_unix: Option<u64>,
}

/// Tokens by kind, tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Tokens {
    /// Input tokens neither written to nor read from a prompt cache.
    pub input: u64,
    /// Output tokens.
    pub output: u64,
    /// Input tokens written to the prompt cache.
    pub cache_creation: u64,
    /// Input tokens read from the prompt cache (not counted against `max_tokens`).
    pub cache_read: u64,
    /// `input + cache_creation + output`: what `max_tokens` limits.
    pub billable: u64,
}

impl From<&Usage> for Tokens {
    fn from(u: &Usage) -> Self {
        Tokens {
            input: u.input_tokens,
            output: u.output_tokens,
            cache_creation: u.cache_creation_input_tokens,
            cache_read: u.cache_read_input_tokens,
            billable: u.billable_total(),
        }
    }
}

/// Run totals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Iterations started (the state's count; the number of records for earlier runs).
    pub iterations: u64,
    /// Tokens by kind.
    pub tokens: Tokens,
    /// Cost, USD.
    pub cost_usd: f64,
    /// True when any part of the cost is an estimate from ralph's price table.
    pub cost_estimated: bool,
    /// Wall-clock time, seconds (the state's runtime, summed over restarts; the sum of iteration durations
    /// for earlier runs).
    pub runtime_secs: f64,
    /// Iterations by outcome: `success`, `failed`, `timed_out`, `rate_limited`, `cancelled`.
    pub outcomes: std::collections::BTreeMap<String, u64>,
}

/// One iteration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IterationRow {
    /// 1-based iteration number.
    pub iteration: u64,
    /// Unix seconds at start.
    pub started_at_unix: u64,
    /// `success`, `failed`, `timed_out`, `rate_limited` or `cancelled`.
    pub outcome: String,
    /// The outcome with its cause, e.g. `failed (exit_code)`, `timed_out (idle)`.
    pub outcome_detail: String,
    /// Agent name.
    pub agent: String,
    /// Seconds the agent ran.
    pub duration_secs: f64,
    /// Tokens by kind.
    pub tokens: Tokens,
    /// Cost of this iteration, USD.
    pub cost_usd: f64,
    /// True when that cost is an estimate.
    pub cost_estimated: bool,
    /// Cost of the run up to and including this iteration, USD.
    pub cumulative_cost_usd: f64,
    /// The agent's exit code.
    pub exit_code: Option<i32>,
    /// True when this iteration completed the task.
    pub completed: bool,
    /// Id of the checkpoint taken after it.
    pub checkpoint: Option<String>,
    /// Failure explanation or other message, redacted.
    pub message: Option<String>,
}

/// One git checkpoint of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointRow {
    /// Commit id (full).
    pub id: String,
    /// Iteration it followed.
    pub iteration: u64,
    /// True for the end-of-run checkpoint.
    #[serde(rename = "final")]
    pub is_final: bool,
    /// Commit time, Unix seconds (`None` when git could not be read and the id comes from a record).
    pub time_unix: Option<i64>,
    /// Files changed (`None` when unknown).
    pub files_changed: Option<usize>,
    /// Where it was found: `HEAD` or `refs/ralph/checkpoints/<run>` (`None` when from a record).
    #[serde(rename = "ref")]
    pub reference: Option<String>,
}

/// What the report is made from.
pub struct Sources<'a> {
    /// `state.json`, when it describes this run.
    pub state: Option<&'a RunState>,
    /// The run id.
    pub run_id: &'a str,
    /// Its iteration records.
    pub records: &'a [IterationRecord],
    /// Checkpoints from git (empty when not a repository).
    pub git_checkpoints: Vec<CheckpointRow>,
    /// True when a ralph process holds the workspace lock now.
    pub active: bool,
    /// Unix seconds now.
    pub now_unix: u64,
}

/// Builds the report and redacts every string in it with `redactor`.
pub fn build(src: Sources<'_>, redactor: &Redactor) -> Report {
    let mut cumulative = 0.0;
    let iterations: Vec<IterationRow> = src
        .records
        .iter()
        .map(|r| {
            cumulative += r.cost_usd;
            IterationRow {
                iteration: r.iteration,
                started_at_unix: r.started_at_unix,
                outcome: r.outcome.label().to_string(),
                outcome_detail: outcome_detail(&r.outcome),
                agent: r.agent.clone(),
                duration_secs: r.duration_secs,
                tokens: Tokens::from(&r.usage),
                cost_usd: r.cost_usd,
                cost_estimated: r.cost_estimated,
                cumulative_cost_usd: cumulative,
                exit_code: r.exit_code,
                completed: r.completed,
                checkpoint: r.checkpoint.clone(),
                message: r.message.clone(),
            }
        })
        .collect();
    let mut outcomes = std::collections::BTreeMap::new();
    for r in &iterations {
        *outcomes.entry(r.outcome.clone()).or_insert(0) += 1;
    }

    let (run, limits, totals) = match src.state {
        Some(s) => {
            let status = match (&s.status, src.active) {
                (_, true) => "running",
                (RunStatus::Finished, false) => "finished",
                (RunStatus::Running, false) => "stopped",
            };
            let stop_reason_text = match (&s.stop_reason, src.active) {
                (_, true) => "still running".to_string(),
                (Some(r), false) if s.status == RunStatus::Running => {
                    format!("{r} (resumable: the next `ralph run` continues it)")
                }
                (Some(r), false) => r.to_string(),
                (None, false) => {
                    "stopped before finishing (the next `ralph run` resumes it)".to_string()
                }
            };
            let run = RunInfo {
                run_id: s.run_id.clone(),
                agent: s.agent.clone(),
                status: status.into(),
                current: true,
                stop_reason: if src.active {
                    None
                } else {
                    s.stop_reason.clone()
                },
                stop_reason_text,
                started_at_unix: Some(s.started_at_unix),
                updated_at_unix: Some(s.updated_at_unix),
            };
            let totals = Totals {
                iterations: s.iteration,
                tokens: Tokens::from(&s.usage),
                cost_usd: s.cost_usd,
                cost_estimated: s.cost_estimated,
                runtime_secs: s.runtime_secs,
                outcomes,
            };
            (run, s.limits, totals)
        }
        None => {
            let mut agents: Vec<&str> = Vec::new();
            for r in src.records {
                if !agents.contains(&r.agent.as_str()) {
                    agents.push(&r.agent);
                }
            }
            let mut usage = Usage::default();
            for r in src.records {
                usage += r.usage;
            }
            let completed = src.records.iter().find(|r| r.completed);
            let run = RunInfo {
                run_id: src.run_id.to_string(),
                agent: agents.join(", "),
                status: "unknown".into(),
                current: false,
                stop_reason: None,
                stop_reason_text: match completed {
                    Some(r) => format!("completed in iteration {}", r.iteration),
                    None => "not known: only the current run's state is kept (an earlier run's iteration records are shown)".into(),
                },
                started_at_unix: src.records.first().map(|r| r.started_at_unix),
                updated_at_unix: src
                    .records
                    .last()
                    .map(|r| r.started_at_unix + r.duration_secs.max(0.0) as u64),
            };
            let totals = Totals {
                // Rate-limited attempts are retried under the same number: they are not iterations.
                iterations: src
                    .records
                    .iter()
                    .filter(|r| !matches!(r.outcome, OutcomeStatus::RateLimited { .. }))
                    .count() as u64,
                tokens: Tokens::from(&usage),
                cost_usd: src.records.iter().map(|r| r.cost_usd).sum(),
                cost_estimated: src.records.iter().any(|r| r.cost_estimated),
                runtime_secs: src.records.iter().map(|r| r.duration_secs).sum(),
                outcomes,
            };
            (run, None, totals)
        }
    };

    // Checkpoints from git, plus any a record names that git no longer shows.
    let mut checkpoints = src.git_checkpoints;
    for r in &iterations {
        if let Some(id) = &r.checkpoint
            && !checkpoints.iter().any(|c| c.id == *id)
        {
            checkpoints.push(CheckpointRow {
                id: id.clone(),
                iteration: r.iteration,
                is_final: false,
                time_unix: None,
                files_changed: None,
                reference: None,
            });
        }
    }

    let report = Report {
        format: FORMAT.into(),
        generated_at_unix: src.now_unix,
        ralph_version: env!("CARGO_PKG_VERSION").into(),
        run,
        limits,
        totals,
        iterations,
        checkpoints,
    };
    redact(report, redactor)
}

/// `failed (auth, HTTP 401)`, `timed out (idle)`, `success`.
fn outcome_detail(o: &OutcomeStatus) -> String {
    match o {
        OutcomeStatus::Failed {
            kind,
            api_status: Some(s),
        } => format!("failed ({}, HTTP {s})", word(kind)),
        OutcomeStatus::Failed { kind, .. } => format!("failed ({})", word(kind)),
        OutcomeStatus::TimedOut { kind } => format!("timed out ({})", word(kind)),
        OutcomeStatus::RateLimited { .. } => "rate limited".into(),
        other => other.label().into(),
    }
}

/// The serde name of a unit enum variant, with spaces for underscores.
fn word<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
        .replace('_', " ")
}

/// Every string of `report` passed through `redactor`: the state should already be redacted, but a
/// state dir written by an older ralph, or by hand, may not be.
fn redact(report: Report, redactor: &Redactor) -> Report {
    fn walk(v: &mut serde_json::Value, r: &Redactor) {
        match v {
            serde_json::Value::String(s) => *s = r.text(s),
            serde_json::Value::Array(a) => a.iter_mut().for_each(|x| walk(x, r)),
            serde_json::Value::Object(o) => o.values_mut().for_each(|x| walk(x, r)),
            _ => {}
        }
    }
    let Ok(mut value) = serde_json::to_value(&report) else {
        return report;
    };
    walk(&mut value, redactor);
    // Redaction only rewrites strings, so the shape still matches; keep the unredacted text out if not.
    serde_json::from_value(value).unwrap_or_else(|_| Report {
        iterations: Vec::new(),
        checkpoints: Vec::new(),
        run: RunInfo {
            stop_reason: None,
            stop_reason_text: String::new(),
            ..report.run
        },
        ..report
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ralph_core::state::STATE_VERSION;

    const KEY: &str = "plain-looking-secret-value-42";

    fn record(n: u64, outcome: OutcomeStatus, cost: f64, message: Option<&str>) -> IterationRecord {
        IterationRecord {
            iteration: n,
            agent: "claude".into(),
            started_at_unix: 1_000 + n * 10,
            duration_secs: 2.0,
            outcome,
            message: message.map(str::to_string),
            usage: Usage {
                input_tokens: 100,
                output_tokens: 10,
                cache_creation_input_tokens: 5,
                cache_read_input_tokens: 1_000,
                reasoning_output_tokens: 0,
            },
            cost_usd: cost,
            cost_estimated: n == 2,
            exit_code: Some(0),
            completed: false,
            checkpoint: (n == 2).then(|| "abc123".to_string()),
            attempt: n,
            prompt_sha256: String::new(),
        }
    }

    fn records() -> Vec<IterationRecord> {
        vec![
            record(1, OutcomeStatus::Success, 0.5, None),
            record(
                2,
                OutcomeStatus::Failed {
                    kind: ralph_core::FailureKind::Auth,
                    api_status: Some(401),
                },
                0.25,
                Some(&format!("rejected key {KEY}")),
            ),
        ]
    }

    fn state() -> RunState {
        RunState {
            version: STATE_VERSION,
            run_id: "20261130-000000-abcd".into(),
            prompt_sha256: "00".into(),
            iteration: 2,
            usage: Usage {
                input_tokens: 200,
                ..Default::default()
            },
            tokens_total: 200,
            cost_usd: 0.75,
            cost_estimated: true,
            runtime_secs: 9.5,
            consecutive_failures: 1,
            status: RunStatus::Finished,
            stop_reason: Some(StopReason::TooManyFailures {
                failures: 1,
                last_failure: format!("auth with {KEY}"),
            }),
            last_outcome: Some("failed".into()),
            agent: "claude".into(),
            started_at_unix: 1_000,
            updated_at_unix: 1_100,
            in_progress: None,
            limits: None,
            attempts: 0,
        }
    }

    fn redactor() -> Redactor {
        Redactor::from_env(&|k| (k == "OPENAI_API_KEY").then(|| KEY.to_string()))
    }

    fn sources<'a>(state: Option<&'a RunState>, records: &'a [IterationRecord]) -> Sources<'a> {
        Sources {
            state,
            run_id: "20261130-000000-abcd",
            records,
            git_checkpoints: Vec::new(),
            active: false,
            now_unix: 2_000,
        }
    }

    #[test]
    fn the_current_run_takes_its_totals_from_the_state_and_every_string_is_redacted() {
        let (s, recs) = (state(), records());
        let r = build(sources(Some(&s), &recs), &redactor());
        let json = serde_json::to_string(&r).unwrap();
        assert!(!json.contains(KEY), "{json}");
        assert_eq!(
            r.iterations[1].message.as_deref(),
            Some("rejected key ****")
        );
        assert!(r.run.stop_reason_text.contains("auth with ****"));
        assert!(
            matches!(&r.run.stop_reason, Some(StopReason::TooManyFailures { last_failure, .. }) if last_failure == "auth with ****")
        );
        assert_eq!(r.run.status, "finished");
        assert_eq!(r.totals.iterations, 2);
        assert_eq!(r.totals.cost_usd, 0.75);
        assert_eq!(r.totals.runtime_secs, 9.5);
        assert_eq!(r.totals.outcomes.get("failed"), Some(&1));
        assert_eq!(r.iterations[1].cumulative_cost_usd, 0.75);
        assert_eq!(r.iterations[1].outcome_detail, "failed (auth, HTTP 401)");
        assert_eq!(r.iterations[0].tokens.billable, 115);
        assert_eq!(r.limits, None, "older state without limits");
        // The checkpoint named only by a record is listed.
        assert_eq!(r.checkpoints.len(), 1);
        assert_eq!(r.checkpoints[0].iteration, 2);
        assert_eq!(r.checkpoints[0].time_unix, None);
    }

    #[test]
    fn an_earlier_run_is_summed_from_its_records_and_a_held_lock_means_running() {
        let recs = records();
        let r = build(sources(None, &recs), &redactor());
        assert_eq!(r.run.status, "unknown");
        assert!(!r.run.current);
        assert_eq!(r.run.agent, "claude");
        assert_eq!(r.totals.iterations, 2);
        assert_eq!(r.totals.tokens.cache_read, 2_000);
        assert_eq!(r.totals.runtime_secs, 4.0);
        assert!(r.totals.cost_estimated);
        assert_eq!(r.run.started_at_unix, Some(1_010));

        let mut with_limit = recs.clone();
        with_limit.push(record(
            3,
            OutcomeStatus::RateLimited {
                reset_at_unix: None,
            },
            0.0,
            None,
        ));
        let r = build(sources(None, &with_limit), &redactor());
        assert_eq!(
            r.totals.iterations, 2,
            "a rate-limited attempt is not an iteration"
        );
        assert_eq!(r.iterations.len(), 3, "but it is listed");

        let s = state();
        let mut src = sources(Some(&s), &recs);
        src.active = true;
        let r = build(src, &redactor());
        assert_eq!(r.run.status, "running");
        assert_eq!(r.run.stop_reason, None);
    }
}
