//! Qwen Code's `stream-json` output, mapped to [`AgentEvent`]s and an [`AgentOutcome`].
//!
//! Format source: Qwen Code 0.15.10, `qwen --yolo -o stream-json` (recorded streams in
//! `tests/fixtures/qwen/`). It follows Claude Code's stream-json, one JSON object per line:
//!
//! | `type` (`subtype`) | fields used | mapped to |
//! |---|---|---|
//! | `system` (`init`) | `session_id`, `model` | [`AgentEvent::Session`] |
//! | `assistant` | `message.content[]` (`text`, `tool_use`), `message.model`, `message.usage` | [`AgentEvent::Text`], [`AgentEvent::ToolUse`], [`AgentEvent::Usage`] |
//! | `user` | tool results | ignored: tool output says nothing about the agent's state |
//! | `result` | `subtype`, `is_error`, `result`, `usage`, `error.message` | the outcome |
//!
//! Usage follows the OpenAI API it comes from: `input_tokens` is the whole prompt *including*
//! `cache_read_input_tokens`, so ralph's uncached input is their difference; `output_tokens` includes
//! reasoning. Each `assistant` event is one model reply with its own usage; the `result` event has the
//! totals. Qwen Code reports no cost: ralph prices the tokens of the model from [`crate::pricing`] and
//! labels the figure an estimate.

use super::classify::classify;
use crate::claude::ContentBlock;
use crate::lines::{Line, json_event};
use crate::outcome::Classified;
use crate::process::{ProcessExit, StreamHandler};
use ralph_core::{AgentEvent, AgentOutcome, Cost, EventSender, Usage};
use serde::Deserialize;
use std::path::PathBuf;

/// Reads Qwen Code's stream-json and classifies the run (a [`StreamHandler`]).
#[derive(Debug, Default)]
pub struct QwenStream {
    workspace: PathBuf,
    session_id: Option<String>,
    model: Option<String>,
    /// Sum of the usage of the assistant messages so far.
    running: Usage,
    result: Option<ResultEvent>,
    unparsed_lines: u64,
}

impl QwenStream {
    /// A handler for a run in `workspace` (tool summaries show paths relative to it).
    pub fn new(workspace: impl Into<PathBuf>) -> Self {
        QwenStream {
            workspace: workspace.into(),
            ..QwenStream::default()
        }
    }

    fn cost(&self, usage: &Usage) -> Option<Cost> {
        self.model
            .as_deref()
            .and_then(|m| crate::pricing::estimate(m, usage))
    }

    fn on_event(&mut self, event: StreamEvent, events: &EventSender) {
        match event {
            StreamEvent::System(s) if s.subtype.as_deref() == Some("init") => {
                self.session_id = s.session_id.clone();
                self.model = s.model.clone();
                let _ = events.send(AgentEvent::Session {
                    session_id: s.session_id,
                    model: s.model,
                });
            }
            StreamEvent::Assistant(a) => {
                if self.model.is_none() {
                    self.model = a.message.model.clone();
                }
                for block in a.message.content {
                    let event = match block {
                        ContentBlock::Text { text } if !text.is_empty() => {
                            AgentEvent::Text { text }
                        }
                        ContentBlock::ToolUse { name, input } => AgentEvent::ToolUse {
                            summary: crate::tool_summary::summarize(&input, &self.workspace),
                            name,
                        },
                        _ => continue,
                    };
                    let _ = events.send(event);
                }
                if let Some(u) = a.message.usage {
                    self.running += Usage::from(u);
                    let _ = events.send(AgentEvent::Usage {
                        usage: self.running,
                        cost: self.cost(&self.running),
                    });
                }
            }
            StreamEvent::Result(r) => {
                if self.session_id.is_none() {
                    self.session_id = r.session_id.clone();
                }
                self.result = Some(r);
            }
            StreamEvent::System(_) | StreamEvent::Other => {}
        }
    }

    /// Tokens of the run: the `result` totals when given, else the sum of the replies so far.
    fn usage(&self) -> Usage {
        self.result
            .as_ref()
            .and_then(|r| r.usage)
            .map(Usage::from)
            .unwrap_or(self.running)
    }
}

impl StreamHandler for QwenStream {
    fn on_stdout(&mut self, line: Line, events: &EventSender) {
        if let Some(event) = json_event::<StreamEvent>("qwen", &line, &mut self.unparsed_lines) {
            self.on_event(event, events);
        }
    }

    /// The `result` event ends a run.
    fn final_event_seen(&self) -> bool {
        self.result.is_some()
    }

    fn finish(&mut self, exit: &ProcessExit) -> AgentOutcome {
        let Classified { status, message } =
            classify(self.result.as_ref(), self.unparsed_lines, exit);
        let mut outcome = AgentOutcome::new(status);
        outcome.message = message;
        outcome.usage = self.usage();
        outcome.cost = self.cost(&outcome.usage);
        outcome.session_id = self.session_id.clone();
        outcome.model = self.model.clone();
        if outcome.status.is_success() {
            outcome.final_text = self.result.as_ref().and_then(|r| r.result.clone());
        }
        outcome
    }
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum StreamEvent {
    System(SystemEvent),
    Assistant(AssistantEvent),
    Result(ResultEvent),
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
struct SystemEvent {
    subtype: Option<String>,
    session_id: Option<String>,
    model: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AssistantEvent {
    message: AssistantMessage,
}

#[derive(Debug, Deserialize)]
struct AssistantMessage {
    model: Option<String>,
    #[serde(default)]
    content: Vec<ContentBlock>,
    usage: Option<RawUsage>,
}

/// Token counts as Qwen Code reports them (OpenAI semantics: input includes cached input).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
struct RawUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
}

impl From<RawUsage> for Usage {
    fn from(u: RawUsage) -> Usage {
        let cached = u.cache_read_input_tokens.unwrap_or(0);
        Usage {
            input_tokens: u.input_tokens.unwrap_or(0).saturating_sub(cached),
            output_tokens: u.output_tokens.unwrap_or(0),
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: cached,
            reasoning_output_tokens: 0,
        }
    }
}

/// The final `result` event.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct ResultEvent {
    pub(super) subtype: Option<String>,
    pub(super) is_error: Option<bool>,
    /// The final answer; for a failed model call it ends with `[API Error: ...]`.
    pub(super) result: Option<String>,
    pub(super) error: Option<ResultError>,
    usage: Option<RawUsage>,
    session_id: Option<String>,
}

/// `result.error` of a run that failed before its first turn.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct ResultError {
    #[serde(default)]
    pub(super) message: String,
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
