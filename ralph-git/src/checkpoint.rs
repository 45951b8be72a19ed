//! [`GitCheckpointer`]: one commit of the workspace as `git add -A` would stage it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use gix::ObjectId;
use gix::bstr::BString;
use ralph_core::{CheckpointId, CheckpointRequest, Checkpointer};
use tracing::{debug, warn};

use crate::error::{Error, GixResultExt};
use crate::index::{self, EntryUpdate, LockState};
use crate::options::{CheckpointMode, CheckpointOptions};
use crate::repo::{self, HeadState, Workspace};
use crate::safety::{Filter, SkippedFile};
use crate::status::{self, Changes, Edit};
use crate::tree;

/// A commit id, 40 lowercase hex digits (SHA-1 repositories).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CommitId(pub String);

impl std::fmt::Display for CommitId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<ObjectId> for CommitId {
    fn from(id: ObjectId) -> Self {
        CommitId(id.to_string())
    }
}

/// What one checkpoint did.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckpointOutcome {
    /// A commit was made.
    Committed(Checkpoint),
    /// Nothing changed since the last commit (the index may still have been brought in line with the working
    /// tree, as `git add -A` would).
    Unchanged {
        /// Files left out on purpose (secrets, oversized, ...), which stay as they are.
        skipped: Vec<SkippedFile>,
    },
    /// The repository was busy; the checkpoint was skipped with a warning and the next one will try again.
    Skipped {
        /// Why.
        reason: SkipReason,
    },
}

impl CheckpointOutcome {
    /// The commit, when one was made.
    pub fn commit(&self) -> Option<&CommitId> {
        match self {
            CheckpointOutcome::Committed(checkpoint) => Some(&checkpoint.commit),
            _ => None,
        }
    }
}

/// A checkpoint commit that was made.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// The new commit.
    pub commit: CommitId,
    /// Its tree (what `git add -A && git write-tree` gives on the same working tree, minus skipped files).
    pub tree: CommitId,
    /// The reference that moved: the branch's full name (`refs/heads/main`), `HEAD` when detached, or
    /// `refs/ralph/checkpoints/<run>` in ref mode.
    pub reference: String,
    /// True when the commit went onto a detached `HEAD`.
    pub detached: bool,
    /// Number of files added, modified or deleted relative to the parent commit.
    pub files_changed: usize,
    /// Files left out on purpose, which stay uncommitted.
    pub skipped: Vec<SkippedFile>,
}

/// Why a checkpoint was skipped. Each is temporary: the next checkpoint tries again.
///
/// `#[non_exhaustive]`: variants will be added in minor releases; match with a `_` arm.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// A merge, rebase, cherry-pick, revert, bisect or `git am` is in progress.
    OperationInProgress {
        /// Which, e.g. `Merge`.
        operation: String,
    },
    /// The index has unresolved conflicts.
    Conflicts {
        /// The conflicted paths, repository-relative.
        paths: Vec<PathBuf>,
    },
    /// Another process held `index.lock` for longer than the lock timeout. The lock is never removed.
    IndexLocked {
        /// The lock file.
        lock: PathBuf,
    },
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::OperationInProgress { operation } => {
                write!(f, "a git {operation} is in progress; finish or abort it")
            }
            SkipReason::Conflicts { paths } => {
                let paths: Vec<_> = paths.iter().map(|p| p.display().to_string()).collect();
                write!(
                    f,
                    "the index has unresolved conflicts in {}",
                    paths.join(", ")
                )
            }
            SkipReason::IndexLocked { lock } => write!(
                f,
                "{} is held by another git process (if none is running, it is stale: remove it yourself)",
                lock.display()
            ),
        }
    }
}

/// Commits the workspace between iterations (see the crate docs for what is and is not committed).
///
/// Cheap to clone; each checkpoint opens the repository afresh, so it sees whatever the agent did to it.
#[derive(Debug, Clone)]
pub struct GitCheckpointer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    workspace: PathBuf,
    options: CheckpointOptions,
}

impl GitCheckpointer {
    /// A checkpointer for the repository that contains `workspace`.
    ///
    /// When `workspace` is a subdirectory of the repository's working tree, only files inside it are committed.
    ///
    /// # Errors
    /// [`Error::NotARepository`] (see [`Error::is_not_a_repository`]) when `workspace` is not inside a git
    /// repository: the CLI warns once and runs with `NoCheckpoints`, or calls [`crate::init_repository`] first
    /// for `--git-init`. [`Error::BareRepository`], [`Error::Io`] or [`Error::Git`] when it cannot be used.
    pub fn open(workspace: impl Into<PathBuf>, options: CheckpointOptions) -> Result<Self, Error> {
        let workspace = workspace.into();
        repo::open(&workspace)?;
        Ok(GitCheckpointer {
            inner: Arc::new(Inner { workspace, options }),
        })
    }

    /// The workspace this checkpointer commits.
    pub fn workspace(&self) -> &Path {
        &self.inner.workspace
    }

    /// The options it was opened with.
    pub fn options(&self) -> &CheckpointOptions {
        &self.inner.options
    }

    /// Takes a checkpoint, blocking the calling thread (gitoxide is synchronous). The state directory
    /// left out is [`CheckpointRequest::state_dir`] when the request names one (the engine always
    /// does), else [`CheckpointOptions::state_dir`].
    ///
    /// # Errors
    /// [`Error`] when the repository cannot be read or written; busy repositories are not errors but
    /// [`CheckpointOutcome::Skipped`].
    pub fn checkpoint_blocking(
        &self,
        request: &CheckpointRequest,
    ) -> Result<CheckpointOutcome, Error> {
        let ws = repo::open(&self.inner.workspace)?;
        // The engine names its state directory in every request: that one is left out, whatever the
        // options say.
        let with_request_dir;
        let options = match &request.state_dir {
            Some(dir) if *dir != self.inner.options.state_dir => {
                with_request_dir = CheckpointOptions {
                    state_dir: dir.clone(),
                    ..self.inner.options.clone()
                };
                &with_request_dir
            }
            _ => &self.inner.options,
        };
        let message = crate::commit::checkpoint_message(request);
        let target = match options.mode {
            CheckpointMode::Branch => Target::Head,
            CheckpointMode::Ref => Target::Ref(crate::commit::checkpoint_ref(&request.run_id)),
        };
        save(&ws, options, &target, &message)
    }

    /// Takes a checkpoint on tokio's blocking thread pool and returns what it did.
    ///
    /// # Errors
    /// As [`Self::checkpoint_blocking`], plus [`Error::Task`] if the blocking task panicked.
    pub async fn checkpoint_detailed(
        &self,
        request: &CheckpointRequest,
    ) -> Result<CheckpointOutcome, Error> {
        let this = self.clone();
        let request = request.clone();
        tokio::task::spawn_blocking(move || this.checkpoint_blocking(&request)).await?
    }
}

#[async_trait]
impl Checkpointer for GitCheckpointer {
    async fn checkpoint(
        &self,
        request: &CheckpointRequest,
    ) -> Result<Option<CheckpointId>, ralph_core::Error> {
        let outcome = self.checkpoint_detailed(request).await?;
        Ok(outcome.commit().map(|id| CheckpointId(id.0.clone())))
    }
}

/// Where a commit goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// Through `HEAD`, then the index is updated.
    Head,
    /// To this ref; `HEAD` and the index are left alone.
    Ref(String),
}

/// The workspace as `git add -A` would stage it, written as a tree.
pub(crate) struct Snapshot {
    /// `HEAD` when the snapshot was taken.
    pub head: HeadState,
    /// The tree.
    pub tree: ObjectId,
    /// The per-path changes it was built from.
    pub changes: Changes,
}

/// Reads the index (under the lock, if the caller holds it) and builds the snapshot tree. Returns `Err(reason)`
/// when the repository is in a state that must not be checkpointed.
pub(crate) fn snapshot(
    ws: &Workspace,
    filter: &Filter,
) -> Result<Result<(Snapshot, gix::index::File), SkipReason>, Error> {
    let repo = &ws.repo;
    let head = repo::head_state(repo)?;
    let index = repo.index_or_empty().ctx("read the index")?;
    let conflicts = status::conflicts(ws, &index);
    if !conflicts.is_empty() {
        let paths = conflicts
            .iter()
            .map(|p| crate::paths::to_native(p.as_ref()))
            .collect();
        return Ok(Err(SkipReason::Conflicts { paths }));
    }
    let changes = status::collect(ws, &index, head.tree, filter)?;
    let tree = tree::build(repo, head.tree, &changes.merged())?;
    let index_file = gix::index::File::clone(&index);
    Ok(Ok((
        Snapshot {
            head,
            tree,
            changes,
        },
        index_file,
    )))
}

/// The operation in progress that forbids commits, if any.
pub(crate) fn operation_in_progress(repo: &gix::Repository) -> Option<SkipReason> {
    repo.state().map(|state| SkipReason::OperationInProgress {
        operation: format!("{state:?}"),
    })
}

/// Commits the workspace to `target` with `message`, or reports why not.
pub(crate) fn save(
    ws: &Workspace,
    options: &CheckpointOptions,
    target: &Target,
    message: &str,
) -> Result<CheckpointOutcome, Error> {
    let repo = &ws.repo;
    if let Some(reason) = operation_in_progress(repo) {
        return Ok(skipped(reason));
    }
    let lock = match target {
        Target::Head => match index::lock(repo, options.lock_timeout)? {
            LockState::Held(lock) => Some(lock),
            LockState::Busy(lock) => return Ok(skipped(SkipReason::IndexLocked { lock })),
        },
        Target::Ref(_) => match index::wait_unlocked(repo, options.lock_timeout) {
            Some(lock) => return Ok(skipped(SkipReason::IndexLocked { lock })),
            None => None,
        },
    };
    let filter = Filter::new(options, ws);
    let (snapshot, mut index_file) = match snapshot(ws, &filter)? {
        Ok(found) => found,
        Err(reason) => return Ok(skipped(reason)),
    };
    let skipped_files = snapshot.changes.skipped_files();
    report_skipped_files(&skipped_files);

    let (reference, parent) = match target {
        Target::Head => (snapshot.head.describe(), snapshot.head.commit),
        Target::Ref(name) => {
            let tip = repo
                .try_find_reference(name.as_str())
                .ctx(&format!("read {name}"))?
                .map(|mut r| r.peel_to_id().map(|id| id.detach()))
                .transpose()
                .ctx(&format!("read {name}"))?;
            (name.clone(), tip.or(snapshot.head.commit))
        }
    };
    let parent_tree = match parent {
        Some(id) => tree::of_commit(repo, id)?,
        None => ObjectId::empty_tree(repo.object_hash()),
    };

    let index_updates = index_updates(&snapshot.changes);
    if snapshot.tree == parent_tree {
        if let Some(lock) = lock {
            // Nothing to commit, but the index may lag behind the working tree (`git rm --cached` of a file
            // that is still there): bring it in line, as `git add -A` would.
            if index::apply(&mut index_file, &index_updates) {
                index::write(repo, &mut index_file, lock)?;
            }
        }
        debug!("checkpoint: nothing changed");
        return Ok(CheckpointOutcome::Unchanged {
            skipped: skipped_files,
        });
    }

    let files_changed = tree::changes(repo, parent_tree, snapshot.tree)?.len();
    let reference_name = match target {
        Target::Head => "HEAD",
        Target::Ref(name) => name.as_str(),
    };
    let parents: Vec<ObjectId> = parent.into_iter().collect();
    let commit = crate::commit::commit(
        repo,
        reference_name,
        message,
        snapshot.tree,
        &parents,
        &options.fallback_identity,
    )?;
    if let Some(lock) = lock {
        index::apply(&mut index_file, &index_updates);
        index::write(repo, &mut index_file, lock)?;
    }
    let detached = *target == Target::Head && snapshot.head.is_detached();
    if detached {
        warn!(
            commit = %commit,
            "HEAD is detached: the checkpoint was committed on the detached HEAD, not on a branch; `git switch -c NAME` keeps it on one"
        );
    }
    debug!(commit = %commit, reference = %reference, files_changed, "checkpoint committed");
    Ok(CheckpointOutcome::Committed(Checkpoint {
        commit: commit.into(),
        tree: snapshot.tree.into(),
        reference,
        detached,
        files_changed,
        skipped: skipped_files,
    }))
}

fn skipped(reason: SkipReason) -> CheckpointOutcome {
    warn!(%reason, "checkpoint skipped; the next one will try again");
    CheckpointOutcome::Skipped { reason }
}

/// The index changes that make the index match the snapshot: the working-tree edits, plus stat refreshes.
pub(crate) fn index_updates(changes: &Changes) -> BTreeMap<BString, EntryUpdate> {
    let mut updates: BTreeMap<BString, EntryUpdate> = changes
        .refreshed
        .iter()
        .map(|(path, stat)| (path.clone(), EntryUpdate::Refresh(*stat)))
        .collect();
    for (path, edit) in &changes.worktree {
        let update = match edit {
            Edit::Remove => EntryUpdate::Remove,
            Edit::Upsert {
                kind,
                id,
                stat: Some(stat),
            } => EntryUpdate::Set {
                kind: *kind,
                id: *id,
                stat: *stat,
            },
            Edit::Upsert { stat: None, .. } => continue,
        };
        updates.insert(path.clone(), update);
    }
    updates
}

/// At most this many skipped files are named in the log per checkpoint; the rest are counted.
const MAX_SKIPPED_LOGGED: usize = 20;

fn report_skipped_files(skipped: &[SkippedFile]) {
    for file in skipped.iter().take(MAX_SKIPPED_LOGGED) {
        warn!(path = %file.path.display(), reason = %file.reason, "not checkpointed");
    }
    if skipped.len() > MAX_SKIPPED_LOGGED {
        warn!(
            more = skipped.len() - MAX_SKIPPED_LOGGED,
            "more files not checkpointed; see `git status`"
        );
    }
}
