//! End-to-end tests: the `ralph` binary runs the real Claude Code CLI (pinned, installed from npm on first use)
//! against a scripted Anthropic model server on 127.0.0.1, in a temporary git repository with a fresh `HOME`.
//! The agent performs real tool calls (writes files, runs shell commands); the server records every request.
//!
//! Needs Node.js and npm (the first run installs `@anthropic-ai/claude-code` into `<target>/agent-clis/`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ralph_testkit::{
    Answer, ApiError, Block, Completed, Cost, HermeticEnv, Iteration, ModelServer, RalphRun,
    Script, TASK_COMMAND, TASK_HELLO, TASK_PROMPT, TestDir, Turn, Usage, assert_completed,
    assert_no_survivors, assert_task_files, install_claude, iteration_records, procs, state,
    three_iteration_task, usage_of,
};
use serde_json::Value;

/// `ralph run --agent claude ... -- --model claude-sonnet-4-5` in the workspace with the hermetic
/// environment pointing at `server`.
fn ralph<'a>(dir: &'a TestDir, server: &ModelServer) -> RalphRun<'a> {
    let env = HermeticEnv::claude(&server.url(), &install_claude(), dir.home())
        .set("RUST_BACKTRACE", "1");
    RalphRun::new(env!("CARGO_BIN_EXE_ralph"), "claude", dir, env)
        .agent_args(["--model", "claude-sonnet-4-5"])
}

/// The non-blank lines of `path`, each a JSON value.
fn read_jsonl(path: &Path) -> Vec<Value> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// `.agent/runs/<run_id>/`.
fn run_dir(dir: &TestDir, state: &Value) -> PathBuf {
    dir.path(".agent/runs")
        .join(state["run_id"].as_str().expect("run_id in state.json"))
}

/// The last `result` event of iteration `n`'s raw output (`<n>.output.jsonl`, Claude's stream-json).
fn claude_result(dir: &TestDir, state: &Value, n: usize) -> Value {
    let events = read_jsonl(&run_dir(dir, state).join(format!("{n}.output.jsonl")));
    events
        .into_iter()
        .rev()
        .find(|e| e["type"] == "result")
        .unwrap_or_else(|| panic!("no result event in {n}.output.jsonl"))
}

fn assert_close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() < 1e-9, "{what}: {a} != {b}");
}

#[test]
fn three_iterations_write_run_a_command_complete_and_account_usage_exactly() {
    let dir = TestDir::new();
    dir.write("PROMPT.md", TASK_PROMPT);
    let iterations = three_iteration_task(
        Block::write(dir.path("hello.txt"), TASK_HELLO),
        Block::bash(TASK_COMMAND, "record the build"),
        [
            Usage::new(1000, 40, 300, 0),
            Usage::new(1100, 15, 0, 300),
            Usage::new(1200, 30, 0, 350),
            Usage::new(1300, 12, 25, 400),
            Usage::new(1400, 9, 0, 450),
        ],
    );
    let scripted: Vec<Usage> = iterations.iter().map(Iteration::usage).collect();
    let server = ModelServer::start(Script::new(iterations));

    let out = ralph(&dir, &server).run();

    // Claude Code reports the cost: Claude's price for claude-sonnet-4-5, $3 input, $15 output, $3.75 cache
    // write, $0.30 cache read per million tokens (`Usage::sonnet_4_5_cost_usd`).
    let cost = Cost::Reported([3.0, 15.0, 3.75, 0.30]);
    let Completed { state, records } = assert_completed(&dir, &out, &server, &scripted, cost);
    assert_task_files(&dir);
    let mut result_cost = 0.0;
    let mut record_cost = 0.0;
    for (i, record) in records.iter().enumerate() {
        let result = claude_result(&dir, &state, i + 1);
        // Claude Code sums its turns (input and cache tokens of `message_start`, output of `message_delta`).
        assert_eq!(
            usage_of(&result["usage"]),
            scripted[i],
            "iteration {} result event",
            i + 1
        );
        let cost = result["total_cost_usd"].as_f64().expect("total_cost_usd");
        assert_close(
            record["cost_usd"].as_f64().unwrap(),
            cost,
            "iteration cost = Claude's total_cost_usd",
        );
        result_cost += cost;
        record_cost += record["cost_usd"].as_f64().unwrap();
    }
    let total: Usage = scripted.iter().copied().sum();
    assert_eq!(
        state["tokens_total"],
        total.input_tokens + total.output_tokens + total.cache_creation_input_tokens,
        "tokens_total counts input, output and cache creation (not cache reads): {state:#}"
    );
    let cost = state["cost_usd"].as_f64().expect("cost_usd");
    assert_close(cost, result_cost, "state cost = sum of result events");
    assert_close(cost, record_cost, "state cost = sum of iteration records");
    assert_no_survivors(&dir);
}

#[test]
fn the_promise_inside_a_sentence_does_not_complete_the_run() {
    let dir = TestDir::new();
    dir.write("PROMPT.md", "Keep working.\n");
    let server = ModelServer::start(Script::always(Iteration::new([Turn::text(
        "Not finished yet. I will print LOOP_COMPLETE when done.",
    )])));

    let out = ralph(&dir, &server).max_iterations(2).run();

    assert_eq!(out.code(), 3, "a limit was reached\n{}", out.dump());
    assert_eq!(server.sessions().len(), 2, "{}", server.log());
    let state = state(&dir);
    assert_eq!(
        state["stop_reason"]["reason"], "max_iterations",
        "{state:#}"
    );
    assert_no_survivors(&dir);
}

#[test]
fn repeated_401s_stop_the_run_after_max_retries_consecutive_failures() {
    let dir = TestDir::new();
    dir.write("PROMPT.md", "Do something.\n");
    let server = ModelServer::start(Script::always(Iteration::error(ApiError::unauthorized())));

    let out = ralph(&dir, &server).max_retries(2).run();

    assert_eq!(out.code(), 1, "{}", out.dump());
    assert_eq!(
        server.sessions().len(),
        3,
        "one run and two retries\n{}",
        server.log()
    );
    let stderr = out.stderr.to_lowercase();
    assert!(
        stderr.contains("401") || stderr.contains("authentication") || stderr.contains("api key"),
        "stderr does not name the authentication failure:\n{}",
        out.stderr
    );
    let state = state(&dir);
    assert_eq!(
        state["stop_reason"]["reason"], "too_many_failures",
        "{state:#}"
    );
    let records = iteration_records(&dir, &state);
    assert_eq!(records.len(), 3, "{records:#?}");
    for record in &records {
        assert_eq!(record["outcome"]["status"], "failed", "{record}");
    }
    assert_no_survivors(&dir);
}

#[test]
fn a_model_that_never_answers_is_cut_off_by_the_iteration_timeout_and_leaves_no_process() {
    let dir = TestDir::new();
    dir.write("PROMPT.md", "Wait for the model.\n");
    let server = ModelServer::start(Script::always(Iteration::hang()));
    let start = Instant::now();

    let out = ralph(&dir, &server)
        .iteration_timeout(3)
        .max_retries(0)
        .run();

    // A timed-out iteration is a failure; with --max-retries 0 the first one stops the run.
    assert_eq!(out.code(), 1, "{}", out.dump());
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "3 s timeout plus the stop grace period took {:?}",
        start.elapsed()
    );
    // One agent run; on a loaded machine Claude may not even have reached the model within 3 s.
    assert!(server.sessions().len() <= 1, "{}", server.log());
    assert!(
        server
            .requests()
            .iter()
            .all(|r| matches!(r.answer, Answer::Probe | Answer::Hang)),
        "the model answered something\n{}",
        server.log()
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
        "processes of the agent's tree survived ralph: {survivors:#?}"
    );
}

/// 1 MiB of varied text (ASCII, punctuation, quotes, backslashes, tabs, multi-byte UTF-8) between two markers.
fn big_prompt() -> String {
    const START: &str = "BEGIN-PROMPT-7f3a9c1e\n";
    const END: &str = "END-PROMPT-7f3a9c1e\n";
    let words = [
        "alpha",
        "Beta",
        "γάμμα",
        "日本語",
        "emoji🦀",
        "tab\tsep",
        "\"quoted\"",
        "back\\slash",
        "<tag>",
        "{json}",
        "$HOME",
        "`tick`",
    ];
    let mut s = String::from(START);
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut line = 0;
    while s.len() < (1 << 20) - END.len() - 200 {
        line += 1;
        s.push_str(&format!("{line:06}:"));
        for _ in 0..(8 + line % 9) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            s.push(' ');
            s.push_str(words[(seed % words.len() as u64) as usize]);
        }
        s.push('\n');
    }
    while s.len() < (1 << 20) - END.len() {
        s.push('.');
    }
    s.push_str(END);
    assert_eq!(s.len(), 1 << 20);
    s
}

#[test]
fn a_one_mebibyte_prompt_reaches_the_model_intact() {
    let dir = TestDir::new();
    let prompt = big_prompt();
    dir.write("PROMPT.md", &prompt);
    let server = ModelServer::start(Script::new([Iteration::new([Turn::text(
        "Read it all.\nLOOP_COMPLETE",
    )])]));

    let out = ralph(&dir, &server).run();

    assert_eq!(out.code(), 0, "{}\n{}", out.dump(), server.log());
    let first = server
        .iteration_requests(0)
        .into_iter()
        .next()
        .expect("a request of iteration 1");
    let text = first.first_user_text().expect("a user message");
    assert!(
        text.contains(&prompt),
        "the prompt did not arrive byte for byte (user text is {} bytes)",
        text.len()
    );
    assert_no_survivors(&dir);
}

#[test]
fn the_final_checkpoint_commits_the_agents_work() {
    let dir = TestDir::new();
    dir.write("PROMPT.md", "Write the file.\n");
    let server = ModelServer::start(Script::new([Iteration::new([
        Turn::tool(Block::write(
            dir.path("src/lib.txt"),
            "checkpointed content\n",
        )),
        Turn::text("LOOP_COMPLETE"),
    ])]));

    let out = ralph(&dir, &server).run();

    assert_eq!(out.code(), 0, "{}\n{}", out.dump(), server.log());
    assert_eq!(
        dir.git(&["show", "HEAD:src/lib.txt"]),
        "checkpointed content\n"
    );
    assert!(
        dir.git(&["log", "-1", "--format=%s"])
            .starts_with("ralph: checkpoint"),
        "{}",
        dir.git(&["log"])
    );
    assert_eq!(
        dir.git(&["status", "--porcelain"]),
        "",
        "the checkpoint leaves a clean work tree"
    );
    assert!(
        !dir.git(&["ls-files"]).contains(".agent/state.json"),
        "runtime state must not be committed"
    );
}

/// Claude Code that lingers after its `result` (a `SessionEnd` hook that sleeps, as a slow hook or an MCP
/// server that does not stop would): ralph keeps the completed answer after the final-event grace instead
/// of waiting for the idle or iteration timeout and calling the iteration timed out.
#[test]
fn claude_lingering_after_its_result_still_completes_the_run() {
    let dir = TestDir::new();
    dir.write("PROMPT.md", "Say you are done.\n");
    dir.write(
        ".claude/settings.json",
        r#"{"hooks":{"SessionEnd":[{"hooks":[{"type":"command","command":"sleep 600","timeout":600}]}]}}"#,
    );
    let server = ModelServer::start(Script::always(Iteration::new([Turn::text(
        "All done.\nLOOP_COMPLETE",
    )])));

    let out = ralph(&dir, &server)
        .iteration_timeout(120)
        .max_iterations(1)
        .max_retries(0)
        .run();

    assert_eq!(out.code(), 0, "{}\n{}", out.dump(), server.log());
    let state = state(&dir);
    let records = iteration_records(&dir, &state);
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0]["outcome"]["status"], "success", "{}", records[0]);
    assert_eq!(records[0]["completed"], true, "{}", records[0]);
    assert_no_survivors(&dir);
}
