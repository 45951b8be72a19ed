//! The benchmark scripts in `benches/` run in a reduced form against the binary under test, so that they
//! cannot rot: each exits 0 and prints every figure it documents as a number. No timing is checked.
//! Every process a script starts carries an environment variable of this test, and none may be left
//! once the script has exited.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RALPH: &str = env!("CARGO_BIN_EXE_ralph");
/// Far more than the reduced runs take (a few seconds, most of it the 5 s stop grace of the
/// SIGTERM-ignoring agent): only there so that a hung script fails the test instead of hanging it.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);

fn benches_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches")
}

/// The pids of the live processes whose environment holds `var=value`.
fn processes_with(var: &str, value: &str) -> Vec<i32> {
    let needle = format!("{var}={value}");
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        // Gone, or not ours to read: neither can be one of the script's.
        let Ok(env) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()) {
            pids.push(pid);
        }
    }
    pids
}

fn kill(pid: i32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
}

/// Runs `script` with `args` and `env` (plus `RALPH_BIN`) in a scratch directory; returns its stdout
/// after checking that it exited 0 and left no process behind.
fn run_script(script: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let scratch = tempfile::tempdir().unwrap();
    let marker = format!("{}-{}", std::process::id(), fastrand::u64(..));
    let out_path = scratch.path().join("stdout");
    let err_path = scratch.path().join("stderr");
    let mut child = Command::new(benches_dir().join(script))
        .args(args)
        .envs(env.iter().copied())
        .env("RALPH_BIN", RALPH)
        .env("RALPH_BENCH_SCRIPT_TEST", &marker)
        .env("TMPDIR", scratch.path())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + SCRIPT_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if status.is_none() {
        kill(child.id() as i32);
        let _ = child.wait();
    }
    // What the script started is gone once it has exited (allowing a moment for the last reaps).
    let settle = Instant::now() + Duration::from_secs(5);
    let mut left = processes_with("RALPH_BENCH_SCRIPT_TEST", &marker);
    while !left.is_empty() && Instant::now() < settle {
        std::thread::sleep(Duration::from_millis(50));
        left = processes_with("RALPH_BENCH_SCRIPT_TEST", &marker);
    }
    for &pid in &left {
        kill(pid);
    }
    let stdout = std::fs::read_to_string(&out_path).unwrap();
    let stderr = std::fs::read_to_string(&err_path).unwrap();
    let Some(status) = status else {
        panic!(
            "{script} did not finish within {SCRIPT_TIMEOUT:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
    };
    assert!(
        status.success(),
        "{script} failed: {status}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        left.is_empty(),
        "{script} left processes running: {left:?}\nstderr:\n{stderr}"
    );
    stdout
}

/// The number after `label` at the start of a line of `out` (`label: 3.2 ms (...)`, `label 3.2`).
fn figure(out: &str, label: &str) -> f64 {
    let line = out
        .lines()
        .find(|l| {
            l.strip_prefix(label)
                .is_some_and(|rest| rest.starts_with(": ") || rest.starts_with(' '))
        })
        .unwrap_or_else(|| panic!("no line `{label}` in:\n{out}"));
    let value = line[label.len()..]
        .trim_start_matches(':')
        .split_whitespace()
        .next()
        .unwrap_or_default();
    value
        .parse::<f64>()
        .unwrap_or_else(|_| panic!("`{label}` is not followed by a number: {line}"))
}

#[test]
fn process_sh_prints_every_figure() {
    let out = run_script(
        "process.sh",
        &[],
        &[
            ("ITERATIONS", "5"),
            ("LONG_ITERATIONS", "50"),
            ("ROUNDS", "1"),
            ("STARTUP_RUNS", "5"),
            ("HYPERFINE", "none"),
        ],
    );
    for label in [
        "loop_ms_per_iteration",
        "spawn_ms_per_iteration",
        "ralph_own_ms_per_iteration",
        "peak_rss_kib",
        "rss_early_kib",
        "rss_late_kib",
        "rss_growth_kib",
        "threads_late",
        "state_dir_bytes",
        "state_dir_files",
        "startup_version_ms",
        "startup_dry_run_ms",
        "stop_cooperative_ms",
        "stop_term_ignoring_ms",
    ] {
        figure(&out, label);
    }
    // Figures that are facts rather than timings: a run leaves state behind, and uses memory.
    assert!(figure(&out, "state_dir_files") >= 2.0, "{out}");
    assert!(figure(&out, "peak_rss_kib") > 0.0, "{out}");
    assert!(figure(&out, "rss_late_kib") > 0.0, "{out}");
}

#[test]
fn metrics_overhead_sh_prints_every_figure() {
    let out = run_script("metrics-overhead.sh", &["5", "1"], &[]);
    for label in ["off", "on", "scraped"] {
        figure(&out, label);
    }
}

#[test]
fn compare_loop_sh_prints_a_figure_per_binary() {
    let out = run_script(
        "compare-loop.sh",
        &[RALPH, RALPH],
        &[("ITERATIONS", "3"), ("ROUNDS", "1")],
    );
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with(&format!("{RALPH}: loop ")))
        .collect();
    assert_eq!(lines.len(), 2, "one line per binary given:\n{out}");
    for line in lines {
        let loop_ms = line[RALPH.len()..]
            .trim_start_matches(": loop ")
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok());
        assert!(loop_ms.is_some_and(|ms| ms > 0.0), "{line}");
    }
    figure(&out, "spawn");
}
