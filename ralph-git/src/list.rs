//! `ralph checkpoints`: the checkpoint commits in the current branch's history and in
//! `refs/ralph/checkpoints/*`, read back from their trailers.

use std::collections::HashSet;
use std::path::Path;

use gix::ObjectId;

use crate::checkpoint::CommitId;
use crate::commit::{
    self, TRAILER_AGENT, TRAILER_COST, TRAILER_FINAL, TRAILER_ITERATION, TRAILER_RUN_ID,
};
use crate::error::{Error, GixResultExt};
use crate::repo;
use crate::tree;

/// One checkpoint commit.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointInfo {
    /// The commit id.
    pub id: CommitId,
    /// The run that made it (`Ralph-Run-Id` trailer).
    pub run_id: String,
    /// The iteration it followed (`Ralph-Iteration` trailer; 0 if missing or unreadable).
    pub iteration: u64,
    /// The agent of that iteration (`Ralph-Agent` trailer).
    pub agent: Option<String>,
    /// The run's cost when it was made, USD (`Ralph-Cost-Usd` trailer).
    pub cost_usd: Option<f64>,
    /// True for the checkpoint taken when the run ended (`Ralph-Final: true`).
    pub is_final: bool,
    /// Commit time, seconds since the Unix epoch (UTC).
    pub time: i64,
    /// Files added, modified or deleted relative to its first parent (all its files for a root commit).
    pub files_changed: usize,
    /// The subject line, e.g. `ralph: checkpoint 5 (run 20250101-abcd)`.
    pub message: String,
    /// Where it was found: `HEAD` (the current branch's history) or a `refs/ralph/checkpoints/<run>` ref.
    pub reference: String,
}

/// Lists the checkpoints reachable from `HEAD` and from `refs/ralph/checkpoints/*` in the repository containing
/// `workspace`, oldest first (by commit time, then iteration); only those of run `run` when given.
///
/// # Errors
/// [`Error::NotARepository`] when `workspace` is not inside a repository; [`Error::Git`] when history cannot
/// be read.
pub fn list_checkpoints(workspace: &Path, run: Option<&str>) -> Result<Vec<CheckpointInfo>, Error> {
    let ws = repo::open(workspace)?;
    let repo = &ws.repo;
    let mut tips: Vec<(String, ObjectId)> = Vec::new();
    if let Some(head) = repo::head_state(repo)?.commit {
        tips.push(("HEAD".to_owned(), head));
    }
    let refs = repo.references().ctx("list references")?;
    for reference in refs
        .prefixed(crate::CHECKPOINT_REF_PREFIX)
        .ctx("list checkpoint refs")?
    {
        let mut reference = reference.ctx("read a checkpoint ref")?;
        let name = reference.name().as_bstr().to_string();
        let id = reference
            .peel_to_id()
            .ctx(&format!("read {name}"))?
            .detach();
        tips.push((name, id));
    }

    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (name, tip) in tips {
        let walk = repo
            .rev_walk([tip])
            .all()
            .ctx(&format!("walk the history of {name}"))?;
        for info in walk {
            let info = info.ctx(&format!("walk the history of {name}"))?;
            if !seen.insert(info.id) {
                continue;
            }
            if let Some(found) = read(repo, info.id, &name, run)? {
                out.push(found);
            }
        }
    }
    out.sort_by(|a, b| a.time.cmp(&b.time).then(a.iteration.cmp(&b.iteration)));
    Ok(out)
}

/// The checkpoint at commit `id`, or `None` when it is not one (or not of run `run`).
fn read(
    repo: &gix::Repository,
    id: ObjectId,
    reference: &str,
    run: Option<&str>,
) -> Result<Option<CheckpointInfo>, Error> {
    let commit = repo.find_commit(id).ctx(&format!("read commit {id}"))?;
    let message = commit::decode_message(commit.message_raw_sloppy());
    if !commit::is_checkpoint(&message) {
        return Ok(None);
    }
    let trailers = commit::trailers(&message);
    let trailer = |key: &str| {
        trailers
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| (*v).to_owned())
    };
    let run_id = trailer(TRAILER_RUN_ID).unwrap_or_default();
    if run.is_some_and(|run| run != run_id) {
        return Ok(None);
    }
    let time = commit
        .time()
        .ctx(&format!("read the time of commit {id}"))?
        .seconds;
    let tree = commit
        .tree_id()
        .ctx(&format!("read the tree of commit {id}"))?
        .detach();
    let parent_tree = match commit.parent_ids().next() {
        Some(parent) => tree::of_commit(repo, parent.detach())?,
        None => ObjectId::empty_tree(repo.object_hash()),
    };
    Ok(Some(CheckpointInfo {
        id: id.into(),
        run_id,
        iteration: trailer(TRAILER_ITERATION)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        agent: trailer(TRAILER_AGENT),
        cost_usd: trailer(TRAILER_COST).and_then(|v| v.parse().ok()),
        is_final: trailer(TRAILER_FINAL).as_deref() == Some("true"),
        time,
        files_changed: tree::changes(repo, parent_tree, tree)?.len(),
        message: commit::subject(&message).to_owned(),
        reference: reference.to_owned(),
    }))
}
