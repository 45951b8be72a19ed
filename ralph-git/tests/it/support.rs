//! Fixtures: real repositories built by small shell scripts with a fixed identity and dates, and the git CLI
//! as the oracle.

use std::path::{Path, PathBuf};
use std::process::Command;

use ralph_core::CheckpointRequest;
use ralph_git::{CheckpointOptions, CheckpointOutcome, GitCheckpointer};

/// Prepended to every fixture script: strict mode and a repository helper.
const PRELUDE: &str = r#"set -euo pipefail
new_repo() {
  git init -q -b main "${1:-.}"
  git -C "${1:-.}" config user.name Fixture
  git -C "${1:-.}" config user.email fixture@example.com
  git -C "${1:-.}" config core.autocrlf false
}
"#;

/// A temporary directory holding a repository (`repo/`) built by a script, and an empty `$HOME` for git.
pub struct Fixture {
    dir: tempfile::TempDir,
    iteration: std::cell::Cell<u64>,
}

impl Fixture {
    /// Runs `script` (bash) in a fresh `repo/` directory. The script usually starts with `new_repo`.
    pub fn new(script: &str) -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("repo")).unwrap();
        std::fs::create_dir(dir.path().join("home")).unwrap();
        let fixture = Fixture {
            dir,
            iteration: std::cell::Cell::new(0),
        };
        fixture.sh(script);
        fixture
    }

    /// The repository (and workspace) directory.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    /// A path inside the repository.
    pub fn file(&self, rel: &str) -> PathBuf {
        self.path().join(rel)
    }

    /// Runs a bash script in the repository with the fixture environment; returns stdout. Panics on failure.
    pub fn sh(&self, script: &str) -> String {
        self.sh_in(&self.path(), script)
    }

    /// Like [`Self::sh`] in another directory.
    pub fn sh_in(&self, dir: &Path, script: &str) -> String {
        let output = self
            .command("bash", dir)
            .arg("-c")
            .arg(format!("{PRELUDE}{script}"))
            .output()
            .expect("run bash");
        assert!(
            output.status.success(),
            "script failed:\n{script}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("utf-8 output")
    }

    /// Runs git with `args` in the repository; returns trimmed stdout. Panics on failure.
    pub fn git(&self, args: &[&str]) -> String {
        let output = self
            .command("git", &self.path())
            .args(args)
            .output()
            .expect("run git");
        assert!(
            output.status.success(),
            "git {args:?} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout)
            .expect("utf-8 output")
            .trim_end()
            .to_owned()
    }

    /// A command with a fixed identity, fixed dates and no user or system configuration.
    pub fn command(&self, program: &str, dir: &Path) -> Command {
        let home = self.dir.path().join("home");
        let mut cmd = Command::new(program);
        cmd.current_dir(dir)
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Fixture")
            .env("GIT_AUTHOR_EMAIL", "fixture@example.com")
            .env("GIT_AUTHOR_DATE", "2020-01-01T00:00:00Z")
            .env("GIT_COMMITTER_NAME", "Fixture")
            .env("GIT_COMMITTER_EMAIL", "fixture@example.com")
            .env("GIT_COMMITTER_DATE", "2020-01-01T00:00:00Z")
            .env("LC_ALL", "C")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE");
        cmd
    }

    /// A checkpointer on the repository with `options`.
    pub fn checkpointer(&self, options: CheckpointOptions) -> GitCheckpointer {
        GitCheckpointer::open(self.path(), options).expect("open the repository")
    }

    /// Takes a branch-mode checkpoint with default options (next iteration number, run `run-1`).
    pub fn checkpoint(&self) -> CheckpointOutcome {
        self.checkpoint_with(CheckpointOptions::default())
    }

    /// Takes a checkpoint with `options` (next iteration number, run `run-1`).
    pub fn checkpoint_with(&self, options: CheckpointOptions) -> CheckpointOutcome {
        let iteration = self.iteration.get() + 1;
        self.iteration.set(iteration);
        self.checkpointer(options)
            .checkpoint_blocking(&request("run-1", iteration))
            .expect("checkpoint")
    }

    /// What the git CLI stages: `git add -A && git write-tree` on a copy of the repository, after deleting
    /// `skipped` paths from the copy (files a checkpoint leaves out on purpose).
    pub fn oracle_tree(&self, skipped: &[&str]) -> String {
        let copy = self.dir.path().join("oracle");
        let _ = std::fs::remove_dir_all(&copy);
        let status = Command::new("cp")
            .arg("-a")
            .arg(self.path())
            .arg(&copy)
            .status()
            .unwrap();
        assert!(status.success(), "cp -a");
        for path in skipped {
            let path = copy.join(path);
            if path.is_dir() {
                std::fs::remove_dir_all(&path).unwrap();
            } else {
                std::fs::remove_file(&path).unwrap();
            }
        }
        let tree = self.sh_in(&copy, "git add -A && git write-tree");
        std::fs::remove_dir_all(&copy).unwrap();
        tree.trim().to_owned()
    }

    /// `git rev-parse REV`.
    pub fn rev(&self, rev: &str) -> String {
        self.git(&["rev-parse", "--verify", "-q", rev])
    }

    /// `git status --porcelain` lines (untracked files listed one by one).
    pub fn status(&self) -> Vec<String> {
        let out = self.git(&[
            "-c",
            "core.quotePath=false",
            "status",
            "--porcelain=v1",
            "--untracked-files=all",
        ]);
        out.lines().map(str::to_owned).collect()
    }

    /// Asserts `git fsck --strict` finds nothing wrong.
    pub fn assert_fsck_clean(&self) {
        let output = self
            .command("git", &self.path())
            .args(["fsck", "--strict", "--no-progress", "--no-dangling"])
            .output()
            .unwrap();
        assert!(
            output.status.success() && output.stdout.is_empty(),
            "git fsck --strict:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Paths in the tree of `rev`.
    pub fn files_in(&self, rev: &str) -> Vec<String> {
        self.git(&["ls-tree", "-r", "--name-only", "-z", rev])
            .split('\0')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// A checkpoint request for `run` and `iteration` (agent `test-agent`, 0.25 USD).
pub fn request(run: &str, iteration: u64) -> CheckpointRequest {
    CheckpointRequest {
        run_id: run.to_owned(),
        iteration,
        agent: "test-agent".to_owned(),
        cost_usd: 0.25,
        is_final: false,
        state_dir: None,
    }
}

/// The commit of a checkpoint that must have committed.
pub fn committed(outcome: &CheckpointOutcome) -> &ralph_git::Checkpoint {
    match outcome {
        CheckpointOutcome::Committed(checkpoint) => checkpoint,
        other => panic!("expected a commit, got {other:?}"),
    }
}

/// Asserts a branch-mode checkpoint committed exactly what `git add -A` stages (minus `skipped`), that `git
/// status` is clean except for the `skipped` files (untracked), and that `git fsck` is clean.
pub fn assert_checkpoint_matches_git(fx: &Fixture, outcome: &CheckpointOutcome, skipped: &[&str]) {
    let checkpoint = committed(outcome);
    assert_eq!(
        fx.rev("HEAD"),
        checkpoint.commit.0,
        "HEAD is the checkpoint"
    );
    // Before anything refreshes the index: every entry's stat must match its file, or git would hash them all.
    assert_eq!(
        fx.git(&["diff-files", "--name-only"]),
        "",
        "index entries whose stat does not match the file"
    );
    assert_eq!(
        checkpoint.tree.0,
        fx.oracle_tree(skipped),
        "tree equals `git add -A && git write-tree`"
    );
    let expected_status: Vec<String> = skipped.iter().map(|p| format!("?? {p}")).collect();
    let mut status = fx.status();
    status.sort();
    let mut expected_status = expected_status;
    expected_status.sort();
    assert_eq!(status, expected_status, "git status after the checkpoint");
    fx.assert_fsck_clean();
}
