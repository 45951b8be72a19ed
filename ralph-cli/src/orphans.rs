//! Agents left behind by a ralph that was killed with SIGKILL.
//!
//! ralph stops its agents on every path it controls, but nothing runs in a process killed by `kill -9`
//! (or by the OOM killer), and an agent runs in its own process group, so it survives its parent. While an
//! agent runs, ralph therefore marks it, and everything it starts, with the environment variable
//! `RALPH_AGENT_OF=<state dir>`, and keeps `<state dir>/agent.pid` with the agent's process group id and
//! the leader's start time. The next `ralph run` in the workspace, holding the run lock (so no live ralph
//! owns these processes), kills every process carrying the marker and the recorded group if it is still
//! the same one (same start time, so a recycled pid is never hit) before it resumes. The marker covers
//! the moment between starting the agent and recording its pid; the pid file covers processes that clear
//! their environment.

use ralph_core::{AgentEvent, LoopEvent, Observer};
use std::path::{Path, PathBuf};

const FILE: &str = "agent.pid";

/// The environment variable that marks an agent's processes with the state directory they work for.
pub const MARKER_VAR: &str = "RALPH_AGENT_OF";

/// Kills every process (other than this one) whose environment holds `RALPH_AGENT_OF=<state_dir>`;
/// returns how many. Call only while holding the run lock.
pub fn kill_marked(state_dir: &Path) -> usize {
    let marker = format!("{MARKER_VAR}={}", state_dir.display()).into_bytes();
    let me = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut killed = 0;
    for pid in entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok()) {
        if pid == me {
            continue;
        }
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        if environ
            .split(|b| *b == 0)
            .any(|var| var == marker.as_slice())
            && nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            )
            .is_ok()
        {
            killed += 1;
        }
    }
    killed
}

/// `(process group id, start time in clock ticks since boot)` of process `pid`, from `/proc/<pid>/stat`
/// (fields 5 and 22), if it exists.
fn group_and_start(pid: i32) -> Option<(i32, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: fields resume after the last ')'.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    Some((fields.get(2)?.parse().ok()?, fields.get(19)?.parse().ok()?))
}

fn start_time(pid: i32) -> Option<u64> {
    group_and_start(pid).map(|(_, start)| start)
}

/// True when some process is in group `pgid` and started no earlier than `start` (so it belongs to the
/// recorded agent, not to a later owner of a recycled pgid).
fn group_alive_since(pgid: i32, start: u64) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(group_and_start)
        .any(|(group, started)| group == pgid && started >= start)
}

/// Records the running agent's process group in the state directory.
pub struct AgentPidFile {
    path: PathBuf,
    state_dir: PathBuf,
}

impl AgentPidFile {
    /// An observer that keeps `<state_dir>/agent.pid` up to date.
    pub fn new(state_dir: &Path) -> Self {
        AgentPidFile {
            path: state_dir.join(FILE),
            state_dir: state_dir.to_path_buf(),
        }
    }
}

impl Observer for AgentPidFile {
    fn on_event(&mut self, event: &LoopEvent) {
        match event {
            LoopEvent::Agent {
                activity: AgentEvent::Started { pid: Some(pid), .. },
                ..
            } => {
                let Ok(pgid) = i32::try_from(*pid) else {
                    return;
                };
                if let Some(start) = start_time(pgid) {
                    // No fsync: the file must outlive ralph, not the machine, and every millisecond
                    // before it exists is a window in which a `kill -9` would go unnoticed.
                    let _ = std::fs::write(&self.path, format!("{pgid} {start}\n"));
                }
            }
            LoopEvent::IterationFinished { .. } | LoopEvent::RunFinished { .. } => {
                // Processes that left the agent's group (`setsid`, daemons) still carry the marker.
                let left = kill_marked(&self.state_dir);
                if left > 0 {
                    tracing::warn!(
                        "stopped {left} process(es) the agent left running outside its process group"
                    );
                }
                let _ = std::fs::remove_file(&self.path);
            }
            _ => {}
        }
    }
}

/// Kills the agent process group recorded in `state_dir` if it is still alive and still the same
/// processes; returns its pgid when it did. Call only while holding the run lock.
pub fn kill_stale_agent(state_dir: &Path) -> Option<i32> {
    let path = state_dir.join(FILE);
    let text = std::fs::read_to_string(&path).ok()?;
    let _remove_after_the_kill = RemoveOnDrop(&path);
    let mut parts = text.split_whitespace();
    let pgid: i32 = parts.next()?.parse().ok()?;
    let start: u64 = parts.next()?.parse().ok()?;
    // The leader may have exited while its children (same group) live on.
    let leader_matches = start_time(pgid) == Some(start);
    if pgid <= 1
        || !(leader_matches || (start_time(pgid).is_none() && group_alive_since(pgid, start)))
    {
        return None;
    }
    nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pgid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .ok()?;
    Some(pgid)
}

struct RemoveOnDrop<'a>(&'a Path);

impl Drop for RemoveOnDrop<'_> {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_of_this_process_is_known_and_stable() {
        let me = std::process::id() as i32;
        let a = start_time(me).unwrap();
        assert_eq!(start_time(me), Some(a));
        assert_eq!(start_time(i32::MAX), None);
    }

    #[test]
    fn a_recorded_group_with_another_start_time_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let me = std::process::id() as i32;
        std::fs::write(dir.path().join(FILE), format!("{me} 1\n")).unwrap();
        assert_eq!(kill_stale_agent(dir.path()), None);
        assert!(!dir.path().join(FILE).exists());
    }
}
