//! What a [`crate::GitCheckpointer`] can be told: where commits go, what never to commit, who commits.

use std::path::PathBuf;
use std::time::Duration;

/// Untracked files larger than this are never committed (warned about and skipped): 10 MiB.
///
/// Tracked files are committed whatever their size: git already holds them.
pub const DEFAULT_MAX_UNTRACKED_FILE_SIZE: u64 = 10 * 1024 * 1024;

/// How long a checkpoint waits for another process's `.git/index.lock` to go away before it skips: 2 s.
///
/// The lock is never deleted: a stale one left by a crashed git is for the user to remove.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(2);

/// Untracked files whose name matches one of these patterns are never committed (warned about and skipped).
///
/// Patterns use `.gitignore` glob syntax: a pattern without `/` matches the file name in any directory, one
/// with `/` matches the repository-relative path. Tracked files are not filtered: they are already in history.
pub const DEFAULT_SECRET_PATTERNS: &[&str] = &[
    ".env",
    ".env.*",
    "*.pem",
    "*.key",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "*.kdbx",
    ".netrc",
    ".pgpass",
    ".git-credentials",
    ".npmrc",
    ".pypirc",
    "credentials.json",
    "service-account*.json",
];

/// Exceptions to [`DEFAULT_SECRET_PATTERNS`]: templates that projects commit on purpose.
pub const DEFAULT_SECRET_EXCEPTIONS: &[&str] =
    &[".env.example", ".env.sample", ".env.template", ".env.dist"];

/// Where checkpoint commits go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CheckpointMode {
    /// On the current branch through `HEAD` (or on the detached `HEAD`); the index is rewritten afterwards so
    /// `git status` is clean.
    #[default]
    Branch,
    /// On `refs/ralph/checkpoints/<run id>`; the branch, `HEAD` and the index are left untouched.
    Ref,
}

/// A commit author/committer name and email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Name, e.g. `ralph`.
    pub name: String,
    /// Email, e.g. `ralph@localhost`.
    pub email: String,
}

impl Identity {
    /// The identity used when git has none configured (`user.name`/`user.email`, `GIT_AUTHOR_*`,
    /// `GIT_COMMITTER_*`): `ralph <ralph@localhost>`.
    pub fn fallback() -> Self {
        Identity {
            name: "ralph".to_owned(),
            email: "ralph@localhost".to_owned(),
        }
    }
}

/// Options of a [`crate::GitCheckpointer`] (and of [`crate::rollback`]). `Default` gives the documented defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointOptions {
    /// Branch (default) or ref mode.
    pub mode: CheckpointMode,
    /// ralph's state directory, relative to the workspace unless absolute (default `.agent`). Nothing in it is
    /// ever committed except `scratchpad.md` and `.gitignore` at its top level, whatever `.gitignore` says.
    /// Checkpoints taken by the engine leave out the state directory it names in each
    /// [`ralph_core::CheckpointRequest`] instead (so an engine user sets it once, in
    /// `EngineConfig::state_dir`); this one serves requests without one and [`crate::rollback`].
    pub state_dir: PathBuf,
    /// Untracked files larger than this many bytes are skipped (default [`DEFAULT_MAX_UNTRACKED_FILE_SIZE`]).
    pub max_untracked_file_size: u64,
    /// Untracked files matching these are skipped (default [`DEFAULT_SECRET_PATTERNS`]).
    pub secret_patterns: Vec<String>,
    /// Files matching these are not treated as secrets (default [`DEFAULT_SECRET_EXCEPTIONS`]).
    pub secret_exceptions: Vec<String>,
    /// Author and committer when git has no identity configured (default [`Identity::fallback`]).
    pub fallback_identity: Identity,
    /// How long to wait for another process's `index.lock` (default [`DEFAULT_LOCK_TIMEOUT`]).
    pub lock_timeout: Duration,
}

impl Default for CheckpointOptions {
    fn default() -> Self {
        CheckpointOptions {
            mode: CheckpointMode::Branch,
            state_dir: PathBuf::from(".agent"),
            max_untracked_file_size: DEFAULT_MAX_UNTRACKED_FILE_SIZE,
            secret_patterns: DEFAULT_SECRET_PATTERNS
                .iter()
                .map(|p| (*p).to_owned())
                .collect(),
            secret_exceptions: DEFAULT_SECRET_EXCEPTIONS
                .iter()
                .map(|p| (*p).to_owned())
                .collect(),
            fallback_identity: Identity::fallback(),
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
        }
    }
}
