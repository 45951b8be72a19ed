//! Checkpoint commit messages and their trailers, the committer identity, and writing the commit.
//!
//! gitoxide runs no hooks: `pre-commit`, `commit-msg` and `post-commit` hooks do not run for checkpoints, and
//! commits are not signed even when `commit.gpgSign` is set.

use gix::ObjectId;
use gix::bstr::ByteSlice;
use ralph_core::CheckpointRequest;
use tracing::info;

use crate::error::{Error, GixResultExt};
use crate::options::Identity;

/// Trailer with the run id.
pub(crate) const TRAILER_RUN_ID: &str = "Ralph-Run-Id";
/// Trailer with the iteration number.
pub(crate) const TRAILER_ITERATION: &str = "Ralph-Iteration";
/// Trailer with the agent's name.
pub(crate) const TRAILER_AGENT: &str = "Ralph-Agent";
/// Trailer with the run's cost so far, USD.
pub(crate) const TRAILER_COST: &str = "Ralph-Cost-Usd";
/// Trailer present (`true`) on the checkpoint taken when the run ended.
pub(crate) const TRAILER_FINAL: &str = "Ralph-Final";
/// Trailer of a rollback commit: the checkpoint it restored.
pub(crate) const TRAILER_ROLLBACK: &str = "Ralph-Rollback-To";

/// The subject every checkpoint commit starts with.
pub(crate) const SUBJECT_PREFIX: &str = "ralph: checkpoint ";

/// `ralph: checkpoint <iteration> (run <id>)` followed by the trailers.
pub(crate) fn checkpoint_message(request: &CheckpointRequest) -> String {
    let mut message = format!(
        "{SUBJECT_PREFIX}{} (run {})\n\n{TRAILER_RUN_ID}: {}\n{TRAILER_ITERATION}: {}\n{TRAILER_AGENT}: {}\n{TRAILER_COST}: {:.4}\n",
        request.iteration,
        one_line(&request.run_id),
        one_line(&request.run_id),
        request.iteration,
        one_line(&request.agent),
        request.cost_usd,
    );
    if request.is_final {
        message.push_str(&format!("{TRAILER_FINAL}: true\n"));
    }
    message
}

/// Keeps a value on one line so it cannot forge other trailers.
fn one_line(value: &str) -> String {
    value.replace(['\n', '\r'], " ")
}

/// The trailers of a commit message (`Key: value` lines of its last paragraph), in order.
pub(crate) fn trailers(message: &str) -> Vec<(&str, &str)> {
    // A subject alone has no trailers: they live in a paragraph of their own.
    let Some((_, last)) = message.trim_end().rsplit_once("\n\n") else {
        return Vec::new();
    };
    last.lines()
        .filter_map(|line| line.split_once(": "))
        .filter(|(key, _)| {
            !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        .map(|(key, value)| (key, value.trim()))
        .collect()
}

/// The first line of a commit message.
pub(crate) fn subject(message: &str) -> &str {
    message.lines().next().unwrap_or_default()
}

/// Author and committer: git's configured identity (`user.*`, `author.*`, `committer.*`, `GIT_AUTHOR_*`,
/// `GIT_COMMITTER_*`), or `fallback` when there is none or it cannot be read.
fn signatures(
    repo: &gix::Repository,
    fallback: &Identity,
) -> (gix::actor::Signature, gix::actor::Signature) {
    let now = gix::date::Time::now_local_or_utc();
    let fallback_signature = || gix::actor::Signature {
        name: fallback.name.as_str().into(),
        email: fallback.email.as_str().into(),
        time: now,
    };
    let resolve = |found: Option<gix::Result<gix::actor::SignatureRef<'_>>>, role: &str| match found
        .and_then(Result::ok)
        .and_then(|sig| sig.to_owned().ok())
    {
        Some(sig) if !sig.name.trim().is_empty() && !sig.email.trim().is_empty() => sig,
        _ => {
            info!(
                name = %fallback.name,
                email = %fallback.email,
                "no git {role} identity configured; checkpoints use the fallback identity"
            );
            fallback_signature()
        }
    };
    let committer = resolve(repo.committer(), "committer");
    let author = resolve(repo.author(), "author");
    (committer, author)
}

/// Writes a commit of `tree` with `parents` and moves `reference` to it, expecting it to still point at the
/// first parent (or not to exist when there is none). `reference` may be `HEAD`, which updates the branch
/// `HEAD` refers to, or `HEAD` itself when detached.
pub(crate) fn commit(
    repo: &gix::Repository,
    reference: &str,
    message: &str,
    tree: ObjectId,
    parents: &[ObjectId],
    fallback: &Identity,
) -> Result<ObjectId, Error> {
    let (committer, author) = signatures(repo, fallback);
    let mut committer_time = gix::date::parse::TimeBuf::default();
    let mut author_time = gix::date::parse::TimeBuf::default();
    let id = repo
        .commit_as(
            committer.to_ref(&mut committer_time),
            author.to_ref(&mut author_time),
            reference,
            message,
            tree,
            parents.iter().copied(),
        )
        .ctx(&format!("commit to {reference}"))?;
    Ok(id.detach())
}

/// The ref of ref-mode checkpoints of `run_id`: `refs/ralph/checkpoints/<run id>`, with characters that git
/// does not allow in ref names replaced by `-`.
pub(crate) fn checkpoint_ref(run_id: &str) -> String {
    let mut name: String = run_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if name.is_empty() {
        name.push_str("unnamed");
    }
    format!("{}{name}", crate::CHECKPOINT_REF_PREFIX)
}

/// True when `message` is a checkpoint commit's message.
pub(crate) fn is_checkpoint(message: &str) -> bool {
    subject(message).starts_with(SUBJECT_PREFIX)
        && trailers(message).iter().any(|(k, _)| *k == TRAILER_RUN_ID)
}

/// Decodes a commit message that may not be UTF-8.
pub(crate) fn decode_message(raw: &[u8]) -> String {
    raw.to_str_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(is_final: bool) -> CheckpointRequest {
        CheckpointRequest {
            run_id: "r-1".to_owned(),
            iteration: 5,
            agent: "claude".to_owned(),
            cost_usd: 1.5,
            is_final,
            state_dir: None,
        }
    }

    #[test]
    fn checkpoint_message_has_the_subject_and_trailers() {
        let message = checkpoint_message(&request(true));
        assert_eq!(
            message,
            "ralph: checkpoint 5 (run r-1)\n\nRalph-Run-Id: r-1\nRalph-Iteration: 5\nRalph-Agent: claude\nRalph-Cost-Usd: 1.5000\nRalph-Final: true\n"
        );
        assert!(is_checkpoint(&message));
        assert_eq!(trailers(&message)[1], ("Ralph-Iteration", "5"));
    }

    #[test]
    fn a_subject_alone_has_no_trailers() {
        assert!(trailers("ralph: checkpoint 1 (run x)\n").is_empty());
        assert!(!is_checkpoint("ralph: checkpoint 1 (run x)\n"));
    }

    #[test]
    fn newlines_in_values_cannot_forge_trailers() {
        let mut req = request(false);
        req.agent = "x\nRalph-Run-Id: forged".to_owned();
        let message = checkpoint_message(&req);
        let run_ids: Vec<_> = trailers(&message)
            .into_iter()
            .filter(|(k, _)| *k == TRAILER_RUN_ID)
            .collect();
        assert_eq!(run_ids, vec![(TRAILER_RUN_ID, "r-1")]);
    }

    #[test]
    fn checkpoint_refs_are_valid_ref_names() {
        assert_eq!(
            checkpoint_ref("2025-01-01T10:00 ab/..x.lock"),
            "refs/ralph/checkpoints/2025-01-01T10-00-ab---x-lock"
        );
        assert_eq!(checkpoint_ref(""), "refs/ralph/checkpoints/unnamed");
    }
}
