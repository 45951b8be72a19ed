//! [`ShellVerifier`]: `--verify CMD`, run as `sh -c CMD` in the workspace, supervised like an agent (own
//! process group, SIGTERM then SIGKILL to the group on timeout or stop, orphans reaped).

use crate::lines::Line;
use crate::process::{Deadlines, ProcessExit, ProcessSpec, StopCause, StreamHandler, supervise};
use crate::secrets::mask_secrets;
use async_trait::async_trait;
use ralph_core::verify::{OUTPUT_TAIL_CAP, Verification, Verifier, VerifyRequest, VerifyResult};
use ralph_core::{AgentOutcome, EventSender, TimeoutKind};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Runs a shell command to check completion claims: exit 0 passes, anything else fails.
///
/// ```
/// let v = ralph_agents::ShellVerifier::new("cargo test --quiet");
/// assert_eq!(ralph_core::Verifier::describe(&v), "cargo test --quiet");
/// ```
#[derive(Debug, Clone)]
pub struct ShellVerifier {
    command: String,
    grace: Duration,
}

impl ShellVerifier {
    /// A verifier running `command` with `sh -c`.
    pub fn new(command: impl Into<String>) -> Self {
        ShellVerifier {
            command: command.into(),
            grace: crate::process::DEFAULT_GRACE,
        }
    }

    /// Sets the time between SIGTERM and SIGKILL when the command is stopped.
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }
}

/// Keeps the last [`OUTPUT_TAIL_CAP`] bytes of stdout and stderr, interleaved as they arrive.
#[derive(Default)]
struct Tail {
    buf: String,
}

impl Tail {
    fn push(&mut self, line: &str) {
        self.buf.push_str(line);
        self.buf.push('\n');
        if self.buf.len() > 2 * OUTPUT_TAIL_CAP {
            let keep = ralph_core::verify::tail(&self.buf, OUTPUT_TAIL_CAP).len();
            self.buf.drain(..self.buf.len() - keep);
        }
    }
}

impl StreamHandler for Tail {
    fn on_stdout(&mut self, line: Line, _events: &EventSender) {
        self.push(&line.text());
    }
    fn on_stderr(&mut self, line: &str, _events: &EventSender) {
        self.push(line);
    }
    fn finish(&mut self, _exit: &ProcessExit) -> AgentOutcome {
        AgentOutcome::success("")
    }
}

#[async_trait]
impl Verifier for ShellVerifier {
    fn describe(&self) -> String {
        mask_secrets(&self.command)
    }

    async fn verify(&self, request: VerifyRequest, cancel: CancellationToken) -> Verification {
        let began = Instant::now();
        let mut spec = ProcessSpec::new("sh", &request.workspace);
        spec.args = vec!["-c".into(), self.command.clone()];
        spec.display_argv = vec!["sh".into(), "-c".into(), self.describe()];
        spec.grace = self.grace;
        let deadlines = Deadlines {
            deadline: request
                .timeout
                .and_then(|t| began.checked_add(t))
                .map(|d| (d, TimeoutKind::Iteration)),
            idle: None,
        };
        let mut tail = Tail::default();
        // Nobody listens to the verifier's agent events; the output goes to the tail.
        let (events, _) = tokio::sync::mpsc::unbounded_channel();
        let exit = supervise(&spec, deadlines, &mut tail, &events, &cancel).await;
        let output_tail = mask_secrets(ralph_core::verify::tail(&tail.buf, OUTPUT_TAIL_CAP));
        let mut v = match exit {
            Err(e) => Verification::error(format!("cannot run `sh -c`: {e}")),
            Ok(exit) => match exit.stopped_by {
                Some(StopCause::Timeout(_)) => Verification {
                    summary: format!(
                        "timed out after {} s",
                        request.timeout.unwrap_or_default().as_secs()
                    ),
                    output_tail,
                    ..Verification::error("")
                },
                Some(_) => Verification {
                    summary: "stopped".into(),
                    output_tail,
                    ..Verification::error("")
                },
                None if exit.succeeded() => Verification::passed(output_tail),
                None if exit.exit_code.is_some() => {
                    Verification::failed(exit.exit_code, output_tail)
                }
                None => Verification {
                    result: VerifyResult::Error,
                    summary: exit.describe_status(),
                    output_tail,
                    ..Verification::error("")
                },
            },
        };
        v.duration = began.elapsed();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(dir: &std::path::Path, timeout: Option<Duration>) -> VerifyRequest {
        VerifyRequest {
            workspace: dir.to_path_buf(),
            iteration: 1,
            timeout,
        }
    }

    async fn check(cmd: &str, timeout: Option<Duration>) -> Verification {
        let dir = tempfile::tempdir().unwrap();
        ShellVerifier::new(cmd)
            .with_grace(Duration::from_millis(200))
            .verify(request(dir.path(), timeout), CancellationToken::new())
            .await
    }

    #[tokio::test]
    async fn exit_0_passes_and_runs_in_the_workspace() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("marker"), "").unwrap();
        let v = ShellVerifier::new("test -f marker && echo fine")
            .verify(request(dir.path(), None), CancellationToken::new())
            .await;
        assert_eq!(v.result, VerifyResult::Passed, "{v:?}");
        assert_eq!(v.output_tail, "fine\n");
    }

    #[tokio::test]
    async fn a_non_zero_exit_fails_with_stdout_and_stderr() {
        let v = check("echo out; echo err >&2; exit 3", None).await;
        assert_eq!(v.result, VerifyResult::Failed);
        assert_eq!(v.exit_code, Some(3));
        assert!(
            v.output_tail.contains("out\n") && v.output_tail.contains("err\n"),
            "{v:?}"
        );
    }

    #[tokio::test]
    async fn the_output_keeps_only_the_tail() {
        let v = check(
            "i=0; while [ $i -lt 3000 ]; do echo \"line $i of a long and noisy test run\"; i=$((i+1)); done; exit 1",
            None,
        )
        .await;
        assert!(
            v.output_tail.len() <= OUTPUT_TAIL_CAP,
            "{}",
            v.output_tail.len()
        );
        assert!(
            v.output_tail
                .ends_with("line 2999 of a long and noisy test run\n")
        );
        assert!(!v.output_tail.contains("line 0 of"));
    }

    #[tokio::test]
    async fn a_timeout_is_an_error_and_kills_the_group() {
        let v = check(
            "echo started; sleep 30 & sleep 30",
            Some(Duration::from_millis(300)),
        )
        .await;
        assert_eq!(v.result, VerifyResult::Error, "{v:?}");
        assert!(v.summary.contains("timed out"), "{}", v.summary);
        assert!(v.output_tail.contains("started"));
        assert!(v.duration < Duration::from_secs(20));
    }

    #[tokio::test]
    async fn secrets_in_the_output_are_masked() {
        let v = check(
            "echo key sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123; exit 1",
            None,
        )
        .await;
        assert!(
            !v.output_tail.contains("abcdefghijklmnop"),
            "{}",
            v.output_tail
        );
    }
}
