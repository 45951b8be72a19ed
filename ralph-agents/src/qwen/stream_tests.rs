//! Replays of streams recorded from the real Qwen Code 0.15.10 (`tests/fixtures/qwen/`, see the README
//! there): the events each produces and the classified outcome.

use crate::registry::AgentKind;
use crate::replay::{check, failed};
use ralph_core::{FailureKind, OutcomeStatus};

const AGENT: AgentKind = AgentKind::Qwen;

#[test]
fn success() {
    let r = check!("success", Some(0), OutcomeStatus::Success);
    assert_eq!(
        r.outcome.final_text.as_deref(),
        Some("All done.\nLOOP_COMPLETE")
    );
    assert_eq!(r.outcome.model.as_deref(), Some("qwen3-coder-plus"));
    let cost = r.outcome.cost.expect("qwen3-coder-plus has a price");
    assert!(cost.estimated);
    // $1 per million input tokens, $5 per million output tokens.
    assert!((cost.usd - (120.0 * 1.0 + 45.0 * 5.0) / 1e6).abs() < 1e-12);
}

#[test]
fn tools_are_summarised_cached_input_is_split_out_and_tool_output_is_not_a_limit() {
    let r = check!("tools", Some(0), OutcomeStatus::Success);
    let tools = r.tools();
    assert_eq!(
        tools,
        [
            "write_file: hello.txt",
            "run_shell_command: echo built > out.txt && cat hello.txt && echo usage limit reached"
        ]
    );
    // Prompt tokens 1000 + 1200 + 1400 of which 300 + 450 cached; completion 40 + 30 + 9.
    let u = r.outcome.usage;
    assert_eq!(
        (u.input_tokens, u.cache_read_input_tokens, u.output_tokens),
        (3600 - 750, 750, 79)
    );
}

#[test]
fn auth_401_reported_as_a_successful_result_is_an_auth_failure() {
    let r = check!("auth_401", Some(0), failed(FailureKind::Auth, Some(401)));
    assert!(r.outcome.message.unwrap().contains("Incorrect API key"));
    assert_eq!(r.outcome.final_text, None, "an error text is not an answer");
}

#[test]
fn no_api_key() {
    let r = check!("no_api_key", Some(1), failed(FailureKind::Auth, None));
    assert!(r.outcome.message.unwrap().contains("OPENAI_API_KEY"));
}

#[test]
fn max_turns() {
    check!("max_turns", Some(53), failed(FailureKind::MaxTurns, None));
}

#[test]
fn a_model_stream_cut_short_is_an_api_failure() {
    check!("stream_cut", Some(0), failed(FailureKind::Api, None));
}

#[test]
fn truncated_stream_of_a_killed_agent_is_an_exit_failure() {
    let r = check!("truncated", None, failed(FailureKind::ExitCode, None));
    assert_eq!(r.outcome.final_text, None);
    assert!(r.outcome.usage.input_tokens > 0, "usage so far is kept");
}

#[test]
fn a_run_stuck_retrying_429s_and_then_killed_is_not_a_rate_limit() {
    // What ralph sees of a 429 storm: the init event, then silence until its timeout kills the agent
    // (the supervisor then reports the timeout; the handler must not have guessed a limit).
    let r = check!(
        "rate_limit_429_retrying",
        None,
        failed(FailureKind::ExitCode, None)
    );
    assert!(!matches!(
        r.outcome.status,
        OutcomeStatus::RateLimited { .. }
    ));
}
