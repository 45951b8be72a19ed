//! End-to-end tests: the `ralph` binary runs the real Codex CLI (pinned `@openai/codex@0.171.0`, installed
//! from npm on first use) against a scripted OpenAI Responses server on 127.0.0.1, in a temporary git
//! repository with a fresh `HOME`. Codex is pointed at the server through `$CODEX_HOME/config.toml` (a
//! `test` provider, see `HermeticEnv::codex`); the key is given only as `OPENAI_API_KEY_FILE`, which ralph
//! must read and pass on. The agent performs real tool calls (`apply_patch`, `exec_command`); the server
//! records every request.
//!
//! Needs Node.js and npm (the first run installs `@openai/codex` into `<target>/agent-clis/`).

use std::time::{Duration, Instant};

use ralph_testkit::codex_opencode::TEST_KEY;
use ralph_testkit::openai_chat_server::invalid_api_key;
use ralph_testkit::openai_responses_server::{apply_patch_add, exec_command};
use ralph_testkit::{
    Cost, HermeticEnv, Iteration, RalphRun, Script, ScriptedServer, TASK_COMMAND, TASK_HELLO,
    TASK_PROMPT, TestDir, Turn, Usage, assert_auth_failures, assert_completed, assert_no_survivors,
    assert_not_leaked, assert_task_files, install_codex, iteration_records, procs, state,
    three_iteration_task,
};

/// The model the tests ask for: in Codex 0.171.0's bundled catalogue (so it offers `apply_patch`), and
/// priced by ralph's table (as the `gpt-5` family).
const MODEL: &str = "gpt-5.5";
/// Feature switches that keep Codex from reaching for plugins, updates and model discovery.
const OFFLINE_FLAGS: &[&str] = &[
    "--disable",
    "plugins",
    "--disable",
    "remote_plugin",
    "--disable",
    "in_app_updates",
    "--disable",
    "plugin_sharing",
    "--disable",
    "api_key_model_discovery",
];

/// `ralph run --agent codex ... -- -m gpt-5.5 --disable ...` in the workspace with the hermetic
/// environment pointing at `server`.
fn ralph<'a>(dir: &'a TestDir, server: &ScriptedServer) -> RalphRun<'a> {
    let env =
        HermeticEnv::codex(&server.url(), &install_codex(), dir.home()).set("RUST_BACKTRACE", "1");
    RalphRun::new(env!("CARGO_BIN_EXE_ralph"), "codex", dir, env)
        .agent_args(["-m", MODEL])
        .agent_args(OFFLINE_FLAGS)
}

#[test]
fn three_iterations_patch_run_a_command_complete_and_account_usage_exactly() {
    let started = Instant::now();
    let dir = TestDir::new();
    dir.write("PROMPT.md", TASK_PROMPT);
    // Scripted in Anthropic kinds (uncached input, output, cache write, cache read); the server sends the
    // Responses API's totals (input = all three input kinds) and ralph maps Codex's report back.
    let iterations = three_iteration_task(
        apply_patch_add("hello.txt", TASK_HELLO),
        exec_command(TASK_COMMAND),
        [
            Usage::new(1000, 40, 300, 0),
            Usage::new(1100, 15, 0, 300),
            Usage::new(1200, 30, 0, 350),
            Usage::new(1300, 12, 25, 400),
            Usage::new(1400, 9, 0, 450),
        ],
    );
    let scripted: Vec<Usage> = iterations.iter().map(Iteration::usage).collect();
    let server = ScriptedServer::openai_responses(Script::new(iterations));

    let out = ralph(&dir, &server).run();

    // Codex reports no cost. gpt-5 prices per million tokens: $1.25 input and cache write, $10 output, $0.125
    // cache read.
    let cost = Cost::Estimated([1.25, 10.0, 1.25, 0.125]);
    assert_completed(&dir, &out, &server, &scripted, cost);
    assert_task_files(&dir);
    assert_not_leaked(TEST_KEY, &dir, &out);
    assert_no_survivors(&dir);
    eprintln!("codex e2e: 3 iterations in {:.1?}", started.elapsed());
}

#[test]
fn repeated_401s_stop_the_run_after_max_retries_and_name_the_cause() {
    let dir = TestDir::new();
    dir.write("PROMPT.md", "Do something.\n");
    let server =
        ScriptedServer::openai_responses(Script::always(Iteration::error(invalid_api_key())));

    let out = ralph(&dir, &server).max_retries(2).run();

    // One run and two retries.
    assert_auth_failures(&dir, &out, &server, 3, "401");
}

#[test]
fn a_model_that_never_answers_is_a_timeout_not_a_rate_limit_and_leaves_no_process() {
    let dir = TestDir::new();
    dir.write("PROMPT.md", "Wait for the model.\n");
    let server = ScriptedServer::openai_responses(Script::always(Iteration::hang()));
    let ralph = ralph(&dir, &server).iteration_timeout(3);
    let started = Instant::now();

    let out = ralph.run();

    assert_eq!(out.code(), 1, "{}", out.dump());
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "3 s timeout plus the stop grace period took {:?}",
        started.elapsed()
    );
    let state = state(&dir);
    let records = iteration_records(&dir, &state);
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(
        records[0]["outcome"]["status"], "timed_out",
        "{}",
        records[0]
    );
    let survivors = procs::related_to(dir.root());
    assert!(
        survivors.is_empty(),
        "processes survived ralph: {survivors:#?}"
    );
}

#[test]
fn a_one_mebibyte_prompt_reaches_the_model_through_stdin_intact() {
    let dir = TestDir::new();
    let line = "line of a long prompt with \"quotes\", $HOME, `ticks` and ünïcödé 🦀\n";
    let prompt: String = line.repeat((1 << 20) / line.len() + 1);
    dir.write("PROMPT.md", &prompt);
    let server = ScriptedServer::openai_responses(Script::new([Iteration::new([Turn::text(
        "Read it all.\nLOOP_COMPLETE",
    )])]));

    let out = ralph(&dir, &server).run();

    assert_eq!(out.code(), 0, "{}\n{}", out.dump(), server.log());
    let first = server
        .iteration_requests(0)
        .into_iter()
        .next()
        .expect("a request of iteration 1");
    let user_texts: Vec<String> = first.body.as_ref().unwrap()["input"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["role"] == "user")
        .flat_map(|i| i["content"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["text"].as_str().map(str::to_string))
        .collect();
    assert!(
        user_texts.iter().any(|t| t.contains(&prompt)),
        "the prompt did not arrive byte for byte"
    );
}
