//! `--metrics`, `ralph health` and `ralph status` against the real tools: the exposition passes
//! `promtool check metrics`, a real Prometheus server scrapes a running loop and its query API returns
//! the figures of ralph's saved state, 10,000 scrapes during a loop change nothing, and health and
//! status agree with the workspace lock.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const RALPH: &str = env!("CARGO_BIN_EXE_ralph");
/// A key the agent prints in every answer: it must never reach the metrics.
const PLANTED: &str = "sk-ant-api03-plantedmetricskey0123456789";

use ralph_testkit::workspace::Workspace;

/// An agent that counts its runs in `runs.txt`, takes `secs` each, waits for the file `gate` in its
/// run `gated_run`, and completes in that run.
fn gated_agent(ws: &Workspace, secs: &str, gated_run: u32) -> PathBuf {
    ws.script(
        "agent.sh",
        &format!(
            "cat > /dev/null\necho run >> runs.txt\nn=$(wc -l < runs.txt)\n\
             if [ \"$n\" -ge {gated_run} ]; then while [ ! -e gate ]; do sleep 0.05; done; \
             printf 'done\\nLOOP_COMPLETE\\n'; else sleep {secs}; echo \"working $n $ANTHROPIC_API_KEY\"; fi"
        ),
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One `GET path` on a fresh connection: (status code, body).
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let code = text.split(' ').nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n")?.1.to_string();
    Some((code, body))
}

/// The value of the first sample of `name` (no labels) in an exposition.
fn sample(exposition: &str, name: &str) -> Option<f64> {
    exposition
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// `n` keep-alive `GET /metrics` requests on one connection; the number that were answered 200 with a
/// complete body.
fn scrape_many(port: u16, n: usize) -> usize {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut ok = 0;
    for _ in 0..n {
        write!(writer, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        let mut length = 0usize;
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            if h == "\r\n" {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        if status.starts_with("HTTP/1.1 200") && body.ends_with(b"\n") && length > 0 {
            ok += 1;
        }
    }
    ok
}

fn promtool_check(exposition: &str) -> Output {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// A real Prometheus server on 127.0.0.1 scraping `target` every second.
struct Prometheus {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(target: u16) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  \
                 - job_name: ralph\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("prometheus.log")).unwrap())
            .spawn()
            .unwrap();
        Prometheus {
            child,
            port,
            _dir: dir,
        }
    }

    /// The value of an instant query's first result, if it has one.
    fn query(&self, promql: &str) -> Option<f64> {
        let q: String = promql
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        let (code, body) = get(self.port, &format!("/api/v1/query?query={q}"))?;
        if code != 200 {
            return None;
        }
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("prometheus.log")).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_real_prometheus_scrapes_a_running_loop_and_reads_the_saved_state() {
    if ralph_testkit::tools::require("promtool", "apt-get install prometheus").is_none()
        || ralph_testkit::tools::require("prometheus", "apt-get install prometheus").is_none()
    {
        return;
    }
    let ws = Workspace::new(RALPH, "count\n");
    let agent = gated_agent(&ws, "0.3", 6);
    let port = free_port();
    let ralph = ws
        .ralph()
        .env("ANTHROPIC_API_KEY", PLANTED)
        .args(["--metrics", "--metrics-port", &port.to_string()])
        .args([
            "--no-git",
            "--max-iterations",
            "10",
            "--agent",
            "command",
            "--",
        ])
        .arg(&agent)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the metrics endpoint", || get(port, "/healthz").is_some());

    // Load while iterations run: 10,000 scrapes over 8 keep-alive connections.
    let loaders: Vec<_> = (0..8)
        .map(|_| std::thread::spawn(move || scrape_many(port, 1250)))
        .collect();
    let answered: usize = loaders.into_iter().map(|l| l.join().unwrap()).sum();
    assert_eq!(
        answered, 10_000,
        "every scrape answered 200 with a full body"
    );

    // Iteration 6 waits for the gate: the run's figures hold still.
    wait_for("iteration 6 to start", || {
        get(port, "/metrics").and_then(|(_, m)| sample(&m, "ralph_iteration_in_progress"))
            == Some(6.0)
    });
    let (code, exposition) = get(port, "/metrics").unwrap();
    assert_eq!(code, 200);
    assert!(
        !exposition.contains(PLANTED),
        "a key in the metrics:\n{exposition}"
    );
    let check = promtool_check(&exposition);
    assert!(
        check.status.success(),
        "promtool check metrics:\n{}{}\n{exposition}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let (code, health) = get(port, "/healthz").unwrap();
    assert_eq!(code, 200, "{health}");

    let prometheus = Prometheus::start(port);
    let state = ws.state();
    let saved_iterations = state["iteration"].as_f64().unwrap();
    assert_eq!(saved_iterations, 6.0);
    wait_for("Prometheus to scrape ralph", || {
        prometheus.query("ralph_run_iterations") == Some(saved_iterations)
    });
    assert_eq!(
        prometheus.query("sum(ralph_iterations_total)"),
        Some(ws.records().len() as f64),
        "iterations ended = records in iterations.jsonl"
    );
    assert_eq!(
        prometheus.query("ralph_run_status{status=\"running\"}"),
        Some(1.0)
    );
    assert_eq!(
        prometheus.query("up{job=\"ralph\"}"),
        Some(1.0),
        "{}",
        prometheus.log()
    );

    std::fs::write(ws.path.join("gate"), "").unwrap();
    let out = ralph.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("iteration 6/10 completed"), "{err}");
    assert_eq!(
        ws.records().len(),
        6,
        "no iteration added or lost under load"
    );
}

#[test]
fn a_taken_port_or_a_foreign_address_is_a_usage_error_naming_the_setting() {
    let ws = Workspace::new(RALPH, "count\n");
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = ws
        .ralph()
        .args([
            "--metrics",
            "--metrics-port",
            &port,
            "--agent",
            "command",
            "--",
            "true",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--metrics-port") && err.contains("already in use"),
        "{err}"
    );
    assert!(!ws.path.join(".agent/state.json").exists(), "nothing ran");

    let out = ws
        .ralph()
        .args(["--agent", "command", "--", "true"])
        .env("RALPH_ENABLE_METRICS", "true")
        .env("RALPH_METRICS_PORT", &port)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("RALPH_METRICS_PORT"), "{err}");

    // TEST-NET-1 is never an address of this machine; binding it sends nothing anywhere.
    let out = ws
        .ralph()
        .args([
            "--metrics",
            "--metrics-addr",
            "192.0.2.1",
            "--metrics-port",
            &port,
        ])
        .args(["--agent", "command", "--", "true"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--metrics-addr") && err.contains("not an address of this machine"),
        "{err}"
    );
}

fn health(ws: &Workspace) -> (i32, String) {
    let out = ws.ralph().arg("health").output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn status_json(ws: &Workspace) -> serde_json::Value {
    let out = ws.ralph().args(["status", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Holds `<state dir>/lock` the way a run does (an exclusive `flock`), with `pid` written in it.
fn hold_lock(state_dir: &Path, pid: &str) -> Child {
    std::fs::create_dir_all(state_dir).unwrap();
    std::fs::write(state_dir.join("lock"), format!("{pid}\n")).unwrap();
    // The shell takes the lock on its own descriptor and becomes `sleep`: killing it releases the lock.
    let child = Command::new("sh")
        .arg("-c")
        .arg("exec 9>>\"$0\"; flock 9; exec sleep 60")
        .arg(state_dir.join("lock"))
        .spawn()
        .unwrap();
    wait_for("flock to hold the lock", || {
        Command::new("flock")
            .args(["-n", "-s"])
            .arg(state_dir.join("lock"))
            .arg("true")
            .status()
            .map(|s| !s.success())
            .unwrap_or(false)
    });
    child
}

#[test]
fn status_and_health_take_the_lock_as_the_truth() {
    let ws = Workspace::new(RALPH, "count\n");
    let dir = ws.path.join(".agent");
    assert_eq!(health(&ws).0, 1, "no run at all");

    // A run that holds the lock but has saved nothing yet is starting, not absent.
    let mut holder = hold_lock(&dir, "4242");
    let v = status_json(&ws);
    assert_eq!(
        (
            v["active"].as_bool(),
            v["pid"].as_u64(),
            v["run_id"].is_null()
        ),
        (Some(true), Some(4242), true),
        "{v}"
    );
    let (code, line) = health(&ws);
    assert_eq!(code, 0, "{line}");
    assert!(line.contains("starting"), "{line}");

    // Its heartbeat is overdue: wedged.
    let old = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        - 1000.0;
    std::fs::write(
        dir.join("heartbeat.json"),
        serde_json::json!({"pid": 4242, "run_id": "r1", "phase": "agent", "iteration": 2,
            "progress_at_unix": old, "due_within_secs": 660.0})
        .to_string(),
    )
    .unwrap();
    let (code, line) = health(&ws);
    assert_eq!(code, 1, "{line}");
    assert!(
        line.contains("wedged") && line.contains("iteration 2"),
        "{line}"
    );

    // The holder dies without releasing the run (kill -9): its pid stays in the lock file.
    holder.kill().unwrap();
    holder.wait().unwrap();
    let (code, line) = health(&ws);
    assert_eq!(code, 1, "{line}");
    assert!(line.contains("4242") && line.contains("gone"), "{line}");
    assert_eq!(status_json(&ws)["active"].as_bool(), Some(false));
}

#[test]
fn health_is_healthy_during_a_run_and_reports_the_finished_run_after_it() {
    let ws = Workspace::new(RALPH, "count\n");
    let agent = gated_agent(&ws, "0.1", 2);
    let mut ralph = ws
        .ralph()
        .args(["--no-git", "--agent", "command", "--"])
        .arg(&agent)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("iteration 2", || {
        std::fs::read_to_string(ws.path.join("runs.txt"))
            .map(|t| t.lines().count() == 2)
            .unwrap_or(false)
    });
    let (code, line) = health(&ws);
    assert_eq!(code, 0, "{line}");
    assert!(line.contains(&format!("pid {}", ralph.id())), "{line}");
    let out = ws.ralph().arg("status").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("running (pid") && text.contains("health"),
        "{text}"
    );

    std::fs::write(ws.path.join("gate"), "").unwrap();
    assert_eq!(ralph.wait().unwrap().code(), Some(0));
    let (code, line) = health(&ws);
    assert_eq!(code, 1, "{line}");
    assert!(line.contains("finished: completed"), "{line}");
}
