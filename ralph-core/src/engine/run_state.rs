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

/// Brings a resumed run's state up to date: folds in the iteration records it does not hold yet (written
/// after the last save that reached the disk: the record of an iteration cut short between its record and
/// its save by a crash, or several after a power loss, see [`crate::state`] on durability), and when an
/// iteration was running at the last save and has no record, writes one saying it was cut short. Returns a
/// warning when it changed anything.
pub(super) fn recover(
    store: &dyn StateStore,
    state: &mut RunState,
    agent: &str,
) -> Result<Option<String>, Error> {
    let in_progress = state.in_progress.take();
    // The attempts the state holds: all it started but the one in progress.
    let held = state.attempts - u64::from(in_progress.is_some() && state.attempts > 0);
    let mut newer = if state.attempts > 0 {
        store.records_after(&state.run_id, held)
    } else {
        // State and records written before attempts were counted carry 0 and match by iteration alone.
        store
            .last_record(&state.run_id)
            .filter(|r| r.attempt == 0 && Some(r.iteration) == in_progress)
            .into_iter()
            .collect()
    };
    newer.retain(|r| r.attempt == 0 || r.attempt > held);
    if in_progress.is_none() && newer.is_empty() {
        return Ok(None);
    }
    for rec in &newer {
        fold(state, rec);
    }
    let warning = if !newer.is_empty() {
        let n = newer.len();
        let last = newer.last().map_or(0, |r| r.iteration);
        format!(
            "ralph stopped after recording iteration {last} but before saving its state; recovered {n} iteration record{} from the journal",
            if n == 1 { "" } else { "s" }
        )
    } else {
        // `in_progress` is set: the iteration that was running has no record.
        let n = in_progress.unwrap_or(state.iteration);
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
    };
    store.save(state)?;
    Ok(Some(warning))
}

/// Adds one iteration record to the counters of `state` (as the engine did when it recorded it).
fn fold(state: &mut RunState, rec: &IterationRecord) {
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
    // The record is newer than the state: its iteration number is the count after it (a rate-limited
    // attempt does not use up its iteration number).
    state.iteration = if matches!(rec.outcome, OutcomeStatus::RateLimited { .. }) {
        rec.iteration.saturating_sub(1)
    } else {
        rec.iteration
    };
    state.attempts = state.attempts.max(rec.attempt);
    state.last_outcome = Some(rec.outcome.label().to_string());
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
