//! Signalling an agent's process group, and the registry of groups still running.
//!
//! Every agent runs as the leader of its own process group (see [`crate::process`]), so one `killpg`
//! reaches the agent and everything it started that did not leave the group on purpose (`setsid`,
//! daemonising tools). A [`ProcessRegistry`] is a cheap handle (an `Arc`) on the set of groups being
//! supervised: the caller keeps one clone for a hard stop ([`ProcessRegistry::kill_all`], on a second
//! Ctrl-C) and runs the agents inside [`ProcessRegistry::scope`], where the supervisor finds it. There is
//! no process-wide registry: a run outside any scope gets a private one of its own (its group is still
//! killed on every path; only a hard stop cannot reach it).

use crate::reaper::{self, LeftBehind, MARKER_VAR};
use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

tokio::task_local! {
    /// The registry of the agents run inside [`ProcessRegistry::scope`].
    static CURRENT: ProcessRegistry;
}

/// A handle on the process groups of the agents being supervised (clones share the same set).
///
/// - [`ProcessRegistry::new`]: tracks groups for [`ProcessRegistry::kill_all`].
/// - [`ProcessRegistry::recording_in`]: also marks every agent process with
///   [`MARKER_VAR`](crate::reaper::MARKER_VAR)`=<state dir>`, keeps the live groups in
///   `<state dir>/agent.pid`, and after every run kills the marked processes that left the agent's group
///   and were adopted by this process ([`ProcessRegistry::adopt_orphans`]); the next run in the same state
///   directory finds what a killed ralph left behind ([`ProcessRegistry::kill_left_behind`]). See
///   [`crate::reaper`].
///
/// Agents pick the registry up from [`ProcessRegistry::scope`]:
///
/// ```no_run
/// # async fn demo(agent: Box<dyn ralph_core::Agent>, request: ralph_core::AgentRequest) {
/// use ralph_agents::ProcessRegistry;
/// let processes = ProcessRegistry::new();
/// let hard_stop = processes.clone(); // e.g. moved into a signal handler task: `hard_stop.kill_all()`
/// let (events, _rx) = tokio::sync::mpsc::unbounded_channel();
/// let cancel = ralph_core::CancellationToken::new();
/// let outcome = processes.scope(agent.run(request, events, cancel)).await;
/// # let _ = (outcome, hard_stop); }
/// ```
#[derive(Debug, Clone, Default)]
pub struct ProcessRegistry {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Live groups: process group id -> leader start time (clock ticks since boot), when known.
    groups: Mutex<BTreeMap<i32, Option<u64>>>,
    /// The state directory whose marker and pid file this registry keeps.
    state_dir: Option<PathBuf>,
    /// Processes killed by [`reaper::sweep_adopted`] after runs, in total.
    adopted_killed: AtomicUsize,
    /// Children looked at by [`reaper::sweep_adopted`] after runs, in total.
    children_examined: AtomicUsize,
    /// Held from spawning a process until its group is registered, and by a sweep while it picks what to
    /// kill: a sweep never takes an agent that was just started for one not yet registered.
    spawning: Mutex<()>,
}

impl ProcessRegistry {
    /// An empty registry that only tracks groups (no marker, no pid file).
    pub fn new() -> Self {
        ProcessRegistry::default()
    }

    /// A registry that marks the agents' processes with `state_dir` and records their groups in
    /// `<state_dir>/agent.pid` (see the type docs). `state_dir` must exist.
    pub fn recording_in(state_dir: &Path) -> Self {
        ProcessRegistry {
            inner: Arc::new(Inner {
                state_dir: Some(state_dir.to_path_buf()),
                ..Inner::default()
            }),
        }
    }

    /// The marker variable and its value that agents started through this registry carry, if any.
    pub fn marker(&self) -> Option<(&'static str, String)> {
        let dir = self.inner.state_dir.as_ref()?;
        Some((MARKER_VAR, dir.display().to_string()))
    }

    /// Runs `future` with this registry as the one agents register with (a tokio task-local: it reaches
    /// every agent run polled inside `future`, not tasks it spawns).
    pub async fn scope<F: std::future::Future>(&self, future: F) -> F::Output {
        CURRENT.scope(self.clone(), future).await
    }

    /// The registry of the enclosing [`ProcessRegistry::scope`], or a new private one outside any.
    pub fn current() -> ProcessRegistry {
        CURRENT.try_with(Clone::clone).unwrap_or_default()
    }

    /// Process group ids of the agents running now, ascending.
    pub fn running(&self) -> Vec<i32> {
        self.lock().keys().copied().collect()
    }

    /// True while group `pgid` is being supervised through this registry.
    pub fn is_running(&self, pgid: i32) -> bool {
        self.lock().contains_key(&pgid)
    }

    /// Sends SIGKILL to the process group of every agent that is running now, at once and without waiting.
    ///
    /// For a hard stop (the second Ctrl-C, just before `std::process::exit`): the supervisors that would
    /// normally escalate from SIGTERM never get to run. Safe to call at any time, from any thread.
    pub fn kill_all(&self) {
        for pgid in self.running() {
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        }
    }

    /// [`ProcessRegistry::kill_all`], then, with a marker ([`ProcessRegistry::recording_in`]), SIGKILL to
    /// every process that carries it and to the groups recorded in the pid file, which is removed; returns
    /// how many marked processes were killed. For a hard stop just before `std::process::exit`: a process
    /// that left an agent's group (`setsid`) while the agent still runs is in no registered group and is
    /// not yet this process's child, so neither `kill_all` nor the sweep after a run reaches it; without
    /// this it would live on until the next run in the workspace. Blocking: reads every process's
    /// environment once. Call only from the process that holds the run lock.
    pub fn kill_all_and_marked(&self) -> usize {
        self.kill_all();
        let Some(dir) = self.inner.state_dir.as_deref() else {
            return 0;
        };
        let killed = reaper::kill_marked(&dir.display().to_string());
        reaper::kill_recorded_groups(dir);
        killed
    }

    /// Makes this process a child subreaper (`prctl(PR_SET_CHILD_SUBREAPER)`, Linux): a process that left
    /// an agent's group (`setsid`) and whose parent exits becomes this process's child instead of init's,
    /// so that the sweep after each run finds it among this process's own children instead of among all
    /// the machine's processes. Affects the whole process, for good; exited adopted children are reaped
    /// by that sweep. Does nothing more without [`ProcessRegistry::recording_in`] (no marker to tell
    /// agents' processes from others).
    ///
    /// # Errors
    /// The system call failed (not Linux, or refused by a sandbox).
    pub fn adopt_orphans(&self) -> std::io::Result<()> {
        nix::sys::prctl::set_child_subreaper(true).map_err(std::io::Error::from)
    }

    /// Kills what a ralph that was killed (`kill -9`) left running for this state directory: every
    /// process carrying the marker and every group recorded in `agent.pid` that is still the same
    /// processes. Scans every process's environment once, on a blocking thread. Call once at the start
    /// of a run, while holding the run lock (so that no live ralph owns these processes) and before any
    /// agent starts. Does nothing without [`ProcessRegistry::recording_in`].
    pub async fn kill_left_behind(&self) -> LeftBehind {
        let Some(dir) = self.inner.state_dir.clone() else {
            return LeftBehind::default();
        };
        let marker = dir.display().to_string();
        tokio::task::spawn_blocking(move || LeftBehind {
            marked: reaper::kill_marked(&marker),
            groups: reaper::kill_recorded_groups(&dir),
        })
        .await
        .unwrap_or_default()
    }

    /// Number of processes that left an agent's group and were killed after their run, since this
    /// registry was made.
    pub fn adopted_killed(&self) -> usize {
        self.inner.adopted_killed.load(Ordering::Relaxed)
    }

    /// Number of this process's children looked at by the sweeps after runs (the sweep's whole cost:
    /// no other process is looked at), since this registry was made.
    pub fn children_examined(&self) -> usize {
        self.inner.children_examined.load(Ordering::Relaxed)
    }

    /// Kills the marked processes that left an agent's group and were adopted by this process (see
    /// [`crate::reaper::sweep_adopted`]); returns how many. Blocking. Does nothing without a marker, nor
    /// while another run of this registry is still going (a daemon it started may still serve it: the
    /// sweep after the last run takes it).
    pub(crate) fn sweep_adopted(&self) -> usize {
        let Some((_, marker)) = self.marker() else {
            return 0;
        };
        let sweep = reaper::sweep_adopted(self, &marker);
        self.inner
            .children_examined
            .fetch_add(sweep.examined, Ordering::Relaxed);
        self.inner
            .adopted_killed
            .fetch_add(sweep.killed, Ordering::Relaxed);
        sweep.killed
    }

    /// Tracks the group whose leader has process id `pid` (and records it in the pid file).
    pub(crate) fn register(&self, pid: u32) -> Option<Group> {
        let pgid = i32::try_from(pid).ok().filter(|p| *p > 1)?;
        let start = self
            .inner
            .state_dir
            .as_ref()
            .and_then(|_| reaper::stat(pgid))
            .map(|s| s.start);
        let mut groups = self.lock();
        groups.insert(pgid, start);
        self.record(&groups);
        drop(groups);
        Some(Group {
            pgid: Pid::from_raw(pgid),
            registry: self.clone(),
            released: false,
        })
    }

    fn forget(&self, pgid: i32) {
        let mut groups = self.lock();
        if groups.remove(&pgid).is_some() {
            self.record(&groups);
        }
    }

    /// Rewrites the pid file from `groups` (under the lock, so writes land in order).
    fn record(&self, groups: &BTreeMap<i32, Option<u64>>) {
        if let Some(dir) = &self.inner.state_dir {
            let known: Vec<(i32, u64)> = groups
                .iter()
                .filter_map(|(pgid, start)| Some((*pgid, (*start)?)))
                .collect();
            reaper::record_groups(dir, &known);
        }
    }

    /// Held while a process is spawned and its group registered (see `Inner::spawning`).
    pub(crate) fn spawning(&self) -> MutexGuard<'_, ()> {
        self.inner
            .spawning
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<i32, Option<u64>>> {
        self.inner.groups.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The process group of one supervised agent. Registered while alive; dropping it without
/// [`Group::release`] kills the whole group (the backstop when a run's future is dropped mid-way).
#[derive(Debug)]
pub(crate) struct Group {
    pgid: Pid,
    registry: ProcessRegistry,
    released: bool,
}

impl Group {
    /// The process group id (the leader's pid).
    pub(crate) fn pgid(&self) -> i32 {
        self.pgid.as_raw()
    }

    /// The registry this group is tracked by.
    pub(crate) fn registry(&self) -> &ProcessRegistry {
        &self.registry
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

    /// True while a live process is in the group. Blocking: may read all of `/proc`.
    ///
    /// `killpg(pgid, 0)` also counts members that have exited but are not reaped yet, and an orphan waits
    /// for its reaper (PID 1, unless ralph is a subreaper), which takes up to a second on some container
    /// inits. Those are dead already, so where `/proc` is available the members' states are checked
    /// before waiting any longer.
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
        self.registry.forget(self.pgid.as_raw());
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if !self.released {
            let _ = killpg(self.pgid, Signal::SIGKILL);
            self.registry.forget(self.pgid.as_raw());
        }
    }
}

/// Number of processes of group `pgid` that are not zombies, from `/proc` (`None` without `/proc`).
fn live_members_in_proc(pgid: i32) -> Option<usize> {
    let dir = std::fs::read_dir("/proc").ok()?;
    Some(
        dir.flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter_map(reaper::stat)
            .filter(|s| s.pgrp == pgid && !s.exited())
            .count(),
    )
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
    async fn kill_all_kills_a_group_supervised_in_its_scope_at_once() {
        let processes = ProcessRegistry::new();
        let other = ProcessRegistry::new();
        let mut spec = ProcessSpec::new("sleep", std::env::temp_dir());
        spec.args = vec!["1000".into()];
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let scoped = processes.clone();
        let run = tokio::spawn(async move {
            scoped
                .scope(supervise(
                    &spec,
                    Deadlines::default(),
                    &mut Ignore,
                    &tx,
                    &CancellationToken::new(),
                ))
                .await
        });
        let Some(AgentEvent::Started { pid: Some(pid), .. }) = rx.recv().await else {
            panic!("no start event");
        };
        assert_eq!(processes.running(), vec![pid as i32]);
        assert!(processes.is_running(pid as i32));
        assert!(other.running().is_empty(), "registries do not share groups");
        other.kill_all();
        let started = Instant::now();
        processes.clone().kill_all();
        let exit = run.await.unwrap().unwrap();
        assert_eq!(exit.signal, Some(9));
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(processes.running().is_empty());
    }

    #[tokio::test]
    async fn outside_a_scope_a_run_gets_a_private_registry() {
        let outer = ProcessRegistry::new();
        assert!(ProcessRegistry::current().running().is_empty());
        let inner = outer.scope(async { ProcessRegistry::current() }).await;
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new("sleep")
            .arg("100")
            .process_group(0)
            .spawn()
            .unwrap();
        let group = inner.register(child.id()).unwrap();
        assert_eq!(outer.running(), vec![child.id() as i32]);
        assert!(ProcessRegistry::current().running().is_empty());
        group.release();
        assert!(outer.running().is_empty());
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn no_sweep_while_a_run_of_the_registry_is_still_going() {
        use std::os::unix::process::CommandExt;
        let dir = tempfile::tempdir().unwrap();
        let processes = ProcessRegistry::recording_in(dir.path());
        let mut child = std::process::Command::new("sleep")
            .arg("100")
            .process_group(0)
            .spawn()
            .unwrap();
        let group = processes.register(child.id()).unwrap();
        assert_eq!(processes.sweep_adopted(), 0);
        assert_eq!(processes.children_examined(), 0, "nothing looked at");
        group.release();
        assert_eq!(processes.sweep_adopted(), 0);
        assert!(processes.children_examined() >= 1, "the sleep is our child");
        assert!(
            child.try_wait().unwrap().is_none(),
            "an unmarked child is left alone"
        );
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn a_recording_registry_keeps_the_pid_file_of_its_live_groups() {
        use std::os::unix::process::CommandExt;
        let dir = tempfile::tempdir().unwrap();
        let processes = ProcessRegistry::recording_in(dir.path());
        assert_eq!(
            processes.marker(),
            Some((MARKER_VAR, dir.path().display().to_string()))
        );
        assert_eq!(ProcessRegistry::new().marker(), None);
        let mut child = std::process::Command::new("sleep")
            .arg("100")
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = child.id();
        let group = processes.register(pid).unwrap();
        let start = reaper::stat(pid as i32).unwrap().start;
        let file = dir.path().join(reaper::PID_FILE);
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            format!("{pid} {start}\n")
        );
        // Dropped without release: the backstop kills the group and forgets it.
        drop(group);
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(child.wait().unwrap().signal(), Some(9));
        assert!(processes.running().is_empty());
        assert!(
            std::fs::read_to_string(&file).unwrap().trim().is_empty(),
            "no group left on record"
        );
    }
}
