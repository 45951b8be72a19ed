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

/// The line check of [`parse_event`] against the serde internally tagged enum it replaces: the same lines
/// are events, of the same type, and the same lines are rejected.
#[test]
fn parse_event_accepts_exactly_what_an_internally_tagged_enum_accepts() {
    fn kind(e: &StreamEvent) -> &'static str {
        match e {
            StreamEvent::System(_) => "system",
            StreamEvent::Assistant(_) => "assistant",
            StreamEvent::RateLimitEvent(_) => "rate_limit_event",
            StreamEvent::Result(_) => "result",
            StreamEvent::Other => "other",
        }
    }
    let lines: &[&[u8]] = &[
        br#"{"type":"user","message":{"content":[{"type":"tool_result","content":"a\tb\n\"c\" \u00e9"}]}}"#,
        br#"{"type":"user","x":"\ud800 lone surrogate"}"#,
        b"{\"type\":\"user\",\"x\":\"\xff invalid utf-8\"}",
        br#"{"type":"user","x":1e400}"#,
        br#"{"type":"user","x":-12,"y":1.5,"z":[true,null,{}]}"#,
        br#"{"type":"user","type":"user"}"#,
        br#"{"x":1}"#,
        br#"{"type":5}"#,
        br#"{"type":null}"#,
        br#"{"typ\u0065":"result","result":"ok"}"#,
        br#"["user", 1, "x"]"#,
        br#"["result"]"#,
        br#"[]"#,
        br#"  ["assistant", {"content":[]}]"#,
        br#""user""#,
        br#"{"type":"user"} trailing"#,
        br#"{"type":"user","x":"unterminated}"#,
        br#"{"type":"system","subtype":"init","session_id":"s","model":"m"}"#,
        br#"{"type":"system","error_status":"not a number"}"#,
        br#"{"type":"system","error_status":70000}"#,
        br#"{"type":"assistant","message":{"id":"m","content":[{"type":"text","text":"hi"}]}}"#,
        br#"{"type":"assistant"}"#,
        br#"{"type":"assistant","message":{"content":[{"type":"tool_use","name":"Bash","input":{"command":"ls"}}]},"x":"\ud800"}"#,
        br#"{"message":{"content":[]},"type":"assistant"}"#,
        br#"{"type":"rate_limit_event","rate_limit_info":{"status":"rejected","resetsAt":1700000000}}"#,
        br#"{"type":"result","subtype":"success","total_cost_usd":1,"usage":{"input_tokens":3}}"#,
        br#"{"type":"result","num_turns":-1}"#,
        br#"{"type":"stream_event","event":{}}"#,
        b"",
        b"not json",
    ];
    for line in lines {
        let (mut new_unparsed, mut old_unparsed) = (0, 0);
        let new = parse_event(&Line::new(*line), &mut new_unparsed);
        let old = json_event::<TaggedEvent>("claude", &Line::new(*line), &mut old_unparsed)
            .map(TaggedEvent::into_event);
        let text = String::from_utf8_lossy(line);
        assert_eq!(new.as_ref().map(kind), old.as_ref().map(kind), "{text}");
        assert_eq!(new_unparsed, old_unparsed, "{text}");
    }
}
