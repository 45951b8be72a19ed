//! End-to-end tests: the `ralph` binary runs the real OpenCode CLI (pinned `opencode-ai@1.18.33`, installed
//! from npm on first use) against a scripted OpenAI Responses server on 127.0.0.1, in a temporary git
//! repository with a fresh `HOME`. OpenCode is pointed at the server through `opencode.json` in
//! `$XDG_CONFIG_HOME` (a `test` provider using the bundled `@ai-sdk/openai`, see `HermeticEnv::opencode`),
//! with the switches that keep it offline; the key is given only as `OPENAI_API_KEY_FILE`, which ralph must
//! read and pass on. The agent performs real tool calls (`apply_patch`, `bash`); the server records every
//! request.
//!
//! Needs Node.js and npm (the first run installs `opencode-ai` into `<target>/agent-clis/`).

use std::time::Instant;

use ralph_testkit::codex_opencode::TEST_KEY;
use ralph_testkit::openai_chat_server::invalid_api_key;
use ralph_testkit::openai_responses_server::{opencode_apply_patch_add, opencode_bash};
use ralph_testkit::{
    Cost, HermeticEnv, Iteration, RalphRun, Script, ScriptedServer, TASK_COMMAND, TASK_HELLO,
    TASK_PROMPT, TestDir, Usage, assert_auth_failures, assert_completed, assert_no_survivors,
    assert_not_leaked, assert_task_files, install_opencode, three_iteration_task,
};

/// The model the tests ask for (`provider/model`): the `test` provider's `gpt-5`, which ralph prices as
/// `gpt-5` (the provider prefix is ignored). OpenCode offers GPT-5 models `apply_patch` instead of `write`.
const MODEL: &str = "test/gpt-5";

/// `ralph run --agent opencode ... -- --model test/gpt-5` in the workspace with the hermetic
/// environment pointing at `server`.
fn ralph<'a>(dir: &'a TestDir, server: &ScriptedServer) -> RalphRun<'a> {
    let env = HermeticEnv::opencode(&server.url(), &install_opencode(), dir.home())
        .set("RUST_BACKTRACE", "1");
    RalphRun::new(env!("CARGO_BIN_EXE_ralph"), "opencode", dir, env).agent_args(["--model", MODEL])
}

#[test]
fn three_iterations_patch_run_a_command_complete_and_account_usage_exactly() {
    let started = Instant::now();
    let dir = TestDir::new();
    dir.write("PROMPT.md", TASK_PROMPT);
    // Scripted in Anthropic kinds (uncached input, output, cache write, cache read); the server sends the
    // Responses API's totals (input = uncached + cached) and ralph maps OpenCode's report back. OpenCode's
    // OpenAI provider does not read cache writes: they stay 0 here.
    let iterations = three_iteration_task(
        opencode_apply_patch_add("hello.txt", TASK_HELLO),
        opencode_bash(TASK_COMMAND, "record the build"),
        [
            Usage::new(1000, 40, 0, 0),
            Usage::new(1100, 15, 0, 300),
            Usage::new(1200, 30, 0, 350),
            Usage::new(1300, 12, 0, 400),
            Usage::new(1400, 9, 0, 450),
        ],
    );
    let scripted: Vec<Usage> = iterations.iter().map(Iteration::usage).collect();
    let server = ScriptedServer::openai_responses(Script::new(iterations));

    let out = ralph(&dir, &server).run();

    // OpenCode reports cost 0 for an unpriced model. gpt-5 prices per million tokens: $1.25 input and cache
    // write, $10 output, $0.125 cache read.
    let cost = Cost::Estimated([1.25, 10.0, 1.25, 0.125]);
    assert_completed(&dir, &out, &server, &scripted, cost);
    assert_task_files(&dir);
    assert_not_leaked(TEST_KEY, &dir, &out);
    assert_no_survivors(&dir);
    eprintln!("opencode e2e: 3 iterations in {:.1?}", started.elapsed());
}

#[test]
fn repeated_401s_stop_the_run_after_max_retries_and_name_the_cause() {
    let dir = TestDir::new();
    dir.write("PROMPT.md", "Do something.\n");
    let server =
        ScriptedServer::openai_responses(Script::always(Iteration::error(invalid_api_key())));

    // One retry only: an OpenCode run takes about 5 s.
    let out = ralph(&dir, &server).max_retries(1).run();

    // One run and one retry.
    assert_auth_failures(&dir, &out, &server, 2, "401");
}
