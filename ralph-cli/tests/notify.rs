//! `--notify URL`: the `ralph` binary runs real loops with fake agents and POSTs its summaries to small
//! HTTP servers on 127.0.0.1 run by the test (one that fails the first attempt, one that never answers).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const RALPH: &str = env!("CARGO_BIN_EXE_ralph");
/// A key-shaped secret planted in the environment; the fake agents print it.
const KEY: &str = "sk-ant-api03-notify-test-planted-secret-0123456789";

/// One request the server received.
#[derive(Debug, Clone)]
struct Request {
    path: String,
    content_type: String,
    body: String,
    /// The status the server answered, `None` when it did not answer.
    answered: Option<u16>,
}

/// What the server does with each request.
#[derive(Clone, Copy)]
enum Behaviour {
    /// Answer 500 to the first `n` requests, 200 afterwards.
    FailFirst(usize),
    /// Read the request and never answer (the connection stays open).
    Silent,
}

/// An HTTP/1.1 server on 127.0.0.1:0, one thread per connection, `Connection: close`.
struct Server {
    port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Server {
    fn start(behaviour: Behaviour) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let recorded = recorded.clone();
                std::thread::spawn(move || serve(stream, behaviour, &recorded));
            }
        });
        Server { port, requests }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// The bodies answered with 200, as JSON.
    fn delivered(&self) -> Vec<serde_json::Value> {
        self.requests()
            .iter()
            .filter(|r| r.answered == Some(200))
            .map(|r| serde_json::from_str(&r.body).unwrap())
            .collect()
    }
}

fn serve(stream: TcpStream, behaviour: Behaviour, recorded: &Mutex<Vec<Request>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut length = 0;
    let mut content_type = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        let (name, value) = line.split_once(':').unwrap_or((&line, ""));
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().unwrap_or(0),
            "content-type" => content_type = value.trim().to_string(),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .to_string();
    let mut requests = recorded.lock().unwrap();
    let status = match behaviour {
        Behaviour::FailFirst(n) if requests.len() < n => Some(500),
        Behaviour::FailFirst(_) => Some(200),
        Behaviour::Silent => None,
    };
    requests.push(Request {
        path,
        content_type,
        body: String::from_utf8(body).unwrap(),
        answered: status,
    });
    drop(requests);
    match status {
        Some(code) => {
            let _ = write!(
                &stream,
                "HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
        // Hold the connection open, unanswered, until ralph gives up and closes it.
        None => {
            let _ = reader.read_to_end(&mut Vec::new());
        }
    }
}

struct Workspace {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Workspace {
    fn new() -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().canonicalize().unwrap();
        std::fs::write(path.join("PROMPT.md"), "Do the next step.\n").unwrap();
        Workspace { _dir: dir, path }
    }

    fn script(&self, name: &str, body: &str) -> PathBuf {
        let p = self.path.join(name);
        std::fs::write(&p, format!("#!/bin/sh\ncat > /dev/null\n{body}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    fn git(&self, args: &[&str]) {
        let ok = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@localhost"])
            .args(args)
            .current_dir(&self.path)
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    }

    fn ralph(&self) -> Command {
        let mut c = Command::new(RALPH);
        c.current_dir(&self.path)
            .stdin(Stdio::null())
            .env("NO_COLOR", "1")
            .env("ANTHROPIC_API_KEY", KEY);
        for (k, _) in std::env::vars() {
            let proxy = k.to_ascii_lowercase().ends_with("_proxy");
            if (k.starts_with("RALPH_") || k.ends_with("_API_KEY") || proxy)
                && k != "ANTHROPIC_API_KEY"
            {
                c.env_remove(k);
            }
        }
        c
    }

    fn state(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.path.join(".agent/state.json")).unwrap())
            .unwrap()
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Claude Code stream-json for one turn that mentions the planted key: 10 input, 5 output, 2 cache-write
/// and 20 cache-read tokens, $0.01.
const FAKE_CLAUDE: &str = r#"echo '{"type":"system","subtype":"init","session_id":"s","model":"claude-sonnet-4-5","tools":[]}'
echo "{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"text\",\"text\":\"my key is $ANTHROPIC_API_KEY\"}]}}"
echo "step $(date +%N)" >> work.txt
echo '{"type":"result","subtype":"success","is_error":false,"result":"did a step","num_turns":1,"total_cost_usd":0.01,"usage":{"input_tokens":10,"output_tokens":5,"cache_creation_input_tokens":2,"cache_read_input_tokens":20},"session_id":"s"}'"#;

#[test]
fn a_finished_run_posts_one_summary_that_matches_state_json_after_a_retry() {
    let ws = Workspace::new();
    let fake = ws.script("fake-claude", FAKE_CLAUDE);
    std::fs::write(
        ws.path.join("ralph.yml"),
        format!("adapters:\n  claude:\n    command: {}\n", fake.display()),
    )
    .unwrap();
    ws.git(&["init", "-q", "-b", "main"]);
    ws.git(&["add", "-A"]);
    ws.git(&["commit", "-q", "-m", "start"]);
    let server = Server::start(Behaviour::FailFirst(1));
    let out = ws
        .ralph()
        .args(["run", "--agent", "claude", "--max-iterations", "2"])
        .args(["--checkpoint-interval", "1", "--notify", &server.url()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));

    let requests = server.requests();
    assert_eq!(requests.len(), 2, "one 500, then one retry: {requests:?}");
    assert!(requests.iter().all(|r| r.path == "/hook"));
    assert!(
        requests
            .iter()
            .all(|r| r.content_type == "application/json")
    );
    assert_eq!(
        requests[0].body, requests[1].body,
        "the retry sends the same"
    );
    let delivered = server.delivered();
    assert_eq!(delivered.len(), 1);
    let p = &delivered[0];
    let state = ws.state();
    assert_eq!(p["event"], "run_finished");
    assert_eq!(p["run_id"], state["run_id"]);
    assert_eq!(p["outcome"], "limit_reached");
    assert_eq!(p["exit_code"], 3);
    assert_eq!(p["reason"], "max iterations reached (2)");
    assert_eq!(p["iterations"], 2);
    assert_eq!(p["iterations"], state["iteration"]);
    let usage = &state["usage"];
    assert_eq!(p["tokens"]["input"], usage["input_tokens"]);
    assert_eq!(p["tokens"]["output"], usage["output_tokens"]);
    assert_eq!(
        p["tokens"]["cache_creation"],
        usage["cache_creation_input_tokens"]
    );
    assert_eq!(p["tokens"]["cache_read"], usage["cache_read_input_tokens"]);
    assert_eq!(p["tokens"]["total"], state["tokens_total"]);
    assert_eq!(p["tokens"]["total"], 34, "2 x (10 + 5 + 2)");
    assert_eq!(p["cost_usd"], state["cost_usd"]);
    assert_eq!(p["cost_estimated"], state["cost_estimated"]);
    assert_eq!(p["agent"], "claude");
    assert_eq!(p["workspace"], ws.path.display().to_string());
    assert!(p["runtime_secs"].as_f64().unwrap() > 0.0);
    assert!(p["ts"].as_str().unwrap().ends_with('Z'));
    // The last checkpoint is a commit of the workspace's repository.
    let checkpoint = p["last_checkpoint"].as_str().expect("a checkpoint id");
    ws.git(&["cat-file", "-e", &format!("{checkpoint}^{{commit}}")]);
    for r in &requests {
        assert!(!r.body.contains(KEY), "the key was sent: {}", r.body);
    }
}

#[test]
fn a_failed_run_notifies_every_url_without_the_key_it_quoted() {
    let ws = Workspace::new();
    // No known key format: only the exact-value replacement can keep it out.
    let key = "hunter2-not-a-pattern-secret";
    let agent = ws.script(
        "fails.sh",
        "echo \"auth failed for $ANTHROPIC_API_KEY\" >&2\nexit 1",
    );
    let (a, b) = (
        Server::start(Behaviour::FailFirst(0)),
        Server::start(Behaviour::FailFirst(0)),
    );
    let out = ws
        .ralph()
        .args([
            "run",
            "--agent",
            "command",
            "--max-retries",
            "0",
            "--no-git",
        ])
        .args(["--notify", &a.url()])
        .env("RALPH_NOTIFY_URL", "ignored: the flag wins")
        .env("ANTHROPIC_API_KEY", key)
        .args(["--notify", &b.url(), "--"])
        .arg(&agent)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    for server in [&a, &b] {
        let delivered = server.delivered();
        assert_eq!(delivered.len(), 1, "{:?}", server.requests());
        let p = &delivered[0];
        assert_eq!(p["outcome"], "failed");
        assert_eq!(p["exit_code"], 1);
        assert_eq!(p["run_id"], ws.state()["run_id"]);
        assert_eq!(p["last_checkpoint"], serde_json::Value::Null);
        let reason = p["reason"].as_str().unwrap();
        assert!(
            reason.contains("auth failed for ") && reason.contains("****"),
            "{reason}"
        );
        assert!(!p.to_string().contains(key), "{p}");
    }
}

#[test]
fn a_server_that_never_answers_delays_the_exit_only_up_to_the_bound() {
    let ws = Workspace::new();
    let agent = ws.script("done.sh", "echo LOOP_COMPLETE");
    let silent = Server::start(Behaviour::Silent);
    let url = format!(
        "http://hookuser:pw-notify-secret@127.0.0.1:{}/hook?token=tok-notify-secret",
        silent.port
    );
    let began = Instant::now();
    let out = ws
        .ralph()
        .args(["run", "--agent", "command", "--no-git"])
        .env("RALPH_NOTIFY_URL", &url)
        .arg("--")
        .arg(&agent)
        .output()
        .unwrap();
    let took = began.elapsed();
    assert_eq!(
        out.status.code(),
        Some(0),
        "exit code unchanged: {}",
        stderr(&out)
    );
    // The bound is 10 s; generous slack for a loaded machine, far below the 3 x 5 s of attempts plus
    // back-off that an unbounded wait would take, or the minutes of a hung one.
    assert!(took < Duration::from_secs(14), "took {took:?}");
    assert_eq!(
        silent.requests().len(),
        2,
        "a second attempt after the first timed out"
    );
    let err = stderr(&out);
    assert!(err.contains("gave up after 10 s"), "{err}");
    assert!(
        err.contains("http://****@127.0.0.1:") && err.contains("/hook?token=****"),
        "{err}"
    );
    assert!(!err.contains("notify-secret"), "{err}");
}

#[test]
fn a_refused_connection_is_a_warning_and_the_dry_run_shows_masked_targets() {
    let ws = Workspace::new();
    let agent = ws.script("done.sh", "echo LOOP_COMPLETE");
    // A port nothing listens on: bind, note it, close.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let out = ws
        .ralph()
        .args([
            "run", "--agent", "command", "--no-git", "--notify", &url, "--",
        ])
        .arg(&agent)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("notification to {url} failed after 3 attempt(s)")),
        "{err}"
    );

    let plan = ws
        .ralph()
        .args(["run", "--dry-run", "--agent", "command", "--no-git"])
        .args([
            "--notify",
            "https://u:hunter22@hooks.example.com/services/T0AAAAAAA/xyz?k=v",
        ])
        .args(["--", "true"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(
        text.contains("POST to https://****@hooks.example.com/services/****/****?k=****"),
        "{text}"
    );
    assert!(!text.contains("hunter22"));

    let bad = ws
        .ralph()
        .args([
            "run",
            "--agent",
            "command",
            "--notify",
            "file:///etc/passwd",
            "--",
            "true",
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("--notify: `file:///etc/****` is not an http or https URL"));
}

/// An HTTPS server (Python's `http.server` wrapped in TLS) with a certificate from a CA made for the
/// test; ralph trusts that CA only through `SSL_CERT_FILE`, the variable the system certificate store
/// loader (rustls-native-certs, as OpenSSL) reads, so this checks that https uses the system store.
const HTTPS_SERVER: &str = r#"
import http.server, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        open("got.json", "wb").write(body)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain("leaf.pem", "leaf.key")
s.socket = ctx.wrap_socket(s.socket, server_side=True)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;

#[test]
fn https_urls_are_verified_against_the_system_certificate_store() {
    let (Some(openssl), Some(python)) = (
        ralph_testkit::tools::require("openssl", "apt-get install openssl"),
        ralph_testkit::tools::require("python3", "apt-get install python3"),
    ) else {
        return;
    };
    let certs = tempfile::tempdir().unwrap();
    let sh = |script: &str| {
        let ok = Command::new("sh")
            .args(["-c", script])
            .env("OPENSSL", &openssl)
            .current_dir(certs.path())
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(ok, "{script}");
    };
    sh(
        "\"$OPENSSL\" req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj '/CN=ralph test CA'",
    );
    sh(
        "\"$OPENSSL\" req -newkey rsa:2048 -nodes -keyout leaf.key -out leaf.csr -subj /CN=localhost",
    );
    sh(
        "printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' > ext.cnf && \"$OPENSSL\" x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out leaf.pem -days 2 -extfile ext.cnf",
    );
    let mut server = Command::new(python)
        .args(["-c", HTTPS_SERVER])
        .current_dir(certs.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut port = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut port)
        .unwrap();
    let url = format!("https://127.0.0.1:{}/hook", port.trim());

    let ws = Workspace::new();
    let agent = ws.script("done.sh", "echo LOOP_COMPLETE");
    // A store without the test CA (an empty file).
    std::fs::write(certs.path().join("none.pem"), "").unwrap();
    let untrusted = ws
        .ralph()
        .args([
            "run", "--agent", "command", "--no-git", "--notify", &url, "--",
        ])
        .arg(&agent)
        .env("SSL_CERT_FILE", certs.path().join("none.pem"))
        .output()
        .unwrap();
    assert_eq!(untrusted.status.code(), Some(0));
    assert!(
        stderr(&untrusted).contains("notification to"),
        "{}",
        stderr(&untrusted)
    );
    assert!(
        !certs.path().join("got.json").exists(),
        "an unknown CA is refused"
    );

    let trusted = ws
        .ralph()
        .args(["run", "--fresh", "--agent", "command", "--no-git"])
        .args(["--notify", &url, "--"])
        .arg(&agent)
        .env("SSL_CERT_FILE", certs.path().join("ca.pem"))
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(trusted.status.code(), Some(0), "{}", stderr(&trusted));
    let got: serde_json::Value =
        serde_json::from_slice(&std::fs::read(certs.path().join("got.json")).unwrap()).unwrap();
    assert_eq!(got["outcome"], "completed");
    assert_eq!(got["run_id"], ws.state()["run_id"]);
}

#[test]
fn waiting_on_a_usage_limit_is_notified_before_the_run_goes_on() {
    let ws = Workspace::new();
    // First run: Claude's usage-limit result, resetting in 1 s. Second run: done.
    let fake = ws.script(
        "fake-claude",
        r#"echo run >> runs.txt
if [ "$(wc -l < runs.txt)" -eq 1 ]; then
  echo "{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":true,\"result\":\"Claude AI usage limit reached|$(( $(date +%s) + 1 ))\",\"session_id\":\"s\"}"
  exit 1
fi
echo '{"type":"result","subtype":"success","is_error":false,"result":"LOOP_COMPLETE","num_turns":1,"total_cost_usd":0.01,"usage":{"input_tokens":10,"output_tokens":5,"cache_creation_input_tokens":0,"cache_read_input_tokens":0},"session_id":"s"}'"#,
    );
    std::fs::write(
        ws.path.join("ralph.yml"),
        format!("adapters:\n  claude:\n    command: {}\n", fake.display()),
    )
    .unwrap();
    let server = Server::start(Behaviour::FailFirst(0));
    let out = ws
        .ralph()
        .args([
            "run",
            "--agent",
            "claude",
            "--no-git",
            "--notify",
            &server.url(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let delivered = server.delivered();
    let events: Vec<&str> = delivered
        .iter()
        .map(|p| p["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["rate_limit_wait", "run_finished"], "{delivered:?}");
    let wait = &delivered[0];
    assert_eq!(wait["run_id"], ws.state()["run_id"]);
    assert!(wait["wait_secs"].as_f64().unwrap() > 0.0, "{wait}");
    assert!(wait["reset_at_unix"].as_u64().is_some(), "{wait}");
    assert!(wait.get("outcome").is_none() && wait.get("exit_code").is_none());
    assert_eq!(
        wait["iterations"], 0,
        "a rate-limited attempt does not use up an iteration"
    );
    assert_eq!(delivered[1]["outcome"], "completed");
    assert_eq!(delivered[1]["exit_code"], 0);
    assert_eq!(delivered[1]["tokens"]["total"], 15);
}
