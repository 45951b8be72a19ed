//! Replays of streams recorded from the real Claude Code 2.1.197 (`tests/fixtures/claude/`, see the README
//! there): the events each produces and the classified outcome.

use super::*;
use crate::registry::AgentKind;
use crate::replay::{check, failed};
use ralph_core::{FailureKind, OutcomeStatus};

const AGENT: AgentKind = AgentKind::Claude;

#[test]
fn success() {
    let r = check!("success", Some(0), OutcomeStatus::Success);
    assert_eq!(
        r.outcome.final_text.as_deref(),
        Some("All done.\nLOOP_COMPLETE")
    );
    assert_eq!(r.outcome.usage.billable_total(), 120 + 300 + 45);
    assert_eq!(r.outcome.cost.map(|c| (c.usd * 1e6).round()), Some(2760.0));
}

#[test]
fn tool_calls_are_summarised_and_tool_output_is_not_a_usage_limit() {
    let r = check!("tools", Some(0), OutcomeStatus::Success);
    let tools = r.tools();
    assert_eq!(
        tools,
        [
            "Write: hello.txt",
            "Bash: cat hello.txt && echo 'usage limit reached'"
        ]
    );
}

#[test]
fn auth_401() {
    let r = check!("auth_401", Some(1), failed(FailureKind::Auth, Some(401)));
    assert_eq!(
        r.outcome.message.as_deref(),
        Some("HTTP 401: Invalid API key · Fix external API key")
    );
}

#[test]
fn auth_403() {
    check!("auth_403", Some(1), failed(FailureKind::Auth, Some(403)));
}

#[test]
fn not_logged_in() {
    check!("not_logged_in", Some(1), failed(FailureKind::Auth, None));
}

#[test]
fn rate_limit_429() {
    check!(
        "rate_limit_429",
        Some(1),
        OutcomeStatus::RateLimited {
            reset_at_unix: None
        }
    );
}

#[test]
fn overloaded_529() {
    check!(
        "overloaded_529",
        Some(1),
        failed(FailureKind::Api, Some(529))
    );
}

#[test]
fn api_retry_529_reports_retries() {
    let r = check!(
        "api_retry_529",
        Some(1),
        failed(FailureKind::Api, Some(529))
    );
    let retries = r
        .events
        .iter()
        .filter(|e| matches!(e, AgentEvent::Retry { .. }))
        .count();
    assert_eq!(retries, 2);
}

#[test]
fn server_error_500() {
    check!(
        "server_error_500",
        Some(1),
        failed(FailureKind::Api, Some(500))
    );
}

#[test]
fn max_turns() {
    check!("max_turns", Some(1), failed(FailureKind::MaxTurns, None));
}

#[test]
fn connection_refused() {
    check!(
        "connection_refused",
        Some(1),
        failed(FailureKind::Api, None)
    );
}

#[test]
fn malformed_response() {
    check!(
        "malformed_response",
        Some(1),
        failed(FailureKind::Api, None)
    );
}

#[test]
fn truncated_stream_of_a_killed_agent_is_an_exit_failure_with_the_usage_so_far() {
    let r = check!("truncated", None, failed(FailureKind::ExitCode, None));
    assert_eq!(r.outcome.final_text, None);
    assert!(r.outcome.usage.input_tokens > 0);
}

#[test]
fn truncated_stream_with_exit_zero_is_a_protocol_failure() {
    let r = crate::replay::replay(AGENT, "truncated", Some(0));
    assert_eq!(r.outcome.status, failed(FailureKind::Protocol, None));
}

#[test]
fn synthetic_session_limit() {
    check!(
        "synthetic_session_limit",
        Some(1),
        OutcomeStatus::RateLimited {
            reset_at_unix: Some(1_893_456_000)
        }
    );
}

#[test]
fn synthetic_usage_limit_legacy() {
    check!(
        "synthetic_usage_limit_legacy",
        Some(1),
        OutcomeStatus::RateLimited {
            reset_at_unix: Some(1_893_456_000)
        }
    );
}

#[test]
fn non_json_and_over_long_lines_are_skipped() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut stream = ClaudeStream::new("/ws");
    stream.on_stdout(Line::new(&b"\xff not json"[..]), &tx);
    stream.on_stdout(Line::new(&br#"{"type":"future_event","x":1}"#[..]), &tx);
    stream.on_stdout(
        Line::new(&br#"{"type":"assistant","message":{"content":"not a list"}}"#[..]),
        &tx,
    );
    assert!(rx.try_recv().is_err());
    let o = stream.finish(&ProcessExit {
        exit_code: Some(0),
        ..ProcessExit::default()
    });
    assert_eq!(o.status, failed(FailureKind::Protocol, None));
}
