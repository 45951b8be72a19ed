//! Codex's `exec --json` output, mapped to [`AgentEvent`]s and an [`AgentOutcome`].
//!
//! Format source: Codex 0.171.0, `codex exec --json` (recorded streams in `tests/fixtures/codex/`). One JSON
//! object per line:
//!
//! | `type` | fields used | mapped to |
//! |---|---|---|
//! | `thread.started` | `thread_id` | [`AgentEvent::Session`] (the model is the one ralph asked for) |
//! | `turn.started` | — | — |
//! | `item.started` | `item` of type `command_execution` (`command`), `file_change` (`changes[].path`, `kind`), `mcp_tool_call`, `web_search` | [`AgentEvent::ToolUse`] |
//! | `item.completed` | `item` of type `agent_message` (`text`): the last one is the final answer; tool items not announced by `item.started`; `error` (a warning such as "Model metadata for `gpt-5` not found", not a failure) | [`AgentEvent::Text`], [`AgentEvent::ToolUse`] |
//! | `turn.completed` | `usage{input_tokens, cached_input_tokens, cache_write_input_tokens, output_tokens, reasoning_output_tokens}` | [`AgentEvent::Usage`] |
//! | `turn.failed` | `error.message` | the failure (see the `classify` module) |
//! | `error` | `message`: "Reconnecting... 2/5 (...)" is a retry in progress, anything else the error that `turn.failed` repeats | [`AgentEvent::Retry`] |
//!
//! Tokens: Codex passes the Responses API's counts through, summed over the model requests of the turn. In
//! that API `input_tokens` counts the whole prompt, cached and cache-written tokens included
//! (`input_tokens_details.cached_tokens` / `cache_write_tokens`, which Codex reports as
//! `cached_input_tokens` / `cache_write_input_tokens`), and `output_tokens` includes the reasoning tokens.
//! So ralph's [`Usage`] is: `input_tokens` = input − cached − cache-written (uncached input),
//! `cache_read_input_tokens` = cached, `cache_creation_input_tokens` = cache-written, `output_tokens` =
//! output, `reasoning_output_tokens` = reasoning (informational, already in output). Several
//! `turn.completed` events (one per turn) are added up. Codex reports no cost: it is estimated with
//! [`crate::pricing::estimate`] when the model is known.
//!
//! What commands print (`aggregated_output`) is never read: tool output must not be mistaken for a usage
//! limit.

use super::classify::classify_failure;
use crate::lines::{Line, json_event};
use crate::outcome::Classified;
use crate::outcome::one_line;
use crate::process::{ProcessExit, StreamHandler};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use ralph_core::{AgentEvent, AgentOutcome, Cost, EventSender, Usage};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Reads Codex's `exec --json` stream and classifies the run (a [`StreamHandler`]).
#[derive(Debug, Default)]
pub struct CodexStream {
    workspace: PathBuf,
    model: Option<String>,
    thread_id: Option<String>,
    /// Ids of tool items already announced by `item.started`.
    announced: BTreeSet<String>,
    final_text: Option<String>,
    usage: Usage,
    turns_completed: u64,
    turn_failed: Option<String>,
    /// The last `error` event that was not a reconnection notice.
    last_error: Option<String>,
    unparsed_lines: u64,
    /// Fixed clock and time zone for tests; `None`: now and the system zone.
    clock: Option<(Timestamp, TimeZone)>,
}

impl CodexStream {
    /// A handler for a run in `workspace` (tool summaries show paths relative to it) with `model` (for the
    /// cost estimate; `None` when unknown).
    pub fn new(workspace: impl Into<PathBuf>, model: Option<String>) -> Self {
        CodexStream {
            workspace: workspace.into(),
            model,
            ..CodexStream::default()
        }
    }

    /// Reads reset times ("try again at 9:04 AM") as if it were `now` in `tz`.
    #[cfg(test)]
    pub(crate) fn with_clock(mut self, now: Timestamp, tz: TimeZone) -> Self {
        self.clock = Some((now, tz));
        self
    }

    fn on_event(&mut self, event: Event, events: &EventSender) {
        match event {
            Event::ThreadStarted { thread_id } => {
                self.thread_id = thread_id.clone();
                let _ = events.send(AgentEvent::Session {
                    session_id: thread_id,
                    model: self.model.clone(),
                });
            }
            Event::ItemStarted { item } => self.announce(&item, events),
            Event::ItemCompleted { item } => match item.kind.as_str() {
                "agent_message" => {
                    let text = item.text.unwrap_or_default();
                    if !text.trim().is_empty() {
                        let _ = events.send(AgentEvent::Text { text: text.clone() });
                    }
                    self.final_text = Some(text);
                }
                "error" => {
                    let message = item.message.unwrap_or_default();
                    tracing::debug!(%message, "codex warning");
                }
                _ => self.announce(&item, events),
            },
            Event::TurnCompleted { usage } => {
                self.turns_completed += 1;
                if let Some(u) = usage {
                    self.usage += u.into();
                    let _ = events.send(AgentEvent::Usage {
                        usage: self.usage,
                        cost: self.cost(),
                    });
                }
            }
            Event::TurnFailed { error } => {
                let message = error.and_then(|e| e.message).unwrap_or_default();
                self.turn_failed = Some(message);
            }
            Event::Error { message } => {
                let message = message.unwrap_or_default();
                if let Some(rest) = message.strip_prefix("Reconnecting...") {
                    let attempt = rest
                        .trim_start()
                        .split('/')
                        .next()
                        .and_then(|n| n.trim().parse().ok())
                        .unwrap_or(0);
                    let _ = events.send(AgentEvent::Retry {
                        attempt,
                        message: one_line(&message),
                    });
                } else {
                    self.last_error = Some(message);
                }
            }
            Event::Other => {}
        }
    }

    /// Sends a [`AgentEvent::ToolUse`] for a tool item, once per item id.
    fn announce(&mut self, item: &Item, events: &EventSender) {
        let Some(summary) = tool_summary(item, &self.workspace) else {
            return;
        };
        if let Some(id) = &item.id
            && !self.announced.insert(id.clone())
        {
            return;
        }
        let _ = events.send(AgentEvent::ToolUse {
            name: item.kind.clone(),
            summary,
        });
    }

    /// The estimate for the model, when known and something was used.
    fn cost(&self) -> Option<Cost> {
        if self.usage.is_zero() {
            return None;
        }
        self.model
            .as_deref()
            .and_then(|m| crate::pricing::estimate(m, &self.usage))
    }

    fn now_and_zone(&self) -> (Timestamp, TimeZone) {
        self.clock
            .clone()
            .unwrap_or_else(|| (Timestamp::now(), TimeZone::system()))
    }

    fn classify(&self, exit: &ProcessExit) -> Classified {
        let (now, tz) = self.now_and_zone();
        if let Some(message) = &self.turn_failed {
            let message = if message.is_empty() {
                self.last_error
                    .as_deref()
                    .unwrap_or("codex reported turn.failed")
            } else {
                message
            };
            return classify_failure(message, now, &tz);
        }
        if self.turns_completed > 0 {
            if !exit.succeeded() {
                tracing::debug!(status = %exit.describe_status(), "codex completed its turn but did not exit 0");
            }
            return Classified::success();
        }
        if let (Some(message), false) = (&self.last_error, exit.succeeded()) {
            return classify_failure(message, now, &tz);
        }
        Classified::without_final_event(
            exit,
            "codex",
            "`turn.completed`",
            self.unparsed_lines,
            "JSON events",
        )
    }
}

impl StreamHandler for CodexStream {
    fn on_stdout(&mut self, line: Line, events: &EventSender) {
        if let Some(event) = json_event::<Event>("codex", &line, &mut self.unparsed_lines) {
            self.on_event(event, events);
        }
    }

    /// `turn.completed` (or `turn.failed`) ends a run of `codex exec`, which runs one turn.
    fn final_event_seen(&self) -> bool {
        self.turns_completed > 0 || self.turn_failed.is_some()
    }

    fn finish(&mut self, exit: &ProcessExit) -> AgentOutcome {
        let Classified { status, message } = self.classify(exit);
        let mut outcome = AgentOutcome::new(status);
        outcome.message = message;
        outcome.usage = self.usage;
        outcome.cost = self.cost();
        outcome.session_id = self.thread_id.clone();
        outcome.model = self.model.clone();
        if outcome.status.is_success() {
            outcome.final_text = self.final_text.clone();
        }
        outcome
    }
}

/// One-line description of a tool item, `None` for items that are not tool calls.
fn tool_summary(item: &Item, workspace: &Path) -> Option<String> {
    let text = match item.kind.as_str() {
        "command_execution" => unwrap_shell(item.command.as_deref().unwrap_or("")).to_string(),
        "file_change" => item
            .changes
            .iter()
            .map(|c| {
                let path = c.path.as_deref().unwrap_or("");
                let shown = Path::new(path)
                    .strip_prefix(workspace)
                    .map(|r| r.display().to_string())
                    .unwrap_or_else(|_| path.to_string());
                format!("{} {shown}", c.kind.as_deref().unwrap_or("update"))
            })
            .collect::<Vec<_>>()
            .join(", "),
        "mcp_tool_call" => [item.server.as_deref(), item.tool.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("/"),
        "web_search" => item.query.clone().unwrap_or_default(),
        _ => return None,
    };
    Some(crate::tool_summary::one_line(
        Some(text),
        &serde_json::Value::Null,
    ))
}

/// The command inside Codex's shell wrapper: `/bin/bash -lc 'echo hi'` → `echo hi`.
fn unwrap_shell(command: &str) -> &str {
    for wrapper in [
        "/bin/bash -lc ",
        "bash -lc ",
        "/bin/zsh -lc ",
        "/bin/sh -c ",
        "sh -c ",
    ] {
        if let Some(inner) = command.strip_prefix(wrapper) {
            let inner = inner.trim();
            for quote in ['\'', '"'] {
                if let Some(unquoted) = inner
                    .strip_prefix(quote)
                    .and_then(|s| s.strip_suffix(quote))
                {
                    return unquoted;
                }
            }
            return inner;
        }
    }
    command
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type")]
enum Event {
    #[serde(rename = "thread.started")]
    ThreadStarted { thread_id: Option<String> },
    #[serde(rename = "item.started")]
    ItemStarted { item: Item },
    #[serde(rename = "item.completed")]
    ItemCompleted { item: Item },
    #[serde(rename = "turn.completed")]
    TurnCompleted { usage: Option<RawUsage> },
    #[serde(rename = "turn.failed")]
    TurnFailed { error: Option<ErrorBody> },
    #[serde(rename = "error")]
    Error { message: Option<String> },
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
struct Item {
    id: Option<String>,
    #[serde(rename = "type", default)]
    kind: String,
    text: Option<String>,
    message: Option<String>,
    command: Option<String>,
    #[serde(default)]
    changes: Vec<Change>,
    server: Option<String>,
    tool: Option<String>,
    query: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Change {
    path: Option<String>,
    kind: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    message: Option<String>,
}

/// `turn.completed.usage` of Codex 0.171.0.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
struct RawUsage {
    input_tokens: Option<u64>,
    cached_input_tokens: Option<u64>,
    cache_write_input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    reasoning_output_tokens: Option<u64>,
}

impl From<RawUsage> for Usage {
    fn from(u: RawUsage) -> Usage {
        let cached = u.cached_input_tokens.unwrap_or(0);
        let written = u.cache_write_input_tokens.unwrap_or(0);
        Usage {
            input_tokens: u
                .input_tokens
                .unwrap_or(0)
                .saturating_sub(cached)
                .saturating_sub(written),
            output_tokens: u.output_tokens.unwrap_or(0),
            cache_creation_input_tokens: written,
            cache_read_input_tokens: cached,
            reasoning_output_tokens: u.reasoning_output_tokens.unwrap_or(0),
        }
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
