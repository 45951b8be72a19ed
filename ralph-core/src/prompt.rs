//! The task prompt: where it comes from, and how each iteration's prompt is assembled.
//!
//! The user's prompt is never rewritten, trimmed or summarised: the assembled prompt is the preamble, then
//! the user prompt byte for byte, then feedback from the previous iteration when there is some.

use crate::error::Error;
use std::path::PathBuf;

/// Where the task prompt comes from. A file is re-read at the start of every iteration, so a user may edit
/// it while the loop runs.
///
/// `#[non_exhaustive]`: variants will be added in minor releases; match with a `_` arm.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PromptSource {
    /// A file (`PROMPT.md` by default); may be read-only.
    File(PathBuf),
    /// Inline text (`--prompt-text`).
    Text(String),
}

impl PromptSource {
    /// Reads the prompt.
    ///
    /// # Errors
    /// [`Error::Prompt`] when the file is missing, unreadable, not UTF-8, or empty (whitespace only).
    pub fn load(&self) -> Result<String, Error> {
        let (text, path) = match self {
            PromptSource::Text(t) => (t.clone(), PathBuf::from("<--prompt-text>")),
            PromptSource::File(path) => {
                let bytes = std::fs::read(path).map_err(|e| Error::Prompt {
                    path: path.clone(),
                    message: match e.kind() {
                        std::io::ErrorKind::NotFound => {
                            "file not found; create it (`ralph init` writes a template) or pass --prompt FILE / --prompt-text TEXT".into()
                        }
                        _ => format!("cannot read it: {e}"),
                    },
                    source: Some(e),
                })?;
                let text = String::from_utf8(bytes).map_err(|_| Error::Prompt {
                    path: path.clone(),
                    message: "not valid UTF-8 text; save the prompt file as UTF-8".into(),
                    source: None,
                })?;
                (text, path.clone())
            }
        };
        if text.trim().is_empty() {
            return Err(Error::Prompt {
                path,
                message: "the prompt is empty; write the task into it".into(),
                source: None,
            });
        }
        Ok(text)
    }

    /// A short description for logs: the path, or `<--prompt-text>`.
    pub fn describe(&self) -> String {
        match self {
            PromptSource::File(p) => p.display().to_string(),
            PromptSource::Text(_) => "<--prompt-text>".into(),
        }
    }
}

/// The part of the preamble that does not depend on the completion promise.
macro_rules! preamble_base {
    () => {
        "\
You are running inside ralph, an automated loop. This is iteration {iteration} of a loop that runs a fresh \
agent on the same task again and again; you have no memory of earlier iterations except what is in the \
files of this workspace.

- Do one focused piece of work towards the task below, then stop.
- Read {scratchpad} first if it exists, and update it before you stop with what you did, what you learned \
and what should come next.
"
    };
}

/// The default preamble. `{iteration}` is replaced by the iteration number, `{promise}` by the completion
/// promise and `{scratchpad}` by the scratchpad path (relative to the workspace).
pub const DEFAULT_PREAMBLE: &str = concat!(
    preamble_base!(),
    "- Only when the whole task is done and verified, print {promise} on a line of its own as the last line of \
your final answer. Never print it otherwise.

"
);

/// The default preamble used when the completion promise is disabled.
pub const DEFAULT_PREAMBLE_NO_PROMISE: &str = concat!(preamble_base!(), "\n");

/// How to build each iteration's prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptTemplate {
    /// The preamble template; `None` sends the user prompt as is (`--no-preamble`).
    pub preamble: Option<String>,
    /// Scratchpad path shown to the agent (relative to the workspace), e.g. `.agent/scratchpad.md`.
    pub scratchpad: String,
}

impl Default for PromptTemplate {
    fn default() -> Self {
        PromptTemplate {
            preamble: Some(DEFAULT_PREAMBLE.to_string()),
            scratchpad: ".agent/scratchpad.md".into(),
        }
    }
}

impl PromptTemplate {
    /// Assembles the prompt for `iteration`: preamble (placeholders filled), the user prompt unchanged,
    /// then `feedback` under a heading when given.
    pub fn assemble(
        &self,
        user_prompt: &str,
        promise: &str,
        iteration: u64,
        feedback: Option<&str>,
    ) -> String {
        let mut out = String::with_capacity(user_prompt.len() + 2048);
        if let Some(template) = &self.preamble {
            let template = if promise.is_empty() && template == DEFAULT_PREAMBLE {
                DEFAULT_PREAMBLE_NO_PROMISE
            } else {
                template.as_str()
            };
            out.push_str(
                &template
                    .replace("{promise}", promise)
                    .replace("{scratchpad}", &self.scratchpad)
                    .replace("{iteration}", &iteration.to_string()),
            );
        }
        out.push_str(user_prompt);
        if let Some(feedback) = feedback.filter(|f| !f.trim().is_empty()) {
            if !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str("\n## Feedback from the previous iteration\n\n");
            out.push_str(feedback);
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_prompt_is_kept_byte_for_byte() {
        let user = "  # Task\n\nDo X.  \n\n\n";
        let out = PromptTemplate::default().assemble(user, "LOOP_COMPLETE", 3, None);
        assert!(out.ends_with(user));
        assert!(out.contains("iteration 3"));
        assert!(out.contains("print LOOP_COMPLETE on a line of its own"));
    }

    #[test]
    fn no_preamble_sends_the_prompt_as_is() {
        let t = PromptTemplate {
            preamble: None,
            ..Default::default()
        };
        assert_eq!(t.assemble("Do X.", "LOOP_COMPLETE", 1, None), "Do X.");
    }

    #[test]
    fn feedback_follows_the_prompt() {
        let out = PromptTemplate::default().assemble("Do X.", "DONE", 2, Some("tests failed"));
        assert!(
            out.ends_with("Do X.\n\n## Feedback from the previous iteration\n\ntests failed\n")
        );
    }

    #[test]
    fn preamble_never_shows_the_promise_on_a_line_of_its_own() {
        let out = PromptTemplate::default().assemble("x", "LOOP_COMPLETE", 1, None);
        assert!(crate::completion::find_promise(&out, "LOOP_COMPLETE").is_none());
    }

    #[test]
    fn missing_prompt_file_names_the_fix() {
        let err = PromptSource::File("/nonexistent/PROMPT.md".into())
            .load()
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("/nonexistent/PROMPT.md") && msg.contains("ralph init"),
            "{msg}"
        );
    }

    #[test]
    fn empty_prompt_is_rejected() {
        assert!(PromptSource::Text("  \n".into()).load().is_err());
    }
}
