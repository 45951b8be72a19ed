//! Completion detection: when does the agent's answer, or the prompt file, say the task is done?
//!
//! Rules:
//! - The completion promise counts only in the final answer of a successful iteration, either as a line
//!   of its own (trimmed, exact, case-sensitive) or inside `<promise>...</promise>` (trimmed, exact).
//!   "I will print LOOP_COMPLETE when done" does not count.
//! - A line `- [x] TASK_COMPLETE` in the prompt file completes the run before the next iteration. The
//!   promise word merely appearing in the prompt file does not.

use serde::{Deserialize, Serialize};

/// How completion was detected.
///
/// `#[non_exhaustive]`: variants will be added in minor releases; match with a `_` arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CompletionSource {
    /// The promise stood on a line of its own in the final answer.
    PromiseLine,
    /// The promise stood inside `<promise>...</promise>` in the final answer.
    PromiseTag,
    /// The prompt file holds a `- [x] TASK_COMPLETE` line.
    TaskMarker,
}

/// The checkbox line in a prompt file that marks the task complete.
pub const TASK_COMPLETE_MARKER: &str = "- [x] TASK_COMPLETE";

/// Looks for `promise` in an agent's final answer. An empty promise never matches.
pub fn find_promise(final_text: &str, promise: &str) -> Option<CompletionSource> {
    if promise.is_empty() {
        return None;
    }
    if final_text.lines().any(|line| line.trim() == promise) {
        return Some(CompletionSource::PromiseLine);
    }
    let mut rest = final_text;
    while let Some(start) = rest.find("<promise>") {
        let after = &rest[start + "<promise>".len()..];
        let Some(end) = after.find("</promise>") else {
            break;
        };
        if after[..end].trim() == promise {
            return Some(CompletionSource::PromiseTag);
        }
        rest = &after[end + "</promise>".len()..];
    }
    None
}

/// True when the prompt file text holds a `- [x] TASK_COMPLETE` line (case of `x` ignored, surrounding
/// whitespace ignored).
pub fn prompt_marks_complete(prompt_file_text: &str) -> bool {
    prompt_file_text.lines().any(|line| {
        let line = line.trim();
        line.len() == TASK_COMPLETE_MARKER.len() && line.eq_ignore_ascii_case(TASK_COMPLETE_MARKER)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "LOOP_COMPLETE";

    #[test]
    fn promise_on_its_own_line_completes() {
        assert_eq!(
            find_promise("All done.\n  LOOP_COMPLETE  \n", P),
            Some(CompletionSource::PromiseLine)
        );
        assert_eq!(
            find_promise("LOOP_COMPLETE", P),
            Some(CompletionSource::PromiseLine)
        );
    }

    #[test]
    fn promise_inside_a_sentence_does_not_complete() {
        assert_eq!(
            find_promise("I will print LOOP_COMPLETE when done", P),
            None
        );
        assert_eq!(find_promise("LOOP_COMPLETE.", P), None);
        assert_eq!(find_promise("`LOOP_COMPLETE`", P), None);
    }

    #[test]
    fn promise_is_case_sensitive() {
        assert_eq!(find_promise("loop_complete", P), None);
    }

    #[test]
    fn promise_tag_completes_anywhere_in_text() {
        assert_eq!(
            find_promise("Finished. <promise>LOOP_COMPLETE</promise> bye", P),
            Some(CompletionSource::PromiseTag)
        );
        assert_eq!(
            find_promise("<promise> LOOP_COMPLETE </promise>", P),
            Some(CompletionSource::PromiseTag)
        );
        assert_eq!(
            find_promise(
                "<promise>other</promise> <promise>LOOP_COMPLETE</promise>",
                P
            ),
            Some(CompletionSource::PromiseTag)
        );
    }

    #[test]
    fn wrong_or_unclosed_tag_does_not_complete() {
        assert_eq!(
            find_promise("<promise>NOT LOOP_COMPLETE</promise>", P),
            None
        );
        assert_eq!(find_promise("<promise>LOOP_COMPLETE", P), None);
    }

    #[test]
    fn empty_promise_disables_detection() {
        assert_eq!(find_promise("\n\n", ""), None);
        assert_eq!(find_promise("<promise></promise>", ""), None);
    }

    #[test]
    fn task_marker_in_prompt_file_completes() {
        assert!(prompt_marks_complete(
            "# Task\n- [ ] a\n- [x] TASK_COMPLETE\n"
        ));
        assert!(prompt_marks_complete("  - [X] TASK_COMPLETE"));
    }

    #[test]
    fn promise_word_or_unchecked_marker_in_prompt_file_does_not_complete() {
        assert!(!prompt_marks_complete(
            "Print LOOP_COMPLETE when done.\nLOOP_COMPLETE\n"
        ));
        assert!(!prompt_marks_complete("- [ ] TASK_COMPLETE"));
        assert!(!prompt_marks_complete(
            "Mark `- [x] TASK_COMPLETE` when done"
        ));
    }
}
