//! Helpers for ralph's criterion benchmarks (`cargo bench -p ralph-benches`).
//!
//! [`claude_stream`] generates Claude Code stream-json and reads it through ralph's stdout pipeline;
//! [`quick`] tells a bench that `cargo test` runs it (criterion's test mode), so it shrinks its inputs.
//!
//! [`BenchRepo`] builds a synthetic repository of small files once with the git CLI (one commit of everything),
//! and [`BenchRepo::change_files`] edits a few of them before each measured checkpoint.
//!
//! ```no_run
//! let repo = ralph_benches::BenchRepo::create(std::path::Path::new("/tmp/bench"), 1_000).unwrap();
//! repo.change_files(10, 1).unwrap();
//! ```

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

pub mod claude_stream;

/// True when the bench binary runs in criterion's test mode: without `--bench` (as `cargo test` runs it),
/// or with `--test`. Each benchmark then runs once, so the benches use small inputs (seconds in all).
pub fn quick() -> bool {
    quick_from(std::env::args().skip(1))
}

/// [`quick`] for the given arguments (criterion's own rule: test mode unless `--bench` without `--test`).
fn quick_from(args: impl Iterator<Item = String>) -> bool {
    let (mut bench, mut test) = (false, false);
    for arg in args {
        match arg.as_str() {
            "--bench" => bench = true,
            "--test" => test = true,
            _ => {}
        }
    }
    !bench || test
}

/// Files per directory in a generated repository.
const FILES_PER_DIR: usize = 100;
/// Directories per parent directory (so 100k files are `d0..d9/d0..d99/f0..f99`).
const DIRS_PER_DIR: usize = 100;

/// A generated repository with `files` committed small files and a configured identity.
#[derive(Debug, Clone)]
pub struct BenchRepo {
    path: PathBuf,
    files: usize,
}

impl BenchRepo {
    /// Creates `path` with `files` small files in nested directories and commits them all with the git CLI.
    ///
    /// # Errors
    /// I/O errors, or a git command that failed (as [`io::ErrorKind::Other`]).
    pub fn create(path: &Path, files: usize) -> io::Result<BenchRepo> {
        std::fs::create_dir_all(path)?;
        for i in 0..files {
            let file = file_path(path, i);
            if i % FILES_PER_DIR == 0 {
                std::fs::create_dir_all(file.parent().expect("files are in directories"))?;
            }
            std::fs::write(&file, format!("file {i}\n"))?;
        }
        git(path, &["init", "-q", "-b", "main"])?;
        git(path, &["config", "user.name", "Bench"])?;
        git(path, &["config", "user.email", "bench@example.com"])?;
        // A background `git gc --auto` would race with copying the repository and add noise to the timings.
        git(path, &["config", "gc.auto", "0"])?;
        git(path, &["config", "maintenance.auto", "false"])?;
        git(path, &["add", "-A"])?;
        git(path, &["commit", "-q", "-m", "generated"])?;
        Ok(BenchRepo {
            path: path.to_owned(),
            files,
        })
    }

    /// Copies the repository (working tree and `.git`) to `path` with `cp -a`.
    ///
    /// # Errors
    /// When `cp` fails.
    pub fn copy_to(&self, path: &Path) -> io::Result<BenchRepo> {
        run(Command::new("cp").arg("-a").arg(&self.path).arg(path))?;
        Ok(BenchRepo {
            path: path.to_owned(),
            files: self.files,
        })
    }

    /// The repository's working tree.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rewrites `count` files spread evenly over the repository with content unique to `round`.
    ///
    /// # Errors
    /// When a file cannot be written.
    pub fn change_files(&self, count: usize, round: u64) -> io::Result<()> {
        let step = (self.files / count.max(1)).max(1);
        for n in 0..count.min(self.files) {
            std::fs::write(file_path(&self.path, n * step), format!("round {round}\n"))?;
        }
        Ok(())
    }

    /// `git add -A && git commit -q`, the git CLI's equivalent of a checkpoint.
    ///
    /// # Errors
    /// When either command fails.
    pub fn git_add_and_commit(&self, round: u64) -> io::Result<()> {
        git(&self.path, &["add", "-A"])?;
        git(
            &self.path,
            &["commit", "-q", "-m", &format!("round {round}")],
        )
    }
}

/// Path of file number `i`: `d<i/10000>/d<i/100%100>/f<i%100>.txt`.
fn file_path(root: &Path, i: usize) -> PathBuf {
    let dir = i / FILES_PER_DIR;
    root.join(format!("d{}", dir / DIRS_PER_DIR))
        .join(format!("d{}", dir % DIRS_PER_DIR))
        .join(format!("f{}.txt", i % FILES_PER_DIR))
}

/// Runs git in `dir` without the user's or system's configuration.
fn git(dir: &Path, args: &[&str]) -> io::Result<()> {
    run(Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .args(args))
}

fn run(command: &mut Command) -> io::Result<()> {
    let output = command.output()?;
    if output.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::quick_from;

    fn quick(args: &[&str]) -> bool {
        quick_from(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn test_mode_is_criterion_s() {
        assert!(quick(&[]));
        assert!(quick(&["--test"]));
        assert!(quick(&["--bench", "--test"]));
        assert!(!quick(&["--bench"]));
        assert!(!quick(&["--bench", "checkpoint"]));
    }
}
