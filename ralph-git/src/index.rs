//! The index: taking `index.lock` like git does (waiting briefly, never deleting someone else's), and updating
//! the index after a commit so that it matches the new tree and `git status` is clean.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use gix::ObjectId;
use gix::bstr::{BStr, BString};
use gix::index::entry::{Flags, Mode, Stage, Stat};
use gix::objs::tree::EntryKind;

use crate::error::{Error, GixResultExt};

/// `index.lock`, held by us until the new index is committed or the lock is dropped (which removes only our
/// own lock file).
pub(crate) struct IndexLock {
    file: gix::lock::File,
}

impl std::fmt::Debug for IndexLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexLock")
            .field("path", &self.file.lock_path())
            .finish()
    }
}

/// Why the lock could not be had.
#[derive(Debug)]
pub(crate) enum LockState {
    /// We hold it.
    Held(IndexLock),
    /// Another process still held it after the timeout; this is its path.
    Busy(PathBuf),
}

/// Takes `index.lock`, retrying with backoff for up to `timeout` while another process holds it.
///
/// # Errors
/// [`Error::Git`] when the lock cannot be created for another reason (permissions, missing directory).
pub(crate) fn lock(repo: &gix::Repository, timeout: Duration) -> Result<LockState, Error> {
    let index_path = repo.index_path();
    let lock_path = lock_path_of(&index_path);
    let start = Instant::now();
    let mut delay = Duration::from_millis(10);
    loop {
        let attempt = gix::lock::File::acquire_to_update_resource(
            &index_path,
            gix::lock::acquire::Fail::Immediately,
            None,
            0,
        );
        match attempt {
            Ok(file) => return Ok(LockState::Held(IndexLock { file })),
            Err(err) => {
                if start.elapsed() >= timeout {
                    return if lock_path.exists() {
                        Ok(LockState::Busy(lock_path))
                    } else {
                        Err(Error::git("lock the index", err))
                    };
                }
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_millis(200));
            }
        }
    }
}

/// Waits up to `timeout` for another process's `index.lock` to go away, without taking it (ref mode must
/// leave the index untouched). Returns the lock's path if it is still there.
pub(crate) fn wait_unlocked(repo: &gix::Repository, timeout: Duration) -> Option<PathBuf> {
    let lock_path = lock_path_of(&repo.index_path());
    let start = Instant::now();
    let mut delay = Duration::from_millis(10);
    while lock_path.exists() {
        if start.elapsed() >= timeout {
            return Some(lock_path);
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(200));
    }
    None
}

fn lock_path_of(index_path: &std::path::Path) -> PathBuf {
    let mut name = index_path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// How one index entry changes.
#[derive(Debug, Clone)]
pub(crate) enum EntryUpdate {
    /// Remove the unconflicted entry at this path.
    Remove,
    /// Set the entry at this path (adding it if missing).
    Set {
        /// Blob, executable or link.
        kind: EntryKind,
        /// The blob.
        id: ObjectId,
        /// The working-tree file's stat when the blob was read from (or written to) it.
        stat: Stat,
    },
    /// Only refresh the stat of an entry whose content did not change.
    Refresh(Stat),
}

/// Applies `updates` to `state` and returns whether anything changed. Entries not mentioned keep their stat and
/// flags, so git does not have to look at their files again.
pub(crate) fn apply(
    state: &mut gix::index::State,
    updates: &BTreeMap<BString, EntryUpdate>,
) -> bool {
    let mut changed = false;
    let mut removals: BTreeSet<&BStr> = BTreeSet::new();
    let mut additions = Vec::new();
    for (path, update) in updates {
        let path = path.as_ref();
        let existing = state.entry_index_by_path_and_stage(path, Stage::Unconflicted);
        match (update, existing) {
            (EntryUpdate::Remove, Some(_)) => {
                removals.insert(path);
            }
            (EntryUpdate::Remove | EntryUpdate::Refresh(_), None) => {}
            (EntryUpdate::Refresh(stat), Some(idx)) => {
                state.entries_mut()[idx].stat = *stat;
            }
            (EntryUpdate::Set { kind, id, stat }, Some(idx)) => {
                let entry = &mut state.entries_mut()[idx];
                let mode = Mode::from(gix::objs::tree::EntryMode::from(*kind));
                changed |= entry.id != *id
                    || entry.mode != mode
                    || entry.flags.contains(Flags::INTENT_TO_ADD);
                entry.id = *id;
                entry.mode = mode;
                entry.stat = *stat;
                entry.flags.remove(Flags::INTENT_TO_ADD);
            }
            (EntryUpdate::Set { kind, id, stat }, None) => {
                additions.push((path, *kind, *id, *stat))
            }
        }
    }
    if !removals.is_empty() {
        changed = true;
        state.remove_entries(|_, path, entry| {
            entry.stage() == Stage::Unconflicted && removals.contains(path)
        });
    }
    if !additions.is_empty() {
        changed = true;
        for (path, kind, id, stat) in additions {
            let mode = Mode::from(gix::objs::tree::EntryMode::from(kind));
            state.dangerously_push_entry(stat, id, Flags::empty(), mode, path);
        }
        state.sort_entries();
    }
    changed
}

/// Writes `index` through `lock` and renames it into place.
///
/// The tree-cache extension is dropped (gix does not recompute it, and a stale one would make `git commit`
/// reuse outdated subtrees); so are the untracked cache and the fsmonitor data, which git rebuilds.
pub(crate) fn write(
    repo: &gix::Repository,
    index: &mut gix::index::File,
    lock: IndexLock,
) -> Result<(), Error> {
    index.remove_tree();
    let skip_hash = repo
        .config_snapshot()
        .boolean("index.skipHash")
        .unwrap_or(false);
    let options = gix::index::write::Options {
        extensions: gix::index::write::Extensions::Given {
            tree_cache: false,
            end_of_index_entry: true,
        },
        skip_hash,
    };
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, lock.file);
    // `File::write_to` (not `State::write_to`) appends the checksum git verifies.
    index.write_to(&mut out, options).ctx("write the index")?;
    out.flush()
        .map_err(|e| Error::io("write", repo.index_path(), e))?;
    let file = out
        .into_inner()
        .map_err(|e| Error::io("write", repo.index_path(), e.into_error()))?;
    file.commit()
        .map_err(|e| Error::io("replace", repo.index_path(), e.error))?;
    Ok(())
}
