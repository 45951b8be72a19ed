//! The `claude_git` example, run as a process the way `cargo run --example claude_git DIR` runs it, with
//! the real Claude Code CLI (pinned, installed from npm on first use) against the scripted model server
//! of `ralph-testkit` on 127.0.0.1, in an environment that holds nothing of the developer's.

use ralph_testkit::{
    Block, HermeticEnv, Iteration, ModelServer, Script, TestDir, Turn, install_claude,
    run_with_timeout,
};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// Builds the example (a no-op when `cargo test` already did, with the same target directory) and
/// returns its executable, as cargo reports it.
fn example_executable(name: &str) -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--offline", "--quiet", "--message-format=json"])
        .args(["-p", "ralph-examples", "--example", name])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo build");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "cargo build --example {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == name)
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("no executable for example {name} in:\n{stdout}"))
}

#[test]
fn claude_git_completes_the_task_with_the_real_claude_cli_and_commits_a_checkpoint() {
    let example = example_executable("claude_git");
    let dir = TestDir::without_git();
    let server = ModelServer::start(Script::new([Iteration::new([
        Turn::tool(Block::write(dir.path("hello.txt"), "Hello, world!\n")),
        Turn::text("Created hello.txt.\nLOOP_COMPLETE"),
    ])]));
    let claude = install_claude();
    let env = HermeticEnv::claude(&server.url(), &claude, dir.home())
        .set("CLAUDE", claude.join("claude"));
    let mut cmd = Command::new(&example);
    env.apply(&mut cmd).arg(dir.workspace());

    let out = run_with_timeout(&mut cmd, None, Duration::from_secs(120), dir.root());

    let context = format!("{}\n{}", out.dump(), server.log());
    assert_eq!(out.code(), 0, "{context}");
    assert!(
        out.stdout
            .contains("completed in iteration 1 (completion promise) (1 iterations"),
        "{context}"
    );
    assert_eq!(server.sessions().len(), 1, "{context}");
    let prompt = server.iteration_requests(0)[0]
        .first_user_text()
        .unwrap_or_default();
    assert!(prompt.contains("Create hello.txt"), "{prompt}");
    assert_eq!(dir.read("hello.txt"), "Hello, world!\n");
    // The workspace became a repository whose only commit is the final checkpoint, with the file.
    let log = dir.git(&["log", "--format=%s%n%b"]);
    assert!(log.starts_with("ralph: checkpoint 1 (run "), "{log}");
    assert!(log.contains("Ralph-Final: true"), "{log}");
    assert_eq!(dir.git(&["rev-list", "--count", "HEAD"]).trim(), "1");
    assert_eq!(dir.git(&["show", "HEAD:hello.txt"]), "Hello, world!\n");
    assert!(
        dir.path(".agent/state.json").is_file(),
        "the run state is kept"
    );
}
