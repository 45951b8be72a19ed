//! Finding and killing agent processes that outlived their run.
//!
//! Two kinds of leftovers, two costs:
//!
//! - **Left by a ralph that was killed** (`kill -9`, the OOM killer): nothing runs in a killed process, and
//!   an agent runs in its own process group, so it survives. A [`ProcessRegistry`] made with
//!   [`ProcessRegistry::recording_in`] marks every process it starts with [`MARKER_VAR`]`=<state dir>`
//!   (inherited by everything the agent starts) and keeps `<state dir>/agent.pid` with the process group
//!   id and leader start time of every live group. The next run, holding the run lock (so no live ralph
//!   owns these processes), calls [`ProcessRegistry::kill_left_behind`] once: it kills every process
//!   carrying the marker ([`kill_marked`], a scan of every process's environment, on a blocking thread)
//!   and every recorded group that is still the same processes (same start time, so a recycled pid is
//!   never hit). The marker covers processes that left the group; the pid file covers processes that
//!   cleared their environment.
//! - **Left by a run that ended normally** outside its process group (`setsid`, daemonising tools):
//!   [`ProcessRegistry::adopt_orphans`] makes ralph a child subreaper, so that such a process becomes
//!   ralph's own child when its parent exits. After every run, the supervisor reads ralph's own
//!   children (`/proc/self/task/*/children`), and kills (and reaps) those that carry the marker and belong
//!   to no running group. The cost is proportional to ralph's own children, not to the machine's
//!   processes: no environment of another process is read.

use crate::group::ProcessRegistry;
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

/// The environment variable that marks an agent's processes with the state directory they work for.
pub const MARKER_VAR: &str = "RALPH_AGENT_OF";

/// Name of the file, in the state directory, that lists the live agent process groups: one line
/// `<process group id> <leader start time in clock ticks since boot>` per group.
pub const PID_FILE: &str = "agent.pid";

/// What [`ProcessRegistry::kill_left_behind`] killed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeftBehind {
    /// Processes killed because their environment carried the marker.
    pub marked: usize,
    /// Recorded process groups killed because they were still the same processes.
    pub groups: Vec<i32>,
}

/// What one [`sweep_adopted`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Sweep {
    /// Children of this process looked at (all rounds).
    pub examined: usize,
    /// Marked children killed.
    pub killed: usize,
}

/// Kills every process (other than this one) whose environment holds `<MARKER_VAR>=<marker>`; returns how
/// many. Reads the environment of every process of the machine: for the start of a run only (see the
/// module docs), on a blocking thread. Call only while holding the run lock.
pub fn kill_marked(marker: &str) -> usize {
    let marker = format!("{MARKER_VAR}={marker}").into_bytes();
    let me = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut killed = 0;
    for pid in entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok()) {
        if pid != me
            && environ_has(pid, &marker)
            && kill(Pid::from_raw(pid), Signal::SIGKILL).is_ok()
        {
            killed += 1;
        }
    }
    killed
}

/// True when process `pid` was started with `var` (`NAME=value` bytes) in its environment.
fn environ_has(pid: i32, var: &[u8]) -> bool {
    std::fs::read(format!("/proc/{pid}/environ"))
        .is_ok_and(|environ| environ.split(|b| *b == 0).any(|v| v == var))
}

/// Kills the agent process groups recorded in `<state_dir>/agent.pid` that are still alive and still the
/// same processes, then removes the file; returns the groups killed. Call only while holding the run lock.
pub fn kill_recorded_groups(state_dir: &Path) -> Vec<i32> {
    let path = state_dir.join(PID_FILE);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Vec::new();
    };
    let mut killed = Vec::new();
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let (Some(Ok(pgid)), Some(Ok(start))) = (
            parts.next().map(str::parse::<i32>),
            parts.next().map(str::parse::<u64>),
        ) else {
            continue;
        };
        // The leader may have exited while its children (same group) live on.
        let same = match stat(pgid) {
            Some(leader) => leader.start == start,
            None => group_alive_since(pgid, start),
        };
        if pgid > 1 && same && killpg(Pid::from_raw(pgid), Signal::SIGKILL).is_ok() {
            killed.push(pgid);
        }
    }
    let _ = std::fs::remove_file(&path);
    killed
}

/// Writes `groups` (`(pgid, leader start time)`) to `<state_dir>/agent.pid`, one `pgid start` line each;
/// no groups leave the file blank. Rewritten in place ([`ralph_core::state::rewrite_in_place`]: one
/// write, so a `kill -9` never leaves half a line, and no file created per agent run). No fsync: the file
/// must outlive ralph, not the machine.
pub(crate) fn record_groups(state_dir: &Path, groups: &[(i32, u64)]) {
    let path = state_dir.join(PID_FILE);
    if groups.is_empty() && !path.exists() {
        return;
    }
    let text: String = groups
        .iter()
        .map(|(pgid, start)| format!("{pgid} {start}\n"))
        .collect();
    if let Err(e) = ralph_core::state::rewrite_in_place(&path, text.as_bytes()) {
        tracing::debug!(path = %path.display(), error = %e, "agent.pid not written");
    }
}

/// Fields of `/proc/<pid>/stat` that ralph needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stat {
    /// One-letter state (`R`, `S`, `Z`, ...).
    pub state: u8,
    /// Process group id.
    pub pgrp: i32,
    /// Session id.
    pub session: i32,
    /// Start time in clock ticks since boot.
    pub start: u64,
}

impl Stat {
    /// True for a process that has exited (zombie or dead) but may not be reaped yet.
    pub fn exited(&self) -> bool {
        matches!(self.state, b'Z' | b'X')
    }
}

/// Reads `/proc/<pid>/stat` (fields 3, 5, 6 and 22), if the process exists.
pub(crate) fn stat(pid: i32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: fields resume after the last ')'.
    let fields: Vec<&str> = text[text.rfind(')')? + 1..].split_whitespace().collect();
    Some(Stat {
        state: *fields.first()?.as_bytes().first()?,
        pgrp: fields.get(2)?.parse().ok()?,
        session: fields.get(3)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
    })
}

/// True when some process is in group `pgid` and started no earlier than `start` (so it belongs to the
/// recorded agent, not to a later owner of a recycled pgid).
fn group_alive_since(pgid: i32, start: u64) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(stat)
        .any(|s| s.pgrp == pgid && s.start >= start)
}

/// The children of this process, from `/proc/self/task/*/children` (each thread's own children; an
/// adopted orphan can land on any thread). `None` when the kernel does not provide these files
/// (`CONFIG_PROC_CHILDREN` off).
fn own_children() -> Option<Vec<i32>> {
    let mut children = Vec::new();
    let mut any = false;
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
            any = true;
            children.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok()),
            );
        }
    }
    any.then_some(children)
}

/// Children of this process found by reading every `/proc/<pid>/stat` (parent pid, field 4): the
/// fallback of [`own_children`] for kernels without `/proc/<pid>/task/<tid>/children`. Still reads no
/// other process's environment.
fn own_children_by_scan() -> Vec<i32> {
    let me = std::process::id().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
                s.rfind(')')
                    .and_then(|i| s[i + 1..].split_whitespace().nth(1).map(|p| p == me))
                    .unwrap_or(false)
            })
        })
        .collect()
}

/// When `registry` supervises no group, kills and reaps this process's children that carry
/// `<MARKER_VAR>=<marker>`, and reaps exited children from another session; repeats while it finds some
/// (a killed daemon's own children become ours in turn), at most 8 rounds. Each round holds the
/// registry's spawn lock while it picks, so an agent being started is never mistaken for a leftover.
///
/// Only meaningful when this process is a child subreaper ([`ProcessRegistry::adopt_orphans`]): then a
/// process that left an agent's group (`setsid`) becomes our child as soon as its parent exits. ralph
/// never starts a session itself, so an exited child of another session is an adopted orphan: nobody
/// else will wait for it. Blocking (reads `/proc`, waits up to 1 s per round for killed children).
pub(crate) fn sweep_adopted(registry: &ProcessRegistry, marker: &str) -> Sweep {
    let var = format!("{MARKER_VAR}={marker}").into_bytes();
    let my_pgrp = nix::unistd::getpgrp().as_raw();
    let my_session = nix::unistd::getsid(None).map_or(-1, Pid::as_raw);
    let mut sweep = Sweep::default();
    let mut killed = BTreeSet::new();
    for _round in 0..8 {
        let spawning = registry.spawning();
        if !registry.running().is_empty() {
            break;
        }
        let children = own_children().unwrap_or_else(own_children_by_scan);
        let mut now = Vec::new();
        for pid in children {
            sweep.examined += 1;
            let Some(s) = stat(pid) else { continue };
            if registry.is_running(s.pgrp) {
                continue;
            }
            if s.exited() {
                if s.session != my_session {
                    let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
                }
                continue;
            }
            if !environ_has(pid, &var) {
                continue;
            }
            // A group leader of its own group (a `setsid` daemon) takes its group along; anything else
            // is killed alone, so that a process that joined ralph's own group never gets it killed.
            let target = Pid::from_raw(pid);
            let sent = if s.pgrp == pid && s.pgrp != my_pgrp {
                killpg(target, Signal::SIGKILL)
            } else {
                kill(target, Signal::SIGKILL)
            };
            if sent.is_ok() {
                now.push(target);
                killed.insert(pid);
            }
        }
        drop(spawning);
        if now.is_empty() {
            break;
        }
        reap(&now, Duration::from_secs(1));
    }
    sweep.killed = killed.len();
    sweep
}

/// Waits (polling, at most `limit`) until each of `pids`, our own children, is reaped.
fn reap(pids: &[Pid], limit: Duration) {
    let give_up = Instant::now() + limit;
    let mut left: Vec<Pid> = pids.to_vec();
    while !left.is_empty() {
        left.retain(|pid| {
            matches!(
                waitpid(*pid, Some(WaitPidFlag::WNOHANG)),
                Ok(WaitStatus::StillAlive) | Err(Errno::EINTR)
            )
        });
        if left.is_empty() || Instant::now() >= give_up {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    if !left.is_empty() {
        tracing::warn!(?left, "killed processes were not reaped within {limit:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_of_this_process_is_known_and_stable() {
        let me = std::process::id() as i32;
        let a = stat(me).unwrap();
        assert_eq!(stat(me).unwrap().start, a.start);
        assert_eq!(a.pgrp, nix::unistd::getpgrp().as_raw());
        assert!(!a.exited());
        assert!(stat(i32::MAX).is_none());
    }

    #[test]
    fn a_recorded_group_with_another_start_time_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let me = std::process::id() as i32;
        std::fs::write(dir.path().join(PID_FILE), format!("{me} 1\nnot a line\n")).unwrap();
        assert_eq!(kill_recorded_groups(dir.path()), Vec::<i32>::new());
        assert!(!dir.path().join(PID_FILE).exists());
    }

    #[test]
    fn a_recorded_group_that_is_still_the_same_is_killed() {
        use std::os::unix::process::CommandExt;
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("100")
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = child.id() as i32;
        let start = stat(pgid).unwrap().start;
        record_groups(dir.path(), &[(pgid, start)]);
        assert_eq!(kill_recorded_groups(dir.path()), vec![pgid]);
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9));
        assert!(!dir.path().join(PID_FILE).exists());
    }

    #[test]
    fn no_groups_means_a_blank_pid_file() {
        let dir = tempfile::tempdir().unwrap();
        record_groups(dir.path(), &[]);
        assert!(!dir.path().join(PID_FILE).exists(), "nothing to record");
        record_groups(dir.path(), &[(12, 34), (56, 78)]);
        assert_eq!(
            std::fs::read_to_string(dir.path().join(PID_FILE)).unwrap(),
            "12 34\n56 78\n"
        );
        record_groups(dir.path(), &[(9, 1)]);
        assert_eq!(
            std::fs::read_to_string(dir.path().join(PID_FILE))
                .unwrap()
                .trim_end(),
            "9 1"
        );
        record_groups(dir.path(), &[]);
        let text = std::fs::read_to_string(dir.path().join(PID_FILE)).unwrap();
        assert!(text.trim().is_empty(), "{text:?}");
        assert_eq!(kill_recorded_groups(dir.path()), Vec::<i32>::new());
    }

    #[test]
    fn own_children_lists_a_child_of_this_process() {
        let mut child = std::process::Command::new("sleep")
            .arg("100")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let listed = own_children().unwrap_or_else(own_children_by_scan);
        assert!(listed.contains(&pid), "{listed:?}");
        assert!(own_children_by_scan().contains(&pid));
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
