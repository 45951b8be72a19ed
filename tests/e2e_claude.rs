//! End-to-end tests: the `ralph` binary runs the real Claude Code CLI (pinned, installed from npm on first use)
//! against a scripted Anthropic model server on 127.0.0.1, in a temporary git repository with a fresh `HOME`.
//! The agent performs real tool calls (writes files, runs shell commands); the server records every request.
//!
//! Needs Node.js and npm (the first run installs `@anthropic-ai/claude-code` into `<target>/agent-clis/`).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ralph_testkit::{
    Answer, ApiError, Block, HermeticEnv, Iteration, ModelServer, RunOutput, Script, TestDir, Turn,
    Usage, install_claude, procs, run_with_timeout,
};
use serde_json::Value;

/// Wall-clock limit for one `ralph` run; the run is killed and the test fails beyond it.
const RALPH_TIMEOUT: Duration = Duration::from_secs(60);

/// The limits a test runs ralph with (seconds where a duration).
struct Limits {
    max_iterations: u32,
    max_retries: u32,
    iteration_timeout: u32,
    idle_timeout: u32,
    max_runtime: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_iterations: 10,
            max_retries: 0,
            iteration_timeout: 60,
            idle_timeout: 60,
            max_runtime: 120,
        }
    }
}

/// Runs `ralph run --agent claude --prompt <ws>/PROMPT.md -C <ws> <limits> -- --model claude-sonnet-4-5` in the
/// workspace with the hermetic environment pointing at `server`.
fn ralph(dir: &TestDir, server: &ModelServer, limits: &Limits) -> RunOutput {
    let env = HermeticEnv::claude(&server.url(), &install_claude(), dir.home())
        .set("RUST_BACKTRACE", "1");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ralph"));
    env.apply(&mut cmd).current_dir(dir.workspace());
    cmd.arg("run")
        .args(["--agent", "claude"])
        .arg("--prompt")
        .arg(dir.path("PROMPT.md"))
        .arg("-C")
        .arg(dir.workspace());
    for (flag, value) in [
        ("--max-iterations", limits.max_iterations),
        ("--max-retries", limits.max_retries),
        ("--retry-delay", 0),
        ("--iteration-timeout", limits.iteration_timeout),
        ("--idle-timeout", limits.idle_timeout),
        ("--max-runtime", limits.max_runtime),
    ] {
        cmd.arg(flag).arg(value.to_string());
    }
    cmd.args(["--", "--model", "claude-sonnet-4-5"]);
    let out = run_with_timeout(&mut cmd, None, RALPH_TIMEOUT, dir.root());
    eprintln!(
        "ralph finished: exit {} in {:.1?}\n{}",
        out.code(),
        out.elapsed,
        out.stderr
    );
    out
}

fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}\n{text}", path.display()))
}

fn read_jsonl(path: &Path) -> Vec<Value> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// `.agent/state.json`.
fn state(dir: &TestDir) -> Value {
    read_json(&dir.path(".agent/state.json"))
}

/// `.agent/runs/<run_id>/`.
fn run_dir(dir: &TestDir, state: &Value) -> std::path::PathBuf {
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

/// The four Anthropic usage kinds of a JSON `usage` object.
fn usage_of(v: &Value) -> Usage {
    let get = |k: &str| {
        v[k].as_u64()
            .unwrap_or_else(|| panic!("usage field {k} missing in {v}"))
    };
    Usage::new(
        get("input_tokens"),
        get("output_tokens"),
        get("cache_creation_input_tokens"),
        get("cache_read_input_tokens"),
    )
}

fn assert_close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() < 1e-9, "{what}: {a} != {b}");
}

/// No process started for this test (cwd, command line or environment in its directory) is still alive.
fn assert_no_survivors(dir: &TestDir) {
    let left = procs::wait_until_gone(dir.root(), Duration::from_secs(2));
    assert!(left.is_empty(), "processes outlived ralph: {left:#?}");
}

#[test]
fn three_iterations_write_run_a_command_complete_and_account_usage_exactly() {
    let dir = TestDir::new();
    dir.write(
        "PROMPT.md",
        "Create hello.txt, then record the build in it, then finish.\n",
    );
    let iterations = [
        Iteration::new([
            Turn::tool(Block::write(
                dir.path("hello.txt"),
                "hello from iteration 1\n",
            ))
            .usage(Usage::new(1000, 40, 300, 0)),
            Turn::text("Created hello.txt.").usage(Usage::new(1100, 15, 0, 300)),
        ]),
        Iteration::new([
            Turn::tool(Block::bash(
                "echo scripted >> hello.txt && echo built > out.txt",
                "record the build",
            ))
            .usage(Usage::new(1200, 30, 0, 350)),
            Turn::text("Recorded the build.").usage(Usage::new(1300, 12, 25, 400)),
        ]),
        Iteration::new([
            Turn::text("Everything is done and verified.\nLOOP_COMPLETE")
                .usage(Usage::new(1400, 9, 0, 450)),
        ]),
    ];
    let scripted: Vec<Usage> = iterations.iter().map(Iteration::usage).collect();
    let server = ModelServer::start(Script::new(iterations));

    let out = ralph(&dir, &server, &Limits::default());

    assert_eq!(out.code(), 0, "{}\n{}", out.dump(), server.log());
    assert_eq!(
        server.sessions().len(),
        3,
        "exactly three agent runs\n{}",
        server.log()
    );
    assert!(server.unscripted().is_empty(), "{}", server.log());
    assert_eq!(dir.read("hello.txt"), "hello from iteration 1\nscripted\n");
    assert_eq!(dir.read("out.txt"), "built\n");

    let state = state(&dir);
    assert_eq!(state["status"], "finished", "{state:#}");
    assert_eq!(state["stop_reason"]["reason"], "completed", "{state:#}");
    assert_eq!(state["iteration"], 3, "{state:#}");
    let records = read_jsonl(&run_dir(&dir, &state).join("iterations.jsonl"));
    assert_eq!(records.len(), 3, "{records:#?}");
    let mut result_cost = 0.0;
    let mut record_cost = 0.0;
    for (i, record) in records.iter().enumerate() {
        let result = claude_result(&dir, &state, i + 1);
        assert_eq!(record["iteration"], i + 1, "{record}");
        assert_eq!(record["outcome"]["status"], "success", "{record}");
        // Claude Code sums its turns (input and cache tokens of `message_start`, output of `message_delta`).
        assert_eq!(
            usage_of(&result["usage"]),
            scripted[i],
            "iteration {} result event",
            i + 1
        );
        assert_eq!(
            usage_of(&record["usage"]),
            scripted[i],
            "iteration {} record: {record}",
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
    assert_eq!(usage_of(&state["usage"]), total, "{state:#}");
    assert_eq!(
        state["tokens_total"],
        total.input_tokens + total.output_tokens + total.cache_creation_input_tokens,
        "tokens_total counts input, output and cache creation (not cache reads): {state:#}"
    );
    let cost = state["cost_usd"].as_f64().expect("cost_usd");
    assert!(cost > 0.0, "{state:#}");
    assert_close(cost, result_cost, "state cost = sum of result events");
    assert_close(cost, record_cost, "state cost = sum of iteration records");
    assert_close(
        cost,
        total.sonnet_4_5_cost_usd(),
        "Claude's price for claude-sonnet-4-5",
    );
    assert_no_survivors(&dir);
}

#[test]
fn the_promise_inside_a_sentence_does_not_complete_the_run() {
    let dir = TestDir::new();
    dir.write("PROMPT.md", "Keep working.\n");
    let server = ModelServer::start(Script::always(Iteration::new([Turn::text(
        "Not finished yet. I will print LOOP_COMPLETE when done.",
    )])));

    let out = ralph(
        &dir,
        &server,
        &Limits {
            max_iterations: 2,
            ..Limits::default()
        },
    );

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

    let out = ralph(
        &dir,
        &server,
        &Limits {
            max_retries: 2,
            ..Limits::default()
        },
    );

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
    let records = read_jsonl(&run_dir(&dir, &state).join("iterations.jsonl"));
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

    let out = ralph(
        &dir,
        &server,
        &Limits {
            iteration_timeout: 3,
            max_retries: 0,
            ..Limits::default()
        },
    );

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
    let records = read_jsonl(&run_dir(&dir, &state).join("iterations.jsonl"));
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

    let out = ralph(&dir, &server, &Limits::default());

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

    let out = ralph(&dir, &server, &Limits::default());

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
