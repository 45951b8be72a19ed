//! Running a command under a wall-clock timeout, capturing its output.

use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::procs;

/// What a finished command left behind.
#[derive(Debug)]
pub struct RunOutput {
    /// Exit status.
    pub status: ExitStatus,
    /// Captured stdout (lossy UTF-8).
    pub stdout: String,
    /// Captured stderr (lossy UTF-8).
    pub stderr: String,
    /// Wall-clock time from spawn to exit.
    pub elapsed: Duration,
}

impl RunOutput {
    /// Exit code, or `128 + signal` when killed by a signal (as a shell reports it).
    pub fn code(&self) -> i32 {
        self.status
            .code()
            .or_else(|| self.status.signal().map(|s| 128 + s))
            .unwrap_or(-1)
    }

    /// A readable dump for assertion messages: exit code, time, stdout and stderr.
    pub fn dump(&self) -> String {
        format!(
            "exit code {} after {:.1?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code(),
            self.elapsed,
            self.stdout,
            self.stderr
        )
    }
}

fn drain(mut r: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

/// Runs `cmd` in a process group of its own, with `stdin` written to its standard input (then closed) or a
/// closed standard input, and waits at most `timeout`.
///
/// On timeout, SIGKILLs the group and every process related to `cleanup_dir` (see [`procs::related_to`]; the
/// agent runs in a process group of its own) and panics with the output so far: a hung `ralph` fails the
/// test instead of hanging the suite.
pub fn run_with_timeout(
    cmd: &mut Command,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
    cleanup_dir: &Path,
) -> RunOutput {
    cmd.process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {:?}: {e}", cmd.get_program()));
    let writer = child.stdin.take().zip(stdin).map(|(mut pipe, data)| {
        std::thread::spawn(move || {
            let _ = pipe.write_all(&data);
        })
    });
    let stdout = drain(child.stdout.take().expect("piped stdout"));
    let stderr = drain(child.stderr.take().expect("piped stderr"));
    let pgid = Pid::from_raw(child.id() as i32);
    let (status, timed_out) = loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            break (status, false);
        }
        if start.elapsed() >= timeout {
            let _ = killpg(pgid, Signal::SIGKILL);
            procs::kill_related(cleanup_dir);
            break (child.wait().expect("wait for killed child"), true);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = start.elapsed();
    if let Some(w) = writer {
        let _ = w.join();
    }
    // A grandchild that escaped the group may still hold the pipes: do not wait for it forever.
    let collect = |h: JoinHandle<Vec<u8>>| {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !h.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if h.is_finished() {
            String::from_utf8_lossy(&h.join().unwrap_or_default()).into_owned()
        } else {
            "<not collected: a surviving process still holds the pipe>".to_owned()
        }
    };
    let out = RunOutput {
        status,
        stdout: collect(stdout),
        stderr: collect(stderr),
        elapsed,
    };
    assert!(
        !timed_out,
        "{:?} did not finish within {timeout:?} and was killed\n{}",
        cmd.get_program(),
        out.dump()
    );
    out
}
