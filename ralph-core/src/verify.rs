//! Verification of completion claims (`--verify CMD`).
//!
//! When the agent claims completion (and `min_iterations` allows it), the engine asks its [`Verifier`]
//! whether the work really is done. A pass accepts the claim and ends the run; a failure or an error
//! rejects it ([`crate::LoopEvent::CompletionRejected`]), the run goes on, and the verifier's output tail
//! becomes the feedback section of the next iteration's prompt.
//!
//! The engine never spawns processes: the shell verifier (`sh -c CMD` in its own process group) lives in
//! `ralph-agents` (`ShellVerifier`). Library users can check claims their own way:
//!
//! ```
//! use ralph_core::verify::{Verification, Verifier, VerifyRequest};
//! use ralph_core::CancellationToken;
//!
//! /// Accepts a claim once `hello.txt` exists in the workspace.
//! struct FileExists;
//!
//! #[async_trait::async_trait]
//! impl Verifier for FileExists {
//!     fn describe(&self) -> String { "hello.txt exists".into() }
//!     async fn verify(&self, req: VerifyRequest, _: CancellationToken) -> Verification {
//!         if req.workspace.join("hello.txt").is_file() {
//!             Verification::passed("")
//!         } else {
//!             Verification::failed(None, "hello.txt is missing")
//!         }
//!     }
//! }
//! ```

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Bytes of verifier output kept (the tail): 64 KiB.
pub const OUTPUT_TAIL_CAP: usize = 64 * 1024;

/// What a [`Verifier`] is asked to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyRequest {
    /// The workspace the agent works in.
    pub workspace: PathBuf,
    /// The iteration whose completion claim is checked.
    pub iteration: u64,
    /// How long the check may take (the iteration timeout, bounded by the remaining runtime).
    pub timeout: Option<Duration>,
}

/// The verdict of a [`Verifier`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerifyResult {
    /// The claim holds (the command exited 0).
    Passed,
    /// The claim does not hold (the command exited non-zero).
    Failed,
    /// The check could not be made (not started, timed out, killed, interrupted); the claim is rejected.
    Error,
}

impl VerifyResult {
    /// `passed`, `failed` or `error` (the `result` label of `ralph_verifications_total`).
    pub fn label(&self) -> &'static str {
        match self {
            VerifyResult::Passed => "passed",
            VerifyResult::Failed => "failed",
            VerifyResult::Error => "error",
        }
    }
}

/// What a verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// The verdict.
    pub result: VerifyResult,
    /// Exit code of the command, when it exited by itself.
    pub exit_code: Option<i32>,
    /// The last [`OUTPUT_TAIL_CAP`] bytes of its output (stdout and stderr), secrets masked.
    pub output_tail: String,
    /// One line on what happened, e.g. "exit code 1" or "timed out after 30 s".
    pub summary: String,
    /// Wall-clock time the check took.
    pub duration: Duration,
}

impl Verification {
    /// A pass with `output`.
    pub fn passed(output: impl Into<String>) -> Self {
        Verification {
            result: VerifyResult::Passed,
            exit_code: Some(0),
            output_tail: output.into(),
            summary: "exit code 0".into(),
            duration: Duration::ZERO,
        }
    }

    /// A failure with `exit_code` and `output`.
    pub fn failed(exit_code: Option<i32>, output: impl Into<String>) -> Self {
        Verification {
            result: VerifyResult::Failed,
            exit_code,
            output_tail: output.into(),
            summary: match exit_code {
                Some(c) => format!("exit code {c}"),
                None => "failed".into(),
            },
            duration: Duration::ZERO,
        }
    }

    /// An error: the check could not be made, for `summary`.
    pub fn error(summary: impl Into<String>) -> Self {
        Verification {
            result: VerifyResult::Error,
            exit_code: None,
            output_tail: String::new(),
            summary: summary.into(),
            duration: Duration::ZERO,
        }
    }
}

/// Checks a completion claim. Async and object-safe; the engine holds a `Box<dyn Verifier>`.
#[async_trait]
pub trait Verifier: Send + Sync {
    /// What is checked, for logs and the dry-run plan (e.g. the command, secrets masked).
    fn describe(&self) -> String;

    /// Checks the claim. Must return promptly with [`VerifyResult::Error`] once `cancel` fires (ralph was
    /// asked to stop), and respect `request.timeout`.
    async fn verify(&self, request: VerifyRequest, cancel: CancellationToken) -> Verification;
}

/// The feedback section for the iteration after a rejected claim: what was run, how it ended, and the
/// output tail in a fenced block.
pub fn feedback(iteration: u64, check: &str, v: &Verification) -> String {
    let mut out = format!(
        "Your completion claim in iteration {iteration} was rejected: the verification `{check}` did not pass ({}). The task is not done yet; fix what it reports, then claim completion again.\n",
        v.summary
    );
    if !v.output_tail.trim().is_empty() {
        let fence = if v.output_tail.contains("```") {
            "~~~~"
        } else {
            "```"
        };
        out.push_str(&format!(
            "\nIts output (the last {} bytes at most):\n\n{fence}\n{}\n{fence}\n",
            OUTPUT_TAIL_CAP,
            v.output_tail.trim_end()
        ));
    }
    out
}

/// The last `cap` bytes of `text`, starting at a character boundary.
pub fn tail(text: &str, cap: usize) -> &str {
    if text.len() <= cap {
        return text;
    }
    let mut start = text.len() - cap;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_end_on_a_char_boundary() {
        assert_eq!(tail("abcdef", 3), "def");
        assert_eq!(tail("ab", 3), "ab");
        assert_eq!(tail("aé", 1), "");
        assert_eq!(tail("aéb", 2), "b");
    }

    #[test]
    fn feedback_names_the_check_and_quotes_the_output() {
        let f = feedback(
            3,
            "cargo test",
            &Verification::failed(Some(101), "test x ... FAILED\n"),
        );
        assert!(
            f.contains("iteration 3") && f.contains("`cargo test`"),
            "{f}"
        );
        assert!(f.contains("exit code 101"), "{f}");
        assert!(f.contains("```\ntest x ... FAILED\n```"), "{f}");
    }
}
