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

    /// True while any process (zombies included) is in the group.
    pub(crate) fn exists(&self) -> bool {
        !matches!(killpg(self.pgid, None), Err(Errno::ESRCH))
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

fn lock() -> std::sync::MutexGuard<'static, BTreeSet<i32>> {
    RUNNING.lock().unwrap_or_else(|p| p.into_inner())
}
