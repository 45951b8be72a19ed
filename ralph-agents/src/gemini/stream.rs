//! Gemini CLI's `stream-json` output, mapped to [`AgentEvent`]s and an [`AgentOutcome`].
//!
//! Format source: Gemini CLI 0.61.0, `gemini -p ... --output-format stream-json` (recorded streams in
//! `tests/fixtures/gemini/`; the stats shape is `StreamJsonFormatter.convertToStreamStats` of that
//! release). One JSON object per line:
//!
//! | `type` | fields used | mapped to |
//! |---|---|---|
//! | `init` | `session_id`, `model` (`auto` without `-m`) | [`AgentEvent::Session`] |
//! | `message` | `role` (`user` echoes the prompt: ignored), `content`, `delta: true` chunks | [`AgentEvent::Text`] |
//! | `tool_use` | `tool_name`, `parameters` | [`AgentEvent::ToolUse`] |
//! | `tool_result` | `status`, `output` | ignored: tool output says nothing about the agent's state |
//! | `error` | `severity`, `message` (loop detected, turn limit, blocked response) | kept for the outcome message |
//! | `result` | `status` (`success`/`error`), `error.type`, `error.message`, `stats` | usage, cost, the outcome |
//!
//! `stats` holds `input_tokens` (prompt tokens, cached ones included), `cached`, `input` (uncached),
//! `output_tokens` (candidates, without thinking) and `total_tokens` (the API's `totalTokenCount`, which
//! includes thinking tokens), per model in `stats.models` and summed. Gemini CLI reports no thinking count
//! of its own, so ralph takes `total_tokens - input_tokens - output_tokens` per model as thinking tokens;
//! Google bills them as output. Usage arrives only with `result`. Gemini CLI reports no cost: ralph prices
//! each model's tokens with [`crate::pricing`] and labels the sum an estimate (models missing from the
//! table are left out; no priced model gives no cost).
//!
//! The final answer is the assistant text after the last tool call.

use super::classify::classify;
use crate::lines::{Line, json_event};
use crate::outcome::Classified;
use crate::process::{ProcessExit, StreamHandler};
use ralph_core::{AgentEvent, AgentOutcome, Cost, EventSender, Usage};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Reads Gemini CLI's stream-json and classifies the run (a [`StreamHandler`]).
#[derive(Debug, Default)]
pub struct GeminiStream {
    workspace: PathBuf,
    session_id: Option<String>,
    model: Option<String>,
    /// Assistant text since the last tool call.
    answer: String,
    /// Messages of `error` events, in order.
    errors: Vec<String>,
    result: Option<ResultEvent>,
    unparsed_lines: u64,
    /// The clock in Unix seconds, `None` for the system clock.
    now: Option<u64>,
}

impl GeminiStream {
    /// A handler for a run in `workspace` (tool summaries show paths relative to it).
    pub fn new(workspace: impl Into<PathBuf>) -> Self {
        GeminiStream {
            workspace: workspace.into(),
            ..GeminiStream::default()
        }
    }

    /// Reads retry delays as if it were `now` (Unix seconds).
    #[cfg(test)]
    pub(crate) fn with_now(mut self, now: u64) -> Self {
        self.now = Some(now);
        self
    }

    fn on_event(&mut self, event: StreamEvent, events: &EventSender) {
        match event {
            StreamEvent::Init(init) => {
                self.session_id = init.session_id.clone();
                self.model = init.model.clone();
                let _ = events.send(AgentEvent::Session {
                    session_id: init.session_id,
                    model: init.model,
                });
            }
            StreamEvent::Message(m) if m.role.as_deref() == Some("assistant") => {
                if m.content.is_empty() {
                    return;
                }
                self.answer.push_str(&m.content);
                let _ = events.send(AgentEvent::Text { text: m.content });
            }
            StreamEvent::ToolUse(t) => {
                self.answer.clear();
                let summary = crate::tool_summary::summarize(&t.parameters, &self.workspace);
                let _ = events.send(AgentEvent::ToolUse {
                    name: t.tool_name,
                    summary,
                });
            }
            StreamEvent::Error(e) => {
                tracing::debug!(severity = ?e.severity, message = %e.message, "gemini reported an error event");
                self.errors.push(e.message);
            }
            StreamEvent::Result(r) => {
                if let Some(stats) = &r.stats {
                    let usage = stats.usage();
                    let _ = events.send(AgentEvent::Usage {
                        usage,
                        cost: stats.estimated_cost(),
                    });
                }
                self.result = Some(r);
            }
            StreamEvent::Message(_) | StreamEvent::ToolResult | StreamEvent::Other => {}
        }
    }

    /// The model that served the run: the one `init` names, or when that is `auto` (Gemini CLI's
    /// router picks per turn), the model with the most tokens in the stats.
    fn served_model(&self) -> Option<String> {
        match self.model.as_deref() {
            Some("auto") | None => self
                .result
                .as_ref()
                .and_then(|r| r.stats.as_ref())
                .and_then(|s| {
                    s.models
                        .iter()
                        .max_by_key(|(_, m)| m.total_tokens.unwrap_or(0))
                        .map(|(name, _)| name.clone())
                })
                .or_else(|| self.model.clone()),
            Some(m) => Some(m.to_string()),
        }
    }
}

impl StreamHandler for GeminiStream {
    fn on_stdout(&mut self, line: Line, events: &EventSender) {
        if let Some(event) = json_event::<StreamEvent>("gemini", &line, &mut self.unparsed_lines) {
            self.on_event(event, events);
        }
    }

    fn on_stderr(&mut self, line: &str, events: &EventSender) {
        // "Attempt 2 failed with status 429. Retrying with backoff... _ApiError: {...}"
        // ("Attempt 1 failed: ... Max attempts reached" is the end of the retries, not a retry.)
        let Some(rest) = line
            .strip_prefix("Attempt ")
            .filter(|r| r.contains("Retrying"))
        else {
            return;
        };
        let Some((number, detail)) = rest.split_once(" failed") else {
            return;
        };
        if let Ok(attempt) = number.trim().parse::<u32>() {
            let detail = detail.split(" _ApiError").next().unwrap_or(detail);
            let message = format!("attempt {attempt} failed{}", detail.trim_end());
            let _ = events.send(AgentEvent::Retry {
                attempt,
                message: crate::outcome::one_line(&message),
            });
        }
    }

    /// The `result` event ends a run.
    fn final_event_seen(&self) -> bool {
        self.result.is_some()
    }

    fn finish(&mut self, exit: &ProcessExit) -> AgentOutcome {
        let now = self.now.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        });
        let Classified { status, message } = classify(
            self.result.as_ref(),
            &self.errors,
            self.unparsed_lines,
            exit,
            now,
        );
        let mut outcome = AgentOutcome::new(status);
        outcome.message = message;
        outcome.session_id = self.session_id.clone();
        outcome.model = self.served_model();
        if let Some(stats) = self.result.as_ref().and_then(|r| r.stats.as_ref()) {
            outcome.usage = stats.usage();
            outcome.cost = stats.estimated_cost();
        }
        if outcome.status.is_success() && !self.answer.is_empty() {
            outcome.final_text = Some(self.answer.clone());
        }
        outcome
    }
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum StreamEvent {
    Init(InitEvent),
    Message(MessageEvent),
    ToolUse(ToolUseEvent),
    ToolResult,
    Error(ErrorEvent),
    Result(ResultEvent),
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
struct InitEvent {
    session_id: Option<String>,
    model: Option<String>,
}

#[derive(Debug, Deserialize)]
struct MessageEvent {
    role: Option<String>,
    #[serde(default)]
    content: String,
}

#[derive(Debug, Deserialize)]
struct ToolUseEvent {
    tool_name: String,
    #[serde(default)]
    parameters: Value,
}

#[derive(Debug, Deserialize)]
struct ErrorEvent {
    severity: Option<String>,
    #[serde(default)]
    message: String,
}

/// The final `result` event.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct ResultEvent {
    /// `success` or `error`.
    pub(super) status: Option<String>,
    pub(super) error: Option<ResultError>,
    stats: Option<Stats>,
}

/// `result.error`: `type` is an error class name (`FatalTurnLimitedError`, ...) or `unknown`.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct ResultError {
    #[serde(rename = "type")]
    pub(super) kind: Option<String>,
    #[serde(default)]
    pub(super) message: String,
}

/// Token counts of one model in `result.stats.models`.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
struct ModelStats {
    total_tokens: Option<u64>,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cached: Option<u64>,
    input: Option<u64>,
}

impl From<ModelStats> for Usage {
    fn from(m: ModelStats) -> Usage {
        let prompt = m.input_tokens.unwrap_or(0);
        let cached = m.cached.unwrap_or(0);
        let candidates = m.output_tokens.unwrap_or(0);
        let thoughts = m
            .total_tokens
            .unwrap_or(0)
            .saturating_sub(prompt)
            .saturating_sub(candidates);
        Usage {
            input_tokens: m.input.unwrap_or_else(|| prompt.saturating_sub(cached)),
            output_tokens: candidates + thoughts,
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: cached,
            reasoning_output_tokens: thoughts,
        }
    }
}

/// `result.stats`.
#[derive(Debug, Clone, Default, Deserialize)]
struct Stats {
    #[serde(default)]
    models: BTreeMap<String, ModelStats>,
    #[serde(flatten)]
    totals: ModelStats,
}

impl Stats {
    /// Tokens of the run: the sum over models (each mapped as the module docs say), or the totals when
    /// no model is listed.
    fn usage(&self) -> Usage {
        if self.models.is_empty() {
            return self.totals.into();
        }
        let mut total = Usage::default();
        for m in self.models.values() {
            total += Usage::from(*m);
        }
        total
    }

    /// The estimated cost of the models with a known price; `None` when no model with tokens has one.
    fn estimated_cost(&self) -> Option<Cost> {
        let mut cost: Option<Cost> = None;
        for (name, m) in &self.models {
            let usage = Usage::from(*m);
            if usage.is_zero() {
                continue;
            }
            match crate::pricing::estimate(name, &usage) {
                Some(c) => {
                    *cost.get_or_insert(Cost {
                        usd: 0.0,
                        estimated: true,
                    }) += c
                }
                None => {
                    tracing::debug!(model = %name, "no price for this model; its tokens are not in the cost")
                }
            }
        }
        cost
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
