//! End-to-end tests of the fallback chain `--agent claude,gemini` with the real CLIs: when Claude Code is
//! rate limited (its scripted Anthropic server answers 429 `rate_limit_error`) or not installed, Gemini CLI
//! (against its scripted Gemini API server) takes over and completes the task.
//!
//! Needs Node.js and npm (the first run installs both CLIs into `<target>/agent-clis/`).

use std::time::Duration;

use ralph_testkit::gemini_server::write_file;
use ralph_testkit::{
    ApiError, HermeticEnv, Iteration, ModelServer, RalphRun, RunOutput, Script, ScriptedServer,
    TestDir, Turn, install_claude, install_gemini, iteration_records, state,
};

/// `ralph.yml` of the tests: the arguments after `--` go to the first agent of a chain only, so Gemini's
/// model comes from its adapter settings.
const CONFIG: &str = "adapters:\n  gemini:\n    model: gemini-2.5-flash\n";

/// Runs `ralph run --agent claude,gemini -c <root>/ralph.yml ... -- --model claude-sonnet-4-5` with `env`.
fn ralph(dir: &TestDir, env: HermeticEnv) -> RunOutput {
    let config = dir.root().join("ralph.yml");
    std::fs::write(&config, CONFIG).expect("write ralph.yml");
    RalphRun::new(env!("CARGO_BIN_EXE_ralph"), "claude,gemini", dir, env)
        .ralph_args(["-c"])
        .ralph_args([&config])
        .max_iterations(5)
        .without_idle_timeout()
        .agent_args(["--model", "claude-sonnet-4-5"])
        .timeout(Duration::from_secs(90))
        .run()
}

/// Two Gemini iterations: write a file, then complete.
fn gemini_task(dir: &TestDir) -> Script {
    Script::new([
        Iteration::new([
            Turn::tool(write_file(dir.path("done.txt"), "written by gemini\n")),
            Turn::text("Wrote done.txt."),
        ]),
        Iteration::new([Turn::text("Verified.\nLOOP_COMPLETE")]),
    ])
}

#[test]
fn a_rate_limited_claude_hands_over_to_gemini_which_completes_the_task() {
    let dir = TestDir::new();
    dir.write("PROMPT.md", "Write done.txt, then finish.\n");
    let claude = ModelServer::start(Script::always(Iteration::error(ApiError::rate_limited(30))));
    let gemini = ScriptedServer::gemini(gemini_task(&dir));
    let env = HermeticEnv::claude(&claude.url(), &install_claude(), dir.home()).with_gemini(
        &gemini.url(),
        &install_gemini(),
        dir.home(),
    );

    let out = ralph(&dir, env);

    assert_eq!(
        out.code(),
        0,
        "{}\n{}\n{}",
        out.dump(),
        claude.log(),
        gemini.log()
    );
    assert_eq!(
        claude.sessions().len(),
        1,
        "claude tried once; the switch is sticky\n{}",
        claude.log()
    );
    assert_eq!(
        gemini.conversations(),
        2,
        "gemini served both iterations\n{}",
        gemini.log()
    );
    assert_eq!(dir.read("done.txt"), "written by gemini\n");
    assert!(
        out.stderr.contains("falling back to gemini"),
        "stderr does not show the switch:\n{}",
        out.stderr
    );
    let state = state(&dir);
    assert_eq!(state["stop_reason"]["reason"], "completed", "{state:#}");
    let records = iteration_records(&dir, &state);
    assert_eq!(records.len(), 2, "{records:#?}");
    for record in &records {
        assert_eq!(
            record["agent"], "gemini",
            "the iteration ran on gemini: {record}"
        );
    }
}

#[test]
fn a_missing_claude_is_skipped_and_gemini_runs_the_task() {
    let dir = TestDir::new();
    dir.write("PROMPT.md", "Write done.txt, then finish.\n");
    let gemini = ScriptedServer::gemini(gemini_task(&dir));
    // No claude on PATH.
    let env = HermeticEnv::gemini(&gemini.url(), &install_gemini(), dir.home());

    let out = ralph(&dir, env);

    assert_eq!(out.code(), 0, "{}\n{}", out.dump(), gemini.log());
    assert_eq!(gemini.conversations(), 2, "{}", gemini.log());
    assert_eq!(dir.read("done.txt"), "written by gemini\n");
    assert!(
        out.stderr.contains("claude"),
        "the skipped agent is named:\n{}",
        out.stderr
    );
}
