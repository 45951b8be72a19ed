//! The scripted model server against the real Claude Code CLI, without ralph: proves the server speaks the
//! protocol Claude Code 2.1.197 expects, and pins down what Claude Code reports back.

use std::process::Command;
use std::time::Duration;

use ralph_testkit::*;
use serde_json::Value;

/// Runs `claude -p` headless in `dir`'s workspace against `server`, `prompt` on stdin; returns the output and
/// the stream-json events.
fn run_claude(dir: &TestDir, server: &ModelServer, prompt: &str) -> (RunOutput, Vec<Value>) {
    let claude_bin = install_claude();
    let env = HermeticEnv::claude(&server.url(), &claude_bin, dir.home());
    let mut cmd = Command::new(claude_bin.join("claude"));
    env.apply(&mut cmd).current_dir(dir.workspace()).args([
        "-p",
        "--output-format",
        "stream-json",
        "--verbose",
        "--dangerously-skip-permissions",
        "--model",
        "claude-sonnet-4-5",
    ]);
    let out = run_with_timeout(
        &mut cmd,
        Some(prompt.as_bytes().to_vec()),
        Duration::from_secs(60),
        dir.root(),
    );
    let events = out
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    (out, events)
}

fn result_event(events: &[Value]) -> &Value {
    events
        .iter()
        .rev()
        .find(|e| e["type"] == "result")
        .expect("a result event")
}

#[test]
fn claude_writes_a_file_runs_a_command_and_reports_the_scripted_usage() {
    let dir = TestDir::new();
    let turns = [
        Turn::tool(Block::write(
            dir.path("notes/hello.txt"),
            "hello from the Write tool\n",
        ))
        .usage(Usage::new(1000, 50, 200, 300)),
        Turn::tool(Block::bash(
            "echo scripted >> notes/hello.txt && echo ran > out.txt",
            "append and record",
        ))
        .usage(Usage::new(1100, 60, 0, 500)),
        Turn::text("All done.\nLOOP_COMPLETE").usage(Usage::new(1200, 70, 10, 800)),
    ];
    let iteration = Iteration::new(turns.clone());
    let expected = iteration.usage();
    let server = ModelServer::start(Script::new([iteration]));

    let (out, events) = run_claude(&dir, &server, "Write the notes.");

    assert_eq!(out.code(), 0, "{}\n{}", out.dump(), server.log());
    assert_eq!(
        dir.read("notes/hello.txt"),
        "hello from the Write tool\nscripted\n"
    );
    assert_eq!(dir.read("out.txt"), "ran\n");
    assert_eq!(server.sessions().len(), 1, "{}", server.log());
    assert!(server.unscripted().is_empty(), "{}", server.log());
    let turns_seen: Vec<_> = server
        .iteration_requests(0)
        .iter()
        .map(|r| r.kind.clone())
        .collect();
    assert_eq!(
        turns_seen,
        (0..3)
            .map(|turn| RequestKind::Conversation { iteration: 0, turn })
            .collect::<Vec<_>>(),
        "{}",
        server.log()
    );
    // The prompt from stdin is the last text block of the first user message.
    assert!(
        server.iteration_requests(0)[0]
            .first_user_text()
            .unwrap()
            .ends_with("Write the notes.")
    );

    let result = result_event(&events);
    assert_eq!(result["is_error"], false, "{result}");
    assert_eq!(result["num_turns"], 3, "{result}");
    assert_eq!(result["result"], "All done.\nLOOP_COMPLETE");
    // Claude sums every turn: input and cache tokens from `message_start`, output tokens from `message_delta`.
    let usage = &result["usage"];
    assert_eq!(usage["input_tokens"], expected.input_tokens, "{result}");
    assert_eq!(usage["output_tokens"], expected.output_tokens, "{result}");
    assert_eq!(
        usage["cache_creation_input_tokens"], expected.cache_creation_input_tokens,
        "{result}"
    );
    assert_eq!(
        usage["cache_read_input_tokens"], expected.cache_read_input_tokens,
        "{result}"
    );
    let cost = result["total_cost_usd"].as_f64().expect("total_cost_usd");
    assert!(
        (cost - expected.sonnet_4_5_cost_usd()).abs() < 1e-9,
        "cost {cost} vs {}",
        expected.sonnet_4_5_cost_usd()
    );
    // The per-message `assistant` events carry `message_start`'s usage: their output tokens are not final.
    let assistant_output: Vec<_> = events
        .iter()
        .filter(|e| e["type"] == "assistant")
        .map(|e| e["message"]["usage"]["output_tokens"].as_u64().unwrap())
        .collect();
    assert_eq!(assistant_output, vec![1, 1, 1]);
}

#[test]
fn claude_reports_a_401_as_an_error_result_after_one_request() {
    let dir = TestDir::new();
    let server = ModelServer::start(Script::always(Iteration::error(ApiError::unauthorized())));

    let (out, events) = run_claude(&dir, &server, "Anything.");

    assert_eq!(out.code(), 1, "{}", out.dump());
    let result = result_event(&events);
    assert_eq!(result["is_error"], true, "{result}");
    assert_eq!(result["api_error_status"], 401, "{result}");
    // Claude Code words a 401 its own way; the status is only in `api_error_status`.
    assert_eq!(
        result["result"], "Invalid API key · Fix external API key",
        "{result}"
    );
    assert_eq!(
        server.iteration_requests(0).len(),
        1,
        "CLAUDE_CODE_MAX_RETRIES=0 means one try\n{}",
        server.log()
    );
}

#[test]
fn a_hanging_model_keeps_claude_waiting_until_killed() {
    let dir = TestDir::new();
    let server = ModelServer::start(Script::always(Iteration::hang()));
    let env = HermeticEnv::claude(&server.url(), &install_claude(), dir.home());
    let mut cmd = Command::new(install_claude().join("claude"));
    env.apply(&mut cmd)
        .current_dir(dir.workspace())
        .args([
            "-p",
            "--output-format",
            "stream-json",
            "--verbose",
            "--dangerously-skip-permissions",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"Wait forever.").unwrap();
    }
    assert!(
        server.wait_for(Duration::from_secs(30), |r| r
            .iter()
            .any(|r| r.answer == Answer::Hang)),
        "{}",
        server.log()
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        child.try_wait().unwrap(),
        None,
        "claude gave up on a hanging model within 2 s"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
