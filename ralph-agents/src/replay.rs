//! One replay harness for every recorded fixture (`tests/fixtures/<agent>/`): each stream is fed to its
//! agent's handler as the supervisor would feed it (stdout lines, then stderr lines, then the exit), and
//! the events and the classified outcome are snapshotted (`insta::glob!`, one snapshot per fixture).
//!
//! A fixture is `<name>.jsonl` (NDJSON agents) or `<name>.stdout` (plain-text agents), with an optional
//! `<name>.stderr`; `exits.json` in the same directory gives its exit code (`null`: killed by SIGKILL).
//! The directory is the agent's registry name; the handler comes from [`stream_for`], whose `match` on
//! [`AgentKind`] makes a new agent a compile error here. Each agent's `stream_tests` module adds the
//! assertions that are specific to it, through [`feed`].

use crate::lines::Line;
use crate::process::{ProcessExit, StreamHandler};
use crate::registry::AgentKind;
use ralph_core::{AgentEvent, AgentOutcome};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The workspace the fixtures were recorded in.
pub(crate) const RECORDED_WORKSPACE: &str = "/tmp/rec-ws";
/// 2026-11-30T08:04:00Z, shortly before the recordings were made: the clock of handlers that read
/// reset times.
pub(crate) const NOW: i64 = 1_796_025_840;

/// What a replay produced: every event, then the outcome.
#[derive(Debug, Serialize)]
pub(crate) struct Replay {
    pub(crate) events: Vec<AgentEvent>,
    pub(crate) outcome: AgentOutcome,
}

impl Replay {
    /// The tool calls, as `name: summary`.
    pub(crate) fn tools(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                AgentEvent::ToolUse { name, summary } => Some(format!("{name}: {summary}")),
                _ => None,
            })
            .collect()
    }
}

/// The fixture directory of agent `dir`.
fn fixtures(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir)
}

/// Feeds the fixture `dir/name` to `stream` and finishes with `exit_code` (`None`: killed by SIGKILL).
/// NDJSON fixtures lose their empty lines (the supervisor never passes an empty JSON line); plain-text
/// ones keep them, and their stderr comes first.
pub(crate) fn feed(
    stream: &mut dyn StreamHandler,
    dir: &str,
    name: &str,
    exit_code: Option<i32>,
) -> Replay {
    let base = fixtures(dir).join(name);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let jsonl = base.with_extension("jsonl");
    let plain = !jsonl.exists();
    let stdout_path = if plain {
        base.with_extension("stdout")
    } else {
        jsonl
    };
    let stdout =
        std::fs::read(&stdout_path).unwrap_or_else(|e| panic!("{}: {e}", stdout_path.display()));
    let stderr = std::fs::read(base.with_extension("stderr")).unwrap_or_default();
    let stderr = String::from_utf8_lossy(&stderr);
    let stderr_tail: Vec<String> = stderr
        .lines()
        .filter(|l| plain || !l.is_empty())
        .map(str::to_string)
        .collect();
    let feed_stderr = |stream: &mut dyn StreamHandler| {
        for line in &stderr_tail {
            stream.on_stderr(line, &tx);
        }
    };
    if plain {
        feed_stderr(stream);
    }
    for line in stdout.split(|&b| b == b'\n') {
        if plain || !line.is_empty() {
            stream.on_stdout(Line::new(line), &tx);
        }
    }
    if !plain {
        feed_stderr(stream);
    }
    let outcome = stream.finish(&ProcessExit {
        exit_code,
        signal: if exit_code.is_none() { Some(9) } else { None },
        stderr_tail,
        ..ProcessExit::default()
    });
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    Replay { events, outcome }
}

/// Replays the fixture `name` of agent `kind` through the handler of [`stream_for`], finishing with
/// `exit_code`.
pub(crate) fn replay(kind: AgentKind, name: &str, exit_code: Option<i32>) -> Replay {
    feed(stream_for(kind).as_mut(), kind.spec().name, name, exit_code)
}

/// A failure of `kind` with the HTTP status `api_status`.
pub(crate) fn failed(
    kind: ralph_core::FailureKind,
    api_status: Option<u16>,
) -> ralph_core::OutcomeStatus {
    ralph_core::OutcomeStatus::Failed { kind, api_status }
}

/// `check!(name, exit, status)`: replays the fixture `name` of the calling test module's `AGENT` (an
/// [`AgentKind`] constant it defines) with `exit`, asserts `status`, and gives the [`Replay`] for more
/// assertions. The snapshot is [`every_recorded_fixture_replays_to_its_snapshot`]'s.
macro_rules! check {
    ($name:literal, $exit:expr, $status:expr) => {{
        let r = $crate::replay::replay(AGENT, $name, $exit);
        assert_eq!(
            r.outcome.status, $status,
            "{}: {:?}",
            $name, r.outcome.message
        );
        r
    }};
}
pub(crate) use check;

/// The handler a recorded run of `kind` is replayed through: recorded workspace, the model the
/// recordings used (for prices), the clock at [`NOW`].
fn stream_for(kind: AgentKind) -> Box<dyn StreamHandler> {
    use jiff::Timestamp;
    let now = Timestamp::from_second(NOW).expect("a valid time");
    match kind {
        AgentKind::Claude => Box::new(crate::ClaudeStream::new(RECORDED_WORKSPACE)),
        AgentKind::Gemini => {
            Box::new(crate::GeminiStream::new(RECORDED_WORKSPACE).with_now(NOW as u64))
        }
        AgentKind::Codex => Box::new(
            crate::CodexStream::new(RECORDED_WORKSPACE, Some("gpt-5.5".into()))
                .with_clock(now, jiff::tz::TimeZone::UTC),
        ),
        AgentKind::Qwen => Box::new(crate::QwenStream::new(RECORDED_WORKSPACE)),
        AgentKind::Q => Box::new(crate::AmazonQStream::new(crate::AmazonQFlavor::Q).with_now(now)),
        AgentKind::Kiro => {
            Box::new(crate::AmazonQStream::new(crate::AmazonQFlavor::Kiro).with_now(now))
        }
        AgentKind::OpenCode => Box::new(crate::OpenCodeStream::new(
            RECORDED_WORKSPACE,
            Some("test/gpt-5".into()),
        )),
    }
}

/// The exit code `exits.json` of `dir` gives the fixture `name`.
fn exit_code(dir: &Path, name: &str) -> Option<i32> {
    let path = dir.join("exits.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let exits: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&text).expect("exits.json is a JSON object");
    let exit = exits
        .get(name)
        .unwrap_or_else(|| panic!("{}: no exit code for `{name}`", path.display()));
    exit.as_i64().map(|c| c as i32)
}

#[test]
fn every_recorded_fixture_replays_to_its_snapshot() {
    insta::glob!("../tests/fixtures", "*/*.{jsonl,stdout}", |path| {
        let dir = path.parent().expect("an agent directory");
        let agent = dir.file_name().and_then(|n| n.to_str()).expect("a name");
        let kind = AgentKind::from_name(agent)
            .unwrap_or_else(|| panic!("{agent}: not an agent of the registry"));
        let name = path.file_stem().and_then(|n| n.to_str()).expect("a name");
        let mut stream = stream_for(kind);
        let replay = feed(stream.as_mut(), agent, name, exit_code(dir, name));
        insta::assert_json_snapshot!(replay);
    });
}

#[test]
fn every_exit_code_names_a_fixture() {
    for dir in std::fs::read_dir(fixtures("")).unwrap().flatten() {
        let Ok(text) = std::fs::read_to_string(dir.path().join("exits.json")) else {
            continue;
        };
        let exits: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&text).unwrap();
        for name in exits.keys() {
            let base = dir.path().join(name);
            assert!(
                base.with_extension("jsonl").exists() || base.with_extension("stdout").exists(),
                "{}: `{name}` has no fixture",
                dir.path().display()
            );
        }
    }
}
