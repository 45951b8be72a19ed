//! Is the run alive and making progress? One answer for `ralph health` (the container `HEALTHCHECK`),
//! the metrics server's `/healthz` and `ralph status`.
//!
//! The workspace lock is the truth for "a run is alive": the kernel releases it when its holder dies.
//! Progress is recorded by the [`HeartbeatObserver`], which sees every loop event and keeps
//! `<state dir>/heartbeat.json` (written on iteration boundaries and waits, and at most every
//! [`AGENT_WRITE_EVERY`] while the agent is active; rewritten in place, never fsync'd: it is advisory).
//!
//! Each heartbeat carries the bound within which the next progress is due, derived from what the run
//! is doing: while an agent runs, the idle timeout (or the iteration timeout when there is no idle
//! timeout), because ralph itself ends a silent agent then; while backing off or waiting for a usage limit,
//! the length of that wait; between iterations, nothing but [`SLACK`]. [`SLACK`] is added to each bound
//! for the stop grace of a killed agent, a slow checkpoint and a loaded machine.

use crate::exit_codes;
use ralph_core::lock::RunLock;
use ralph_core::state::{FileStateStore, RunStatus, StateStore};
use ralph_core::{LoopEvent, ObserverMut};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// Added to every progress bound: a killed agent's stop grace (5 s), a checkpoint of a large repository,
/// a loaded machine.
pub const SLACK: Duration = Duration::from_secs(60);
/// How often agent activity rewrites the heartbeat file at most.
pub const AGENT_WRITE_EVERY: Duration = Duration::from_secs(5);
/// The heartbeat file in the state directory.
pub const HEARTBEAT_FILE: &str = "heartbeat.json";

/// What the run is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Started, before the first iteration.
    Starting,
    /// An agent is running.
    Agent,
    /// Between iterations (recording, checkpointing).
    Between,
    /// Checking a completion claim (`--verify`).
    Verifying,
    /// Backing off after a failed iteration.
    Backoff,
    /// Waiting for a usage limit to reset.
    RateLimitWait,
    /// The run ended.
    Finished,
}

/// The last sign of progress of a run (`heartbeat.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The process driving the run.
    pub pid: u32,
    /// The run, once known.
    pub run_id: Option<String>,
    /// What it is doing.
    pub phase: Phase,
    /// The current (or last) iteration, 1-based; 0 before the first.
    pub iteration: u64,
    /// Unix time of the last progress (an agent event, an iteration's start or end, a wait), seconds.
    pub progress_at_unix: f64,
    /// The next progress is due within this many seconds of `progress_at_unix` (slack included);
    /// `None` = no bound (no timeouts configured).
    pub due_within_secs: Option<f64>,
}

impl Heartbeat {
    /// `Ok(description)` when progress is not overdue at `now_unix`, else `Err(reason)`.
    pub fn verdict(&self, now_unix: f64) -> Result<String, String> {
        let age = (now_unix - self.progress_at_unix).max(0.0);
        let doing = match self.phase {
            Phase::Starting => "starting".to_string(),
            Phase::Agent => format!("iteration {} running", self.iteration),
            Phase::Between => format!("between iterations (after {})", self.iteration),
            Phase::Verifying => format!("verifying the claim of iteration {}", self.iteration),
            Phase::Backoff => format!("backing off after iteration {}", self.iteration),
            Phase::RateLimitWait => "waiting for a usage limit to reset".to_string(),
            Phase::Finished => return Err("the run has finished".into()),
        };
        match self.due_within_secs {
            Some(due) if age > due => Err(format!(
                "wedged: {doing}, no progress for {age:.0} s (expected within {due:.0} s)"
            )),
            _ => Ok(format!("{doing}, last progress {age:.0} s ago")),
        }
    }
}

/// The timeouts the progress bounds are derived from.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bounds {
    /// `iteration_timeout`.
    pub iteration_timeout: Option<Duration>,
    /// `idle_timeout`.
    pub idle_timeout: Option<Duration>,
}

impl Bounds {
    fn agent(&self) -> Option<Duration> {
        match (self.idle_timeout, self.iteration_timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
        .map(|d| d + SLACK)
    }
}

/// The in-memory heartbeat, shared by the observer (writer) and `/healthz` (reader).
pub type SharedHeartbeat = Arc<Mutex<Heartbeat>>;

/// Keeps the heartbeat up to date from loop events and mirrors it into `<state dir>/heartbeat.json`.
pub struct HeartbeatObserver {
    path: PathBuf,
    bounds: Bounds,
    shared: SharedHeartbeat,
    last_write: Option<Instant>,
}

impl HeartbeatObserver {
    /// An observer writing into `state_dir`, with bounds from `bounds`.
    pub fn new(state_dir: &Path, bounds: Bounds) -> Self {
        let beat = Heartbeat {
            pid: std::process::id(),
            run_id: None,
            phase: Phase::Starting,
            iteration: 0,
            progress_at_unix: unix_now(),
            due_within_secs: Some(SLACK.as_secs_f64()),
        };
        let mut observer = HeartbeatObserver {
            path: state_dir.join(HEARTBEAT_FILE),
            bounds,
            shared: Arc::new(Mutex::new(beat.clone())),
            last_write: None,
        };
        // At once: a run that holds the lock without a heartbeat is only starting for a little while.
        observer.write(&beat);
        observer
    }

    /// The heartbeat this observer keeps (for `/healthz`).
    pub fn shared(&self) -> SharedHeartbeat {
        self.shared.clone()
    }

    fn write(&mut self, beat: &Heartbeat) {
        self.last_write = Some(Instant::now());
        let Ok(text) = serde_json::to_vec(beat) else {
            return;
        };
        // Advisory: a failed write only makes `ralph health` report a stale heartbeat later. In place,
        // not a new file per write (see `rewrite_in_place`); `read_heartbeat` reads again over a torn read.
        let _ = ralph_core::state::rewrite_in_place(&self.path, &text);
    }
}

impl ObserverMut for HeartbeatObserver {
    fn on_event(&mut self, event: &LoopEvent) {
        let secs = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
        let beat = {
            let mut beat = self.shared.lock().unwrap_or_else(|p| p.into_inner());
            beat.progress_at_unix = unix_now();
            match event {
                LoopEvent::RunStarted {
                    run_id,
                    iterations_done,
                    ..
                } => {
                    beat.run_id = Some(run_id.clone());
                    beat.iteration = *iterations_done;
                    beat.phase = Phase::Starting;
                    beat.due_within_secs = secs(Some(SLACK));
                }
                LoopEvent::IterationStarted { iteration, .. } => {
                    beat.iteration = *iteration;
                    beat.phase = Phase::Agent;
                    beat.due_within_secs = secs(self.bounds.agent());
                }
                LoopEvent::Agent { .. } => {
                    // Progress inside the iteration: refresh the time, write it out now and then.
                    let recent = self
                        .last_write
                        .is_some_and(|t| t.elapsed() < AGENT_WRITE_EVERY);
                    if recent {
                        return;
                    }
                }
                LoopEvent::IterationFinished { .. } | LoopEvent::Checkpoint { .. } => {
                    beat.phase = Phase::Between;
                    beat.due_within_secs = secs(Some(SLACK));
                }
                LoopEvent::VerificationStarted { timeout_secs, .. } => {
                    beat.phase = Phase::Verifying;
                    beat.due_within_secs = timeout_secs.map(|t| t + SLACK.as_secs_f64());
                }
                LoopEvent::Backoff { delay_secs, .. } => {
                    beat.phase = Phase::Backoff;
                    beat.due_within_secs = Some(delay_secs + SLACK.as_secs_f64());
                }
                LoopEvent::RateLimitWait { wait_secs, .. } => {
                    beat.phase = Phase::RateLimitWait;
                    beat.due_within_secs = Some(wait_secs + SLACK.as_secs_f64());
                }
                LoopEvent::RunFinished { .. } | LoopEvent::AlreadyFinished { .. } => {
                    beat.phase = Phase::Finished;
                    beat.due_within_secs = None;
                }
                _ => {}
            }
            beat.clone()
        };
        self.write(&beat);
    }
}

/// The state of the run in a state directory, as `ralph status` and `ralph health` report it.
#[derive(Debug, Clone, PartialEq)]
pub enum Liveness {
    /// A live process holds the workspace lock.
    Alive {
        /// Its pid, when it wrote one.
        pid: Option<u32>,
        /// Its heartbeat, when it has written one.
        heartbeat: Option<Heartbeat>,
    },
    /// Nobody holds the lock, but the lock file names a process: it died without releasing the run
    /// (`kill -9`, a crash, an OOM kill).
    Dead {
        /// The dead holder's pid.
        pid: u32,
    },
    /// Nobody holds the lock.
    NotRunning,
}

/// Reads the lock (and the heartbeat of a live holder) in `state_dir`.
pub fn liveness(state_dir: &Path) -> Liveness {
    match RunLock::holder(state_dir) {
        Some(pid) => {
            let heartbeat = read_heartbeat(state_dir).filter(|h| Some(h.pid) == pid);
            Liveness::Alive { pid, heartbeat }
        }
        None => match RunLock::recorded_pid(state_dir) {
            Some(pid) => Liveness::Dead { pid },
            None => Liveness::NotRunning,
        },
    }
}

/// The heartbeat file's content. It is rewritten in place, so a read racing a write can see a mix of
/// two heartbeats that does not parse: read again a few times before giving up.
fn read_heartbeat(state_dir: &Path) -> Option<Heartbeat> {
    let path = state_dir.join(HEARTBEAT_FILE);
    for _ in 0..3 {
        let text = std::fs::read(&path).ok()?;
        if let Ok(beat) = serde_json::from_slice(&text) {
            return Some(beat);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

/// `ralph health`: exit 0 with one line when a run in the workspace is alive and its progress is not
/// overdue; exit 1 with one line of reason otherwise (no run, a finished run, a dead holder, a wedged run).
pub fn health(state_dir: &Path) -> u8 {
    match check(state_dir, unix_now()) {
        Ok(line) => {
            crate::say!("healthy: {line}");
            exit_codes::COMPLETED
        }
        Err(line) => {
            crate::say!("unhealthy: {line}");
            exit_codes::FAILED
        }
    }
}

/// The health verdict for `state_dir` at `now_unix`.
pub fn check(state_dir: &Path, now_unix: f64) -> Result<String, String> {
    match liveness(state_dir) {
        Liveness::Alive {
            pid,
            heartbeat: Some(beat),
        } => beat
            .verdict(now_unix)
            .map(|ok| format!("run {} (pid {}): {ok}", run_of(&beat), pid_text(pid))),
        Liveness::Alive {
            pid,
            heartbeat: None,
        } => {
            // The lock file is written when the lock is taken; the first heartbeat follows at once.
            let held = std::fs::metadata(state_dir.join("lock"))
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .unwrap_or_default();
            if held > SLACK {
                Err(format!(
                    "the run (pid {}) took the workspace {:.0} s ago and has written no heartbeat ({} missing or unreadable)",
                    pid_text(pid),
                    held.as_secs_f64(),
                    state_dir.join(HEARTBEAT_FILE).display()
                ))
            } else {
                Ok(format!("a run is starting (pid {})", pid_text(pid)))
            }
        }
        Liveness::Dead { pid } => Err(format!(
            "the run's process {pid} is gone without finishing (killed or crashed); the next `ralph run` resumes it"
        )),
        Liveness::NotRunning => Err(not_running(state_dir)),
    }
}

fn run_of(beat: &Heartbeat) -> &str {
    beat.run_id.as_deref().unwrap_or("?")
}

/// A pid, or `unknown`.
pub(crate) fn pid_text(pid: Option<u32>) -> String {
    pid.map(|p| p.to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn not_running(state_dir: &Path) -> String {
    match FileStateStore::existing(state_dir).load() {
        Ok(Some(s)) if s.status == RunStatus::Finished => match &s.stop_reason {
            Some(r) => format!("no run is alive: run {} finished: {r}", s.run_id),
            None => format!("no run is alive: run {} finished", s.run_id),
        },
        Ok(Some(s)) => format!(
            "no run is alive: run {} stopped before finishing (the next `ralph run` resumes it)",
            s.run_id
        ),
        Ok(None) => format!("no run in {}", state_dir.display()),
        Err(e) => format!("no run is alive, and the state cannot be read: {e}"),
    }
}

/// Seconds since the Unix epoch, with fractions.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beat(phase: Phase, age: f64, due: Option<f64>) -> (Heartbeat, f64) {
        let now = 1_000_000.0;
        (
            Heartbeat {
                pid: 1,
                run_id: Some("r".into()),
                phase,
                iteration: 3,
                progress_at_unix: now - age,
                due_within_secs: due,
            },
            now,
        )
    }

    #[test]
    fn progress_within_the_bound_is_healthy_and_overdue_progress_is_wedged() {
        let (b, now) = beat(Phase::Agent, 100.0, Some(660.0));
        assert!(b.verdict(now).unwrap().contains("iteration 3 running"));
        let (b, now) = beat(Phase::Agent, 700.0, Some(660.0));
        let e = b.verdict(now).unwrap_err();
        assert!(e.starts_with("wedged"), "{e}");
        let (b, now) = beat(Phase::Agent, 1e9, None);
        assert!(b.verdict(now).is_ok(), "no timeouts, no bound");
        let (b, now) = beat(Phase::Finished, 0.0, None);
        assert!(b.verdict(now).is_err());
    }

    #[test]
    fn the_agent_bound_is_the_shorter_timeout_plus_slack() {
        let b = Bounds {
            iteration_timeout: Some(Duration::from_secs(1800)),
            idle_timeout: Some(Duration::from_secs(600)),
        };
        assert_eq!(b.agent(), Some(Duration::from_secs(600) + SLACK));
        let b = Bounds {
            iteration_timeout: Some(Duration::from_secs(30)),
            idle_timeout: None,
        };
        assert_eq!(b.agent(), Some(Duration::from_secs(30) + SLACK));
        assert_eq!(Bounds::default().agent(), None);
    }

    #[test]
    fn waits_extend_the_bound_and_iteration_ends_bring_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = HeartbeatObserver::new(dir.path(), Bounds::default());
        o.on_event(&LoopEvent::RateLimitWait {
            wait_secs: 3600.0,
            reset_at_unix: None,
        });
        let b = read_heartbeat(dir.path()).unwrap();
        assert_eq!(b.phase, Phase::RateLimitWait);
        assert_eq!(b.due_within_secs, Some(3600.0 + SLACK.as_secs_f64()));
        assert_eq!(b.pid, std::process::id());
        o.on_event(&LoopEvent::Backoff {
            delay_secs: 2.0,
            consecutive_failures: 1,
        });
        assert_eq!(
            o.shared().lock().unwrap().due_within_secs,
            Some(2.0 + SLACK.as_secs_f64())
        );
    }

    #[test]
    fn a_verification_is_due_within_its_own_timeout_not_the_idle_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = HeartbeatObserver::new(
            dir.path(),
            Bounds {
                iteration_timeout: Some(Duration::from_secs(1800)),
                idle_timeout: Some(Duration::from_secs(600)),
            },
        );
        o.on_event(&LoopEvent::VerificationStarted {
            iteration: 3,
            check: "cargo test".into(),
            timeout_secs: Some(1800.0),
        });
        let b = read_heartbeat(dir.path()).unwrap();
        assert_eq!(b.phase, Phase::Verifying);
        assert_eq!(b.due_within_secs, Some(1800.0 + SLACK.as_secs_f64()));
        let later = b.progress_at_unix + 900.0;
        assert!(b.verdict(later).is_ok(), "{:?}", b.verdict(later));
    }
}
