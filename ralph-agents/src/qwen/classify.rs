//! How a Qwen Code run ended, from its `result` event, its stderr and its exit code.
//!
//! Qwen Code 0.15.10 reports a failed model call as a *successful* result (`subtype: "success"`,
//! `is_error: false`, exit 0) whose text ends with `[API Error: ...]`, e.g. `[API Error: 401 Incorrect
//! API key provided: ...]` or `[API Error: Model stream ended without a finish reason.]` (recorded in
//! `tests/fixtures/qwen/`). So the rules are:
//!
//! 1. A result whose text ends with an `[API Error: ...]`: HTTP 429 or usage-limit wording →
//!    [`OutcomeStatus::RateLimited`] (with the reset time when it says "retry in ..."); 401/403 or
//!    key wording → [`FailureKind::Auth`]; otherwise [`FailureKind::Api`] (with the status if any).
//! 2. Any other `subtype: "success"` result with `is_error` false is a success, whatever the exit code.
//! 3. `subtype: "error_max_turns"` → [`FailureKind::MaxTurns`]; another error result (e.g.
//!    `error_during_execution` with "Missing API key", "No auth type is selected") → auth wording gives
//!    [`FailureKind::Auth`], limit wording a rate limit, else [`FailureKind::ErrorResult`].
//! 4. No `result`: exit 53 ("Reached max session turns") → [`FailureKind::MaxTurns`]; other non-zero
//!    exits → the shared stderr rules; exit 0 → [`FailureKind::Protocol`].
//!
//! Timeouts and cancellation are decided by the supervisor and override all of this.

use super::stream::ResultEvent;
use crate::api_error::{retry_delay_in, status_in};
use crate::outcome::{Classified, auth_failure_in, one_line, usage_limit_in};
use crate::process::ProcessExit;
use ralph_core::{FailureKind, OutcomeStatus};

/// Qwen Code's exit code for reaching `--max-session-turns`.
const EXIT_TURN_LIMIT: i32 = 53;

/// The `[API Error: ...]` that ends `text`, if it does.
fn trailing_api_error(text: &str) -> Option<&str> {
    let trimmed = text.trim_end();
    let start = trimmed.rfind("[API Error:")?;
    trimmed.ends_with(']').then(|| &trimmed[start..])
}

/// Missing or rejected credentials, in Qwen Code's and the OpenAI API's words.
fn auth_wording(text: &str) -> bool {
    let lower = text.to_lowercase();
    auth_failure_in(text)
        || lower.contains("incorrect api key")
        || lower.contains("missing api key")
        || lower.contains("invalid_api_key")
        || lower.contains("no auth type is selected")
}

/// Classifies an error text that the agent itself produced (never tool output).
fn classify_error_text(text: &str, now: u64) -> Classified {
    let status = status_in(text);
    if status == Some(429) || usage_limit_in(text).is_some() {
        return Classified {
            status: OutcomeStatus::RateLimited {
                reset_at_unix: retry_delay_in(text).map(|s| now + s),
            },
            message: Some(one_line(text)),
        };
    }
    if matches!(status, Some(401 | 403)) || auth_wording(text) {
        return Classified::failed(FailureKind::Auth, status, text);
    }
    Classified::failed(FailureKind::Api, status, text)
}

/// Classifies a run (see the module docs).
pub(super) fn classify(
    result: Option<&ResultEvent>,
    unparsed_lines: u64,
    exit: &ProcessExit,
) -> Classified {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let Some(result) = result else {
        return classify_without_result(unparsed_lines, exit);
    };
    let text = result.result.as_deref().unwrap_or("");
    if let Some(api_error) = trailing_api_error(text) {
        return classify_error_text(api_error, now);
    }
    let subtype = result.subtype.as_deref().unwrap_or("success");
    let is_error = result.is_error.unwrap_or(subtype != "success");
    if !is_error && subtype == "success" {
        return Classified {
            status: OutcomeStatus::Success,
            message: None,
        };
    }
    if subtype == "error_max_turns" {
        return Classified::failed(
            FailureKind::MaxTurns,
            None,
            "qwen stopped at its turn limit (error_max_turns)",
        );
    }
    let error = result
        .error
        .as_ref()
        .map(|e| e.message.as_str())
        .filter(|m| !m.is_empty())
        .unwrap_or(text);
    if error.is_empty() {
        return Classified::failed(
            FailureKind::ErrorResult,
            None,
            format!("qwen reported an error ({subtype})"),
        );
    }
    if auth_wording(error) {
        return Classified::failed(FailureKind::Auth, status_in(error), error);
    }
    if usage_limit_in(error).is_some() || status_in(error).is_some() {
        return classify_error_text(error, now);
    }
    Classified::failed(FailureKind::ErrorResult, None, error)
}

fn classify_without_result(unparsed_lines: u64, exit: &ProcessExit) -> Classified {
    if exit.exit_code == Some(EXIT_TURN_LIMIT) {
        let detail = exit
            .stderr_summary(crate::outcome::MESSAGE_MAX)
            .unwrap_or_else(|| "exit code 53".into());
        return Classified::failed(
            FailureKind::MaxTurns,
            None,
            format!("qwen stopped at its turn limit: {detail}"),
        );
    }
    Classified::without_final_event(
        exit,
        "qwen",
        "a final `result` event",
        unparsed_lines,
        "stream-json",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn status_of(r: serde_json::Value) -> OutcomeStatus {
        let r: ResultEvent = serde_json::from_value(r).unwrap();
        classify(Some(&r), 0, &ProcessExit::default()).status
    }

    #[test]
    fn an_api_error_at_the_end_of_a_success_result_is_a_failure() {
        let r = json!({"subtype": "success", "is_error": false,
            "result": "[API Error: 500 upstream exploded]"});
        assert_eq!(
            status_of(r),
            OutcomeStatus::Failed {
                kind: FailureKind::Api,
                api_status: Some(500)
            }
        );
    }

    #[test]
    fn a_429_with_a_retry_delay_is_a_rate_limit_with_a_reset() {
        let r = json!({"subtype": "success", "is_error": false,
            "result": "[API Error: 429 Rate limit reached. Please retry in 20s.]"});
        let OutcomeStatus::RateLimited {
            reset_at_unix: Some(_),
        } = status_of(r)
        else {
            panic!("not a rate limit with a reset");
        };
    }

    #[test]
    fn the_words_api_error_inside_an_answer_do_not_count() {
        let r = json!({"subtype": "success", "is_error": false,
            "result": "I fixed the [API Error: 401] handling in client.rs.\nLOOP_COMPLETE"});
        assert_eq!(status_of(r), OutcomeStatus::Success);
    }

    #[test]
    fn max_turns_result_subtype() {
        let r = json!({"subtype": "error_max_turns", "is_error": true});
        assert_eq!(
            status_of(r),
            OutcomeStatus::Failed {
                kind: FailureKind::MaxTurns,
                api_status: None
            }
        );
    }
}
