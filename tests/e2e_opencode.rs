//! End-to-end tests: the `ralph` binary runs the real OpenCode CLI (pinned `opencode-ai@1.18.33`, installed
//! from npm on first use) against a scripted OpenAI Responses server on 127.0.0.1, in a temporary git
//! repository with a fresh `HOME`. OpenCode is pointed at the server through `opencode.json` in
//! `$XDG_CONFIG_HOME` (a `test` provider using the bundled `@ai-sdk/openai`, see `HermeticEnv::opencode`),
//! with the switches that keep it offline; the key is given only as `OPENAI_API_KEY_FILE`, which ralph must
//! read and pass on. The agent performs real tool calls (`apply_patch`, `bash`); the server records every
//! request.
//!
//! Needs Node.js and npm (the first run installs `opencode-ai` into `<target>/agent-clis/`).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ralph_testkit::codex_opencode::TEST_KEY;
use ralph_testkit::openai_chat_server::invalid_api_key;
use ralph_testkit::openai_responses_server::{opencode_apply_patch_add, opencode_bash};
use ralph_testkit::{
    HermeticEnv, Iteration, RunOutput, Script, ScriptedServer, TestDir, Turn, Usage,
    install_opencode, procs, run_with_timeout,
};
use serde_json::Value;

/// Wall-clock limit for one `ralph` run; the run is killed and the test fails beyond it.
const RALPH_TIMEOUT: Duration = Duration::from_secs(60);
/// The model the tests ask for (`provider/model`): the `test` provider's `gpt-5`, which ralph prices as
/// `gpt-5` (the provider prefix is ignored). OpenCode offers GPT-5 models `apply_patch` instead of `write`.
const MODEL: &str = "test/gpt-5";

/// Runs `ralph run --agent opencode ... -- --model test/gpt-5` in the workspace with the hermetic
/// environment pointing at `server`.
fn ralph(
    dir: &TestDir,
    server: &ScriptedServer,
    max_iterations: u32,
    max_retries: u32,
) -> RunOutput {
    let env = HermeticEnv::opencode(&server.url(), &install_opencode(), dir.home())
        .set("RUST_BACKTRACE", "1");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ralph"));
    env.apply(&mut cmd).current_dir(dir.workspace());
    cmd.args(["run", "--agent", "opencode", "--prompt"])
        .arg(dir.path("PROMPT.md"))
        .arg("-C")
        .arg(dir.workspace());
    for (flag, value) in [
        ("--max-iterations", max_iterations),
        ("--max-retries", max_retries),
        ("--retry-delay", 0),
        ("--iteration-timeout", 60),
        ("--idle-timeout", 60),
        ("--max-runtime", 120),
    ] {
        cmd.arg(flag).arg(value.to_string());
    }
    cmd.args(["--", "--model", MODEL]);
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

fn iteration_records(dir: &TestDir, state: &Value) -> Vec<Value> {
    let path = dir
        .path(".agent/runs")
        .join(state["run_id"].as_str().expect("run_id"))
        .join("iterations.jsonl");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    text.lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// The four token kinds of a JSON `usage` object (ralph's state format).
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

/// The test key (given only as `OPENAI_API_KEY_FILE`) is in nothing ralph printed or wrote.
fn assert_key_not_leaked(dir: &TestDir, out: &RunOutput) {
    assert!(
        !out.stdout.contains(TEST_KEY) && !out.stderr.contains(TEST_KEY),
        "the key was printed"
    );
    let mut pending = vec![dir.path(".agent")];
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            pending.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !String::from_utf8_lossy(&bytes).contains(TEST_KEY),
                "the key is in {}",
                path.display()
            );
        }
    }
}

fn assert_no_survivors(dir: &TestDir) {
    let left = procs::wait_until_gone(dir.root(), Duration::from_secs(2));
    assert!(left.is_empty(), "processes outlived ralph: {left:#?}");
}

#[test]
fn three_iterations_patch_run_a_command_complete_and_account_usage_exactly() {
    let started = Instant::now();
    let dir = TestDir::new();
    dir.write(
        "PROMPT.md",
        "Create hello.txt, then record the build in it, then finish.\n",
    );
    // Scripted in Anthropic kinds (uncached input, output, cache write, cache read); the server sends the
    // Responses API's totals (input = uncached + cached) and ralph maps OpenCode's report back. OpenCode's
    // OpenAI provider does not read cache writes: they stay 0 here.
    let iterations = [
        Iteration::new([
            Turn::tool(opencode_apply_patch_add(
                "hello.txt",
                "hello from iteration 1\n",
            ))
            .usage(Usage::new(1000, 40, 0, 0)),
            Turn::text("Created hello.txt.").usage(Usage::new(1100, 15, 0, 300)),
        ]),
        Iteration::new([
            Turn::tool(opencode_bash(
                "echo scripted >> hello.txt && echo built > out.txt",
                "record the build",
            ))
            .usage(Usage::new(1200, 30, 0, 350)),
            Turn::text("Recorded the build.").usage(Usage::new(1300, 12, 0, 400)),
        ]),
        Iteration::new([
            Turn::text("Everything is done and verified.\nLOOP_COMPLETE")
                .usage(Usage::new(1400, 9, 0, 450)),
        ]),
    ];
    let scripted: Vec<Usage> = iterations.iter().map(Iteration::usage).collect();
    let server = ScriptedServer::openai_responses(Script::new(iterations));

    let out = ralph(&dir, &server, 10, 0);

    assert_eq!(out.code(), 0, "{}\n{}", out.dump(), server.log());
    assert_eq!(
        server.conversations(),
        3,
        "exactly three agent runs\n{}",
        server.log()
    );
    assert!(server.unscripted().is_empty(), "{}", server.log());
    assert_eq!(dir.read("hello.txt"), "hello from iteration 1\nscripted\n");
    assert_eq!(dir.read("out.txt"), "built\n");

    let state = read_json(&dir.path(".agent/state.json"));
    assert_eq!(state["status"], "finished", "{state:#}");
    assert_eq!(state["stop_reason"]["reason"], "completed", "{state:#}");
    assert_eq!(state["iteration"], 3, "{state:#}");
    let records = iteration_records(&dir, &state);
    assert_eq!(records.len(), 3, "{records:#?}");
    for (i, record) in records.iter().enumerate() {
        assert_eq!(record["outcome"]["status"], "success", "{record}");
        assert_eq!(
            usage_of(&record["usage"]),
            scripted[i],
            "iteration {}: {record}",
            i + 1
        );
    }
    let total: Usage = scripted.iter().copied().sum();
    assert_eq!(usage_of(&state["usage"]), total, "{state:#}");
    assert_eq!(
        state["cost_estimated"], true,
        "OpenCode reports cost 0 for an unpriced model: {state:#}"
    );
    let cost = state["cost_usd"].as_f64().expect("cost_usd");
    // gpt-5 prices per million tokens: $1.25 input and cache write, $10 output, $0.125 cache read.
    let expected = (total.input_tokens as f64 * 1.25
        + total.cache_creation_input_tokens as f64 * 1.25
        + total.output_tokens as f64 * 10.0
        + total.cache_read_input_tokens as f64 * 0.125)
        / 1e6;
    assert!(
        cost > 0.0 && (cost - expected).abs() < 1e-9,
        "{cost} != {expected}"
    );
    assert_key_not_leaked(&dir, &out);
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
    let out = ralph(&dir, &server, 10, 1);

    assert_eq!(out.code(), 1, "{}", out.dump());
    assert_eq!(
        server.conversations(),
        2,
        "one run and one retry\n{}",
        server.log()
    );
    assert!(
        out.stderr.contains("401"),
        "stderr does not name the HTTP 401:\n{}",
        out.stderr
    );
    let state = read_json(&dir.path(".agent/state.json"));
    assert_eq!(
        state["stop_reason"]["reason"], "too_many_failures",
        "{state:#}"
    );
    for record in iteration_records(&dir, &state) {
        assert_eq!(record["outcome"]["status"], "failed", "{record}");
        assert_eq!(record["outcome"]["kind"], "auth", "{record}");
    }
    assert_no_survivors(&dir);
}
