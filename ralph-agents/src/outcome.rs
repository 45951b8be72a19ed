//! Classification shared by all agents: spawn failures, exits without a structured result, and the
//! wording of authentication failures and usage limits.
//!
//! The wording checks are only ever applied to what the agent itself says about the API (its error result
//! text, its stderr), never to tool output: a Bash tool that prints "usage limit reached" must not stop
//! the loop.

use crate::lines::truncate_text;
use crate::process::ProcessExit;
use crate::secrets::mask_secrets;
use ralph_core::{AgentOutcome, FailureKind, OutcomeStatus};
use std::io;
use std::path::Path;

/// Longest `AgentOutcome::message`, in bytes.
pub(crate) const MESSAGE_MAX: usize = 400;

/// The outcome of a process that could not be started.
pub(crate) fn spawn_failed(
    program: &Path,
    error: &io::Error,
    install_hint: Option<&str>,
) -> AgentOutcome {
    let mut message = format!("cannot start `{}`: {error}", program.display());
    if let (io::ErrorKind::NotFound, Some(hint)) = (error.kind(), install_hint) {
        message.push_str(&format!("; install it with `{hint}`"));
    }
    tracing::warn!(%message, "agent not started");
    let mut outcome = AgentOutcome::new(OutcomeStatus::Failed {
        kind: FailureKind::Spawn,
        api_status: None,
    });
    outcome.message = Some(one_line(&message));
    outcome
}

/// Classifies a process that ended with no structured result to go by.
///
/// Non-zero exit (or death by a signal): a usage limit or an authentication failure when stderr says so,
/// otherwise [`FailureKind::ExitCode`] with the stderr tail. Exit 0: [`OutcomeStatus::Success`] with no
/// message (callers that expect a result event turn this into [`FailureKind::Protocol`]).
pub(crate) fn classify_exit(exit: &ProcessExit) -> (OutcomeStatus, Option<String>) {
    if exit.succeeded() {
        return (OutcomeStatus::Success, None);
    }
    let stderr = exit.stderr_tail.join("\n");
    if let Some(limit) = usage_limit_in(&stderr) {
        let msg = exit.stderr_summary(MESSAGE_MAX);
        return (
            OutcomeStatus::RateLimited {
                reset_at_unix: limit.reset_at_unix,
            },
            msg,
        );
    }
    let kind = if auth_failure_in(&stderr) {
        FailureKind::Auth
    } else {
        FailureKind::ExitCode
    };
    let mut message = exit.describe_status();
    if let Some(tail) = exit.stderr_summary(MESSAGE_MAX) {
        message = format!("{message}: {tail}");
    }
    (
        OutcomeStatus::Failed {
            kind,
            api_status: None,
        },
        Some(one_line(&message)),
    )
}

/// A status and its one-line explanation: what an agent's outcome rules decide.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Classified {
    pub(crate) status: OutcomeStatus,
    pub(crate) message: Option<String>,
}

impl Classified {
    /// A success, nothing to explain.
    pub(crate) fn success() -> Self {
        Classified {
            status: OutcomeStatus::Success,
            message: None,
        }
    }

    /// A failure of `kind` (with the HTTP status `api_status`), explained by `message` on one line.
    pub(crate) fn failed(
        kind: FailureKind,
        api_status: Option<u16>,
        message: impl AsRef<str>,
    ) -> Self {
        Classified {
            status: OutcomeStatus::Failed { kind, api_status },
            message: Some(one_line(message.as_ref())),
        }
    }

    /// A process that ended without the event that finishes `agent`'s run (`final_event`, e.g. "a final
    /// `result` event"): [`classify_exit`], except that exit 0 is a [`FailureKind::Protocol`] failure
    /// that counts the `unparsed` lines that were not `format` (e.g. "stream-json").
    pub(crate) fn without_final_event(
        exit: &ProcessExit,
        agent: &str,
        final_event: &str,
        unparsed: u64,
        format: &str,
    ) -> Self {
        let (status, message) = classify_exit(exit);
        if !status.is_success() {
            return Classified { status, message };
        }
        let mut message = format!("{agent} exited with code 0 without {final_event}");
        if unparsed > 0 {
            message.push_str(&format!(" ({unparsed} lines were not {format})"));
        }
        Classified::failed(FailureKind::Protocol, None, message)
    }
}

/// A usage or rate limit announced in an agent's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UsageLimit {
    /// When the limit resets, Unix seconds, when the message says.
    pub(crate) reset_at_unix: Option<u64>,
}

/// Recognises a usage or rate limit in `text`: Claude Code's "Claude AI usage limit reached|<unix
/// seconds>" (before 2.x) and "You've hit your session limit · resets 3pm" (2.1.197), and the generic API
/// wordings "rate limit exceeded", `rate_limit_error`, "429 Too Many Requests", "quota exceeded",
/// `RESOURCE_EXHAUSTED` (Gemini).
pub(crate) fn usage_limit_in(text: &str) -> Option<UsageLimit> {
    let lower = text.to_lowercase();
    if let Some(pos) = lower.find("usage limit reached") {
        let after = &text[pos + "usage limit reached".len()..];
        let reset_at_unix = after
            .strip_prefix('|')
            .map(|s| {
                s.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
            })
            .and_then(|digits| digits.parse::<u64>().ok())
            // Some releases printed milliseconds.
            .map(|n| if n > 100_000_000_000 { n / 1000 } else { n });
        return Some(UsageLimit { reset_at_unix });
    }
    let hit_limit = [
        "you've hit your",
        "you've reached your",
        "you have hit your",
        "you have reached your",
    ]
    .iter()
    .any(|p| lower.find(p).is_some_and(|i| lower[i..].contains("limit")));
    let generic = [
        "rate limit exceeded",
        "rate_limit_error",
        "429 too many requests",
        "quota exceeded",
        "resource_exhausted",
    ]
    .iter()
    .any(|p| lower.contains(p));
    (hit_limit || generic).then_some(UsageLimit {
        reset_at_unix: None,
    })
}

/// Recognises a missing login or a rejected key in `text` (Claude Code: "Not logged in · Please run
/// /login", "Invalid API key", "Failed to authenticate"; API: `authentication_error`, "invalid
/// x-api-key", "401 Unauthorized"; OAuth: "OAuth token has expired").
pub(crate) fn auth_failure_in(text: &str) -> bool {
    let lower = text.to_lowercase();
    [
        "not logged in",
        "please run /login",
        "invalid api key",
        "invalid x-api-key",
        "failed to authenticate",
        "authentication_error",
        "authentication failed",
        "401 unauthorized",
        "oauth token has expired",
        "oauth token expired",
        "oauth token revoked",
    ]
    .iter()
    .any(|p| lower.contains(p))
}

/// `text` on one line (line breaks become ` · `), secrets masked, at most [`MESSAGE_MAX`] bytes.
pub(crate) fn one_line(text: &str) -> String {
    let joined = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" · ");
    truncate_text(&mask_secrets(&joined), MESSAGE_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exit(code: Option<i32>, stderr: &[&str]) -> ProcessExit {
        ProcessExit {
            exit_code: code,
            signal: if code.is_none() { Some(9) } else { None },
            stderr_tail: stderr.iter().map(|s| s.to_string()).collect(),
            ..ProcessExit::default()
        }
    }

    #[test]
    fn legacy_usage_limit_carries_its_reset_time() {
        assert_eq!(
            usage_limit_in("Claude AI usage limit reached|1893456000"),
            Some(UsageLimit {
                reset_at_unix: Some(1_893_456_000)
            })
        );
        assert_eq!(
            usage_limit_in("usage limit reached|1893456000000").and_then(|l| l.reset_at_unix),
            Some(1_893_456_000)
        );
    }

    #[test]
    fn current_claude_limit_wording_is_a_limit_without_reset() {
        assert_eq!(
            usage_limit_in("You've hit your session limit · resets 3pm"),
            Some(UsageLimit {
                reset_at_unix: None
            })
        );
        assert_eq!(usage_limit_in("You've hit your stride"), None);
    }

    #[test]
    fn non_zero_exit_reports_the_stderr_tail() {
        let (status, message) =
            classify_exit(&exit(Some(3), &["warming up", "", "fatal: disk full"]));
        assert_eq!(
            status,
            OutcomeStatus::Failed {
                kind: FailureKind::ExitCode,
                api_status: None
            }
        );
        assert_eq!(
            message.as_deref(),
            Some("exit code 3: warming up | fatal: disk full")
        );
    }

    #[test]
    fn stderr_usage_limit_beats_the_exit_code() {
        let (status, _) = classify_exit(&exit(Some(1), &["Error: 429 Too Many Requests"]));
        assert_eq!(
            status,
            OutcomeStatus::RateLimited {
                reset_at_unix: None
            }
        );
    }

    #[test]
    fn stderr_auth_failure_is_auth() {
        let (status, message) =
            classify_exit(&exit(None, &["Invalid API key sk-ant-api03-AAAAAAAAAAAA"]));
        assert_eq!(
            status,
            OutcomeStatus::Failed {
                kind: FailureKind::Auth,
                api_status: None
            }
        );
        assert_eq!(
            message.as_deref(),
            Some("killed by signal 9 (SIGKILL): Invalid API key sk-ant-****")
        );
    }

    #[test]
    fn spawn_failure_names_the_install_command() {
        let e = io::Error::from(io::ErrorKind::NotFound);
        let o = spawn_failed(
            Path::new("claude"),
            &e,
            Some("npm install -g @anthropic-ai/claude-code"),
        );
        assert_eq!(
            o.status,
            OutcomeStatus::Failed {
                kind: FailureKind::Spawn,
                api_status: None
            }
        );
        assert!(
            o.message
                .unwrap()
                .ends_with("install it with `npm install -g @anthropic-ai/claude-code`")
        );
    }
}
