//! End-to-end tests: the `ralph` binary runs the real Gemini CLI (pinned, installed from npm on first use)
//! against a scripted Gemini API server on 127.0.0.1, in a temporary git repository with a fresh `HOME`.
//! The agent performs real tool calls (`write_file`, `run_shell_command`); the server records every request.
//!
//! Needs Node.js and npm (the first run installs `@google/gemini-cli` into `<target>/agent-clis/`).

use ralph_testkit::gemini_server::{
    api_key_invalid, daily_quota_exhausted, run_shell_command, write_file,
};
use ralph_testkit::{
    Cost, HermeticEnv, Iteration, RalphRun, Script, ScriptedServer, TASK_COMMAND, TASK_HELLO,
    TASK_PROMPT, TestDir, Turn, Usage, assert_auth_failures, assert_completed, assert_no_survivors,
    assert_task_files, install_gemini, iteration_records, state, three_iteration_task,
};

/// The model the tests ask for: in ralph's price table, so the cost estimate is non-zero.
const MODEL: &str = "gemini-2.5-flash";

/// `ralph run --agent gemini ... -- -m gemini-2.5-flash` in the workspace with the hermetic environment
/// pointing at `server`.
fn ralph<'a>(dir: &'a TestDir, server: &ScriptedServer) -> RalphRun<'a> {
    let env = HermeticEnv::gemini(&server.url(), &install_gemini(), dir.home())
        .set("RUST_BACKTRACE", "1");
    RalphRun::new(env!("CARGO_BIN_EXE_ralph"), "gemini", dir, env).agent_args(["-m", MODEL])
}

#[test]
fn three_iterations_write_run_a_command_complete_and_account_usage_exactly() {
    let dir = TestDir::new();
    dir.write("PROMPT.md", TASK_PROMPT);
    let iterations = three_iteration_task(
        write_file(dir.path("hello.txt"), TASK_HELLO),
        run_shell_command(TASK_COMMAND, "record the build"),
        [
            Usage::new(1000, 40, 0, 300),
            Usage::new(1100, 15, 0, 0),
            Usage::new(1200, 30, 0, 350),
            Usage::new(1300, 12, 0, 400),
            Usage::new(1400, 9, 0, 450),
        ],
    );
    let scripted: Vec<Usage> = iterations.iter().map(Iteration::usage).collect();
    let server = ScriptedServer::gemini(Script::new(iterations));

    let out = ralph(&dir, &server).run();

    // Gemini CLI reports no cost. gemini-2.5-flash: $0.30 input, $2.50 output, $0.075 cache read per
    // million tokens.
    let cost = Cost::Estimated([0.3, 2.5, 0.0, 0.075]);
    assert_completed(&dir, &out, &server, &scripted, cost);
    assert_task_files(&dir);
    assert_no_survivors(&dir);
}

#[test]
fn an_invalid_api_key_stops_the_run_after_max_retries_and_names_the_cause() {
    let dir = TestDir::new();
    dir.write("PROMPT.md", "Do something.\n");
    let server = ScriptedServer::gemini(Script::always(Iteration::error(api_key_invalid())));

    let out = ralph(&dir, &server).max_retries(1).run();

    // One run and one retry.
    assert_auth_failures(&dir, &out, &server, 2, "API key not valid");
}

#[test]
fn a_daily_quota_error_is_a_rate_limit_that_waits_for_the_reset_when_it_fits() {
    let dir = TestDir::new();
    dir.write("PROMPT.md", "Finish.\n");
    let server = ScriptedServer::gemini(Script::new([
        Iteration::error(daily_quota_exhausted(2)),
        Iteration::new([Turn::text("Done.\nLOOP_COMPLETE")]),
    ]));

    let out = ralph(&dir, &server).max_iterations(5).run();

    assert_eq!(out.code(), 0, "{}\n{}", out.dump(), server.log());
    assert_eq!(server.conversations(), 2, "{}", server.log());
    let state = state(&dir);
    let records = iteration_records(&dir, &state);
    assert_eq!(
        records[0]["outcome"]["status"], "rate_limited",
        "{records:#?}"
    );
    assert!(
        records[0]["outcome"]["reset_at_unix"].as_u64().is_some(),
        "{records:#?}"
    );
    assert_eq!(
        state["consecutive_failures"], 0,
        "a limit is not a failure: {state:#}"
    );
    assert_no_survivors(&dir);
}

/// 300 KiB of varied text (multi-byte UTF-8, quotes, a leading dash) between two markers: over the
/// 100 KiB argument limit, so ralph cuts it at spaces into several positional arguments (the CLI
/// echoes it in one 300 KiB event, more than a default pipe holds).
fn big_prompt() -> String {
    let mut s = String::from("- BEGIN-PROMPT-7f3a\n");
    let mut line = 0;
    while s.len() < 300 * 1024 {
        line += 1;
        s.push_str(&format!(
            "{line:06}: γάμμα 日本語 \"quoted\" back\\slash $HOME `tick`\n"
        ));
    }
    s.push_str("END-PROMPT-7f3a\n");
    s
}

#[test]
fn a_prompt_over_the_argument_limit_reaches_the_model_intact() {
    let dir = TestDir::new();
    let prompt = big_prompt();
    dir.write("PROMPT.md", &prompt);
    // One iteration, no retry: the prompt must arrive the first time, also under load.
    let server = ScriptedServer::gemini(Script::always(Iteration::new([Turn::text(
        "Read it all.\nLOOP_COMPLETE",
    )])));

    let out = ralph(&dir, &server).max_iterations(1).max_retries(0).run();

    assert_eq!(out.code(), 0, "{}\n{}", out.dump(), server.log());
    let first = server
        .iteration_requests(0)
        .into_iter()
        .next()
        .expect("a request");
    let body = first.body.expect("a JSON body").to_string();
    let sent = serde_json::to_string(&prompt).expect("JSON string");
    assert!(
        body.contains(sent.trim_matches('"')),
        "the prompt did not arrive byte for byte ({} bytes of request)",
        body.len()
    );
}
