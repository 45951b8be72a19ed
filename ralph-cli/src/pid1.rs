//! Running as PID 1 in a container.
//!
//! PID 1 inherits every orphaned process and must reap it, and the kernel does not apply default signal
//! actions to it. When ralph finds itself with pid 1 it therefore splits in two, like `tini`: the original
//! process becomes a minimal init that reaps every child and forwards SIGINT, SIGTERM, SIGHUP and SIGQUIT,
//! and a re-executed copy of ralph (in its own process group, so a terminal's Ctrl-C reaches it once, through
//! the init) does the actual work. The init exits with the worker's exit code (128 + signal number when the
//! worker died from a signal).
//!
//! This is written here rather than taken from a crate because the crates available either reap only one
//! child per coalesced SIGCHLD (which can leave the worker unreaped forever) or escalate signals on timers that
//! would turn ralph's graceful shutdown into a hard stop.

use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Set in the worker's environment so that it does not split again.
pub(crate) const WORKER_ENV: &str = "RALPH_PID1_WORKER";

/// If this process is PID 1, runs the init loop and never returns; otherwise returns at once.
///
/// Must be called before any thread is started (before the tokio runtime), because it blocks signals
/// for the whole process.
pub fn init_if_pid1() {
    if std::process::id() != 1 || std::env::var_os(WORKER_ENV).is_some() {
        return;
    }
    let forwarded = [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ];
    let mut mask = SigSet::empty();
    for s in forwarded {
        mask.add(s);
    }
    mask.add(Signal::SIGCHLD);
    if mask.thread_block().is_err() {
        return;
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!(
                "ralph: running as PID 1 but cannot find my own executable ({e}); zombies will not be reaped"
            );
            let _ = mask.thread_unblock();
            return;
        }
    };
    let mut cmd = Command::new(exe);
    cmd.args(std::env::args_os().skip(1))
        .env(WORKER_ENV, "1")
        .process_group(0);
    // A signal mask survives exec: the worker unblocks these signals first thing
    // (`unblock_inherited_signals`), which avoids an unsafe `pre_exec` hook here.
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ralph: running as PID 1, cannot start the worker process: {e}");
            std::process::exit(1);
        }
    };
    let worker = Pid::from_raw(child.id() as i32);
    loop {
        let Ok(sig) = mask.wait() else { continue };
        if forwarded.contains(&sig) {
            let _ = kill(worker, sig);
            continue;
        }
        // SIGCHLD: reap everything that has exited; signals coalesce, so loop until none is left.
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == worker => std::process::exit(code),
                Ok(WaitStatus::Signaled(pid, s, _)) if pid == worker => {
                    std::process::exit(128 + s as i32)
                }
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
}

/// In the worker started by [`init_if_pid1`]: unblocks the signals the init blocked (a signal mask is
/// inherited across `exec`). Harmless elsewhere.
pub fn unblock_inherited_signals() {
    if std::env::var_os(WORKER_ENV).is_none() {
        return;
    }
    let mut mask = SigSet::empty();
    for s in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGCHLD,
    ] {
        mask.add(s);
    }
    let _ = mask.thread_unblock();
}
