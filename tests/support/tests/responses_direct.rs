//! The real Codex and OpenCode CLIs (pinned, installed from npm on first use) against the scripted OpenAI
//! Responses server, without ralph: the protocol the end-to-end tests rely on.

use std::process::Command;
use std::time::Duration;

use ralph_testkit::codex_opencode::TEST_KEY;
use ralph_testkit::openai_responses_server::{
    apply_patch_add, exec_command, opencode_apply_patch_add, opencode_bash,
};
use ralph_testkit::*;

#[test]
fn codex_plays_a_patch_a_command_and_a_final_message() {
    let dir = TestDir::new();
    let server = ScriptedServer::openai_responses(Script::new([Iteration::new([
        Turn::tool(apply_patch_add("hello.txt", "hello\n")),
        Turn::tool(exec_command("echo more >> hello.txt")),
        Turn::text("Done.\nLOOP_COMPLETE").usage(Usage::new(100, 5, 20, 30)),
    ])]));
    let env = HermeticEnv::codex(&server.url(), &install_codex(), dir.home())
        .set("OPENAI_API_KEY", TEST_KEY);
    let mut cmd = Command::new("codex");
    env.apply(&mut cmd).current_dir(dir.workspace());
    cmd.args([
        "exec",
        "--json",
        "--dangerously-bypass-approvals-and-sandbox",
        "--skip-git-repo-check",
        "-m",
        "gpt-5.5",
        "-",
    ]);
    let out = run_with_timeout(
        &mut cmd,
        Some(b"say hello".to_vec()),
        Duration::from_secs(30),
        dir.root(),
    );

    assert_eq!(out.code(), 0, "{}\n{}", out.dump(), server.log());
    assert_eq!(dir.read("hello.txt"), "hello\nmore\n");
    assert_eq!(server.conversations(), 1, "{}", server.log());
    let last = out.stdout.lines().last().unwrap_or("");
    assert!(
        last.contains(r#""type":"turn.completed""#) && last.contains(r#""cached_input_tokens":30"#),
        "{last}"
    );
    let first = &server.iteration_requests(0)[0];
    let text = first.body.as_ref().unwrap()["input"].to_string();
    assert!(
        text.contains("say hello"),
        "the prompt read on stdin reaches the model"
    );
}

#[test]
fn opencode_plays_a_patch_a_command_and_a_final_message() {
    let dir = TestDir::new();
    let server = ScriptedServer::openai_responses(Script::new([Iteration::new([
        Turn::tool(opencode_apply_patch_add("hello.txt", "hello\n")),
        Turn::tool(opencode_bash("echo more >> hello.txt", "append")),
        Turn::text("Done.\nLOOP_COMPLETE"),
    ])]));
    let env = HermeticEnv::opencode(&server.url(), &install_opencode(), dir.home())
        .set("OPENAI_API_KEY", TEST_KEY);
    let mut cmd = Command::new("opencode");
    env.apply(&mut cmd).current_dir(dir.workspace());
    cmd.args(["run", "--format", "json", "--auto", "--model", "test/gpt-5"]);
    let out = run_with_timeout(
        &mut cmd,
        Some(b"say \"hello\" to $HOME".to_vec()),
        Duration::from_secs(60),
        dir.root(),
    );

    assert_eq!(out.code(), 0, "{}\n{}", out.dump(), server.log());
    assert_eq!(dir.read("hello.txt"), "hello\nmore\n", "{}", out.stdout);
    assert_eq!(server.conversations(), 1, "{}", server.log());
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.kind == RequestKind::Auxiliary),
        "the title request\n{}",
        server.log()
    );
    let first = &server.iteration_requests(0)[0];
    let text = first.body.as_ref().unwrap()["input"].to_string();
    assert!(
        text.contains(r#"say \"hello\" to $HOME"#),
        "the prompt on stdin arrives verbatim: {text}"
    );
}
