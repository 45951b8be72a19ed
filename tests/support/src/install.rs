//! Installing the pinned real agent CLIs from npm, once, into a cache under cargo's target directory.
//!
//! The cache is `<target>/agent-clis/<name>-<version>/` (override the parent with `RALPH_E2E_AGENT_CLIS_DIR`).
//! An install goes to a staging directory that is renamed into place only after `--version` answers with the
//! pinned version, under an exclusive file lock, so parallel test processes (nextest runs one per test) neither
//! race nor see a half-installed CLI.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// npm package of Claude Code.
pub const CLAUDE_PACKAGE: &str = "@anthropic-ai/claude-code";
/// The Claude Code version the end-to-end tests are written against (see AGENT-CLIS.md).
pub const CLAUDE_VERSION: &str = "2.1.197";

/// Installs Claude Code [`CLAUDE_VERSION`] if the cache does not already hold it and returns the directory with
/// the `claude` executable (`.../node_modules/.bin`), to put first on `PATH`.
///
/// Panics with a clear message when `npm` is missing or the install fails: the end-to-end tests must fail, not
/// pass silently, on a machine without Node.js (CI installs it).
pub fn install_claude() -> PathBuf {
    static BIN_DIR: OnceLock<PathBuf> = OnceLock::new();
    BIN_DIR
        .get_or_init(|| install_npm_cli("claude", CLAUDE_PACKAGE, CLAUDE_VERSION))
        .clone()
}

/// The cache root: `$RALPH_E2E_AGENT_CLIS_DIR`, else `<target>/agent-clis` where `<target>` is found from the
/// running test executable (`<target>/<profile>/deps/<test>`), else a folder in the temporary directory.
pub fn agent_clis_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("RALPH_E2E_AGENT_CLIS_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().ok();
    let deps = exe
        .as_deref()
        .and_then(Path::parent)
        .filter(|d| d.file_name().is_some_and(|n| n == "deps"));
    match deps.and_then(Path::parent).and_then(Path::parent) {
        Some(target) => target.join("agent-clis"),
        None => std::env::temp_dir().join("ralph-e2e-agent-clis"),
    }
}

/// Installs `package@version` with npm into `<agent_clis_dir>/<bin>-<version>` and returns its `.bin` directory.
pub fn install_npm_cli(bin: &str, package: &str, version: &str) -> PathBuf {
    let root = agent_clis_dir();
    let dir = root.join(format!("{bin}-{version}"));
    let bin_dir = dir.join("node_modules").join(".bin");
    if reports_version(&bin_dir.join(bin), version) {
        return bin_dir;
    }
    fs::create_dir_all(&root).unwrap_or_else(|e| panic!("create {}: {e}", root.display()));
    let lock_path = root.join(format!("{bin}-{version}.lock"));
    let lock_file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap_or_else(|e| panic!("open {}: {e}", lock_path.display()));
    // Released when `lock_file` is dropped at the end of this function.
    lock_file
        .lock()
        .unwrap_or_else(|e| panic!("lock {}: {e}", lock_path.display()));
    if reports_version(&bin_dir.join(bin), version) {
        return bin_dir;
    }

    match Command::new("npm")
        .arg("--version")
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) if out.status.success() => {}
        other => panic!(
            "the end-to-end tests need npm to install {package}@{version} (install Node.js 20+ with npm; CI does): \
             `npm --version` gave {other:?}"
        ),
    }
    let staging = root.join(format!("{bin}-{version}.partial-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging).unwrap_or_else(|e| panic!("create {}: {e}", staging.display()));
    eprintln!(
        "installing {package}@{version} into {} (once) ...",
        dir.display()
    );
    let out = Command::new("npm")
        .arg("install")
        .arg("--prefix")
        .arg(&staging)
        .args([
            "--no-audit",
            "--no-fund",
            "--save-exact",
            "--loglevel=error",
        ])
        .arg(format!("{package}@{version}"))
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run npm install: {e}"));
    assert!(
        out.status.success(),
        "npm install {package}@{version} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let staged_bin = staging.join("node_modules").join(".bin").join(bin);
    assert!(
        reports_version(&staged_bin, version),
        "{} does not report version {version} after npm install",
        staged_bin.display()
    );
    let _ = fs::remove_dir_all(&dir);
    fs::rename(&staging, &dir)
        .unwrap_or_else(|e| panic!("move {} to {}: {e}", staging.display(), dir.display()));
    bin_dir
}

/// Whether `exe --version` runs and prints `version`. Runs with an empty environment and a throw-away `HOME` so
/// that probing writes nothing into the developer's home.
fn reports_version(exe: &Path, version: &str) -> bool {
    if !exe.exists() {
        return false;
    }
    let Ok(home) = tempfile::tempdir() else {
        return false;
    };
    Command::new(exe)
        .arg("--version")
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", home.path())
        .env("DISABLE_AUTOUPDATER", "1")
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains(version))
}
