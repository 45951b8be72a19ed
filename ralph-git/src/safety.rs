//! What is never committed even though `git add -A` would take it: ralph's own runtime files, untracked files
//! that look like secrets, and untracked files that are too large.

use std::path::{Path, PathBuf};

use gix::bstr::{BStr, BString, ByteSlice};
use gix::glob::wildmatch::Mode;

use crate::options::CheckpointOptions;
use crate::repo::Workspace;

/// A file that a checkpoint left out on purpose; it stays as it is in the working tree (untracked, or with its
/// changes uncommitted) and is reported again at every checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedFile {
    /// Path relative to the repository root.
    pub path: PathBuf,
    /// Why it was left out.
    pub reason: SkipFileReason,
}

/// Why a file was left out of a checkpoint.
///
/// `#[non_exhaustive]`: variants will be added in minor releases; match with a `_` arm.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipFileReason {
    /// An untracked file whose name matches a secret pattern (`pattern`).
    Secret {
        /// The [`CheckpointOptions::secret_patterns`] entry that matched.
        pattern: String,
    },
    /// An untracked file larger than [`CheckpointOptions::max_untracked_file_size`].
    TooLarge {
        /// The file's size, bytes.
        size: u64,
        /// The limit, bytes.
        limit: u64,
    },
    /// One of ralph's runtime files in its state directory.
    StateDir,
    /// An untracked directory that is a git repository of its own; it is not turned into a submodule.
    EmbeddedRepository,
    /// Something git cannot store (a named pipe, a socket, a device).
    Unsupported,
}

impl std::fmt::Display for SkipFileReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipFileReason::Secret { pattern } => {
                write!(
                    f,
                    "looks like a secret (matches `{pattern}`); commit it yourself if it is not one"
                )
            }
            SkipFileReason::TooLarge { size, limit } => {
                write!(
                    f,
                    "untracked and {size} bytes, over the {limit}-byte limit; commit it yourself to keep it"
                )
            }
            SkipFileReason::StateDir => f.write_str("ralph's runtime state, never committed"),
            SkipFileReason::EmbeddedRepository => f.write_str(
                "a git repository of its own; add it as a submodule yourself if you want it",
            ),
            SkipFileReason::Unsupported => {
                f.write_str("not a regular file, symbolic link or directory")
            }
        }
    }
}

/// The rules of one checkpoint, resolved against the repository.
pub(crate) struct Filter {
    /// The state directory relative to the repository root, when it is inside the working tree.
    state_dir: Option<BString>,
    secret_patterns: Vec<String>,
    secret_exceptions: Vec<String>,
    max_untracked_file_size: u64,
}

/// The files of the state directory that belong to the project (ralph's `.gitignore` lets them through too).
const STATE_DIR_KEPT: &[&str] = &["scratchpad.md", ".gitignore"];

impl Filter {
    /// Resolves `options` for the repository of `ws`.
    pub fn new(options: &CheckpointOptions, ws: &Workspace) -> Filter {
        let workspace = ws.workdir.join(crate::paths::to_native(ws.scope.prefix()));
        let state_dir = resolve_dir(&workspace.join(&options.state_dir));
        let state_dir = state_dir
            .strip_prefix(&ws.workdir)
            .ok()
            .map(crate::paths::to_repo)
            .filter(|rel| !rel.is_empty());
        Filter {
            state_dir,
            secret_patterns: options.secret_patterns.clone(),
            secret_exceptions: options.secret_exceptions.clone(),
            max_untracked_file_size: options.max_untracked_file_size,
        }
    }

    /// True for a path inside the state directory other than `scratchpad.md` and `.gitignore` at its top.
    pub fn is_state_file(&self, path: &BStr) -> bool {
        let Some(dir) = &self.state_dir else {
            return false;
        };
        let Some(rest) = path
            .strip_prefix(dir.as_bytes())
            .and_then(|rest| rest.strip_prefix(b"/"))
        else {
            return false;
        };
        !STATE_DIR_KEPT.iter().any(|kept| rest == kept.as_bytes())
    }

    /// The secret pattern that `path` matches, unless an exception matches too.
    pub fn secret_pattern(&self, path: &BStr) -> Option<&str> {
        let pattern = self
            .secret_patterns
            .iter()
            .find(|p| glob_matches(p, path))?;
        if self.secret_exceptions.iter().any(|p| glob_matches(p, path)) {
            return None;
        }
        Some(pattern)
    }

    /// Why an untracked file of `size` bytes at `path` must be skipped, if it must.
    pub fn untracked_skip_reason(&self, path: &BStr, size: u64) -> Option<SkipFileReason> {
        if self.is_state_file(path) {
            return Some(SkipFileReason::StateDir);
        }
        if let Some(pattern) = self.secret_pattern(path) {
            return Some(SkipFileReason::Secret {
                pattern: pattern.to_owned(),
            });
        }
        (size > self.max_untracked_file_size).then_some(SkipFileReason::TooLarge {
            size,
            limit: self.max_untracked_file_size,
        })
    }
}

/// `.gitignore`-style matching: a pattern without `/` matches the file name, one with `/` the whole path.
fn glob_matches(pattern: &str, path: &BStr) -> bool {
    let pattern = pattern.trim_start_matches('/');
    let subject = if pattern.contains('/') {
        path
    } else {
        path.rsplit_str("/").next().unwrap_or_default().as_bstr()
    };
    gix::glob::wildmatch(pattern.into(), subject, Mode::NO_MATCH_SLASH_LITERAL)
}

/// Canonicalises `dir` as far as it exists, so a state directory that is a symlink, or that does not exist yet,
/// still compares correctly with the canonical working tree.
fn resolve_dir(dir: &Path) -> PathBuf {
    if let Ok(canonical) = dir.canonicalize() {
        return canonical;
    }
    match (dir.parent(), dir.file_name()) {
        (Some(parent), Some(name)) => resolve_dir(parent).join(name),
        _ => dir.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(state_dir: Option<&str>) -> Filter {
        let options = CheckpointOptions::default();
        Filter {
            state_dir: state_dir.map(BString::from),
            secret_patterns: options.secret_patterns,
            secret_exceptions: options.secret_exceptions,
            max_untracked_file_size: 100,
        }
    }

    #[test]
    fn secret_patterns_match_file_names_in_any_directory() {
        let f = filter(None);
        for path in [
            ".env",
            "app/.env.local",
            "certs/server.pem",
            "home/.ssh/id_rsa",
            "x/id_ed25519.pub",
        ] {
            assert!(f.secret_pattern(path.into()).is_some(), "{path}");
        }
        for path in [
            "environment.md",
            ".env.example",
            "src/key.rs",
            "keys/README",
            "envelope",
        ] {
            assert_eq!(f.secret_pattern(path.into()), None, "{path}");
        }
    }

    #[test]
    fn only_scratchpad_and_gitignore_of_the_state_dir_are_project_files() {
        let f = filter(Some("sub/.agent"));
        assert!(f.is_state_file("sub/.agent/state.json".into()));
        assert!(f.is_state_file("sub/.agent/runs/1/iterations.jsonl".into()));
        assert!(!f.is_state_file("sub/.agent/scratchpad.md".into()));
        assert!(!f.is_state_file("sub/.agent/.gitignore".into()));
        assert!(!f.is_state_file("sub/.agentx/state.json".into()));
        assert!(!f.is_state_file("other/.agent/state.json".into()));
    }

    #[test]
    fn oversized_untracked_files_are_skipped_with_their_size() {
        let f = filter(None);
        assert_eq!(f.untracked_skip_reason("a.bin".into(), 100), None);
        assert_eq!(
            f.untracked_skip_reason("a.bin".into(), 101),
            Some(SkipFileReason::TooLarge {
                size: 101,
                limit: 100
            })
        );
    }
}
