//! The crate's single error type, and its conversion into the engine's [`ralph_core::Error`].

use std::path::PathBuf;

/// Errors of `ralph-git`.
///
/// A checkpoint that is merely *skipped* (merge in progress, `index.lock` held, ...) is not an error: see
/// [`crate::CheckpointOutcome::Skipped`]. These variants mean the operation could not be done at all.
///
/// `#[non_exhaustive]`: variants will be added in minor releases; match with a `_` arm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The workspace is not inside a git repository. The CLI warns once and runs without checkpoints, or
    /// creates one with [`crate::init_repository`] (`--git-init`).
    #[error(
        "{} is not inside a git repository: run `git init` there, or pass `--git-init` to let ralph create one, or `--no-git` to run without checkpoints",
        path.display()
    )]
    NotARepository {
        /// The workspace that was searched from.
        path: PathBuf,
    },
    /// The repository has no working tree (a bare repository), so there is nothing to checkpoint.
    #[error("{} is a bare git repository: checkpoints need a working tree", path.display())]
    BareRepository {
        /// The repository's git directory.
        path: PathBuf,
    },
    /// A gitoxide operation failed.
    #[error("git: could not {action}: {source}")]
    Git {
        /// What was being done, phrased to follow "could not".
        action: String,
        /// The gitoxide error.
        #[source]
        source: gix::Error,
    },
    /// Reading or writing a file of the workspace failed.
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        /// What was being done, phrased to follow "could not".
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// `rollback` would overwrite changes that are not committed, or untracked or ignored files.
    #[error(
        "the rollback would overwrite uncommitted changes or untracked files: {}; commit, move or delete them, or let ralph checkpoint them first (`ralph rollback --checkpoint-first <id>`; ignored, secret-looking and oversized files are never checkpointed)",
        files.join(", ")
    )]
    DirtyWorkspace {
        /// Repository-relative paths of the changed files (at most 20, then `... and N more`).
        files: Vec<String>,
    },
    /// No checkpoint commit matches the id given to `rollback`.
    #[error("no ralph checkpoint matches `{id}`; `ralph checkpoints` lists them")]
    UnknownCheckpoint {
        /// The id (or prefix) that was asked for.
        id: String,
    },
    /// More than one checkpoint starts with the prefix given to `rollback`.
    #[error("checkpoint id `{id}` is ambiguous, it matches {}; give more characters", candidates.join(", "))]
    AmbiguousCheckpoint {
        /// The prefix that was asked for.
        id: String,
        /// Full ids of the matching checkpoints.
        candidates: Vec<String>,
    },
    /// The repository is busy (merge or rebase in progress, conflicts, `index.lock` held) and the operation
    /// cannot wait for the next iteration the way a checkpoint can.
    #[error("cannot {action} now: {reason}")]
    Busy {
        /// What was refused, phrased to follow "cannot".
        action: &'static str,
        /// Why.
        reason: crate::SkipReason,
    },
    /// The blocking task that ran gitoxide panicked or was cancelled.
    #[error("the git checkpoint task did not finish: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl Error {
    /// Wraps a gitoxide error with what was being done ("could not `action`").
    pub(crate) fn git(action: impl Into<String>, source: gix::Error) -> Self {
        Error::Git {
            action: action.into(),
            source,
        }
    }

    /// Wraps an I/O error on `path` with what was being done ("could not `action` `path`").
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// True when the workspace is not inside a git repository (the CLI then runs without checkpoints).
    pub fn is_not_a_repository(&self) -> bool {
        matches!(self, Error::NotARepository { .. })
    }
}

/// Extension to attach "could not ..." context to gitoxide results.
pub(crate) trait GixResultExt<T> {
    /// Maps the error into [`Error::Git`] with `action`.
    fn ctx(self, action: &str) -> Result<T, Error>;
}

impl<T, E: Into<gix::Error>> GixResultExt<T> for Result<T, E> {
    fn ctx(self, action: &str) -> Result<T, Error> {
        self.map_err(|e| Error::git(action, e.into()))
    }
}

impl From<Error> for ralph_core::Error {
    fn from(error: Error) -> Self {
        ralph_core::Error::Checkpoint {
            message: error.to_string(),
            source: Some(Box::new(error)),
        }
    }
}
