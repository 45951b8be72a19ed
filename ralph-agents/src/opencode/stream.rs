//! OpenCode's `run --format json` output, mapped to [`AgentEvent`]s and an [`AgentOutcome`].
//!
//! Format source: OpenCode 1.18.33, `opencode run --format json` (recorded streams in
//! `tests/fixtures/opencode/`; the emitter is the `run` command, which prints one JSON object per line,
//! `{type, timestamp (ms), sessionID, ...}`, for the parts of the session's messages):
//!
//! | `type` | fields used | mapped to |
//! |---|---|---|
//! | `step_start` | `sessionID` | a new model step; [`AgentEvent::Session`] on the first |
//! | `text` | `part.text` (printed once complete) | [`AgentEvent::Text`]; the texts of the last step are the final answer |
//! | `tool_use` | `part.tool`, `part.state.input` (printed when the call completed or failed) | [`AgentEvent::ToolUse`] |
//! | `step_finish` | `part.reason`, `part.tokens{input, output, reasoning, cache{read, write}}`, `part.cost` (USD) | [`AgentEvent::Usage`] |
//! | `error` | `error.name` (`APIError`, `ProviderAuthError`, `UnknownError`, `ContextOverflowError`, ...), `error.data{message, statusCode, isRetryable, responseHeaders}` | the failure (see the `classify` module) |
//! | `reasoning` | only with `--thinking`, ignored | — |
//!
//! Tokens: OpenCode reports `input` without cache reads and writes, and `output` without the
//! `reasoning` tokens (scripted output 40 of which reasoning 10 arrives as `output: 30, reasoning: 10`).
//! ralph's [`Usage`] is `input_tokens` = input, `cache_read_input_tokens` = cache.read,
//! `cache_creation_input_tokens` = cache.write, `output_tokens` = output + reasoning,
//! `reasoning_output_tokens` = reasoning, summed over the steps. Cost: the sum of `part.cost` when above
//! zero (OpenCode prices from the model's configured or models.dev price; a model without a price reports
//! 0), otherwise [`crate::pricing::estimate`] for the model when known.
//!
//! Tool output (`part.state.output`) is never read: it must not be mistaken for a usage limit.

use super::classify::{ErrorEvent, classify_error};
use crate::lines::{Line, json_event};
use crate::outcome::Classified;
use crate::process::{ProcessExit, StopCause, StreamHandler};
use ralph_core::{AgentEvent, AgentOutcome, Cost, EventSender, OutcomeStatus, Usage};
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Tool parameters that best say what a call does, in order of preference.
const TELLING_FIELDS: &[&str] = &[
    "filePath",
    "path",
    "command",
    "pattern",
    "url",
    "query",
    "description",
    "prompt",
];

/// Reads OpenCode's `run --format json` stream and classifies the run (a [`StreamHandler`]).
#[derive(Debug, Default)]
pub struct OpenCodeStream {
    workspace: PathBuf,
    model: Option<String>,
    session_id: Option<String>,
    steps_finished: u64,
    /// Set by a `step_finish` whose reason is `stop`: the model answered without asking for a tool, which
    /// ends `opencode run`.
    final_step: bool,
    /// Texts of the current (last) step.
    step_texts: Vec<String>,
    usage: Usage,
    /// Sum of OpenCode's own `cost` figures, USD.
    reported_cost: f64,
    error: Option<ErrorEvent>,
    /// When the error was printed, Unix seconds.
    error_at: Option<u64>,
    unparsed_lines: u64,
}

impl OpenCodeStream {
    /// A handler for a run in `workspace` (tool summaries show paths relative to it) with `model`
    /// (`provider/model`, for the cost estimate; `None` when unknown).
    pub fn new(workspace: impl Into<PathBuf>, model: Option<String>) -> Self {
        OpenCodeStream {
            workspace: workspace.into(),
            model,
            ..OpenCodeStream::default()
        }
    }

    fn on_event(&mut self, event: Event, events: &EventSender) {
        if self.session_id.is_none()
            && let Some(id) = &event.session_id
        {
            self.session_id = Some(id.clone());
            let _ = events.send(AgentEvent::Session {
                session_id: Some(id.clone()),
                model: self.model.clone(),
            });
        }
        let part = event.part.unwrap_or_default();
        match event.kind.as_str() {
            "step_start" => {
                self.step_texts.clear();
                self.final_step = false;
            }
            "text" => {
                let text = part.text.unwrap_or_default();
                if !text.trim().is_empty() {
                    let _ = events.send(AgentEvent::Text { text: text.clone() });
                }
                self.step_texts.push(text);
            }
            "tool_use" => {
                let name = part.tool.unwrap_or_else(|| "tool".into());
                let input = part.state.and_then(|s| s.input).unwrap_or(Value::Null);
                let summary = tool_summary(&input, &self.workspace);
                let _ = events.send(AgentEvent::ToolUse { name, summary });
            }
            "step_finish" => {
                self.steps_finished += 1;
                self.final_step = part.reason.as_deref() == Some("stop");
                if let Some(t) = part.tokens {
                    self.usage += t.into();
                }
                self.reported_cost += part.cost.filter(|c| c.is_finite()).unwrap_or(0.0);
                let _ = events.send(AgentEvent::Usage {
                    usage: self.usage,
                    cost: self.cost(),
                });
            }
            "error" => {
                self.error = event.error.or(Some(ErrorEvent::default()));
                self.error_at = event.timestamp.map(|ms| ms / 1000);
            }
            _ => {}
        }
    }

    /// OpenCode's own cost when above zero, else the estimate for the model when known and something was
    /// used.
    fn cost(&self) -> Option<Cost> {
        if self.reported_cost > 0.0 {
            return Some(Cost {
                usd: self.reported_cost,
                estimated: false,
            });
        }
        if self.usage.is_zero() {
            return None;
        }
        self.model
            .as_deref()
            .and_then(|m| crate::pricing::estimate(m, &self.usage))
    }

    fn classify(&self, exit: &ProcessExit) -> (OutcomeStatus, Option<String>) {
        if let Some(error) = &self.error {
            return classify_error(error, self.error_at);
        }
        // A run ralph stopped because it lingered after its final step answered completely.
        let stopped_after_final = self.final_step && exit.stopped_by == Some(StopCause::AfterFinal);
        if self.steps_finished > 0 && (exit.succeeded() || stopped_after_final) {
            return (OutcomeStatus::Success, None);
        }
        let c = Classified::without_final_event(
            exit,
            "opencode",
            "finishing a step",
            self.unparsed_lines,
            "JSON events",
        );
        (c.status, c.message)
    }
}

impl StreamHandler for OpenCodeStream {
    fn on_stdout(&mut self, line: Line, events: &EventSender) {
        if let Some(event) = json_event::<Event>("opencode", &line, &mut self.unparsed_lines) {
            self.on_event(event, events);
        }
    }

    /// A `step_finish` with reason `stop` ends a run (an error after it would still be classified).
    fn final_event_seen(&self) -> bool {
        self.final_step && self.error.is_none()
    }

    fn finish(&mut self, exit: &ProcessExit) -> AgentOutcome {
        let (status, message) = self.classify(exit);
        let mut outcome = AgentOutcome::new(status);
        outcome.message = message;
        outcome.usage = self.usage;
        outcome.cost = self.cost();
        outcome.session_id = self.session_id.clone();
        outcome.model = self.model.clone();
        if outcome.status.is_success() {
            outcome.final_text = Some(self.step_texts.join("\n"));
        }
        outcome
    }
}

/// One-line description of a call with `input`: the file (relative to `workspace`), the command, the
/// pattern, ...; else the first string parameter. Secrets masked, at most [`SUMMARY_MAX`](crate::tool_summary::SUMMARY_MAX) bytes.
fn tool_summary(input: &Value, workspace: &Path) -> String {
    crate::tool_summary::summarize_by(TELLING_FIELDS, input, workspace)
}

/// One line of `opencode run --format json`.
#[derive(Debug, Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    #[serde(rename = "sessionID")]
    session_id: Option<String>,
    /// Unix milliseconds.
    timestamp: Option<u64>,
    part: Option<Part>,
    error: Option<ErrorEvent>,
}

#[derive(Debug, Default, Deserialize)]
struct Part {
    text: Option<String>,
    /// Why a step finished: `stop` (answered), `tool-calls`, `length`, `unknown`...
    reason: Option<String>,
    tool: Option<String>,
    state: Option<ToolState>,
    tokens: Option<Tokens>,
    cost: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct ToolState {
    input: Option<Value>,
}

/// `step_finish.part.tokens` of OpenCode 1.18.33.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
struct Tokens {
    input: Option<u64>,
    output: Option<u64>,
    reasoning: Option<u64>,
    cache: Option<CacheTokens>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
struct CacheTokens {
    read: Option<u64>,
    write: Option<u64>,
}

impl From<Tokens> for Usage {
    fn from(t: Tokens) -> Usage {
        let cache = t.cache.unwrap_or_default();
        let reasoning = t.reasoning.unwrap_or(0);
        Usage {
            input_tokens: t.input.unwrap_or(0),
            output_tokens: t.output.unwrap_or(0).saturating_add(reasoning),
            cache_creation_input_tokens: cache.write.unwrap_or(0),
            cache_read_input_tokens: cache.read.unwrap_or(0),
            reasoning_output_tokens: reasoning,
        }
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
