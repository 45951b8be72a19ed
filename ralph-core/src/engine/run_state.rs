//! Starting, resuming and updating the persisted [`RunState`].

use super::{RunSummary, unix_now};
use crate::agent::OutcomeStatus;
use crate::engine::EngineConfig;
use crate::error::Error;
use crate::limits::LoopStats;
use crate::state::{IterationRecord, RunState, RunStatus, STATE_VERSION, StateStore};
use sha2::{Digest, Sha256};
use std::time::Duration;

pub(super) enum Begin {
    /// Run (a new run or a resumed one).
    Run(RunState),
    /// The last run with this prompt already finished.
    AlreadyFinished(RunSummary),
}

/// Decides between a new run, a resumed one, and "already finished" (SPEC §6).
pub(super) fn begin(
    store: &dyn StateStore,
    config: &EngineConfig,
    agent: &str,
    prompt: &str,
) -> Result<Begin, Error> {
    let prompt_sha256 = sha256_hex(prompt);
    if !config.fresh
        && let Some(saved) = store.load()?
    {
        match saved.status {
            RunStatus::Running => return Ok(Begin::Run(saved)),
            RunStatus::Finished if saved.prompt_sha256 == prompt_sha256 => {
                if let Some(reason) = saved.stop_reason.clone() {
                    return Ok(Begin::AlreadyFinished(RunSummary {
                        run_id: saved.run_id.clone(),
                        reason,
                        iterations: saved.iteration,
                        usage: saved.usage,
                        cost_usd: saved.cost_usd,
                        cost_estimated: saved.cost_estimated,
                        elapsed_secs: saved.runtime_secs,
                        already_finished: true,
                    }));
                }
            }
            RunStatus::Finished => {}
        }
    }
    let now = unix_now();
    let state = RunState {
        version: STATE_VERSION,
        run_id: new_run_id(now),
        prompt_sha256,
        iteration: 0,
        usage: Default::default(),
        tokens_total: 0,
        cost_usd: 0.0,
        cost_estimated: false,
        runtime_secs: 0.0,
        consecutive_failures: 0,
        status: RunStatus::Running,
        stop_reason: None,
        last_outcome: None,
        agent: agent.to_string(),
        started_at_unix: now,
        updated_at_unix: now,
        in_progress: None,
        limits: Some((&config.limits).into()),
        attempts: 0,
    };
    store.save(&state)?;
    Ok(Begin::Run(state))
}

/// After a crash during iteration `state.in_progress`: folds that iteration's record into the counters if
/// it was written, otherwise writes a record saying the iteration was cut short. Returns a warning.
pub(super) fn recover(
    store: &dyn StateStore,
    state: &mut RunState,
    agent: &str,
) -> Result<Option<String>, Error> {
    let Some(n) = state.in_progress.take() else {
        return Ok(None);
    };
    // The last record belongs to the cut-short attempt only if its attempt number is the one started
    // (a rate-limited attempt before it has the same iteration number but an earlier attempt number).
    // State and records written before attempts were counted carry 0 and match by iteration alone.
    let warning = match store.last_record(&state.run_id) {
        Some(rec) if rec.iteration == n && rec.attempt == state.attempts => {
            state.usage += rec.usage;
            state.tokens_total = state.usage.billable_total();
            state.cost_usd += rec.cost_usd;
            state.cost_estimated |= rec.cost_estimated;
            state.runtime_secs += rec.duration_secs;
            match rec.outcome {
                OutcomeStatus::Success => state.consecutive_failures = 0,
                OutcomeStatus::Failed { .. } | OutcomeStatus::TimedOut { .. } => {
                    state.consecutive_failures += 1
                }
                _ => {}
            }
            // A rate-limited attempt does not use up its iteration number.
            state.iteration = if matches!(rec.outcome, OutcomeStatus::RateLimited { .. }) {
                n.saturating_sub(1)
            } else {
                state.iteration.max(n)
            };
            state.last_outcome = Some(rec.outcome.label().to_string());
            format!(
                "ralph stopped after recording iteration {n} but before saving its state; recovered it from the iteration record"
            )
        }
        _ => {
            state.iteration = state.iteration.max(n);
            let record = IterationRecord {
                iteration: n,
                agent: agent.to_string(),
                started_at_unix: state.updated_at_unix,
                duration_secs: 0.0,
                outcome: OutcomeStatus::Cancelled,
                message: Some(
                    "ralph stopped during this iteration (killed or crashed); its usage is unknown"
                        .into(),
                ),
                usage: Default::default(),
                cost_usd: 0.0,
                cost_estimated: false,
                exit_code: None,
                completed: false,
                checkpoint: None,
                attempt: state.attempts,
                prompt_sha256: String::new(),
            };
            store.record_iteration(&state.run_id, &record)?;
            state.last_outcome = Some("cancelled".into());
            format!(
                "iteration {n} was cut short when ralph stopped; it counts as run, with unknown usage"
            )
        }
    };
    store.save(state)?;
    Ok(Some(warning))
}

/// The engine's counters for a saved run.
pub(super) fn stats_of(state: &RunState, runtime: Duration) -> LoopStats {
    LoopStats {
        iterations: state.iteration,
        elapsed: runtime,
        usage: state.usage,
        cost_usd: state.cost_usd,
        cost_estimated: state.cost_estimated,
        consecutive_failures: state.consecutive_failures,
        last_failure: None,
        ..LoopStats::default()
    }
}

/// Copies the engine's counters into the saved state.
pub(super) fn update(state: &mut RunState, stats: &LoopStats, last_outcome: Option<&str>) {
    state.iteration = stats.iterations;
    state.usage = stats.usage;
    state.tokens_total = stats.usage.billable_total();
    state.cost_usd = stats.cost_usd;
    state.cost_estimated = stats.cost_estimated;
    state.runtime_secs = stats.elapsed.as_secs_f64();
    state.consecutive_failures = stats.consecutive_failures;
    if let Some(o) = last_outcome {
        state.last_outcome = Some(o.to_string());
    }
    state.updated_at_unix = unix_now();
}

/// SHA-256 of `text`, lowercase hex.
pub(crate) fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `YYYYMMDD-HHMMSS-xxxx` in UTC with 4 hex digits: sortable, and unique within a process (the digits
/// count up from a random start, so loops started in the same second by one process never share an id)
/// and, with 16 random bits, across processes in practice.
fn new_run_id(unix: u64) -> String {
    static NEXT: std::sync::OnceLock<std::sync::atomic::AtomicU16> = std::sync::OnceLock::new();
    let suffix = NEXT
        .get_or_init(|| std::sync::atomic::AtomicU16::new(fastrand::u16(..)))
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm), for a date without a date crate.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}-{:04x}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        suffix
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_id_is_a_utc_timestamp() {
        assert!(
            new_run_id(1_795_996_800).starts_with("20261130-000000-"),
            "{}",
            new_run_id(1_795_996_800)
        );
        assert!(new_run_id(951_782_400 + 3_723).starts_with("20000229-010203-"));
    }

    #[test]
    fn run_ids_of_one_process_in_one_second_differ() {
        let ids: std::collections::BTreeSet<String> =
            (0..1000).map(|_| new_run_id(1_795_996_800)).collect();
        assert_eq!(ids.len(), 1000);
    }
}
