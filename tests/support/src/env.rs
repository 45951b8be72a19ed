//! Hermetic surroundings for one test: a temporary git workspace, a fresh `HOME`, and an environment that holds
//! nothing of the developer's (no keys, no proxies, no config) besides what points the agent at the model server.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tempfile::TempDir;

use crate::procs;

/// Directories searched after the agent's bin directory: the usual system ones.
const SYSTEM_PATH: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// The environment for running `ralph` (and through it `claude`) against a [`ModelServer`](crate::ModelServer).
///
/// [`HermeticEnv::apply`] clears the inherited environment and sets only these variables, so no real API key,
/// proxy (`HTTP_PROXY`, `NO_PROXY`, ...) or user configuration leaks into a test.
#[derive(Debug, Clone)]
pub struct HermeticEnv {
    vars: BTreeMap<String, OsString>,
}

impl HermeticEnv {
    /// `PATH` = `agent_bin_dir`, the system directories (and the directory of the `git` found on the current
    /// `PATH`, if elsewhere); `HOME` = `home`; and the Claude Code settings that point it at `base_url` and keep it
    /// from contacting anything else: `ANTHROPIC_BASE_URL`, `ANTHROPIC_API_KEY=dummy`,
    /// `CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1`, `DISABLE_TELEMETRY=1`, `DISABLE_AUTOUPDATER=1`,
    /// `DISABLE_ERROR_REPORTING=1`, `CLAUDE_CODE_MAX_RETRIES=0`, and `IS_SANDBOX=1` (Claude Code refuses
    /// `--dangerously-skip-permissions` as root without it).
    pub fn claude(base_url: &str, agent_bin_dir: &Path, home: &Path) -> Self {
        let mut path: Vec<PathBuf> = vec![agent_bin_dir.to_path_buf()];
        path.extend(SYSTEM_PATH.iter().map(PathBuf::from));
        if let Some(git_dir) = which("git").and_then(|g| g.parent().map(Path::to_path_buf))
            && !path.contains(&git_dir)
        {
            path.push(git_dir);
        }
        let path = std::env::join_paths(path).expect("PATH entries without ':'");
        let mut env = Self {
            vars: BTreeMap::new(),
        }
        .set("PATH", path)
        .set("HOME", home);
        for (k, v) in [
            ("ANTHROPIC_BASE_URL", base_url),
            ("ANTHROPIC_API_KEY", "dummy"),
            ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
            ("DISABLE_TELEMETRY", "1"),
            ("DISABLE_AUTOUPDATER", "1"),
            ("DISABLE_ERROR_REPORTING", "1"),
            ("CLAUDE_CODE_MAX_RETRIES", "0"),
            ("IS_SANDBOX", "1"),
            ("LANG", "C.UTF-8"),
        ] {
            env = env.set(k, v);
        }
        env
    }

    /// Sets (or replaces) a variable.
    pub fn set(mut self, key: &str, value: impl Into<OsString>) -> Self {
        self.vars.insert(key.to_owned(), value.into());
        self
    }

    /// Removes a variable.
    pub fn remove(mut self, key: &str) -> Self {
        self.vars.remove(key);
        self
    }

    /// The variables, sorted by name.
    pub fn vars(&self) -> &BTreeMap<String, OsString> {
        &self.vars
    }

    /// Clears `cmd`'s environment, sets these variables and closes its stdin.
    pub fn apply<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        cmd.env_clear().envs(&self.vars).stdin(Stdio::null())
    }
}

/// The first `name` on the current `PATH`.
fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A temporary directory per test, `ralph-e2e-XXXX/`, holding `ws/` (the workspace, a git repository unless
/// made with [`TestDir::without_git`]) and `home/` (the agent's `HOME`). All paths are canonical, as
/// `/proc/PID/cwd` and the agent report them.
///
/// Dropping it kills any process still related to it (see [`procs::related_to`]) and deletes it.
pub struct TestDir {
    root: TempDir,
    workspace: PathBuf,
    home: PathBuf,
}

impl TestDir {
    /// A fresh directory whose workspace is a git repository on branch `main` with a fixed identity and one
    /// initial commit (a `README.md`).
    pub fn new() -> Self {
        let dir = Self::without_git();
        dir.git(&["init", "-q", "-b", "main"]);
        dir.git(&["config", "user.name", "Ralph E2E"]);
        dir.git(&["config", "user.email", "ralph-e2e@example.invalid"]);
        dir.git(&["config", "commit.gpgsign", "false"]);
        dir.write(
            "README.md",
            "# scratch workspace of a ralph end-to-end test\n",
        );
        dir.git(&["add", "-A"]);
        dir.git(&["commit", "-q", "-m", "initial commit"]);
        dir
    }

    /// A fresh directory whose workspace is a plain directory.
    pub fn without_git() -> Self {
        let root = tempfile::Builder::new()
            .prefix("ralph-e2e-")
            .tempdir()
            .expect("create temp dir");
        let canonical = root.path().canonicalize().expect("canonical temp dir");
        let workspace = canonical.join("ws");
        let home = canonical.join("home");
        fs::create_dir(&workspace).expect("create workspace");
        fs::create_dir(&home).expect("create home");
        Self {
            root,
            workspace,
            home,
        }
    }

    /// The temporary root (a unique marker for [`procs::related_to`]).
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// The workspace (`-C` for ralph, the agent's working directory).
    pub fn workspace(&self) -> &Path {
        &self.workspace
    }

    /// The agent's `HOME`.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// `workspace/rel`.
    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.workspace.join(rel)
    }

    /// Writes `workspace/rel`, creating parent directories.
    pub fn write(&self, rel: impl AsRef<Path>, contents: impl AsRef<[u8]>) {
        let path = self.path(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create parent directories");
        }
        fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Reads `workspace/rel` as UTF-8; panics with the path when it is missing.
    pub fn read(&self, rel: impl AsRef<Path>) -> String {
        let path = self.path(rel);
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }

    /// Runs `git ARGS` in the workspace with no global or system configuration; panics on failure; returns stdout.
    pub fn git(&self, args: &[&str]) -> String {
        let git = which("git").unwrap_or_else(|| PathBuf::from("git"));
        let out = Command::new(git)
            .args(args)
            .current_dir(&self.workspace)
            .env_clear()
            .env(
                "PATH",
                std::env::join_paths(SYSTEM_PATH).expect("system PATH"),
            )
            .env("HOME", &self.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_DATE", "2025-01-01T00:00:00Z")
            .env("GIT_COMMITTER_DATE", "2025-01-01T00:00:00Z")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run git {args:?}: {e}"));
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Default for TestDir {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        procs::kill_related(self.root.path());
    }
}
