//! Signalling an agent's process group, and the registry of groups still running.
//!
//! Every agent runs as the leader of its own process group (see [`crate::process`]), so one `killpg`
//! reaches the agent and everything it started that did not leave the group on purpose (`setsid`,
//! daemonising tools). The registry lets a hard stop ([`kill_all_running`], on a second Ctrl-C) kill the
//! groups of runs whose futures are still alive, without waiting for their supervisors.

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::collections::BTreeSet;
use std::sync::Mutex;

/// Process group ids of the agents being supervised right now.
static RUNNING: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

/// Sends SIGKILL to the process group of every agent that is running now, at once and without waiting.
///
/// For a hard stop (the second Ctrl-C, just before `std::process::exit`): the supervisors that would
/// normally escalate from SIGTERM never get to run. Safe to call at any time, from any thread.
pub fn kill_all_running() {
    let groups: Vec<i32> = match RUNNING.lock() {
        Ok(g) => g.iter().copied().collect(),
        Err(poisoned) => poisoned.into_inner().iter().copied().collect(),
    };
    for pgid in groups {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
}

/// The process group of one supervised agent. Registered while alive; dropping it without
/// [`Group::release`] kills the whole group (the backstop when a run's future is dropped mid-way).
#[derive(Debug)]
pub(crate) struct Group {
    pgid: Pid,
    released: bool,
}

impl Group {
    /// Tracks the group whose leader has process id `pid`.
    pub(crate) fn register(pid: u32) -> Option<Group> {
        let pgid = i32::try_from(pid).ok().filter(|p| *p > 1)?;
        lock().insert(pgid);
        Some(Group {
            pgid: Pid::from_raw(pgid),
            released: false,
        })
    }

    /// The process group id (the leader's pid).
    pub(crate) fn pgid(&self) -> i32 {
        self.pgid.as_raw()
    }

    /// Sends `signal` to every process of the group. Returns `false` when the group has no process left.
    pub(crate) fn signal(&self, signal: Signal) -> bool {
        match killpg(self.pgid, signal) {
            Ok(()) => true,
            Err(Errno::ESRCH) => false,
            Err(e) => {
                tracing::debug!(pgid = self.pgid.as_raw(), %signal, error = %e, "killpg failed");
                true
            }
        }
    }

    /// True while a live process is in the group.
    ///
    /// `killpg(pgid, 0)` also counts members that have exited but are not reaped yet, and an orphan waits
    /// for PID 1 to reap it, which takes up to a second on some container inits. Those are dead already,
    /// so where `/proc` is available the members' states are checked before waiting any longer.
    pub(crate) fn exists(&self) -> bool {
        if matches!(killpg(self.pgid, None), Err(Errno::ESRCH)) {
            return false;
        }
        live_members_in_proc(self.pgid.as_raw()).is_none_or(|n| n > 0)
    }

    /// Asks the group to stop: SIGTERM, then SIGCONT so that stopped members get to act on it.
    /// Returns `false` when nothing was left to signal.
    pub(crate) fn terminate(&self) -> bool {
        let any = self.signal(Signal::SIGTERM);
        if any {
            self.signal(Signal::SIGCONT);
        }
        any
    }

    /// Forgets the group once nothing of it is left to kill.
    pub(crate) fn release(mut self) {
        self.released = true;
        lock().remove(&self.pgid.as_raw());
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if !self.released {
            let _ = killpg(self.pgid, Signal::SIGKILL);
            lock().remove(&self.pgid.as_raw());
        }
    }
}

/// Number of processes of group `pgid` that are not zombies, from `/proc` (`None` without `/proc`).
fn live_members_in_proc(pgid: i32) -> Option<usize> {
    let dir = std::fs::read_dir("/proc").ok()?;
    let mut live = 0;
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the command name (which may contain spaces): state, ppid, pgrp, ...
        let Some((_, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next();
        let pgrp = fields.nth(1).and_then(|p| p.parse::<i32>().ok());
        if pgrp == Some(pgid) && !matches!(state, Some("Z" | "X")) {
            live += 1;
        }
    }
    Some(live)
}

fn lock() -> std::sync::MutexGuard<'static, BTreeSet<i32>> {
    RUNNING.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::{Deadlines, ProcessExit, ProcessSpec, StreamHandler, supervise};
    use ralph_core::{AgentEvent, AgentOutcome, EventSender, OutcomeStatus};
    use std::time::{Duration, Instant};
    use tokio_util::sync::CancellationToken;

    struct Ignore;

    impl StreamHandler for Ignore {
        fn on_stdout(&mut self, _: crate::lines::Line, _: &EventSender) {}
        fn finish(&mut self, _: &ProcessExit) -> AgentOutcome {
            AgentOutcome::new(OutcomeStatus::Success)
        }
    }

    #[tokio::test]
    async fn kill_all_running_kills_a_supervised_group_at_once() {
        let mut spec = ProcessSpec::new("sleep", std::env::temp_dir());
        spec.args = vec!["1000".into()];
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let run = tokio::spawn(async move {
            supervise(
                &spec,
                Deadlines::default(),
                &mut Ignore,
                &tx,
                &CancellationToken::new(),
            )
            .await
        });
        assert!(matches!(rx.recv().await, Some(AgentEvent::Started { .. })));
        let started = Instant::now();
        kill_all_running();
        let exit = run.await.unwrap().unwrap();
        assert_eq!(exit.signal, Some(9));
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(lock().is_empty());
    }
}
