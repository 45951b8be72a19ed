//! Git checkpoints for ralph, with gitoxide (no `git` binary needed at run time).
//!
//! Published as `ralph-loop-git`: `cargo add ralph-loop-core ralph-loop-git`, then `use ralph_git::...`.
//!
//! [`GitCheckpointer`] implements [`ralph_core::Checkpointer`]: between iterations it commits the workspace as
//! `git add -A` would stage it (same tree id as the git CLI), with the message
//! `ralph: checkpoint <iteration> (run <id>)` and trailers `Ralph-Run-Id`, `Ralph-Iteration`, `Ralph-Agent`,
//! `Ralph-Cost-Usd` (and `Ralph-Final: true` at the end of a run).
//!
//! - **Branch mode** (default) commits through `HEAD` onto the current branch (onto the detached `HEAD` when
//!   there is no branch, with a warning; a root commit on an unborn branch), expecting `HEAD` not to have moved
//!   meanwhile, then updates the index so `git status` is clean. **Ref mode** commits to
//!   `refs/ralph/checkpoints/<run id>` and leaves the branch, `HEAD` and the index untouched.
//! - Nothing is committed when nothing changed. Never committed: files that `.gitignore` (nested files,
//!   negations, `.git/info/exclude`, `core.excludesFile`) excludes; ralph's state directory except
//!   `scratchpad.md` and `.gitignore`; untracked files that look like secrets
//!   ([`DEFAULT_SECRET_PATTERNS`]) or are larger than [`DEFAULT_MAX_UNTRACKED_FILE_SIZE`]; untracked nested
//!   repositories. Those are logged with `warn!` and reported in [`CheckpointOutcome`]. Submodules are left
//!   alone (their recorded commit only changes when you stage it).
//! - A merge, rebase, cherry-pick, revert or bisect in progress, unresolved conflicts, or an `index.lock` held by
//!   another process for longer than [`DEFAULT_LOCK_TIMEOUT`] skip the checkpoint with a warning
//!   ([`CheckpointOutcome::Skipped`]); the next one tries again. Lock files are never deleted, nothing is ever
//!   reset or checked out over uncommitted work, no branch is ever deleted.
//! - Without a configured identity, commits are made as [`Identity::fallback`] (`ralph <ralph@localhost>`).
//!
//! Differences from the git CLI: gitoxide runs **no hooks** (`pre-commit`, `commit-msg`, ...) and does not
//! sign commits; file content is stored byte for byte, with **no end-of-line conversion and no
//! `.gitattributes` filters** (`text`/`eol`/`core.autocrlf`, Git LFS, `ident`), so in a repository relying on
//! them a checkpoint stores files as they are on disk.
//!
//! [`list_checkpoints`] and [`rollback`] back `ralph checkpoints` and `ralph rollback`.
//!
//! # Example
//!
//! A checkpoint of a fresh repository, falling back to [`ralph_core::NoCheckpoints`] outside one as `ralph
//! run` does (in a loop: `Engine::new(config, agent).with_checkpointer(checkpointer)`):
//!
//! ```
//! use ralph_core::{CheckpointRequest, Checkpointer, NoCheckpoints};
//! use ralph_git::{CheckpointOptions, GitCheckpointer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! let workspace = dir.path();
//! ralph_git::init_repository(workspace)?; // `ralph run --git-init`
//! std::fs::write(workspace.join("hello.txt"), "hello\n")?;
//!
//! let checkpointer: Box<dyn Checkpointer> = match GitCheckpointer::open(workspace, CheckpointOptions::default()) {
//!     Ok(git) => Box::new(git),
//!     Err(err) if err.is_not_a_repository() => {
//!         tracing::warn!("{err}");
//!         Box::new(NoCheckpoints)
//!     }
//!     Err(err) => return Err(err.into()),
//! };
//! let request = CheckpointRequest {
//!     run_id: "20250101-abcd".into(),
//!     iteration: 5,
//!     agent: "claude".into(),
//!     cost_usd: 0.42,
//!     is_final: false,
//!     state_dir: None, // the engine names its state directory here
//! };
//! let id = checkpointer.checkpoint(&request).await?; // `None` when nothing changed
//! println!("checkpoint {}", id.expect("hello.txt is new"));
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

mod checkpoint;
mod commit;
mod error;
mod fingerprint;
mod index;
mod list;
mod options;
mod paths;
mod repo;
mod rollback;
mod safety;
mod status;
mod tree;
mod worktree;

pub use checkpoint::{Checkpoint, CheckpointOutcome, CommitId, GitCheckpointer, SkipReason};
pub use error::Error;
pub use fingerprint::workspace_fingerprint;
pub use list::{CheckpointInfo, list_checkpoints};
pub use options::{
    CheckpointMode, CheckpointOptions, DEFAULT_LOCK_TIMEOUT, DEFAULT_MAX_UNTRACKED_FILE_SIZE,
    DEFAULT_SECRET_EXCEPTIONS, DEFAULT_SECRET_PATTERNS, Identity,
};
pub use repo::{discover_repository, init_repository};
pub use rollback::{RollbackOptions, rollback};
pub use safety::{SkipFileReason, SkippedFile};

/// The namespace of ref-mode checkpoints: `refs/ralph/checkpoints/<run id>`.
pub const CHECKPOINT_REF_PREFIX: &str = "refs/ralph/checkpoints/";

/// Compile-time check: the checkpointer's futures are `Send`, so it works inside an engine spawned with
/// `tokio::spawn`.
#[cfg(test)]
mod futures_are_send {
    use ralph_core::{CheckpointRequest, Checkpointer};

    fn assert_send<T: Send>(_: &T) {}

    #[allow(dead_code)]
    fn every_public_future_is_send(git: &crate::GitCheckpointer, request: &CheckpointRequest) {
        assert_send(&git.checkpoint_detailed(request));
        assert_send(&git.checkpoint(request));
    }
}

// The crate's README.md: its example is compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
