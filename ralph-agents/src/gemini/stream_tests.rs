//! Replays of streams recorded from the real Gemini CLI 0.61.0 (`tests/fixtures/gemini/`, see the README
//! there): the events each produces and the classified outcome.

use super::*;
use crate::registry::AgentKind;
use crate::replay::{NOW, check, failed};
use ralph_core::{FailureKind, OutcomeStatus};

const AGENT: AgentKind = AgentKind::Gemini;

#[test]
fn success() {
    let r = check!("success", Some(0), OutcomeStatus::Success);
    assert_eq!(
        r.outcome.final_text.as_deref(),
        Some("All done.\nLOOP_COMPLETE")
    );
    assert_eq!(r.outcome.usage.input_tokens, 120);
    assert_eq!(r.outcome.usage.output_tokens, 45);
    let cost = r.outcome.cost.expect("gemini-2.5-flash has a price");
    assert!(cost.estimated);
    // $0.30 per million input tokens, $2.50 per million output tokens.
    assert!((cost.usd - (120.0 * 0.3 + 45.0 * 2.5) / 1e6).abs() < 1e-12);
}

#[test]
fn tools_are_summarised_usage_counts_cache_and_thinking_and_tool_output_is_not_a_limit() {
    let r = check!("tools", Some(0), OutcomeStatus::Success);
    let tools = r.tools();
    assert_eq!(
        tools,
        [
            "write_file: hello.txt",
            "run_shell_command: echo built > out.txt && cat hello.txt && echo usage limit reached"
        ]
    );
    assert_eq!(
        r.outcome.final_text.as_deref(),
        Some("All done.\nLOOP_COMPLETE"),
        "only the text after the last tool call is the answer"
    );
    // Three turns: prompt 1000 + 1200 + 1400 (cached 300 + 450), candidates 40 + 30 + 9, thinking 60.
    let u = r.outcome.usage;
    assert_eq!(
        (u.input_tokens, u.cache_read_input_tokens),
        (3600 - 750, 750)
    );
    assert_eq!((u.output_tokens, u.reasoning_output_tokens), (79 + 60, 60));
}

#[test]
fn auth_invalid_key_400() {
    let r = check!(
        "auth_invalid_key_400",
        Some(144),
        failed(FailureKind::Auth, Some(400))
    );
    assert!(
        r.outcome.message.unwrap().contains("API key not valid"),
        "the cause is named"
    );
}

#[test]
fn auth_403() {
    check!("auth_403", Some(147), failed(FailureKind::Auth, Some(403)));
}

#[test]
fn no_api_key_exit_41() {
    let r = check!("no_api_key", Some(41), failed(FailureKind::Auth, None));
    assert!(
        r.outcome.message.unwrap().contains("GEMINI_API_KEY"),
        "the message says what is missing"
    );
}

#[test]
fn rate_limit_429_daily_quota() {
    check!(
        "rate_limit_429_daily_quota",
        Some(173),
        OutcomeStatus::RateLimited {
            // "Please retry in 37.5s." (rounded up), from the error Gemini CLI printed on stderr.
            reset_at_unix: Some(NOW as u64 + 38)
        }
    );
}

#[test]
fn server_error_500() {
    check!(
        "server_error_500",
        Some(244),
        failed(FailureKind::Api, Some(500))
    );
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
fn max_turns() {
    check!("max_turns", Some(53), failed(FailureKind::MaxTurns, None));
}

#[test]
fn a_model_stream_cut_short_is_an_api_failure() {
    let r = check!("stream_cut", Some(1), failed(FailureKind::Api, None));
    assert_eq!(r.outcome.final_text, None);
}

#[test]
fn the_router_model_is_counted_and_the_served_model_reported() {
    let r = check!("auto_router", Some(0), OutcomeStatus::Success);
    // Router request (5 + 5 tokens, gemini-3.5-flash-lite) and the answer (100 + 20).
    assert_eq!(r.outcome.usage.input_tokens, 105);
    assert_eq!(r.outcome.usage.output_tokens, 25);
}

#[test]
fn truncated_stream_of_a_killed_agent_is_an_exit_failure() {
    let r = check!("truncated", None, failed(FailureKind::ExitCode, None));
    assert_eq!(r.outcome.final_text, None);
}

#[test]
fn truncated_stream_with_exit_zero_is_a_protocol_failure() {
    let r = crate::replay::replay(AGENT, "truncated", Some(0));
    assert_eq!(r.outcome.status, failed(FailureKind::Protocol, None));
}

#[test]
fn retries_on_stderr_become_retry_events() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut stream = GeminiStream::new("/ws");
    stream.on_stderr(
        "Attempt 2 failed with status 429. Retrying with backoff... _ApiError: {\"error\":{}}",
        &tx,
    );
    stream.on_stderr("Ripgrep is not available. Falling back to GrepTool.", &tx);
    assert_eq!(
        rx.try_recv().unwrap(),
        AgentEvent::Retry {
            attempt: 2,
            message: "attempt 2 failed with status 429. Retrying with backoff...".into()
        }
    );
    assert!(rx.try_recv().is_err());
}

#[test]
fn non_json_lines_are_skipped() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut stream = GeminiStream::new("/ws");
    stream.on_stdout(Line::new(&b"\xff not json"[..]), &tx);
    stream.on_stdout(Line::new(&br#"{"type":"future_event","x":1}"#[..]), &tx);
    assert!(rx.try_recv().is_err());
    let o = stream.finish(&ProcessExit {
        exit_code: Some(0),
        ..ProcessExit::default()
    });
    assert_eq!(o.status, failed(FailureKind::Protocol, None));
}
