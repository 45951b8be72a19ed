//! How a Gemini CLI run ended, from its `result` event, its stderr and its exit code.
//!
//! Rules (Gemini CLI 0.61.0, checked against the recorded streams in `tests/fixtures/gemini/`):
//!
//! 1. `result.status: "success"` is a success, whatever the exit code.
//! 2. `result.status: "error"`:
//!    - `error.type: "FatalTurnLimitedError"` (exit 53) → [`FailureKind::MaxTurns`];
//!    - HTTP 429, `RESOURCE_EXHAUSTED`, "exhausted your daily quota", or another usage-limit wording →
//!      [`OutcomeStatus::RateLimited`], reset = now + the delay the API asked for ("Please retry in 37.5s",
//!      found in the error or on stderr), when it did;
//!    - HTTP 401/403, `API_KEY_INVALID`, "API key not valid" → [`FailureKind::Auth`];
//!    - another HTTP status, or an `[API Error: ...]` without one (connection refused, a cut stream) →
//!      [`FailureKind::Api`];
//!    - anything else → [`FailureKind::ErrorResult`].
//!
//!    The status comes from the error text (the Google error JSON's `code`), else from the exit code,
//!    which Gemini CLI sets to the HTTP status modulo 256.
//! 3. No `result`: exit 41 → [`FailureKind::Auth`] (no key, no auth method selected), exit 53 →
//!    [`FailureKind::MaxTurns`]; other non-zero exits → the shared stderr rules; exit 0 →
//!    [`FailureKind::Protocol`].
//!
//! Stderr noise Gemini CLI always prints ("YOLO mode is enabled", "Ripgrep is not available", "[STARTUP]
//! ...", the 256-colour warning, stack frames) is removed before stderr is looked at or quoted.
//! Timeouts and cancellation are decided by the supervisor and override all of this.

use super::stream::ResultEvent;
use crate::api_error::{retry_delay_in, status_in};
use crate::outcome::{Classified, auth_failure_in, one_line, usage_limit_in};
use crate::process::ProcessExit;
use ralph_core::{FailureKind, OutcomeStatus};

/// Gemini CLI's exit code for a missing or rejected authentication (`FatalAuthenticationError`).
pub(super) const EXIT_AUTH: i32 = 41;
/// Gemini CLI's exit code for reaching `model.maxSessionTurns` (`FatalTurnLimitedError`).
pub(super) const EXIT_TURN_LIMIT: i32 = 53;

/// Beginnings of stderr lines that Gemini CLI 0.61.0 prints on every run or that carry no cause.
const NOISE: &[&str] = &[
    "YOLO mode is enabled",
    "Ripgrep is not available",
    "[STARTUP]",
    "Warning: 256-color support not detected",
    "Loaded cached credentials",
    "at ",
    "}",
    "{",
    "status:",
    "cause:",
    "details:",
    "retryDelayMs:",
    "reason:",
];

/// True for a stderr line that Gemini CLI prints whatever happens (see [`NOISE`]).
pub(super) fn is_noise(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || NOISE.iter().any(|n| t.starts_with(n))
}

/// `exit` with the noise removed from its stderr tail.
fn without_noise(exit: &ProcessExit) -> ProcessExit {
    ProcessExit {
        stderr_tail: exit
            .stderr_tail
            .iter()
            .filter(|l| !is_noise(l))
            .cloned()
            .collect(),
        ..exit.clone()
    }
}

/// The HTTP status that Gemini CLI's exit code stands for (it exits with the status modulo 256).
fn status_from_exit(code: Option<i32>) -> Option<u16> {
    let code = u16::try_from(code?).ok()?;
    [400u16, 401, 403, 404, 408, 429, 500, 502, 503, 504]
        .into_iter()
        .find(|s| s % 256 == code)
}

/// Classifies a run (see the module docs). `now` is the current time in Unix seconds.
pub(super) fn classify(
    result: Option<&ResultEvent>,
    error_events: &[String],
    unparsed_lines: u64,
    exit: &ProcessExit,
    now: u64,
) -> Classified {
    let exit = without_noise(exit);
    let Some(result) = result else {
        return classify_without_result(unparsed_lines, &exit);
    };
    if result.status.as_deref() == Some("success") {
        return Classified {
            status: OutcomeStatus::Success,
            message: None,
        };
    }
    let kind = result.error.as_ref().and_then(|e| e.kind.as_deref());
    let mut text = result
        .error
        .as_ref()
        .map(|e| e.message.trim().to_string())
        .unwrap_or_default();
    if text.is_empty() {
        text = error_events.last().cloned().unwrap_or_default();
    }
    if kind == Some("FatalTurnLimitedError") || exit.exit_code == Some(EXIT_TURN_LIMIT) {
        return Classified::failed(
            FailureKind::MaxTurns,
            None,
            format!("gemini stopped at its turn limit: {text}"),
        );
    }
    let stderr = exit.stderr_tail.join("\n");
    let status = status_in(&text).or_else(|| status_from_exit(exit.exit_code));
    let described = if text.is_empty() {
        format!("gemini reported an error ({})", exit.describe_status())
    } else {
        text.clone()
    };
    let lower = text.to_lowercase();
    let limited = status == Some(429)
        || lower.contains("exhausted your daily quota")
        || lower.contains("exhausted your capacity")
        || usage_limit_in(&text).is_some();
    if limited {
        let reset_at_unix = retry_delay_in(&text)
            .or_else(|| retry_delay_in(&stderr))
            .map(|secs| now + secs);
        return Classified {
            status: OutcomeStatus::RateLimited { reset_at_unix },
            message: Some(one_line(&described)),
        };
    }
    if matches!(status, Some(401 | 403))
        || text.contains("API_KEY_INVALID")
        || lower.contains("api key not valid")
        || auth_failure_in(&text)
        || exit.exit_code == Some(EXIT_AUTH)
    {
        return Classified::failed(FailureKind::Auth, status, &described);
    }
    if status.is_some() || text.starts_with("[API Error") {
        return Classified::failed(FailureKind::Api, status, &described);
    }
    Classified::failed(FailureKind::ErrorResult, None, &described)
}

fn classify_without_result(unparsed_lines: u64, exit: &ProcessExit) -> Classified {
    let stderr = exit.stderr_summary(crate::outcome::MESSAGE_MAX);
    let with_stderr = |what: &str| match &stderr {
        Some(s) => format!("{what}: {s}"),
        None => what.to_string(),
    };
    match exit.exit_code {
        Some(EXIT_AUTH) => {
            return Classified::failed(
                FailureKind::Auth,
                None,
                with_stderr("gemini is not authenticated (exit code 41)"),
            );
        }
        Some(EXIT_TURN_LIMIT) => {
            return Classified::failed(
                FailureKind::MaxTurns,
                None,
                with_stderr("gemini stopped at its turn limit (exit code 53)"),
            );
        }
        _ => {}
    }
    Classified::without_final_event(
        exit,
        "gemini",
        "a final `result` event",
        unparsed_lines,
        "stream-json",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn result(v: serde_json::Value) -> ResultEvent {
        serde_json::from_value(v).unwrap()
    }

    fn exit(code: i32, stderr: &[&str]) -> ProcessExit {
        ProcessExit {
            exit_code: Some(code),
            stderr_tail: stderr.iter().map(|s| s.to_string()).collect(),
            ..ProcessExit::default()
        }
    }

    fn error_result(message: &str) -> ResultEvent {
        result(json!({"status": "error", "error": {"type": "unknown", "message": message}}))
    }

    #[test]
    fn the_http_status_comes_from_the_exit_code_when_the_text_has_none() {
        let c = classify(
            Some(&error_result("[API Error: quota]")),
            &[],
            0,
            &exit(173, &[]),
            0,
        );
        assert_eq!(
            c.status,
            OutcomeStatus::RateLimited {
                reset_at_unix: None
            }
        );
        assert_eq!(status_from_exit(Some(144)), Some(400));
        assert_eq!(status_from_exit(Some(1)), None);
    }

    #[test]
    fn a_quota_error_resets_after_the_delay_the_api_asked_for() {
        let c = classify(
            Some(&error_result(
                "[API Error: You have exhausted your daily quota on this model.]",
            )),
            &[],
            0,
            &exit(
                173,
                &["    message: 'You exceeded your current quota.\\nPlease retry in 37.5s.',"],
            ),
            1_000,
        );
        assert_eq!(
            c.status,
            OutcomeStatus::RateLimited {
                reset_at_unix: Some(1_038)
            }
        );
    }

    #[test]
    fn noise_is_not_a_cause() {
        let e = exit(
            2,
            &[
                "YOLO mode is enabled. All tool calls will be automatically approved.",
                "Ripgrep is not available. Falling back to GrepTool.",
                "[STARTUP] Phase 'cleanup_ops' was started but never ended. Skipping metrics.",
                "Fatal: disk full",
                "    at main (file:///x.js:1:1)",
            ],
        );
        let c = classify(None, &[], 0, &e, 0);
        assert_eq!(c.message.as_deref(), Some("exit code 2: Fatal: disk full"));
        assert!(is_noise(
            "Warning: 256-color support not detected. Using a terminal..."
        ));
    }

    #[test]
    fn an_error_without_a_status_or_api_wording_is_an_error_result() {
        let c = classify(
            Some(&error_result("Agent execution blocked")),
            &[],
            0,
            &exit(1, &[]),
            0,
        );
        assert_eq!(
            c.status,
            OutcomeStatus::Failed {
                kind: FailureKind::ErrorResult,
                api_status: None
            }
        );
    }
}
