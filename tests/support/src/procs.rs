//! Finding processes that outlived a test, from `/proc` (Linux).
//!
//! A process is *related* to a test directory when its working directory is inside it, or its command line or
//! environment mentions it (an agent started by ralph runs in the workspace with `HOME` in the test directory,
//! so even a grandchild that changed directory still carries the path in its environment). Zombies are ignored:
//! they hold nothing and are reaped by their new parent.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// One process as `/proc/PID/{stat,cmdline,cwd}` describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcInfo {
    /// Process id.
    pub pid: i32,
    /// Parent process id.
    pub ppid: i32,
    /// Process group id.
    pub pgid: i32,
    /// State letter from `stat` (`R`, `S`, `Z`, ...).
    pub state: char,
    /// Executable name from `stat` (at most 15 bytes).
    pub comm: String,
    /// Command line, arguments joined with spaces.
    pub cmdline: String,
    /// Working directory, when readable.
    pub cwd: Option<PathBuf>,
}

/// Parses `/proc/PID/stat`: `pid (comm) state ppid pgrp ...`, where `comm` may hold spaces and parentheses.
fn parse_stat(stat: &str) -> Option<(i32, String, char, i32, i32)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let pid = stat[..open].trim().parse().ok()?;
    let comm = stat[open + 1..close].to_owned();
    let mut rest = stat[close + 1..].split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    let pgid = rest.next()?.parse().ok()?;
    Some((pid, comm, state, ppid, pgid))
}

fn read_proc(pid: i32) -> Option<ProcInfo> {
    let base = PathBuf::from(format!("/proc/{pid}"));
    let (pid, comm, state, ppid, pgid) = parse_stat(&fs::read_to_string(base.join("stat")).ok()?)?;
    let cmdline = fs::read(base.join("cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .split('\0')
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    let cwd = fs::read_link(base.join("cwd")).ok();
    Some(ProcInfo {
        pid,
        ppid,
        pgid,
        state,
        comm,
        cmdline,
        cwd,
    })
}

/// All live (non-zombie) processes except this one.
pub fn all_processes() -> Vec<ProcInfo> {
    let me = std::process::id() as i32;
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut procs: Vec<ProcInfo> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me)
        .filter_map(read_proc)
        .filter(|p| p.state != 'Z')
        .collect();
    procs.sort_by_key(|p| p.pid);
    procs
}

/// Live processes in process group `pgid`.
pub fn in_group(pgid: i32) -> Vec<ProcInfo> {
    all_processes()
        .into_iter()
        .filter(|p| p.pgid == pgid)
        .collect()
}

/// Live processes whose cwd is inside `dir`, or whose command line or environment mentions `dir`.
pub fn related_to(dir: &Path) -> Vec<ProcInfo> {
    let needle = dir.to_string_lossy().into_owned();
    all_processes()
        .into_iter()
        .filter(|p| {
            p.cwd.as_deref().is_some_and(|c| c.starts_with(dir))
                || p.cmdline.contains(&needle)
                || fs::read(format!("/proc/{}/environ", p.pid))
                    .is_ok_and(|env| env.windows(needle.len()).any(|w| w == needle.as_bytes()))
        })
        .collect()
}

/// Waits up to `timeout` for every process related to `dir` to end; returns the survivors (empty = all gone).
pub fn wait_until_gone(dir: &Path, timeout: Duration) -> Vec<ProcInfo> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = related_to(dir);
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends SIGKILL to every process related to `dir` (clean-up after a failed test).
pub fn kill_related(dir: &Path) {
    for p in related_to(dir) {
        let _ = kill(Pid::from_raw(p.pid), Signal::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_spaces_and_parens_in_comm_parses() {
        let stat = "4242 (my (odd) name) S 1 4240 4240 0 -1 4194560 100 0 0 0";
        assert_eq!(
            parse_stat(stat),
            Some((4242, "my (odd) name".to_owned(), 'S', 1, 4240))
        );
    }

    #[test]
    fn a_child_sleeping_in_a_directory_is_related_to_it_until_killed() {
        let dir = tempfile::tempdir().unwrap();
        let dir_path = dir.path().canonicalize().unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .current_dir(&dir_path)
            .spawn()
            .unwrap();
        let related = related_to(&dir_path);
        assert_eq!(
            related.iter().map(|p| p.pid).collect::<Vec<_>>(),
            vec![child.id() as i32]
        );
        kill_related(&dir_path);
        child.wait().unwrap();
        assert!(wait_until_gone(&dir_path, Duration::from_secs(2)).is_empty());
    }
}
