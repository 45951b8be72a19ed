//! Replays of streams recorded from the real Codex 0.171.0 (`tests/fixtures/codex/`, see the README there):
//! the events each produces and the classified outcome.

use super::*;
use crate::registry::AgentKind;
use crate::replay::{NOW, check, failed, feed};
use ralph_core::{FailureKind, OutcomeStatus};

const AGENT: AgentKind = AgentKind::Codex;

fn limited(reset_at_unix: Option<u64>) -> OutcomeStatus {
    OutcomeStatus::RateLimited { reset_at_unix }
}

#[test]
fn success_with_a_patch_a_command_and_usage_by_kind() {
    let r = check!("success", Some(0), OutcomeStatus::Success);
    assert_eq!(
        r.outcome.final_text.as_deref(),
        Some("All done.\nLOOP_COMPLETE"),
        "the last agent message is the final answer"
    );
    // Scripted: input 1000 + 1100 + 1200 (of which cached 200 + 300 + 400, cache-written 300), output
    // 40 + 30 + 9 (reasoning 10).
    assert_eq!(
        r.outcome.usage,
        Usage {
            input_tokens: 3300 - 900 - 300,
            output_tokens: 79,
            cache_creation_input_tokens: 300,
            cache_read_input_tokens: 900,
            reasoning_output_tokens: 10,
        }
    );
    let cost = r.outcome.cost.expect("an estimate for gpt-5.5");
    assert!(cost.estimated && cost.usd > 0.0, "{cost:?}");
    let tools = r.tools();
    assert_eq!(
        tools,
        [
            "file_change: add hello.txt",
            "command_execution: echo ran >> hello.txt && echo built > out.txt && echo 'usage limit reached'"
        ],
        "each tool once; what the command printed is not a usage limit"
    );
}

#[test]
fn model_metadata_warning_is_harmless() {
    let r = check!("model_metadata_warning", Some(0), OutcomeStatus::Success);
    assert_eq!(r.outcome.final_text.as_deref(), Some("Hello."));
}

#[test]
fn auth_401() {
    let r = check!("auth_401", Some(1), failed(FailureKind::Auth, Some(401)));
    assert!(
        r.outcome
            .message
            .unwrap()
            .starts_with("unexpected status 401 Unauthorized: Incorrect API key provided")
    );
}

#[test]
fn forbidden_403() {
    check!(
        "forbidden_403",
        Some(1),
        failed(FailureKind::Auth, Some(403))
    );
}

#[test]
fn missing_key() {
    check!("missing_key", Some(1), failed(FailureKind::Auth, None));
}

#[test]
fn rate_limit_429() {
    check!("rate_limit_429", Some(1), limited(None));
}

#[test]
fn usage_limit_with_a_reset_date() {
    check!("usage_limit_reset", Some(1), limited(Some(1_893_456_000)));
}

#[test]
fn usage_limit_with_a_time_of_day() {
    // "try again at 9:04 AM", an hour after the recording.
    check!(
        "usage_limit_time_only",
        Some(1),
        limited(Some(NOW as u64 + 3600))
    );
}

#[test]
fn usage_limit_without_a_reset() {
    check!("usage_limit_no_reset", Some(1), limited(None));
}

#[test]
fn rate_limit_in_the_stream_gives_the_retry_delay() {
    // "Please try again in 1.5s."
    check!("stream_rate_limit", Some(1), limited(Some(NOW as u64 + 2)));
}

#[test]
fn server_error_500() {
    check!("server_error_500", Some(1), failed(FailureKind::Api, None));
}

#[test]
fn stream_disconnected() {
    check!(
        "stream_disconnected",
        Some(1),
        failed(FailureKind::Api, None)
    );
}

#[test]
fn reconnecting_is_a_retry_then_the_failure_counts() {
    let r = check!(
        "reconnecting_then_failed",
        Some(1),
        failed(FailureKind::Api, None)
    );
    let attempts: Vec<u32> = r
        .events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::Retry { attempt, .. } => Some(*attempt),
            _ => None,
        })
        .collect();
    assert_eq!(attempts, [1, 2]);
}

#[test]
fn context_window() {
    check!(
        "context_window",
        Some(1),
        failed(FailureKind::ErrorResult, None)
    );
}

#[test]
fn killed_mid_command_is_an_exit_failure_without_a_final_answer() {
    let r = check!(
        "killed_mid_command",
        None,
        failed(FailureKind::ExitCode, None)
    );
    assert_eq!(r.outcome.final_text, None);
}

#[test]
fn killed_while_waiting_for_the_network_is_not_a_rate_limit() {
    // Its stderr (`no_network_killed.stderr`) says only that the WebSocket could not connect.
    let r = crate::replay::replay(AGENT, "no_network_killed", None);
    assert_eq!(r.outcome.status, failed(FailureKind::ExitCode, None));
    let retries = r
        .events
        .iter()
        .filter(|e| matches!(e, AgentEvent::Retry { .. }))
        .count();
    assert_eq!(retries, 8);
}

#[test]
fn exit_zero_without_turn_completed_is_a_protocol_failure() {
    let r = crate::replay::replay(AGENT, "killed_mid_command", Some(0));
    assert_eq!(r.outcome.status, failed(FailureKind::Protocol, None));
}

#[test]
fn a_success_without_a_known_model_has_no_cost() {
    let o = feed(
        &mut CodexStream::new("/ws", None),
        "codex",
        "success",
        Some(0),
    )
    .outcome;
    assert!(o.status.is_success());
    assert_eq!(o.cost, None);
    assert_eq!(o.usage.output_tokens, 79);
}

#[test]
fn non_json_lines_are_skipped() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut stream = CodexStream::new("/ws", None);
    stream.on_stdout(
        Line::new(&b"Reading additional input from stdin..."[..]),
        &tx,
    );
    stream.on_stdout(Line::new(&br#"{"type":"future.event","x":1}"#[..]), &tx);
    stream.on_stdout(
        Line::new(&br#"{"type":"item.completed","item":"nope"}"#[..]),
        &tx,
    );
    assert!(rx.try_recv().is_err());
    let o = stream.finish(&ProcessExit {
        exit_code: Some(0),
        ..ProcessExit::default()
    });
    assert_eq!(o.status, failed(FailureKind::Protocol, None));
    assert!(o.message.unwrap().contains("2 lines were not JSON events"));
}
