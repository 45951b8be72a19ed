//! [`CommandAgent`]: any program, for agent CLIs ralph has no adapter for (its contract is on the type).

use crate::error::Error;
use crate::lines::Line;
use crate::outcome::classify_exit;
use crate::process::{
    Deadlines, ProcessExit, ProcessSpec, StdinSource, StreamHandler, run_supervised,
};
use crate::secrets::mask_argv;
use async_trait::async_trait;
use ralph_core::{
    Agent, AgentEvent, AgentOutcome, AgentRequest, EventSender, FailureKind, OutcomeStatus,
};
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The agent name.
pub const COMMAND: &str = "command";
/// Placeholder replaced by the prompt text.
pub const PROMPT_PLACEHOLDER: &str = "{prompt}";
/// Placeholder replaced by the path of a file holding the prompt.
pub const PROMPT_FILE_PLACEHOLDER: &str = "{prompt_file}";
/// Largest prompt passed as an argument, in bytes (100 KiB, under Linux's 128 KiB per argument).
pub const MAX_PROMPT_ARG: usize = 100 * 1024;
/// Bytes of stdout kept as the final answer: the last 1 MiB.
pub const FINAL_TEXT_CAP: usize = 1024 * 1024;
/// Name of the prompt file in the state directory.
pub const PROMPT_FILE_NAME: &str = "agent-prompt.md";

/// A user-given program run once per iteration, in the workspace (its working directory).
///
/// How the prompt reaches the program:
/// - By default on stdin (written whole, then closed), so there is no size limit.
/// - If an argument contains `{prompt}`, the prompt is substituted there and stdin is `/dev/null`. A prompt
///   over [`MAX_PROMPT_ARG`] bytes (Linux refuses single arguments over 128 KiB) is written to
///   `<state dir>/agent-prompt.md` instead, and `{prompt}` becomes a one-sentence instruction to read that
///   file: agents are language models, and peer tools hand over long prompts the same way.
/// - If an argument contains `{prompt_file}`, the prompt is always written to `<state dir>/agent-prompt.md`
///   and `{prompt_file}` is replaced by its absolute path; stdin is `/dev/null`.
///
/// Output is taken as plain text: every stdout line is an [`AgentEvent::Text`], and the final answer is
/// the whole stdout (its last [`FINAL_TEXT_CAP`] bytes), so an agent that prints the completion promise on
/// a line of its own completes the loop. Exit 0 is a success; anything else a failure with the stderr tail
/// (or a usage limit or authentication failure when stderr says so).
///
/// [`AgentEvent::Text`]: ralph_core::AgentEvent::Text
///
/// ```
/// use ralph_agents::CommandAgent;
/// let agent = CommandAgent::new(vec!["my-agent".into(), "--task".into(), "{prompt}".into()]).unwrap();
/// assert_eq!(agent.argv(), ["my-agent", "--task", "{prompt}"]);
/// ```
#[derive(Debug, Clone)]
pub struct CommandAgent {
    argv: Vec<String>,
    env: BTreeMap<String, String>,
    grace: Duration,
}

impl CommandAgent {
    /// An agent running `argv` (program first, may contain `{prompt}` / `{prompt_file}`).
    ///
    /// # Errors
    /// [`Error::InvalidSettings`] when `argv` is empty.
    pub fn new(argv: Vec<String>) -> Result<Self, Error> {
        if argv.first().is_none_or(|p| p.trim().is_empty()) {
            return Err(Error::InvalidSettings {
                agent: COMMAND.into(),
                message: "no command given: pass it after `--` (`ralph --agent command -- my-agent --flag`) \
                          or set adapters.command.command"
                    .into(),
            });
        }
        Ok(CommandAgent {
            argv,
            env: BTreeMap::new(),
            grace: crate::process::DEFAULT_GRACE,
        })
    }

    /// Adds (or overrides) environment variables of the process.
    pub fn with_env(mut self, env: BTreeMap<String, String>) -> Self {
        self.env = env;
        self
    }

    /// Time between SIGTERM and SIGKILL when the run is stopped.
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// The argv as configured, placeholders not substituted.
    pub fn argv(&self) -> &[String] {
        &self.argv
    }

    fn uses(&self, placeholder: &str) -> bool {
        self.argv.iter().any(|a| a.contains(placeholder))
    }
}

/// Writes the prompt file and returns its path.
async fn write_prompt_file(state_dir: &Path, prompt: &str) -> std::io::Result<PathBuf> {
    tokio::fs::create_dir_all(state_dir).await?;
    let path = state_dir.join(PROMPT_FILE_NAME);
    tokio::fs::write(&path, prompt).await?;
    Ok(path)
}

#[async_trait]
impl Agent for CommandAgent {
    fn name(&self) -> &str {
        COMMAND
    }

    async fn preflight(&self) -> Result<(), ralph_core::Error> {
        crate::detect::check_program(
            COMMAND,
            &self.argv[0],
            "check the command's path, or add it to PATH",
        )
        .map(|_| ())
        .map_err(Into::into)
    }

    async fn run(
        &self,
        request: AgentRequest,
        events: EventSender,
        cancel: CancellationToken,
    ) -> Result<AgentOutcome, ralph_core::Error> {
        let (in_arg, in_file) = (
            self.uses(PROMPT_PLACEHOLDER),
            self.uses(PROMPT_FILE_PLACEHOLDER),
        );
        let too_long = in_arg && request.prompt.len() > MAX_PROMPT_ARG;
        let mut prompt_file = String::new();
        if in_file || too_long {
            match write_prompt_file(&request.state_dir, &request.prompt).await {
                Ok(p) => prompt_file = p.display().to_string(),
                Err(e) => {
                    let mut outcome = AgentOutcome::new(OutcomeStatus::Failed {
                        kind: FailureKind::Spawn,
                        api_status: None,
                    });
                    outcome.message = Some(format!(
                        "cannot write the prompt file in {}: {e}",
                        request.state_dir.display()
                    ));
                    return Ok(outcome);
                }
            }
        }
        let prompt_arg = if too_long {
            format!(
                "Your task is in the file {prompt_file} (too long to pass as an argument). Read it and follow it."
            )
        } else {
            request.prompt.clone()
        };
        let argv: Vec<String> = self
            .argv
            .iter()
            .map(|a| {
                a.replace(PROMPT_FILE_PLACEHOLDER, &prompt_file)
                    .replace(PROMPT_PLACEHOLDER, &prompt_arg)
            })
            .collect();

        let mut spec = ProcessSpec::new(PathBuf::from(&argv[0]), &request.workspace);
        spec.args = argv[1..].to_vec();
        spec.display_argv = mask_argv(&self.argv);
        spec.env = self.env.clone();
        spec.grace = self.grace;
        let deadlines = Deadlines::from_request(&request);
        if !in_arg && !in_file {
            spec.stdin = StdinSource::Bytes(Arc::from(request.prompt.into_bytes()));
        }
        let mut handler = TextStream::default();
        Ok(run_supervised(&spec, deadlines, &mut handler, &events, &cancel, None).await)
    }
}

/// Plain-text output: each line is assistant text; the last [`FINAL_TEXT_CAP`] bytes are the answer.
#[derive(Debug, Default)]
pub struct TextStream {
    tail: VecDeque<String>,
    bytes: usize,
}

impl StreamHandler for TextStream {
    fn on_stdout(&mut self, line: Line, events: &EventSender) {
        let text = line.text().into_owned();
        let _ = events.send(AgentEvent::Text { text: text.clone() });
        self.bytes += text.len() + 1;
        self.tail.push_back(text);
        while self.bytes > FINAL_TEXT_CAP && self.tail.len() > 1 {
            if let Some(old) = self.tail.pop_front() {
                self.bytes -= old.len() + 1;
            }
        }
    }

    fn finish(&mut self, exit: &ProcessExit) -> AgentOutcome {
        let (status, message) = classify_exit(exit);
        let mut outcome = AgentOutcome::new(status);
        outcome.message = message;
        outcome.final_text = Some(
            self.tail
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join("\n"),
        );
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_command_is_refused() {
        assert!(CommandAgent::new(vec![]).is_err());
        assert!(CommandAgent::new(vec![" ".into()]).is_err());
    }

    #[test]
    fn final_text_keeps_the_last_lines_within_the_cap() {
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let mut s = TextStream::default();
        let big = "x".repeat(FINAL_TEXT_CAP / 2);
        for l in [big.as_str(), big.as_str(), "LOOP_COMPLETE"] {
            s.on_stdout(Line::new(l), &tx);
        }
        let o = s.finish(&ProcessExit {
            exit_code: Some(0),
            ..ProcessExit::default()
        });
        let text = o.final_text.unwrap();
        assert!(text.len() <= FINAL_TEXT_CAP);
        assert!(text.ends_with("\nLOOP_COMPLETE"));
        assert!(o.status.is_success());
    }
}
