//! End-to-end tests: the `ralph` binary runs the real Gemini CLI (pinned, installed from npm on first use)
//! against a scripted Gemini API server on 127.0.0.1, in a temporary git repository with a fresh `HOME`.
//! The agent performs real tool calls (`write_file`, `run_shell_command`); the server records every request.
//!
//! Needs Node.js and npm (the first run installs `@google/gemini-cli` into `<target>/agent-clis/`).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ralph_testkit::gemini_server::{
    api_key_invalid, daily_quota_exhausted, run_shell_command, write_file,
};
use ralph_testkit::{
    HermeticEnv, Iteration, RunOutput, Script, ScriptedServer, TestDir, Turn, Usage,
    install_gemini, procs, run_with_timeout,
};
use serde_json::Value;

/// Wall-clock limit for one `ralph` run; the run is killed and the test fails beyond it.
const RALPH_TIMEOUT: Duration = Duration::from_secs(60);
/// The model the tests ask for: in ralph's price table, so the cost estimate is non-zero.
const MODEL: &str = "gemini-2.5-flash";

/// Runs `ralph run --agent gemini ... -- -m gemini-2.5-flash` in the workspace with the hermetic
/// environment pointing at `server`.
fn ralph(
    dir: &TestDir,
    server: &ScriptedServer,
    max_iterations: u32,
    max_retries: u32,
) -> RunOutput {
    let env = HermeticEnv::gemini(&server.url(), &install_gemini(), dir.home())
        .set("RUST_BACKTRACE", "1");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ralph"));
    env.apply(&mut cmd).current_dir(dir.workspace());
    cmd.args(["run", "--agent", "gemini", "--prompt"])
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
    cmd.args(["--", "-m", MODEL]);
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

/// The Anthropic-style usage kinds of a JSON `usage` object (ralph's state format).
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
            Turn::tool(write_file(
                dir.path("hello.txt"),
                "hello from iteration 1\n",
            ))
            .usage(Usage::new(1000, 40, 0, 300)),
            Turn::text("Created hello.txt.").usage(Usage::new(1100, 15, 0, 0)),
        ]),
        Iteration::new([
            Turn::tool(run_shell_command(
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
    let server = ScriptedServer::gemini(Script::new(iterations));

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
        assert_eq!(record["cost_estimated"], true, "{record}");
    }
    let total: Usage = scripted.iter().copied().sum();
    assert_eq!(usage_of(&state["usage"]), total, "{state:#}");
    assert_eq!(
        state["cost_estimated"], true,
        "Gemini CLI reports no cost: {state:#}"
    );
    let cost = state["cost_usd"].as_f64().expect("cost_usd");
    // gemini-2.5-flash: $0.30 input, $2.50 output, $0.075 cache read per million tokens.
    let expected = (total.input_tokens as f64 * 0.3
        + total.output_tokens as f64 * 2.5
        + total.cache_read_input_tokens as f64 * 0.075)
        / 1e6;
    assert!(
        cost > 0.0 && (cost - expected).abs() < 1e-9,
        "cost {cost} != {expected}"
    );
    assert_no_survivors(&dir);
}

#[test]
fn an_invalid_api_key_stops_the_run_after_max_retries_and_names_the_cause() {
    let dir = TestDir::new();
    dir.write("PROMPT.md", "Do something.\n");
    let server = ScriptedServer::gemini(Script::always(Iteration::error(api_key_invalid())));

    let out = ralph(&dir, &server, 10, 1);

    assert_eq!(out.code(), 1, "{}", out.dump());
    assert_eq!(
        server.conversations(),
        2,
        "one run and one retry\n{}",
        server.log()
    );
    assert!(
        out.stderr.contains("API key not valid"),
        "stderr does not name the authentication failure:\n{}",
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

#[test]
fn a_daily_quota_error_is_a_rate_limit_that_waits_for_the_reset_when_it_fits() {
    let dir = TestDir::new();
    dir.write("PROMPT.md", "Finish.\n");
    let server = ScriptedServer::gemini(Script::new([
        Iteration::error(daily_quota_exhausted(2)),
        Iteration::new([Turn::text("Done.\nLOOP_COMPLETE")]),
    ]));

    let out = ralph(&dir, &server, 5, 0);

    assert_eq!(out.code(), 0, "{}\n{}", out.dump(), server.log());
    assert_eq!(server.conversations(), 2, "{}", server.log());
    let state = read_json(&dir.path(".agent/state.json"));
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
/// 100 KiB argument limit, so ralph passes it on stdin with `-p ""`.
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
    let server = ScriptedServer::gemini(Script::new([Iteration::new([Turn::text(
        "Read it all.\nLOOP_COMPLETE",
    )])]));

    let out = ralph(&dir, &server, 3, 0);

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
