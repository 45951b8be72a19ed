//! Replays of streams recorded from the real OpenCode 1.18.33 (`tests/fixtures/opencode/`, see the README
//! there): the events each produces and the classified outcome.

use super::*;
use crate::registry::AgentKind;
use crate::replay::{RECORDED_WORKSPACE, Replay, check, failed, feed};
use ralph_core::{FailureKind, OutcomeStatus};

const AGENT: AgentKind = AgentKind::OpenCode;

/// Replays the fixture `name` through an [`OpenCodeStream`] for `model` (see [`crate::replay`]).
fn replay_model(name: &str, model: Option<&str>, exit_code: Option<i32>) -> Replay {
    let mut stream = OpenCodeStream::new(RECORDED_WORKSPACE, model.map(str::to_string));
    feed(&mut stream, "opencode", name, exit_code)
}

/// The scripted usage of the success recordings: input 1000 + 1100 + 1200 (cached 200 + 300 + 400),
/// output 40 + 30 + 9 (reasoning 10).
const SCRIPTED: Usage = Usage {
    input_tokens: 3300 - 900,
    output_tokens: 79,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 900,
    reasoning_output_tokens: 10,
};

#[test]
fn success_with_tools_usage_and_an_estimated_cost() {
    let r = check!("success", Some(0), OutcomeStatus::Success);
    assert_eq!(
        r.outcome.final_text.as_deref(),
        Some("All done.\nLOOP_COMPLETE"),
        "only the last step's text is the final answer"
    );
    assert_eq!(r.outcome.usage, SCRIPTED);
    let cost = r.outcome.cost.expect("priced as gpt-5");
    assert!(cost.estimated, "OpenCode reported 0: {cost:?}");
    let expected = crate::pricing::estimate("gpt-5", &SCRIPTED).unwrap().usd;
    assert!((cost.usd - expected).abs() < 1e-12, "{cost:?}");
    let tools = r.tools();
    assert_eq!(
        tools,
        [
            "write: hello.txt",
            "bash: echo ran >> hello.txt && echo built > out.txt && echo 'usage limit reached'"
        ],
        "what the command printed is not a usage limit"
    );
}

#[test]
fn opencodes_own_cost_is_taken_as_reported() {
    let r = check!("own_cost", Some(0), OutcomeStatus::Success);
    assert_eq!(r.outcome.usage, SCRIPTED);
    let cost = r.outcome.cost.unwrap();
    assert!(!cost.estimated);
    // OpenCode priced the configured $1.25 / $10 / $0.125 per million tokens, reasoning as output.
    let expected = (2400.0 * 1.25 + 79.0 * 10.0 + 900.0 * 0.125) / 1e6;
    assert!((cost.usd - expected).abs() < 1e-9, "{cost:?}");
}

#[test]
fn an_unknown_model_without_a_reported_cost_has_no_cost() {
    let r = replay_model("success", Some("test/test-model"), Some(0));
    assert_eq!(r.outcome.cost, None);
    let r = replay_model("success", None, Some(0));
    assert_eq!(r.outcome.cost, None);
}

#[test]
fn auth_401() {
    let r = check!("auth_401", Some(1), failed(FailureKind::Auth, Some(401)));
    assert!(
        r.outcome
            .message
            .unwrap()
            .starts_with("APIError (HTTP 401): Incorrect API key provided")
    );
}

#[test]
fn missing_key() {
    check!("missing_key", Some(1), failed(FailureKind::Auth, None));
}

#[test]
fn rate_limit_429_after_opencodes_own_retries() {
    // The response said `retry-after: 0`.
    let r = check!(
        "rate_limit_429",
        Some(1),
        OutcomeStatus::RateLimited {
            reset_at_unix: Some(1_796_027_239)
        }
    );
    assert!(r.outcome.message.unwrap().contains("Rate limit reached"));
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
fn truncated_stream_then_a_rejected_request() {
    let r = check!(
        "truncated_stream",
        Some(1),
        failed(FailureKind::Api, Some(400))
    );
    assert_eq!(r.outcome.final_text, None);
}

#[test]
fn killed_mid_tool_is_an_exit_failure() {
    let r = check!("killed_mid_tool", None, failed(FailureKind::ExitCode, None));
    assert_eq!(
        r.outcome.session_id.as_deref(),
        Some("ses_dd46eec65ffeviMVN7n3oQK6dw")
    );
}

#[test]
fn exit_zero_without_a_finished_step_is_a_protocol_failure() {
    let r = crate::replay::replay(AGENT, "killed_mid_tool", Some(0));
    assert_eq!(r.outcome.status, failed(FailureKind::Protocol, None));
}

#[test]
fn non_json_lines_are_skipped() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut stream = OpenCodeStream::new("/ws", None);
    stream.on_stdout(
        Line::new(&b"! permission requested: bash (*); auto-rejecting"[..]),
        &tx,
    );
    stream.on_stdout(Line::new(&br#"{"type":"future_event"}"#[..]), &tx);
    assert!(rx.try_recv().is_err());
    let o = stream.finish(&ProcessExit {
        exit_code: Some(0),
        ..ProcessExit::default()
    });
    assert_eq!(o.status, failed(FailureKind::Protocol, None));
    assert!(o.message.unwrap().contains("1 lines were not JSON events"));
}
