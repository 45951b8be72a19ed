//! How a Claude Code run ended, from its `result` event, its other signals and its exit.
//!
//! Rules (Claude Code 2.1.197; the exit code alone is not trusted):
//!
//! 1. A `result` with `is_error: false` and subtype `success` is a success, whatever the exit code.
//! 2. Subtype `error_max_turns` is [`FailureKind::MaxTurns`].
//! 3. Any other error result (`is_error: true`, even with exit 0):
//!    - HTTP 401/403, "Not logged in", "Invalid API key", tag `authentication_failed` → [`FailureKind::Auth`];
//!    - HTTP 429, a rejected `rate_limit_event`, tag `rate_limit`, or usage-limit wording in the
//!      result text → [`OutcomeStatus::RateLimited`] (reset time from the event or the text);
//!    - another HTTP status → [`FailureKind::Api`] with that status;
//!    - no status but an API failure ("API Error: ...", connection refused, malformed reply) →
//!      [`FailureKind::Api`] without status;
//!    - otherwise [`FailureKind::ErrorResult`].
//! 4. No `result`: a rejected `rate_limit_event` is a rate limit; a non-zero exit is
//!    [`FailureKind::ExitCode`] with the stderr tail (or a limit/auth failure if stderr says so); exit 0
//!    is [`FailureKind::Protocol`].
//!
//! Timeouts and cancellation are decided by the supervisor and override all of this.

use super::stream::ResultEvent;
use crate::outcome::{Classified, auth_failure_in, one_line, usage_limit_in};
use crate::process::ProcessExit;
use ralph_core::{FailureKind, OutcomeStatus};

/// Classifies a run (see the module docs for the rules).
pub(super) fn classify(
    result: Option<&ResultEvent>,
    limit_rejected: Option<Option<u64>>,
    assistant_error: Option<&str>,
    unparsed_lines: u64,
    exit: &ProcessExit,
) -> Classified {
    let Some(result) = result else {
        return classify_without_result(limit_rejected, unparsed_lines, exit);
    };
    let subtype = result.subtype.as_deref().unwrap_or("success");
    let is_error = result.is_error.unwrap_or(subtype != "success");
    if !is_error && subtype == "success" {
        if !exit.succeeded() {
            tracing::debug!(status = %exit.describe_status(), "claude reported success but did not exit 0");
        }
        return Classified {
            status: OutcomeStatus::Success,
            message: None,
        };
    }
    let text = result.result.as_deref().unwrap_or("").trim();
    if subtype == "error_max_turns" {
        let turns = result
            .num_turns
            .map_or(String::new(), |n| format!(" after {n} turns"));
        return Classified::failed(
            FailureKind::MaxTurns,
            None,
            format!("claude stopped at its turn limit{turns} (error_max_turns)"),
        );
    }
    let status = result.api_status();
    let described = match (status, text.is_empty()) {
        // Claude's own wording often names the status already ("API Error: 529 Overloaded").
        (Some(s), false) if text.contains(&s.to_string()) => text.to_string(),
        (Some(s), false) => format!("HTTP {s}: {text}"),
        (Some(s), true) => format!("HTTP {s}"),
        (None, false) => text.to_string(),
        (None, true) => format!("claude reported an error ({subtype})"),
    };
    let limit_text = usage_limit_in(text);
    if status == Some(429)
        || limit_rejected.is_some()
        || assistant_error == Some("rate_limit")
        || limit_text.is_some()
    {
        let reset_at_unix = limit_rejected
            .flatten()
            .or(limit_text.and_then(|l| l.reset_at_unix));
        return Classified {
            status: OutcomeStatus::RateLimited { reset_at_unix },
            message: Some(one_line(&described)),
        };
    }
    if matches!(status, Some(401 | 403))
        || assistant_error == Some("authentication_failed")
        || auth_failure_in(text)
    {
        return Classified::failed(FailureKind::Auth, status, described);
    }
    if status.is_some()
        || matches!(assistant_error, Some("server_error" | "overloaded"))
        || text.starts_with("API Error")
    {
        return Classified::failed(FailureKind::Api, status, described);
    }
    Classified::failed(FailureKind::ErrorResult, None, described)
}

fn classify_without_result(
    limit_rejected: Option<Option<u64>>,
    unparsed_lines: u64,
    exit: &ProcessExit,
) -> Classified {
    if let Some(reset_at_unix) = limit_rejected {
        return Classified {
            status: OutcomeStatus::RateLimited { reset_at_unix },
            message: Some(format!(
                "claude's usage limit was reached ({}) before it gave a result",
                exit.describe_status()
            )),
        };
    }
    Classified::without_final_event(
        exit,
        "claude",
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

    fn exit(code: i32) -> ProcessExit {
        ProcessExit {
            exit_code: Some(code),
            ..ProcessExit::default()
        }
    }

    fn status_of(r: serde_json::Value, code: i32) -> OutcomeStatus {
        classify(Some(&result(r)), None, None, 0, &exit(code)).status
    }

    fn failed_kind(kind: FailureKind, api_status: Option<u16>) -> OutcomeStatus {
        OutcomeStatus::Failed { kind, api_status }
    }

    #[test]
    fn is_error_fails_even_with_exit_zero() {
        let r = json!({"subtype": "success", "is_error": true, "result": "something broke"});
        assert_eq!(status_of(r, 0), failed_kind(FailureKind::ErrorResult, None));
    }

    #[test]
    fn success_result_is_success_even_with_non_zero_exit() {
        let r = json!({"subtype": "success", "is_error": false, "result": "done"});
        assert_eq!(status_of(r, 1), OutcomeStatus::Success);
    }

    #[test]
    fn http_401_and_403_are_auth_failures_with_their_status() {
        for s in [401, 403] {
            let r = json!({"subtype": "success", "is_error": true, "api_error_status": s, "result": "x"});
            assert_eq!(status_of(r, 1), failed_kind(FailureKind::Auth, Some(s)));
        }
    }

    #[test]
    fn not_logged_in_and_invalid_key_texts_are_auth_failures() {
        for text in [
            "Not logged in · Please run /login",
            "Invalid API key · Fix external API key",
        ] {
            let r = json!({"subtype": "success", "is_error": true, "api_error_status": null, "result": text});
            assert_eq!(status_of(r, 1), failed_kind(FailureKind::Auth, None));
        }
    }

    #[test]
    fn http_429_is_a_rate_limit() {
        let r = json!({"is_error": true, "api_error_status": 429, "result": "API Error: Request rejected (429)"});
        assert_eq!(
            status_of(r, 1),
            OutcomeStatus::RateLimited {
                reset_at_unix: None
            }
        );
    }

    #[test]
    fn usage_limit_text_gives_the_reset_time() {
        let r = json!({"is_error": true, "result": "Claude AI usage limit reached|1893456000"});
        assert_eq!(
            status_of(r, 1),
            OutcomeStatus::RateLimited {
                reset_at_unix: Some(1_893_456_000)
            }
        );
    }

    #[test]
    fn rejected_rate_limit_event_gives_the_reset_time() {
        let r = result(
            json!({"is_error": true, "api_error_status": 429, "result": "You've hit your session limit"}),
        );
        let c = classify(
            Some(&r),
            Some(Some(1_893_456_000)),
            Some("rate_limit"),
            0,
            &exit(1),
        );
        assert_eq!(
            c.status,
            OutcomeStatus::RateLimited {
                reset_at_unix: Some(1_893_456_000)
            }
        );
    }

    #[test]
    fn overload_and_server_errors_are_api_failures() {
        for s in [500, 529] {
            let r =
                json!({"is_error": true, "api_error_status": s, "result": "API Error: overloaded"});
            assert_eq!(status_of(r, 1), failed_kind(FailureKind::Api, Some(s)));
        }
        let r = json!({"is_error": true, "result": "API Error: Unable to connect to API (ConnectionRefused)"});
        assert_eq!(status_of(r, 1), failed_kind(FailureKind::Api, None));
    }

    #[test]
    fn max_turns_is_its_own_failure() {
        let r = json!({"subtype": "error_max_turns", "is_error": true, "num_turns": 2});
        let c = classify(Some(&result(r)), None, None, 0, &exit(1));
        assert_eq!(c.status, failed_kind(FailureKind::MaxTurns, None));
        assert_eq!(
            c.message.as_deref(),
            Some("claude stopped at its turn limit after 2 turns (error_max_turns)")
        );
    }

    #[test]
    fn non_zero_exit_without_result_reports_stderr() {
        let e = ProcessExit {
            exit_code: Some(2),
            stderr_tail: vec!["error: unknown option '--bogus'".into()],
            ..ProcessExit::default()
        };
        let c = classify(None, None, None, 0, &e);
        assert_eq!(c.status, failed_kind(FailureKind::ExitCode, None));
        assert_eq!(
            c.message.as_deref(),
            Some("exit code 2: error: unknown option '--bogus'")
        );
    }

    #[test]
    fn exit_zero_without_result_is_a_protocol_failure() {
        let c = classify(None, None, None, 3, &exit(0));
        assert_eq!(c.status, failed_kind(FailureKind::Protocol, None));
        assert!(c.message.unwrap().contains("3 lines were not stream-json"));
    }

    #[test]
    fn rejected_limit_without_result_is_still_a_rate_limit() {
        let c = classify(None, Some(Some(7)), None, 0, &exit(1));
        assert_eq!(
            c.status,
            OutcomeStatus::RateLimited {
                reset_at_unix: Some(7)
            }
        );
    }

    #[test]
    fn message_is_one_line_with_secrets_masked() {
        let r = json!({"is_error": true, "api_error_status": 401,
            "result": "Invalid API key\nkey was sk-ant-api03-abcdefghijkl"});
        let c = classify(Some(&result(r)), None, None, 0, &exit(1));
        assert_eq!(
            c.message.as_deref(),
            Some("HTTP 401: Invalid API key · key was sk-ant-****")
        );
    }
}
