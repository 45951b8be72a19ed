//! `ralph report` over real loops with shell-script agents (`--agent command`): the HTML page rendered by
//! headless Chromium (chart bars, table rows, nothing fetched, no secret), the JSON, and run selection.

use ralph_testkit::tools;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const RALPH: &str = env!("CARGO_BIN_EXE_ralph");
/// A key in Anthropic's format (masked by pattern and by value).
const ANTHROPIC_KEY: &str = "sk-ant-api03-report-test-0123456789abcdefABCDEF";
/// A key that looks like nothing: only masking by the variable's value catches it.
const OPENAI_KEY: &str = "plain-looking-openai-secret-98765";

struct Workspace {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Workspace {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().canonicalize().unwrap();
        std::fs::write(path.join("PROMPT.md"), "Write the report feature.").unwrap();
        Workspace { _dir: dir, path }
    }

    /// An agent that takes a little longer each run, fails its second run with both keys and some HTML in
    /// its stderr, and prints both keys on stdout every time.
    fn agent(&self) -> PathBuf {
        let p = self.path.join("agent.sh");
        std::fs::write(
            &p,
            "#!/bin/sh\ncat > /dev/null\necho run >> runs.txt\nn=$(wc -l < runs.txt)\n\
             echo \"step $n\" > \"file$n.txt\"\n\
             sleep 0.$n\n\
             echo \"working on step $n, key $ANTHROPIC_API_KEY / $OPENAI_API_KEY\"\n\
             if [ \"$n\" -eq 2 ]; then echo \"<script>alert('x')</script> denied for $OPENAI_API_KEY\" >&2; exit 1; fi\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    fn ralph(&self) -> Command {
        let mut c = Command::new(RALPH);
        c.current_dir(&self.path)
            .stdin(Stdio::null())
            .env("NO_COLOR", "1")
            .env("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
            .env("OPENAI_API_KEY", OPENAI_KEY);
        for (k, _) in std::env::vars() {
            if k.starts_with("RALPH_")
                || (k.ends_with("_API_KEY")
                    && !k.starts_with("ANTHROPIC")
                    && !k.starts_with("OPENAI"))
            {
                c.env_remove(k);
            }
        }
        c
    }

    /// Runs the loop: `iterations` iterations, a checkpoint every 2 (in a repository ralph creates).
    fn run_loop(&self, iterations: u32, extra: &[&str]) -> Output {
        let agent = self.agent();
        self.ralph()
            .args([
                "run",
                "--agent",
                "command",
                "--retry-delay",
                "0",
                "--git-init",
            ])
            .args(["--checkpoint-interval", "2", "-i", &iterations.to_string()])
            .args(extra)
            .arg("--")
            .arg(&agent)
            .output()
            .unwrap()
    }

    fn run_id(&self) -> String {
        let state: serde_json::Value =
            serde_json::from_slice(&std::fs::read(self.path.join(".agent/state.json")).unwrap())
                .unwrap();
        state["run_id"].as_str().unwrap().to_string()
    }

    /// Writes the raw keys into the first record's message, as a state dir from an older ralph (or edited
    /// by hand) could hold them: the report must mask them itself.
    fn plant_keys_in_the_records(&self) {
        let path = self
            .path
            .join(".agent/runs")
            .join(self.run_id())
            .join("iterations.jsonl");
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        lines[0]["message"] = format!("leaked {ANTHROPIC_KEY} and {OPENAI_KEY}").into();
        let out: String = lines.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(&path, out).unwrap();
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_no_secret(what: &str, text: &str) {
    for key in [
        ANTHROPIC_KEY,
        OPENAI_KEY,
        "report-test-0123456789",
        "openai-secret-98765",
    ] {
        assert!(!text.contains(key), "{what} contains a key ({key})");
    }
}

/// Runs headless Chromium on `page` with no way to reach any network; returns its stdout.
fn chromium(chromium: &Path, page: &Path, extra: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            // Belt and braces: no host name resolves, so nothing could be fetched even if asked.
            "--host-resolver-rules=MAP * ~NOTFOUND",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .output()
        .expect("run chromium");
    assert!(out.status.success(), "chromium failed: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_html_report_of_a_real_loop_renders_with_a_bar_and_a_row_per_iteration_and_no_secret() {
    let ws = Workspace::new();
    let out = ws.run_loop(5, &[]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "max iterations: {}",
        stderr(&out)
    );
    ws.plant_keys_in_the_records();
    let run_id = ws.run_id();

    let out = ws.ralph().arg("report").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let file = ws.path.join(format!(".agent/report-{run_id}.html"));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&file.display().to_string()),
        "names the file it wrote: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let html = std::fs::read_to_string(&file).unwrap();

    // The file itself: the run, masked keys, escaped agent text, nothing to fetch.
    assert!(html.contains(&run_id));
    assert!(html.contains("max iterations reached (5)"), "stop reason");
    assert_no_secret("the HTML report", &html);
    assert!(html.contains("****"), "masked keys are shown as ****");
    assert!(!html.contains("<script"), "agent text is escaped");
    assert!(
        html.contains("&lt;script&gt;alert('x')&lt;/script&gt;")
            || html.contains("&lt;script&gt;alert(&#39;x&#39;)")
    );
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no URL in the page"
    );
    assert_eq!(html.matches("<tr class=\"iteration\"").count(), 5);

    let Some(browser) = tools::require("chromium", "apt-get install chromium") else {
        return;
    };
    // What the browser made of it: the parsed DOM.
    let dom = chromium(&browser, &file, &["--dump-dom"]);
    let chart = dom
        .split("id=\"chart-duration\"")
        .nth(1)
        .expect("the duration chart is in the DOM")
        .split("</svg>")
        .next()
        .unwrap();
    assert_eq!(
        chart.matches("<rect class=\"bar ").count(),
        5,
        "one bar per iteration: {chart}"
    );
    assert_eq!(
        chart.matches("bar o-failed").count(),
        1,
        "the failed iteration's bar"
    );
    let cost = dom
        .split("id=\"chart-cost\"")
        .nth(1)
        .unwrap()
        .split("</svg>")
        .next()
        .unwrap();
    assert_eq!(cost.matches("class=\"point\"").count(), 5);
    assert_eq!(
        dom.matches("<tr class=\"iteration\"").count(),
        5,
        "one table row per iteration"
    );
    assert!(
        !dom.contains("<script"),
        "no script element in the rendered page"
    );
    assert_no_secret("the rendered DOM", &dom);
    assert!(
        dom.contains("id=\"checkpoints\"") && dom.matches("after iteration ").count() >= 2,
        "checkpoints listed"
    );

    // A picture, for people to look at.
    let png = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ralph-report.png");
    let _ = std::fs::remove_file(&png);
    chromium(
        &browser,
        &file,
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1280,2000",
            "--hide-scrollbars",
        ],
    );
    let bytes = std::fs::read(&png).expect("chromium wrote the screenshot");
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 20_000,
        "a real picture ({} bytes)",
        bytes.len()
    );
    std::fs::copy(&file, png.with_extension("html")).unwrap();
    eprintln!("screenshot: {}", png.display());
}

/// A stand-in for Claude Code: prints its stream-json `result` event with usage and cost growing each run.
fn fake_claude(ws: &Workspace) -> PathBuf {
    let p = ws.path.join("fake-claude");
    std::fs::write(
        &p,
        r#"#!/bin/sh
cat > /dev/null
echo run >> runs.txt
n=$(wc -l < runs.txt)
echo "step $n" > "file$n.txt"
sleep 0.$((n % 3 + 1))
echo '{"type":"system","subtype":"init","session_id":"s","model":"claude-sonnet-4-5","tools":[]}'
printf '{"type":"result","subtype":"success","is_error":false,"num_turns":3,"result":"Did step %d.","session_id":"s","total_cost_usd":0.0%d,"usage":{"input_tokens":%d,"cache_creation_input_tokens":900,"cache_read_input_tokens":6000,"output_tokens":%d}}\n' $n $((n * 13 + 5)) $((n * 1000 + 200)) $((300 + n * 57))
"#,
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[test]
fn tokens_and_cost_an_agent_reports_are_charted_per_iteration() {
    let ws = Workspace::new();
    let claude = fake_claude(&ws);
    std::fs::write(
        ws.path.join("ralph.yml"),
        format!("adapters:\n  claude:\n    command: {}\n", claude.display()),
    )
    .unwrap();
    let out = ws
        .ralph()
        .args([
            "run",
            "--agent",
            "claude",
            "-i",
            "6",
            "--git-init",
            "--checkpoint-interval",
            "3",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));

    let out = ws
        .ralph()
        .args(["report", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let its = v["iterations"].as_array().unwrap();
    assert_eq!(its.len(), 6);
    // Iteration 3: 3200 input + 900 cache write + 471 output; cost 0.044; cumulative 0.018 + 0.031 + 0.044.
    assert_eq!(its[2]["tokens"]["input"], 3200);
    assert_eq!(its[2]["tokens"]["cache_read"], 6000);
    assert_eq!(its[2]["tokens"]["billable"], 3200 + 900 + 471);
    assert!((its[2]["cumulative_cost_usd"].as_f64().unwrap() - 0.093).abs() < 1e-9);
    assert!(
        (v["totals"]["cost_usd"].as_f64().unwrap() - 0.303).abs() < 1e-9,
        "{}",
        v["totals"]
    );
    assert_eq!(v["totals"]["tokens"]["output"], 6 * 300 + 57 * 21);

    let out = ws
        .ralph()
        .args(["report", "-o", "claude.html"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let file = ws.path.join("claude.html");
    let Some(browser) = tools::require("chromium", "apt-get install chromium") else {
        return;
    };
    let dom = chromium(&browser, &file, &["--dump-dom"]);
    let tokens = dom
        .split("id=\"chart-tokens\"")
        .nth(1)
        .unwrap()
        .split("</svg>")
        .next()
        .unwrap();
    assert_eq!(tokens.matches("<rect class=\"bar ").count(), 6);
    assert!(!tokens.contains("No token usage"));
    let png = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ralph-report-claude.png");
    let _ = std::fs::remove_file(&png);
    chromium(
        &browser,
        &file,
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1280,2000",
            "--hide-scrollbars",
        ],
    );
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
    std::fs::copy(&file, png.with_extension("html")).unwrap();
    eprintln!("screenshot: {}", png.display());
}

#[test]
fn the_json_report_has_the_run_limits_iterations_totals_and_checkpoints_and_no_secret() {
    let ws = Workspace::new();
    let out = ws.run_loop(
        3,
        &[
            "--max-tokens",
            "5000",
            "--max-cost",
            "2.5",
            "--max-retries",
            "4",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    ws.plant_keys_in_the_records();
    let run_id = ws.run_id();

    let out = ws
        .ralph()
        .args(["report", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_no_secret("the JSON report", &text);
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON on stdout");
    assert_eq!(v["format"], "ralph-report/1");
    assert_eq!(v["run"]["run_id"], run_id.as_str());
    assert_eq!(v["run"]["agent"], "command");
    assert_eq!(v["run"]["status"], "finished");
    assert_eq!(v["run"]["stop_reason"]["reason"], "max_iterations");
    assert_eq!(v["limits"]["max_iterations"], 3);
    assert_eq!(v["limits"]["max_tokens"], 5000);
    assert_eq!(v["limits"]["max_cost_usd"], 2.5);
    assert_eq!(v["limits"]["max_retries"], 4);
    assert_eq!(v["limits"]["max_runtime_secs"], 14400.0);
    assert_eq!(v["totals"]["iterations"], 3);
    assert_eq!(v["totals"]["outcomes"]["success"], 2);
    assert_eq!(v["totals"]["outcomes"]["failed"], 1);
    let its = v["iterations"].as_array().unwrap();
    assert_eq!(
        its.iter()
            .map(|i| i["iteration"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(its[1]["outcome"], "failed");
    assert!(its[0]["message"].as_str().unwrap().contains("****"));
    assert!(
        its[1]["message"].as_str().unwrap().contains("<script>"),
        "JSON keeps the text as it is (masked)"
    );
    assert!(its[0]["duration_secs"].as_f64().unwrap() > 0.05);
    // Checkpoint after iteration 2 and the final one, both from git.
    let cps = v["checkpoints"].as_array().unwrap();
    assert_eq!(cps.len(), 2, "{cps:?}");
    assert_eq!(cps[0]["iteration"], 2);
    assert_eq!(cps[1]["final"], true);
    assert_eq!(its[1]["checkpoint"], cps[0]["id"]);

    // -o FILE writes the same JSON.
    let out = ws
        .ralph()
        .args(["report", "--format", "json", "-o", "r.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ws.path.join("r.json")).unwrap()).unwrap();
    assert_eq!(file["iterations"], v["iterations"]);
}

#[test]
fn any_recorded_run_can_be_reported_and_an_unknown_one_is_a_usage_error_listing_the_known_ones() {
    let ws = Workspace::new();
    let out = ws.run_loop(1, &["--no-git"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let first = ws.run_id();
    let out = ws.run_loop(2, &["--no-git", "--fresh"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let second = ws.run_id();
    assert_ne!(first, second);

    // The earlier run: from its records alone.
    let out = ws
        .ralph()
        .args(["report", &first, "--format", "json", "-o", "-"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["run"]["run_id"], first.as_str());
    assert_eq!(v["run"]["current"], false);
    assert_eq!(v["run"]["status"], "unknown");
    assert_eq!(v["iterations"].as_array().unwrap().len(), 1);
    assert!(v["limits"].is_null());

    // HTML to stdout, from another directory with -C.
    let elsewhere = tempfile::tempdir().unwrap();
    let out = ws
        .ralph()
        .current_dir(elsewhere.path())
        .args(["report", "-C"])
        .arg(&ws.path)
        .args(["-o", "-"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let html = String::from_utf8(out.stdout).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains(&second));
    assert_eq!(html.matches("<tr class=\"iteration\"").count(), 2);

    let out = ws
        .ralph()
        .args(["report", "20000101-000000-0000"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("unknown run `20000101-000000-0000`")
            && err.contains(&first)
            && err.contains(&second),
        "{err}"
    );

    let empty = tempfile::tempdir().unwrap();
    let out = ws
        .ralph()
        .args(["report", "-C"])
        .arg(empty.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no run in"), "{}", stderr(&out));
}
