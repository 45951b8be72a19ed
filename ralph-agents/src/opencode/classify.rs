//! How a failed OpenCode run ended, from its `error` event.
//!
//! OpenCode 1.18.33 prints a session error as `{"type":"error", "error": {"name", "data": {...}}}`
//! (recorded in `tests/fixtures/opencode/`). The rules, in order:
//!
//! 1. `ProviderAuthError` (no key for the provider) → [`FailureKind::Auth`].
//! 2. `APIError` with `statusCode` 429, or a rate-limit wording in `data.message` → rate limited, reset =
//!    the error's `timestamp` plus the response's `retry-after` seconds (or the "try again in 1s" delay)
//!    when given. OpenCode has already retried by then.
//! 3. `statusCode` 401/403 or a key-rejection wording → [`FailureKind::Auth`] with the status.
//! 4. Another `statusCode` → [`FailureKind::Api`] with it; an `APIError` without one →
//!    [`FailureKind::Api`].
//! 5. Anything else (`ContextOverflowError`, `MessageOutputLengthError`, `UnknownError`, ...) →
//!    [`FailureKind::ErrorResult`].

use crate::outcome::{auth_failure_in, one_line, usage_limit_in};
use crate::reset_time::try_again_in;
use ralph_core::{FailureKind, OutcomeStatus};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The `error` of an OpenCode `error` event.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct ErrorEvent {
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) data: ErrorData,
}

/// `error.data`: present fields depend on `error.name`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ErrorData {
    pub(super) message: Option<String>,
    pub(super) status_code: Option<u16>,
    #[serde(rename = "providerID")]
    pub(super) provider_id: Option<String>,
    #[serde(default)]
    pub(super) response_headers: BTreeMap<String, String>,
}

/// Classifies the run from its `error` event; `at_unix` is when it was printed (its `timestamp`), the base
/// of a `retry-after` reset.
pub(super) fn classify_error(
    error: &ErrorEvent,
    at_unix: Option<u64>,
) -> (OutcomeStatus, Option<String>) {
    let name = error.name.as_deref().unwrap_or("UnknownError");
    let text = error.data.message.as_deref().unwrap_or("").trim();
    let status = error.data.status_code.filter(|s| (100..600).contains(s));
    let described = match (status, error.data.provider_id.as_deref()) {
        (Some(s), _) => format!("{name} (HTTP {s}): {text}"),
        (None, Some(p)) => format!("{name} ({p}): {text}"),
        (None, None) => format!("{name}: {text}"),
    };
    let failed = |kind| {
        let status = OutcomeStatus::Failed {
            kind,
            api_status: status,
        };
        (status, Some(one_line(&described)))
    };
    if name == "ProviderAuthError" {
        return failed(FailureKind::Auth);
    }
    let lower = text.to_lowercase();
    if status == Some(429) || lower.contains("rate limit") || usage_limit_in(text).is_some() {
        let delay = error
            .data
            .response_headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
            .and_then(|(_, v)| v.trim().parse::<u64>().ok())
            .or_else(|| try_again_in(text));
        let reset_at_unix = at_unix.zip(delay).map(|(at, d)| at.saturating_add(d));
        return (
            OutcomeStatus::RateLimited { reset_at_unix },
            Some(one_line(&described)),
        );
    }
    if matches!(status, Some(401 | 403)) || auth_failure_in(text) {
        return failed(FailureKind::Auth);
    }
    if status.is_some() || name == "APIError" {
        return failed(FailureKind::Api);
    }
    failed(FailureKind::ErrorResult)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn classify(v: serde_json::Value) -> (OutcomeStatus, Option<String>) {
        classify_error(&serde_json::from_value(v).unwrap(), Some(1_000))
    }

    fn failed(kind: FailureKind, api_status: Option<u16>) -> OutcomeStatus {
        OutcomeStatus::Failed { kind, api_status }
    }

    #[test]
    fn statuses_decide_between_auth_limits_and_api_failures() {
        let api = |s: u16| json!({"name": "APIError", "data": {"message": "x", "statusCode": s}});
        assert_eq!(classify(api(401)).0, failed(FailureKind::Auth, Some(401)));
        assert_eq!(classify(api(403)).0, failed(FailureKind::Auth, Some(403)));
        assert_eq!(classify(api(500)).0, failed(FailureKind::Api, Some(500)));
        assert_eq!(
            classify(api(429)).0,
            OutcomeStatus::RateLimited {
                reset_at_unix: None
            }
        );
    }

    #[test]
    fn retry_after_gives_the_reset_time() {
        let v = json!({"name": "APIError", "data": {"message": "Rate limit reached", "statusCode": 429,
            "responseHeaders": {"Retry-After": "20"}}});
        assert_eq!(
            classify(v).0,
            OutcomeStatus::RateLimited {
                reset_at_unix: Some(1_020)
            }
        );
    }

    #[test]
    fn a_missing_provider_key_is_an_auth_failure() {
        let v = json!({"name": "ProviderAuthError", "data": {"providerID": "openai",
            "message": "OpenAI API key is missing."}});
        let (status, message) = classify(v);
        assert_eq!(status, failed(FailureKind::Auth, None));
        assert_eq!(
            message.as_deref(),
            Some("ProviderAuthError (openai): OpenAI API key is missing.")
        );
    }

    #[test]
    fn other_errors_are_error_results() {
        let v = json!({"name": "ContextOverflowError", "data": {"message": "too long"}});
        assert_eq!(classify(v).0, failed(FailureKind::ErrorResult, None));
        let v = json!({"name": "UnknownError", "data": {}});
        assert_eq!(classify(v).0, failed(FailureKind::ErrorResult, None));
    }
}
