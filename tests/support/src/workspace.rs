//! A temporary workspace for running the `ralph` binary with shell-script agents (`--agent command`):
//! the prompt file, executable scripts, a `ralph` command with none of the developer's `RALPH_*` settings
//! or keys, and readers for what the run left in `.agent/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A temporary directory holding `PROMPT.md`, removed when dropped.
pub struct Workspace {
    _dir: tempfile::TempDir,
    /// The workspace (canonical path).
    pub path: PathBuf,
    ralph: PathBuf,
}

impl Workspace {
    /// A workspace whose `PROMPT.md` holds `prompt`, run with the `ralph` binary at `ralph`
    /// (`env!("CARGO_BIN_EXE_ralph")` in the test).
    pub fn new(ralph: impl AsRef<Path>, prompt: &str) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().canonicalize().expect("canonical path");
        std::fs::write(path.join("PROMPT.md"), prompt).expect("write PROMPT.md");
        Workspace {
            _dir: dir,
            path,
            ralph: ralph.as_ref().to_path_buf(),
        }
    }

    /// Writes the executable shell script `name` (`#!/bin/sh` and `body`); returns its path.
    pub fn script(&self, name: &str, body: &str) -> PathBuf {
        let p = self.path.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("write script");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        p
    }

    /// `ralph` in the workspace: stdin closed, `NO_COLOR`, and none of the `RALPH_*` or `*_API_KEY`
    /// variables of the environment the tests run in.
    pub fn ralph(&self) -> Command {
        let mut c = Command::new(&self.ralph);
        c.current_dir(&self.path)
            .stdin(Stdio::null())
            .env("NO_COLOR", "1");
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if k.starts_with("RALPH_") || k.ends_with("_API_KEY") {
                c.env_remove(k.as_ref());
            }
        }
        c
    }

    /// `.agent/state.json`, parsed.
    ///
    /// # Panics
    /// When there is none or it does not parse.
    pub fn state(&self) -> serde_json::Value {
        let text = std::fs::read(self.path.join(".agent/state.json")).expect("state.json");
        serde_json::from_slice(&text).expect("state.json parses")
    }

    /// The file `name` in the current run's directory (`.agent/runs/<run>/name`).
    ///
    /// # Panics
    /// When it cannot be read.
    pub fn run_file(&self, name: &str) -> String {
        let run = self.state()["run_id"].as_str().expect("run_id").to_string();
        let p = self.path.join(".agent/runs").join(run).join(name);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    /// The current run's iteration records (`iterations.jsonl`), none when there is no file yet.
    pub fn records(&self) -> Vec<serde_json::Value> {
        let run = self.state()["run_id"].as_str().expect("run_id").to_string();
        std::fs::read_to_string(
            self.path
                .join(".agent/runs")
                .join(run)
                .join("iterations.jsonl"),
        )
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a record parses"))
        .collect()
    }

    /// Lines in the workspace file `file` (0 when it does not exist): how many runs a counting agent made.
    pub fn count(&self, file: &str) -> usize {
        std::fs::read_to_string(self.path.join(file))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }
}
