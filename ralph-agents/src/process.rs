//! Supervising one agent process: spawn, feed, read, time out, stop, reap.
//!
//! [`supervise`] is shared by every agent. The agent-specific part is a [`StreamHandler`] that turns stdout
//! lines into [`AgentEvent`]s and finally classifies the run into an [`AgentOutcome`].
//!
//! # Design
//!
//! - The agent is spawned (with `process-wrap`) as the leader of a new process group, with `kill_on_drop`,
//!   so that one signal reaches everything it starts, and a dropped run future still kills it.
//! - stdin is either `/dev/null` or a pipe that a separate task fills with the whole prompt and then
//!   closes. Writing from the supervising task would deadlock with a 10 MB prompt: the agent stops
//!   reading stdin while its stdout pipe is full, and we would not be reading stdout.
//! - The stdout and stderr pipes are enlarged to [`PIPE_BUFFER`] (within the system's
//!   `/proc/sys/fs/pipe-max-size`). Node.js agents (Claude Code, Gemini CLI, Qwen Code) write to a pipe
//!   asynchronously and end with `process.exit()`, which drops whatever the pipe could not take yet: with
//!   the default 64 KiB pipe, a large event (the echo of a 300 KiB prompt) and every event after it, the
//!   final `result` included, could be lost when the agent exited before ralph had read the start.
//! - stdout is read line by line ([`crate::lines`]) by the supervising task itself, so at most one line is
//!   in memory; stderr is drained by its own task into a small channel (lines cut to
//!   [`STDERR_LINE_MAX`] bytes; the last [`STDERR_TAIL_LINES`] are kept for classification).
//! - A stop (deadline, idle timeout, cancellation) sends SIGTERM (and SIGCONT) to the group, keeps draining
//!   the pipes for the grace period, then sends SIGKILL to the group.
//! - Once the handler has seen the agent's final event ([`StreamHandler::final_event_seen`]: Claude's,
//!   Gemini's and Qwen's `result`, Codex's `turn.completed`, OpenCode's `step_finish` with reason `stop`),
//!   the agent has [`FINAL_EVENT_GRACE`] to exit by itself. An agent still running then (a hook, an MCP
//!   server or a child holding stdout open) is stopped like any other (SIGTERM, grace, SIGKILL to the
//!   group), and the run keeps the classification of the final event it sent ([`StopCause::AfterFinal`]):
//!   a timeout that falls after the final event is not a timeout either.
//! - After the leader exits, the pipes are drained for at most [`ProcessSpec::drain_timeout`]: a grandchild
//!   (`sleep 1000 &`) may hold them open forever.
//! - Whatever happened, the group is then cleaned: SIGTERM to leftovers, SIGKILL after the grace period,
//!   and our own zombies in the group are reaped (ralph may be PID 1 in a container, or a subreaper). This
//!   waiting polls `/proc`, so it runs on a blocking thread ([`tokio::task::spawn_blocking`]), never on
//!   the runtime's workers. Processes that left the group on purpose (`setsid`) are out of reach of the
//!   group's signals; a [`ProcessRegistry`] that records a state directory kills those it adopted
//!   ([`crate::reaper`]).
//! - The group is registered with the [`ProcessRegistry`] of the enclosing
//!   [`ProcessRegistry::scope`] (a private one outside any), so that a hard stop reaches it.
//! - When the agent is started from the process's main thread, it gets SIGKILL as its parent-death signal
//!   (`kill_with_parent`): a ralph killed with `kill -9` takes the agent itself along at once.

use crate::group::{Group, ProcessRegistry};
use crate::lines::{DEFAULT_MAX_LINE, Line, LineReader, truncate_text};
use crate::transcript::Transcript;
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use process_wrap::tokio::{CommandWrap, KillOnDrop, ProcessGroup};
use ralph_core::{AgentEvent, AgentOutcome, AgentRequest, EventSender, TimeoutKind};
use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio::time::{Instant as TokioInstant, sleep_until};
use tokio_util::sync::CancellationToken;

/// Default time between SIGTERM and SIGKILL when stopping an agent: 5 seconds.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);
/// Time an agent has to exit by itself after its final event before ralph stops its group: 3 seconds.
/// Real CLIs exit within milliseconds of their final event; one still running after this is held up by a
/// hook, an MCP server or a child holding stdout open, and its answer is already complete.
pub const FINAL_EVENT_GRACE: Duration = Duration::from_secs(3);
/// Default time the pipes are drained after the agent itself exited: 2 seconds.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
pub use crate::transcript::TRANSCRIPT_CAP;
/// Bytes kept of one stderr line (the rest is dropped): 4 KiB.
pub const STDERR_LINE_MAX: usize = 4 * 1024;
/// Capacity asked for the agent's stdout and stderr pipes: 1 MiB (the kernel's default
/// `pipe-max-size`; a smaller system maximum is used when it is lower).
pub const PIPE_BUFFER: usize = 1024 * 1024;
/// Number of last stderr lines kept for classification and error messages.
pub const STDERR_TAIL_LINES: usize = 50;

/// What the agent reads on stdin.
#[derive(Debug, Clone, Default)]
pub enum StdinSource {
    /// `/dev/null`: the agent sees end of input at once.
    #[default]
    Null,
    /// These bytes, written by a separate task; the pipe is closed afterwards.
    Bytes(Arc<[u8]>),
}

/// How to run one agent process.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    /// Program to run (a path, or a name looked up in `PATH`).
    pub program: PathBuf,
    /// Arguments after the program.
    pub args: Vec<String>,
    /// Program and arguments as shown to people ([`AgentEvent::Started`]), secrets masked.
    pub display_argv: Vec<String>,
    /// Working directory.
    pub cwd: PathBuf,
    /// Variables added to (or replaced in) ralph's own environment.
    pub env: BTreeMap<String, String>,
    /// Variables removed from the inherited environment (applied before `env`).
    pub env_remove: Vec<String>,
    /// What the agent reads on stdin.
    pub stdin: StdinSource,
    /// Time between SIGTERM and SIGKILL when stopping the group.
    pub grace: Duration,
    /// How long stdout and stderr are still read after the agent exited.
    pub drain_timeout: Duration,
    /// Longest stdout line kept, in bytes; the rest of a longer line is discarded.
    pub max_line: usize,
    /// Time the agent has to exit by itself after its final event ([`FINAL_EVENT_GRACE`] by default).
    pub final_event_grace: Duration,
}

impl ProcessSpec {
    /// A spec for `program` with no arguments, run in `cwd`, stdin closed, default limits.
    pub fn new(program: impl Into<PathBuf>, cwd: impl Into<PathBuf>) -> Self {
        let program = program.into();
        ProcessSpec {
            display_argv: vec![program.display().to_string()],
            program,
            args: Vec::new(),
            cwd: cwd.into(),
            env: BTreeMap::new(),
            env_remove: Vec::new(),
            stdin: StdinSource::Null,
            grace: DEFAULT_GRACE,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            max_line: DEFAULT_MAX_LINE,
            final_event_grace: FINAL_EVENT_GRACE,
        }
    }
}

/// The time limits of one run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Deadlines {
    /// Instant at which the run is stopped, and which limit it stands for.
    pub deadline: Option<(Instant, TimeoutKind)>,
    /// Longest silence (no line on stdout or stderr) before the run is stopped.
    pub idle: Option<Duration>,
}

impl Deadlines {
    /// The deadline and idle timeout of `request`.
    pub fn from_request(request: &AgentRequest) -> Self {
        Deadlines {
            deadline: request.deadline.map(|d| (d, request.deadline_kind)),
            idle: request.idle_timeout,
        }
    }
}

/// Why ralph stopped a run that was still going.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopCause {
    /// A time limit passed.
    Timeout(TimeoutKind),
    /// The cancellation token fired.
    Cancelled,
    /// The stream handler saw enough to classify the run and asked to stop it
    /// ([`StreamHandler::stop_requested`]); its classification stands.
    Handler,
    /// The agent did not exit within [`ProcessSpec::final_event_grace`] after its final event
    /// ([`StreamHandler::final_event_seen`]); the classification of that event stands.
    AfterFinal,
}

/// How a supervised process ended.
#[derive(Debug, Clone, Default)]
pub struct ProcessExit {
    /// Process id of the agent (also its process group id).
    pub pid: Option<u32>,
    /// Exit code, when the agent exited by itself.
    pub exit_code: Option<i32>,
    /// Signal number, when the agent was killed by a signal.
    pub signal: Option<i32>,
    /// Set when ralph stopped the run before the agent ended it.
    pub stopped_by: Option<StopCause>,
    /// One line saying why ralph stopped the run, when it did.
    pub stop_message: Option<String>,
    /// The last stderr lines (each at most [`STDERR_LINE_MAX`] bytes), oldest first.
    pub stderr_tail: Vec<String>,
    /// True when output was still open after the agent exited and the group was killed to end it.
    pub output_cut: bool,
    /// Wall-clock time from spawn to the end of clean-up.
    pub elapsed: Duration,
    /// Stdout as NDJSON of at most [`TRANSCRIPT_CAP`] bytes, with marker records where lines were cut or
    /// left out ([`crate::transcript`]).
    pub transcript: Vec<u8>,
}

impl ProcessExit {
    /// True when the agent exited by itself with code 0.
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0)
    }

    /// "exit code 3" or "killed by signal 9"; "unknown exit status" otherwise.
    pub fn describe_status(&self) -> String {
        match (self.exit_code, self.signal) {
            (Some(code), _) => format!("exit code {code}"),
            (None, Some(sig)) => match Signal::try_from(sig) {
                Ok(s) => format!("killed by signal {sig} ({s})"),
                Err(_) => format!("killed by signal {sig}"),
            },
            (None, None) => "unknown exit status".into(),
        }
    }

    /// The last few non-empty stderr lines as one line (`a | b | c`), at most `max` bytes, secrets masked.
    pub fn stderr_summary(&self, max: usize) -> Option<String> {
        let lines: Vec<&str> = self
            .stderr_tail
            .iter()
            .map(|l| l.trim())
            .filter(|l| !l.is_empty())
            .collect();
        if lines.is_empty() {
            return None;
        }
        let start = lines.len().saturating_sub(5);
        let joined = lines[start..].join(" | ");
        Some(truncate_text(&crate::secrets::mask_secrets(&joined), max))
    }
}

/// The agent-specific side of a run: reads the stream and classifies the result.
pub trait StreamHandler: Send {
    /// Called for every stdout line, in order. May send events.
    fn on_stdout(&mut self, line: Line, events: &EventSender);

    /// Called for every stderr line (already forwarded as [`AgentEvent::Stderr`]).
    fn on_stderr(&mut self, line: &str, events: &EventSender) {
        let _ = (line, events);
    }

    /// Checked after every stdout line: `true` stops the agent now (SIGTERM, grace, SIGKILL to the group)
    /// and keeps the handler's own classification. For failures the agent would only retry into (an
    /// invalid key, a rate limit that ralph waits out or falls back from). Defaults to `false`.
    fn stop_requested(&self) -> bool {
        false
    }

    /// Checked after every stdout line: `true` once the agent has printed the event that ends its run (its
    /// answer is complete and classified). The supervisor then gives the process
    /// [`ProcessSpec::final_event_grace`] to exit, stops its group if it has not, and keeps the
    /// handler's classification ([`StopCause::AfterFinal`]). Defaults to `false`.
    fn final_event_seen(&self) -> bool {
        false
    }

    /// Classifies the run once the process is gone. [`run_supervised`] then overrides the status when
    /// ralph stopped the run, and fills `exit_code` and `transcript`.
    fn finish(&mut self, exit: &ProcessExit) -> AgentOutcome;
}

/// Runs `spec` under `deadlines` and `cancel`, feeding `handler`, and returns the classified outcome.
///
/// A process that cannot be started gives [`OutcomeStatus::Failed`] with [`FailureKind::Spawn`] and a
/// message naming the program and `install_hint` (e.g. the npm install command).
///
/// [`OutcomeStatus::Failed`]: ralph_core::OutcomeStatus::Failed
/// [`FailureKind::Spawn`]: ralph_core::FailureKind::Spawn
pub async fn run_supervised(
    spec: &ProcessSpec,
    deadlines: Deadlines,
    handler: &mut dyn StreamHandler,
    events: &EventSender,
    cancel: &CancellationToken,
    install_hint: Option<&str>,
) -> AgentOutcome {
    match supervise(spec, deadlines, handler, events, cancel).await {
        Ok(exit) => {
            let mut outcome = handler.finish(&exit);
            apply_exit(&mut outcome, exit);
            outcome
        }
        Err(e) => crate::outcome::spawn_failed(&spec.program, &e, install_hint),
    }
}

/// Overrides the handler's classification with what the supervisor knows: a run that ralph stopped is
/// timed out or cancelled whatever the agent printed (a timeout is never a rate limit), the exit code and
/// the transcript.
fn apply_exit(outcome: &mut AgentOutcome, exit: ProcessExit) {
    outcome.exit_code = exit.exit_code;
    if let Some(cause) = exit.stopped_by {
        outcome.status = match cause {
            StopCause::Timeout(kind) => ralph_core::OutcomeStatus::TimedOut { kind },
            StopCause::Cancelled => ralph_core::OutcomeStatus::Cancelled,
            StopCause::Handler | StopCause::AfterFinal => outcome.status.clone(),
        };
        if cause == StopCause::AfterFinal {
            tracing::info!(
                "{}",
                exit.stop_message
                    .as_deref()
                    .unwrap_or("stopped after the final event")
            );
        } else if cause != StopCause::Handler {
            outcome.message = exit.stop_message.clone();
        }
    }
    outcome.transcript = exit.transcript;
}

/// Spawns and supervises one process until it and its group are gone (see the module docs).
///
/// # Errors
/// Only when the process cannot be spawned (program missing, not executable, bad working directory).
pub async fn supervise(
    spec: &ProcessSpec,
    deadlines: Deadlines,
    handler: &mut dyn StreamHandler,
    events: &EventSender,
    cancel: &CancellationToken,
) -> io::Result<ProcessExit> {
    let started = Instant::now();
    let mut command = tokio::process::Command::new(&spec.program);
    command
        .args(&spec.args)
        .current_dir(&spec.cwd)
        .stdin(match spec.stdin {
            StdinSource::Null => Stdio::null(),
            StdinSource::Bytes(_) => Stdio::piped(),
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for key in &spec.env_remove {
        command.env_remove(key);
    }
    command.envs(&spec.env);
    let registry = ProcessRegistry::current();
    if let Some((var, value)) = registry.marker() {
        command.env(var, value);
    }
    if on_main_thread() {
        kill_with_parent(&mut command);
    }
    let mut wrapped = CommandWrap::from(command);
    wrapped.wrap(ProcessGroup::leader()).wrap(KillOnDrop);
    let spawning = registry.spawning();
    let mut child = wrapped.spawn()?;
    let pid = child.id();
    let group = pid.and_then(|pid| registry.register(pid));
    drop(spawning);
    tracing::debug!(?pid, argv = ?spec.display_argv, "agent started");
    let _ = events.send(AgentEvent::Started {
        pid,
        argv: spec.display_argv.clone(),
    });

    let _stdin_task = match (&spec.stdin, child.stdin().take()) {
        (StdinSource::Bytes(bytes), Some(mut pipe)) => {
            let bytes = Arc::clone(bytes);
            Some(AbortOnDrop(tokio::spawn(async move {
                // An agent that exits without reading all of it gives EPIPE: not our problem to report.
                if let Err(e) = pipe.write_all(&bytes).await {
                    tracing::debug!(error = %e, "writing the prompt to the agent's stdin stopped");
                }
                drop(pipe);
            })))
        }
        _ => None,
    };
    let stdout = child
        .stdout()
        .take()
        .ok_or_else(|| io::Error::other("the agent's stdout was not captured"))?;
    let stderr = child
        .stderr()
        .take()
        .ok_or_else(|| io::Error::other("the agent's stderr was not captured"))?;
    enlarge_pipe(&stdout);
    enlarge_pipe(&stderr);
    let (err_tx, mut err_rx) = mpsc::channel::<String>(64);
    let stderr_task = AbortOnDrop(tokio::spawn(drain_stderr(stderr, err_tx)));
    let mut stdout = LineReader::new(BufReader::with_capacity(64 * 1024, stdout), spec.max_line);

    let far = TokioInstant::now() + Duration::from_secs(100 * 365 * 24 * 3600);
    let deadline = sleep_until(
        deadlines
            .deadline
            .map_or(far, |(at, _)| TokioInstant::from_std(at)),
    );
    let idle = sleep_until(deadlines.idle.map_or(far, |d| TokioInstant::now() + d));
    let kill = sleep_until(far);
    let drain = sleep_until(far);
    let linger = sleep_until(far);
    tokio::pin!(deadline, idle, kill, drain, linger);
    let mut final_at: Option<TokioInstant> = None;

    let mut stopped_by: Option<StopCause> = None;
    let mut kill_at: Option<TokioInstant> = None;
    let mut status: Option<io::Result<ExitStatus>> = None;
    let (mut stdout_open, mut stderr_open) = (true, true);
    let mut output_cut = false;
    let mut cause_from_handler = false;
    let mut tail: VecDeque<String> = VecDeque::with_capacity(STDERR_TAIL_LINES);
    let mut transcript = Transcript::default();

    loop {
        if status.is_some() && !stdout_open && !stderr_open {
            break;
        }
        let running = status.is_none() && stopped_by.is_none();
        let cause = tokio::select! {
            biased;
            _ = cancel.cancelled(), if running => Some(StopCause::Cancelled),
            _ = &mut deadline, if running && deadlines.deadline.is_some() => {
                deadlines.deadline.map(|(_, kind)| StopCause::Timeout(kind))
            }
            _ = &mut idle, if running && deadlines.idle.is_some() => Some(StopCause::Timeout(TimeoutKind::Idle)),
            _ = &mut linger, if running && final_at.is_some() => {
                tracing::debug!(?pid, "the agent is still running after its final event: stopping it");
                Some(StopCause::AfterFinal)
            }
            _ = &mut kill, if kill_at.is_some() && status.is_none() => {
                tracing::debug!(?pid, "grace period over: SIGKILL to the agent's group");
                if let Some(g) = &group {
                    g.signal(Signal::SIGKILL);
                }
                kill_at = None;
                None
            }
            s = child.inner_mut().wait(), if status.is_none() => {
                status = Some(s);
                drain.as_mut().reset(TokioInstant::now() + spec.drain_timeout);
                None
            }
            _ = &mut drain, if status.is_some() => {
                tracing::debug!(?pid, "the agent exited but its output is still open: ending it");
                output_cut = true;
                break;
            }
            line = stdout.next_line(), if stdout_open => {
                match line {
                    Ok(Some(line)) => {
                        if let Some(d) = deadlines.idle {
                            idle.as_mut().reset(TokioInstant::now() + d);
                        }
                        transcript.push(&line);
                        handler.on_stdout(line, events);
                        if handler.stop_requested() && stopped_by.is_none() && status.is_none() {
                            cause_from_handler = true;
                        }
                        if final_at.is_none() && handler.final_event_seen() {
                            let at = TokioInstant::now() + spec.final_event_grace;
                            final_at = Some(at);
                            linger.as_mut().reset(at);
                        }
                    }
                    Ok(None) => stdout_open = false,
                    Err(e) => {
                        tracing::warn!(error = %e, "reading the agent's stdout failed");
                        stdout_open = false;
                    }
                }
                None
            }
            line = err_rx.recv(), if stderr_open => {
                match line {
                    Some(line) => {
                        if let Some(d) = deadlines.idle {
                            idle.as_mut().reset(TokioInstant::now() + d);
                        }
                        if tail.len() == STDERR_TAIL_LINES {
                            tail.pop_front();
                        }
                        let _ = events.send(AgentEvent::Stderr { line: line.clone() });
                        handler.on_stderr(&line, events);
                        tail.push_back(line);
                    }
                    None => stderr_open = false,
                }
                None
            }
        };
        let cause =
            cause.or_else(|| std::mem::take(&mut cause_from_handler).then_some(StopCause::Handler));
        // The answer is complete once the final event is in: a time limit that runs out afterwards only
        // ends a lingering process, it does not make the run a timeout.
        let cause = match cause {
            Some(StopCause::Timeout(_)) if final_at.is_some() => Some(StopCause::AfterFinal),
            other => other,
        };
        if let Some(cause) = cause {
            tracing::debug!(?pid, ?cause, "stopping the agent: SIGTERM to its group");
            stopped_by = Some(cause);
            if let Some(g) = &group {
                g.terminate();
            }
            let at = TokioInstant::now() + spec.grace;
            kill_at = Some(at);
            kill.as_mut().reset(at);
        }
    }

    // Closing our ends makes writers in leftover processes fail instead of blocking.
    drop(stdout);
    drop(stderr_task);
    if let Some(group) = group {
        // Moved into the blocking task: if this future is dropped meanwhile, the clean-up still finishes.
        let (kill_at, grace) = (kill_at.map(TokioInstant::into_std), spec.grace);
        let cleaned = tokio::task::spawn_blocking(move || {
            let registry = group.registry().clone();
            clean_group(group, kill_at, grace);
            let left = registry.sweep_adopted();
            if left > 0 {
                tracing::warn!(
                    "stopped {left} process(es) the agent left running outside its process group"
                );
            }
        });
        if let Err(e) = cleaned.await {
            tracing::warn!(error = %e, "cleaning up the agent's process group failed");
        }
    }

    let (exit_code, signal) = match &status {
        Some(Ok(s)) => (s.code(), s.signal()),
        Some(Err(e)) => {
            tracing::warn!(error = %e, "waiting for the agent failed");
            (None, None)
        }
        None => (None, None),
    };
    let elapsed = started.elapsed();
    let stop_message = stopped_by.map(|c| describe_stop(c, elapsed, deadlines.idle));
    Ok(ProcessExit {
        pid,
        exit_code,
        signal,
        stopped_by,
        stop_message,
        stderr_tail: tail.into(),
        output_cut,
        elapsed,
        transcript: transcript.finish(),
    })
}

fn describe_stop(cause: StopCause, elapsed: Duration, idle: Option<Duration>) -> String {
    let secs = elapsed.as_secs_f64();
    match cause {
        StopCause::Cancelled => format!("stopped by ralph after {secs:.1} s"),
        StopCause::Handler => {
            format!("stopped after {secs:.1} s: the agent reported a failure it would only retry")
        }
        StopCause::AfterFinal => format!(
            "the agent was still running after its final event; its process group was stopped \
             (after {secs:.1} s)"
        ),
        StopCause::Timeout(TimeoutKind::Idle) => format!(
            "timed out: no output for {} s (idle timeout)",
            idle.map_or(0.0, |d| d.as_secs_f64())
        ),
        StopCause::Timeout(TimeoutKind::Runtime) => {
            format!("timed out: the run's max runtime ran out during the iteration ({secs:.1} s)")
        }
        StopCause::Timeout(_) => {
            format!("timed out: iteration time limit reached after {secs:.1} s")
        }
    }
}

/// Asks for a [`PIPE_BUFFER`]-byte buffer on `pipe` (at most the system's `pipe-max-size`). Best effort:
/// the default size stays when the kernel refuses.
fn enlarge_pipe(pipe: &impl std::os::fd::AsFd) {
    let max = std::fs::read_to_string("/proc/sys/fs/pipe-max-size")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(PIPE_BUFFER);
    let size = i32::try_from(PIPE_BUFFER.min(max)).unwrap_or(i32::MAX);
    if let Err(e) = nix::fcntl::fcntl(pipe.as_fd(), nix::fcntl::FcntlArg::F_SETPIPE_SZ(size)) {
        tracing::debug!(error = %e, size, "could not enlarge the agent's pipe");
    }
}

/// Forwards stderr lines (cut to [`STDERR_LINE_MAX`]) to the supervisor until end of input.
async fn drain_stderr(stderr: tokio::process::ChildStderr, tx: mpsc::Sender<String>) {
    let mut reader = LineReader::new(BufReader::new(stderr), STDERR_LINE_MAX);
    while let Ok(Some(line)) = reader.next_line().await {
        let mut text = line.text().into_owned();
        if line.is_truncated() {
            text.push('…');
        }
        if tx.send(text).await.is_err() {
            break;
        }
    }
}

/// Ends whatever is left of the group: SIGTERM unless already sent, SIGKILL at `kill_at` (or after
/// `grace`), then waits briefly until the group is empty so that nothing outlives the run. Blocking (polls
/// `/proc` every 20 ms while members are left): run it with [`tokio::task::spawn_blocking`].
fn clean_group(group: Group, kill_at: Option<Instant>, grace: Duration) {
    const POLL: Duration = Duration::from_millis(20);
    reap_own_zombies(&group);
    let kill_at = match kill_at {
        Some(at) => at,
        None => {
            if !group.terminate() {
                release(group);
                return;
            }
            tracing::debug!("the agent left processes behind: SIGTERM to its group");
            Instant::now() + grace
        }
    };
    while Instant::now() < kill_at {
        reap_own_zombies(&group);
        if !group.exists() {
            release(group);
            return;
        }
        std::thread::sleep(POLL);
    }
    group.signal(Signal::SIGKILL);
    let give_up = Instant::now() + Duration::from_secs(2);
    while group.exists() && Instant::now() < give_up {
        reap_own_zombies(&group);
        std::thread::sleep(POLL);
    }
    if group.exists() {
        tracing::warn!("processes of the agent's group survived SIGKILL (uninterruptible?)");
    }
    release(group);
}

/// Reaps the group's last zombies that are ours, then forgets the group. A member that died between the
/// last reap and the check that found no live member is a zombie, and when ralph is its reaper (PID 1, or
/// a subreaper that adopted it when its parent exited) nobody else will ever wait for it.
fn release(group: Group) {
    reap_own_zombies(&group);
    group.release();
}

/// True on the process's main thread (thread id = process id). The main thread lives as long as the
/// process: returning from `main` ends the process, and Rust never ends the main thread alone.
fn on_main_thread() -> bool {
    nix::unistd::gettid() == nix::unistd::getpid()
}

/// Gives the child SIGKILL as its parent-death signal (`prctl(PR_SET_PDEATHSIG)`, Linux), so that it dies
/// with ralph even when ralph is killed with `kill -9` or by the OOM killer, instead of working on (and
/// spending tokens) until the next `ralph run` in the workspace kills it.
///
/// The kernel sends that signal when the *thread* that forked the child exits, not the process: a child
/// forked from a tokio worker or blocking-pool thread (which exits after being idle) could be killed in
/// the middle of its run. So [`supervise`] only asks for it when it runs on the main thread, which is
/// where `ralph run` drives the engine (`Runtime::block_on`), and which lives exactly as long as the
/// process. Only the agent's leader gets the signal (it is not inherited across `fork`); what the agent
/// started in its group is left to the start-of-run clean-up of the next run ([`crate::reaper`]).
#[allow(unsafe_code)]
fn kill_with_parent(command: &mut tokio::process::Command) {
    let parent = nix::unistd::getpid();
    // SAFETY: `pre_exec` runs the closure in the child between `fork` and `exec`, where only
    // async-signal-safe calls are allowed. It makes two system calls (`prctl`, `getppid`) through `nix`,
    // which allocate nothing and take no lock, and builds its errors with `io::Error::from_raw_os_error`
    // (no allocation). The parent check closes the race with a parent that died before `prctl`: then the
    // child was already re-parented, the signal would never come, and `exec` is refused instead.
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
                .map_err(|e| io::Error::from_raw_os_error(e as i32))?;
            if nix::unistd::getppid() != parent {
                return Err(io::Error::from_raw_os_error(nix::libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// Reaps exited processes of the group that are our own children. Grandchildren become ours when ralph is
/// PID 1 or a subreaper ([`ProcessRegistry::adopt_orphans`]); a zombie still counts as a member, so without
/// this the group never looks empty. The leader itself was already reaped by tokio.
fn reap_own_zombies(group: &Group) {
    let pgid = Pid::from_raw(-group.pgid());
    while let Ok(status) = waitpid(pgid, Some(WaitPidFlag::WNOHANG)) {
        if status == WaitStatus::StillAlive {
            break;
        }
    }
}

/// Aborts a spawned task when dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
