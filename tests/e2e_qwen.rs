//! End-to-end tests: the `ralph` binary runs the real Qwen Code CLI (pinned, installed from npm on first use)
//! against a scripted OpenAI chat-completions server on 127.0.0.1, in a temporary git repository with a fresh
//! `HOME`. Qwen Code is set up as a user of an OpenAI-compatible endpoint would: `OPENAI_API_KEY` and
//! `OPENAI_BASE_URL` in the environment, the model after `--` (ralph adds `--auth-type openai`). The agent
//! performs real tool calls (`write_file`, `run_shell_command`); the server records every request.
//!
//! Needs Node.js and npm (the first run installs `@qwen-code/qwen-code` into `<target>/agent-clis/`).

use ralph_testkit::openai_chat_server::{invalid_api_key, run_shell_command, write_file};
use ralph_testkit::{
    Cost, HermeticEnv, Iteration, RalphRun, Script, ScriptedServer, TASK_COMMAND, TASK_HELLO,
    TASK_PROMPT, TestDir, Turn, Usage, assert_auth_failures, assert_completed, assert_no_survivors,
    assert_task_files, install_qwen, three_iteration_task,
};

/// The model the tests ask for: in ralph's price table, so the cost estimate is non-zero.
const MODEL: &str = "qwen3-coder-plus";

/// `ralph run --agent qwen ... -- -m qwen3-coder-plus` in the workspace with the hermetic environment
/// pointing at `server`.
fn ralph<'a>(dir: &'a TestDir, server: &ScriptedServer) -> RalphRun<'a> {
    let env =
        HermeticEnv::qwen(&server.url(), &install_qwen(), dir.home()).set("RUST_BACKTRACE", "1");
    RalphRun::new(env!("CARGO_BIN_EXE_ralph"), "qwen", dir, env).agent_args(["-m", MODEL])
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
    let server = ScriptedServer::openai_chat(Script::new(iterations));

    let out = ralph(&dir, &server).run();

    // Qwen Code reports no cost. qwen3-coder-plus: $1 input, $5 output, $0.10 cache read per million tokens.
    let cost = Cost::Estimated([1.0, 5.0, 0.0, 0.1]);
    assert_completed(&dir, &out, &server, &scripted, cost);
    assert_task_files(&dir);
    assert_no_survivors(&dir);
}

#[test]
fn an_invalid_api_key_stops_the_run_after_max_retries_and_names_the_cause() {
    // Qwen Code ends such a run with exit 0 and a "successful" result "[API Error: 401 ...]".
    let dir = TestDir::new();
    dir.write("PROMPT.md", "Do something.\n");
    let server = ScriptedServer::openai_chat(Script::always(Iteration::error(invalid_api_key())));

    let out = ralph(&dir, &server).max_retries(1).run();

    // One run and one retry.
    assert_auth_failures(&dir, &out, &server, 2, "Incorrect API key");
}

/// 300 KiB of varied text (multi-byte UTF-8, quotes, a leading dash) between two markers: over the
/// 100 KiB argument limit, so ralph passes it on stdin as a stream-json user message (the CLI echoes it
/// in one 300 KiB event, more than a default pipe holds).
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
    let server = ScriptedServer::openai_chat(Script::always(Iteration::new([Turn::text(
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
