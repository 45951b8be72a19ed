//! What `ralph run` left behind in a [`TestDir`] (`.agent/state.json`, the run's `iterations.jsonl`), and the
//! checks the end-to-end tests share.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::{ModelServer, RunOutput, ScriptedServer, TestDir, Usage, procs};

/// The JSON document at `path`; panics naming the file (and showing the text) when unreadable or invalid.
pub fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}\n{text}", path.display()))
}

/// `.agent/state.json`.
pub fn state(dir: &TestDir) -> Value {
    read_json(&dir.path(".agent/state.json"))
}

/// The iteration records of the run `state` describes: `.agent/runs/<run_id>/iterations.jsonl`, one JSON
/// object per line (a line that is not JSON, blank ones included, fails the test).
pub fn iteration_records(dir: &TestDir, state: &Value) -> Vec<Value> {
    let path = dir
        .path(".agent/runs")
        .join(state["run_id"].as_str().expect("run_id in state.json"))
        .join("iterations.jsonl");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    text.lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// The four Anthropic usage kinds of a JSON `usage` object (ralph's state format, and Claude's); panics when
/// one is missing.
pub fn usage_of(v: &Value) -> Usage {
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

/// The price of `usage` in US dollars at `per_million` dollars per million input, output, cache-write and
/// cache-read tokens.
pub fn cost_usd(usage: Usage, per_million: [f64; 4]) -> f64 {
    (usage.input_tokens as f64 * per_million[0]
        + usage.output_tokens as f64 * per_million[1]
        + usage.cache_creation_input_tokens as f64 * per_million[2]
        + usage.cache_read_input_tokens as f64 * per_million[3])
        / 1e6
}

/// No process started for this test (cwd, command line or environment in its directory) is alive 2 s on.
pub fn assert_no_survivors(dir: &TestDir) {
    let left = procs::wait_until_gone(dir.root(), Duration::from_secs(2));
    assert!(left.is_empty(), "processes outlived ralph: {left:#?}");
}

/// `secret` (say a key given only as a `NAME_FILE`) is in nothing ralph printed (stdout, stderr) or wrote
/// (any file under `.agent/`).
pub fn assert_not_leaked(secret: &str, dir: &TestDir, out: &RunOutput) {
    assert!(
        !out.stdout.contains(secret) && !out.stderr.contains(secret),
        "the key was printed"
    );
    let mut pending = vec![dir.path(".agent")];
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            pending.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !String::from_utf8_lossy(&bytes).contains(secret),
                "the key is in {}",
                path.display()
            );
        }
    }
}

/// Checks that a run whose every agent run failed authentication gave up after `runs` of them: exit 1;
/// `runs` agent runs reached `server`; stderr contains `cause`; the run stopped with `too_many_failures`;
/// every iteration record is `failed` of kind `auth`; no process survived.
pub fn assert_auth_failures(
    dir: &TestDir,
    out: &RunOutput,
    server: &impl Served,
    runs: usize,
    cause: &str,
) {
    assert_eq!(out.code(), 1, "{}", out.dump());
    let log = server.request_log();
    assert_eq!(server.agent_runs(), runs, "{runs} agent runs\n{log}");
    assert!(
        out.stderr.contains(cause),
        "stderr does not name the authentication failure ({cause}):\n{}",
        out.stderr
    );
    let state = state(dir);
    assert_eq!(
        state["stop_reason"]["reason"], "too_many_failures",
        "{state:#}"
    );
    for record in iteration_records(dir, &state) {
        assert_eq!(record["outcome"]["status"], "failed", "{record}");
        assert_eq!(record["outcome"]["kind"], "auth", "{record}");
    }
    assert_no_survivors(dir);
}

/// What the shared checks need of a scripted model server ([`ModelServer`] or [`ScriptedServer`]).
pub trait Served {
    /// Agent runs that reached the model.
    fn agent_runs(&self) -> usize;
    /// Requests the script had no reply for.
    fn unscripted_requests(&self) -> usize;
    /// The request log, for assertion messages.
    fn request_log(&self) -> String;
}

impl Served for ModelServer {
    fn agent_runs(&self) -> usize {
        self.sessions().len()
    }
    fn unscripted_requests(&self) -> usize {
        self.unscripted().len()
    }
    fn request_log(&self) -> String {
        self.log()
    }
}

impl Served for ScriptedServer {
    fn agent_runs(&self) -> usize {
        self.conversations()
    }
    fn unscripted_requests(&self) -> usize {
        self.unscripted().len()
    }
    fn request_log(&self) -> String {
        self.log()
    }
}

/// The run's cost as ralph should account it: the scripted usage priced at these dollars per million input,
/// output, cache-write and cache-read tokens (see [`cost_usd`]).
#[derive(Debug, Clone, Copy)]
pub enum Cost {
    /// The agent reported the cost (`cost_estimated: false`).
    Reported([f64; 4]),
    /// The agent reported none; ralph estimated it from its price table (`cost_estimated: true`).
    Estimated([f64; 4]),
}

/// The state and iteration records of a run that [`assert_completed`] checked.
#[derive(Debug)]
pub struct Completed {
    /// `.agent/state.json`.
    pub state: Value,
    /// The run's iteration records, one per scripted iteration.
    pub records: Vec<Value>,
}

/// Checks that a run of `scripted.len()` scripted iterations (the usage of each) completed as scripted:
/// exit 0; exactly that many agent runs reached `server` and none sent an unscripted request; the state
/// `finished` by `completed` after that many iterations; one `success` record per iteration, numbered from 1,
/// with exactly the scripted usage; the state's usage their sum; and the cost (state `cost_usd`, positive and
/// within 1e-9 of the scripted usage's price) reported or estimated as `cost` says, in the state and every record.
pub fn assert_completed(
    dir: &TestDir,
    out: &RunOutput,
    server: &impl Served,
    scripted: &[Usage],
    cost: Cost,
) -> Completed {
    let log = || server.request_log();
    let n = scripted.len();
    assert_eq!(out.code(), 0, "{}\n{}", out.dump(), log());
    assert_eq!(server.agent_runs(), n, "exactly {n} agent runs\n{}", log());
    assert_eq!(server.unscripted_requests(), 0, "{}", log());

    let state = state(dir);
    assert_eq!(state["status"], "finished", "{state:#}");
    assert_eq!(state["stop_reason"]["reason"], "completed", "{state:#}");
    assert_eq!(state["iteration"], n, "{state:#}");
    let (estimated, prices) = match cost {
        Cost::Reported(prices) => (false, prices),
        Cost::Estimated(prices) => (true, prices),
    };
    let records = iteration_records(dir, &state);
    assert_eq!(records.len(), n, "{records:#?}");
    for (i, record) in records.iter().enumerate() {
        assert_eq!(record["iteration"], i + 1, "{record}");
        assert_eq!(record["outcome"]["status"], "success", "{record}");
        let usage = usage_of(&record["usage"]);
        assert_eq!(usage, scripted[i], "iteration {}: {record}", i + 1);
        assert_eq!(record["cost_estimated"], estimated, "{record}");
    }
    let total: Usage = scripted.iter().copied().sum();
    assert_eq!(usage_of(&state["usage"]), total, "{state:#}");
    assert_eq!(state["cost_estimated"], estimated, "{state:#}");
    let expected = cost_usd(total, prices);
    let usd = state["cost_usd"].as_f64().expect("cost_usd");
    assert!(
        usd > 0.0 && (usd - expected).abs() < 1e-9,
        "cost {usd} != {expected}: {state:#}"
    );
    Completed { state, records }
}
