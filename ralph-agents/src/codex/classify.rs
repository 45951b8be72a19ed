//! How a failed Codex run ended, from the message of its `turn.failed` (or last `error`) event.
//!
//! Codex 0.171.0 has no error codes in `--json` output, only messages (recorded in
//! `tests/fixtures/codex/`). The rules, in order (the curly apostrophe Codex prints is read as `'`):
//!
//! 1. A usage limit ("You've hit your usage limit. … try again at Jan 1st, 2030 12:00 AM.", "Your
//!    workspace is out of credits", "You hit your spend cap") → [`OutcomeStatus::RateLimited`] with the
//!    reset time when the message gives one ("try again at …" or "try again in …", see
//!    [`crate::reset_time`]).
//! 2. HTTP 429 ("exceeded retry limit, last status: 429 Too Many Requests", "unexpected status 429") or a
//!    rate-limit wording ("rate limit exceeded: … Please try again in 1.5s.") → rate limited, reset = now
//!    plus the delay when one is given.
//! 3. HTTP 401/403 ("unexpected status 401 Unauthorized: …"), "Missing environment variable: `KEY`" (the
//!    provider's key is not set), or a known login failure wording → [`FailureKind::Auth`].
//! 4. Another HTTP status ("unexpected status 500 …", "last status: 503") → [`FailureKind::Api`] with it.
//! 5. Transport and server trouble without a status ("stream disconnected before completion", "We're
//!    currently experiencing high demand", "error sending request") → [`FailureKind::Api`].
//! 6. Anything else ("Codex ran out of room in the model's context window", ...) →
//!    [`FailureKind::ErrorResult`].
//!
//! Timeouts and cancellation are decided by the supervisor and override all of this: Codex's own retries
//! of a 429 that outlast the iteration are a timeout, never a rate limit.

use crate::outcome::{Classified, auth_failure_in, one_line, usage_limit_in};
use crate::reset_time::{after, try_again_at, try_again_in};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use ralph_core::{FailureKind, OutcomeStatus};

impl Classified {
    fn limited(reset_at_unix: Option<u64>, message: &str) -> Self {
        Classified {
            status: OutcomeStatus::RateLimited { reset_at_unix },
            message: Some(one_line(message)),
        }
    }
}

/// Wordings of a usage limit that are not in [`usage_limit_in`].
const USAGE_LIMIT: &[&str] = &[
    "usage limit",
    "out of credits",
    "spend cap",
    "exceeded your current quota",
];
/// Wordings of a failed login or a missing key.
const AUTH: &[&str] = &[
    "missing environment variable",
    "access token could not be refreshed",
    "log in again",
    "sign in again",
];
/// Wordings of transport or server trouble.
const API_TROUBLE: &[&str] = &[
    "stream disconnected",
    "high demand",
    "server is busy",
    "error sending request",
    "connection failed",
    "connection refused",
    "idle timeout waiting for sse",
    "reconnecting",
];

/// Classifies the failure `message` of a Codex run that reported one; `now` and `tz` read reset times.
pub(super) fn classify_failure(message: &str, now: Timestamp, tz: &TimeZone) -> Classified {
    let text = message.replace('\u{2019}', "'");
    let lower = text.to_lowercase();
    if USAGE_LIMIT.iter().any(|w| lower.contains(w)) {
        let reset = try_again_at(&text, now, tz)
            .or_else(|| try_again_in(&text).and_then(|secs| after(now, secs)));
        return Classified::limited(reset, &text);
    }
    let status = http_status(&lower);
    if status == Some(429) || lower.contains("rate limit") || usage_limit_in(&text).is_some() {
        let reset = try_again_in(&text).and_then(|secs| after(now, secs));
        return Classified::limited(reset, &text);
    }
    if matches!(status, Some(401 | 403))
        || AUTH.iter().any(|w| lower.contains(w))
        || auth_failure_in(&text)
    {
        return Classified::failed(FailureKind::Auth, status, &text);
    }
    if status.is_some() || API_TROUBLE.iter().any(|w| lower.contains(w)) {
        return Classified::failed(FailureKind::Api, status, &text);
    }
    let text = if text.trim().is_empty() {
        "codex reported a failed turn without a message"
    } else {
        &text
    };
    Classified::failed(FailureKind::ErrorResult, None, text)
}

/// The HTTP status in "unexpected status 401 Unauthorized" or "last status: 429 Too Many Requests".
fn http_status(lower: &str) -> Option<u16> {
    ["unexpected status ", "last status: "]
        .iter()
        .find_map(|marker| {
            let start = lower.find(marker)? + marker.len();
            let digits: String = lower[start..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .filter(|s| (100..600).contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_of(message: &str) -> OutcomeStatus {
        let now = Timestamp::from_second(1_796_025_840).unwrap();
        classify_failure(message, now, &TimeZone::UTC).status
    }

    fn failed(kind: FailureKind, api_status: Option<u16>) -> OutcomeStatus {
        OutcomeStatus::Failed { kind, api_status }
    }

    #[test]
    fn statuses_in_codex_wordings() {
        assert_eq!(
            status_of(
                "unexpected status 401 Unauthorized: Incorrect API key provided: dummy., url: http://x/v1/responses"
            ),
            failed(FailureKind::Auth, Some(401))
        );
        assert_eq!(
            status_of(
                "unexpected status 403 Forbidden: You are not allowed to sample from this model"
            ),
            failed(FailureKind::Auth, Some(403))
        );
        assert_eq!(
            status_of("unexpected status 404 Not Found: no such model"),
            failed(FailureKind::Api, Some(404))
        );
        assert_eq!(
            status_of("exceeded retry limit, last status: 503 Service Unavailable"),
            failed(FailureKind::Api, Some(503))
        );
    }

    #[test]
    fn rate_and_usage_limits() {
        assert_eq!(
            status_of("exceeded retry limit, last status: 429 Too Many Requests"),
            OutcomeStatus::RateLimited {
                reset_at_unix: None
            }
        );
        assert_eq!(
            status_of(
                "rate limit exceeded: Rate limit reached for gpt-5.5 … Please try again in 1.5s."
            ),
            OutcomeStatus::RateLimited {
                reset_at_unix: Some(1_796_025_842)
            }
        );
        assert_eq!(
            status_of("You\u{2019}ve hit your usage limit. Try again later."),
            OutcomeStatus::RateLimited {
                reset_at_unix: None
            }
        );
        assert_eq!(
            status_of("You've hit your usage limit. Try again in 5 minutes."),
            OutcomeStatus::RateLimited {
                reset_at_unix: Some(1_796_025_840 + 300)
            }
        );
        assert_eq!(
            status_of("Your workspace is out of credits. Add credits to continue."),
            OutcomeStatus::RateLimited {
                reset_at_unix: None
            }
        );
    }

    #[test]
    fn missing_key_is_an_auth_failure() {
        assert_eq!(
            status_of("Missing environment variable: `OPENAI_API_KEY`."),
            failed(FailureKind::Auth, None)
        );
    }

    #[test]
    fn transport_trouble_is_an_api_failure_and_the_rest_an_error_result() {
        for m in [
            "stream disconnected before completion: stream closed before response.completed",
            "We\u{2019}re currently experiencing high demand, which may cause temporary errors.",
        ] {
            assert_eq!(status_of(m), failed(FailureKind::Api, None), "{m}");
        }
        assert_eq!(
            status_of("Codex ran out of room in the model's context window."),
            failed(FailureKind::ErrorResult, None)
        );
        assert_eq!(status_of(""), failed(FailureKind::ErrorResult, None));
    }

    #[test]
    fn the_message_is_one_line_with_secrets_masked() {
        let now = Timestamp::from_second(0).unwrap();
        let c = classify_failure(
            "unexpected status 401 Unauthorized: Incorrect API key provided: sk-proj-abcdefghijklmnopqrstuvwx.",
            now,
            &TimeZone::UTC,
        );
        assert_eq!(
            c.message.as_deref(),
            Some("unexpected status 401 Unauthorized: Incorrect API key provided: sk-proj-****.")
        );
    }
}
