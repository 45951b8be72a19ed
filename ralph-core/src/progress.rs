//! Progress policies, off by default: stop a loop that goes round without getting anywhere.
//!
//! - [`StallDetection`] (`--stall-iterations N`): N successful iterations in a row that changed nothing in
//!   the workspace. "Changed" is decided by a [`Fingerprint`] of the workspace taken just before and just
//!   after each agent run (`ralph-git`'s `workspace_fingerprint`: `HEAD` plus the tree `git add -A` would
//!   commit, state directory excluded); the engine counts the streak in [`LoopStats::unchanged_iterations`].
//! - [`LoopDetection`] (`--loop-detection N`): N near-identical final answers in a row, compared by
//!   [`similarity`] on [`LoopStats::recent_answers`].
//!
//! Both stop with [`StopReason::Custom`] (exit 3) whose message starts with "no progress". They are
//! ordinary [`LimitPolicy`] values: library users add them with `Engine::with_policy` (stall detection also
//! needs `Engine::with_fingerprint`).

use crate::limits::{LimitPolicy, LoopStats, StopReason};
use async_trait::async_trait;
use std::path::Path;

/// Final answers kept in [`LoopStats::recent_answers`].
pub const RECENT_ANSWERS: usize = 16;
/// Bytes kept of each final answer in [`LoopStats::recent_answers`] (the end, where agents summarise).
pub const ANSWER_CAP: usize = 4 * 1024;
/// Default [`LoopDetection::threshold`]: two answers at least this similar count as the same.
pub const DEFAULT_SIMILARITY: f64 = 0.9;

/// Identifies the state of a workspace: equal values mean nothing changed.
#[async_trait]
pub trait Fingerprint: Send + Sync {
    /// The fingerprint of `workspace` now; `None` when it cannot be taken (the iteration then counts as
    /// a change, so stall detection never stops a run on missing information).
    async fn fingerprint(&self, workspace: &Path) -> Option<String>;
}

/// Stops after `N` successful iterations in a row that changed nothing in the workspace (policy name
/// `stall_iterations`).
#[derive(Debug, Clone, Copy)]
pub struct StallDetection(pub u32);

impl LimitPolicy for StallDetection {
    fn name(&self) -> &str {
        "stall_iterations"
    }
    fn check(&self, stats: &LoopStats) -> Option<StopReason> {
        (self.0 > 0 && stats.unchanged_iterations >= self.0).then(|| StopReason::Custom {
            policy: "stall_iterations".into(),
            message: format!(
                "no progress: {} successful iterations in a row changed nothing in the workspace",
                stats.unchanged_iterations
            ),
        })
    }
    fn only_between_iterations(&self) -> bool {
        true
    }
}

/// Stops after `repeats` final answers in a row each at least `threshold` similar to the one before
/// (policy name `loop_detection`).
#[derive(Debug, Clone, Copy)]
pub struct LoopDetection {
    /// Answers in a row (at least 2 to mean anything).
    pub repeats: u32,
    /// [`similarity`] from which two answers count as the same, 0 to 1 (default [`DEFAULT_SIMILARITY`]).
    pub threshold: f64,
}

impl LoopDetection {
    /// Stops after `repeats` near-identical answers, with the default threshold.
    pub fn new(repeats: u32) -> Self {
        LoopDetection {
            repeats,
            threshold: DEFAULT_SIMILARITY,
        }
    }
}

impl LimitPolicy for LoopDetection {
    fn name(&self) -> &str {
        "loop_detection"
    }
    fn check(&self, stats: &LoopStats) -> Option<StopReason> {
        let n = self.repeats as usize;
        if n < 2 || stats.recent_answers.len() < n {
            return None;
        }
        let last = &stats.recent_answers[stats.recent_answers.len() - n..];
        let normalised: Vec<String> = last.iter().map(|a| normalise(a)).collect();
        normalised
            .windows(2)
            .all(|w| similarity_of_normalised(&w[0], &w[1]) >= self.threshold)
            .then(|| StopReason::Custom {
                policy: "loop_detection".into(),
                message: format!(
                    "no progress: the last {n} final answers are near-identical (similarity >= {})",
                    self.threshold
                ),
            })
    }
    fn only_between_iterations(&self) -> bool {
        true
    }
}

/// Lowercase, digit runs replaced by `0` (counters, timestamps, durations), whitespace runs collapsed to
/// one space, trimmed.
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last: Option<char> = None;
    for c in text.chars() {
        let c = if c.is_ascii_digit() {
            '0'
        } else if c.is_whitespace() {
            ' '
        } else {
            c
        };
        if (c == '0' || c == ' ') && last == Some(c) {
            continue;
        }
        out.extend(c.to_lowercase());
        last = Some(c);
    }
    out.trim().to_string()
}

/// How alike two final answers are, 0 to 1: the Sørensen–Dice coefficient of the character bigrams of
/// their [`normalise`]d forms (1 for equal normalised texts). Linear in the texts' length.
pub fn similarity(a: &str, b: &str) -> f64 {
    similarity_of_normalised(&normalise(a), &normalise(b))
}

fn similarity_of_normalised(a: &str, b: &str) -> f64 {
    if a == b {
        1.0
    } else {
        strsim::sorensen_dice(a, b)
    }
}

/// The tail of `answer` kept in [`LoopStats::recent_answers`].
pub(crate) fn keep_answer(answer: &str) -> String {
    crate::verify::tail(answer, ANSWER_CAP).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(list: &[&str]) -> LoopStats {
        LoopStats {
            recent_answers: list.iter().map(|s| s.to_string()).collect(),
            ..LoopStats::default()
        }
    }

    #[test]
    fn normalise_ignores_case_digits_and_spacing() {
        assert_eq!(
            normalise("Ran 12 tests in 3.5s\n\n  All   OK"),
            "ran 0 tests in 0.0s all ok"
        );
    }

    #[test]
    fn answers_differing_in_counts_and_spacing_are_the_same() {
        assert_eq!(
            similarity(
                "Checked 14 files, 0 errors.",
                "checked  15 files,\n0 errors."
            ),
            1.0
        );
        assert!(similarity("Added the parser module", "Fixed the login bug in auth.rs") < 0.5);
    }

    #[test]
    fn loop_detection_needs_n_near_identical_answers_in_a_row() {
        let p = LoopDetection::new(3);
        let same = "I could not find anything left to do. The tests pass (42 passed).";
        let again = "I could not find anything left to do. The tests pass (43 passed).";
        assert!(p.check(&answers(&[same, again])).is_none(), "only 2");
        assert!(
            p.check(&answers(&[same, "Implemented the CLI flag.", again]))
                .is_none(),
            "not in a row"
        );
        match p.check(&answers(&["Implemented the CLI flag.", same, again, same])) {
            Some(StopReason::Custom { policy, message }) => {
                assert_eq!(policy, "loop_detection");
                assert!(message.starts_with("no progress"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn stall_detection_stops_at_n_unchanged_iterations() {
        let p = StallDetection(2);
        let s = |n| LoopStats {
            unchanged_iterations: n,
            ..LoopStats::default()
        };
        assert!(p.check(&s(1)).is_none());
        assert!(matches!(
            p.check(&s(2)),
            Some(StopReason::Custom { ref policy, .. }) if policy == "stall_iterations"
        ));
        assert!(StallDetection(0).check(&s(5)).is_none(), "0 = off");
    }
}
