//! Claude Code's `stream-json` output, mapped to [`AgentEvent`]s and an [`AgentOutcome`].
//!
//! Format source: Claude Code 2.1.197, `claude -p --output-format stream-json --verbose` (recorded
//! streams in `tests/fixtures/claude/`). One JSON object per line:
//!
//! | `type` (`subtype`) | fields used | mapped to |
//! |---|---|---|
//! | `system` (`init`) | `session_id`, `model` | [`AgentEvent::Session`] |
//! | `system` (`api_retry`) | `attempt`, `max_retries`, `retry_delay_ms`, `error_status`, `error` | [`AgentEvent::Retry`] |
//! | `assistant` | `message.id`, `message.model`, `message.content[]` (`text`, `tool_use`), `message.usage`, `error` | [`AgentEvent::Text`], [`AgentEvent::ToolUse`], [`AgentEvent::Usage`] |
//! | `rate_limit_event` | `rate_limit_info.status`, `rate_limit_info.resetsAt` (Unix seconds) | reset time of a usage limit |
//! | `result` | `subtype`, `is_error`, `api_error_status`, `result`, `num_turns`, `total_cost_usd`, `usage`, `modelUsage`, `session_id` | the outcome |
//!
//! `user` events (tool results) are ignored on purpose: what a tool printed says nothing about the
//! agent's own state, and must never be mistaken for a usage limit.
//!
//! Usage while running is the sum of the `usage` of each distinct assistant message (Claude repeats a
//! message's usage on every content block, and reports `output_tokens` as of the message's start, so the
//! running figure undercounts output). The `result` event then gives the authoritative totals (summed over
//! `modelUsage`, which includes sub-agents) and the cost in USD.

use super::classify::classify;
use crate::lines::{Line, json_event};
use crate::outcome::Classified;
use crate::process::{ProcessExit, StreamHandler};
use ralph_core::{AgentEvent, AgentOutcome, Cost, EventSender, FailureKind, OutcomeStatus, Usage};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt;
use std::path::PathBuf;

/// Reads Claude Code's stream-json and classifies the run (a [`StreamHandler`]).
#[derive(Debug, Default)]
pub struct ClaudeStream {
    workspace: PathBuf,
    session_id: Option<String>,
    model: Option<String>,
    /// Usage of each assistant message seen, by message id.
    message_usage: BTreeMap<String, Usage>,
    /// The sum of `message_usage`.
    message_total: Usage,
    last_usage: Usage,
    result: Option<ResultEvent>,
    /// `Some(reset)` once a `rate_limit_event` said `rejected`.
    limit_rejected: Option<Option<u64>>,
    /// The `error` tag of the last synthetic assistant message (`authentication_failed`, `rate_limit`...).
    assistant_error: Option<String>,
    unparsed_lines: u64,
    /// An API failure Claude Code would only keep retrying (HTTP 401/403/429): `(status, error tag,
    /// retry delay in ms)`. ralph stops the agent at the first such retry and classifies it itself.
    fatal_retry: Option<(u16, Option<String>, Option<f64>)>,
}

impl ClaudeStream {
    /// A handler for a run in `workspace` (tool summaries show paths relative to it).
    pub fn new(workspace: impl Into<PathBuf>) -> Self {
        ClaudeStream {
            workspace: workspace.into(),
            ..ClaudeStream::default()
        }
    }

    fn on_event(&mut self, event: StreamEvent, events: &EventSender) {
        match event {
            StreamEvent::System(s) => self.on_system(s, events),
            StreamEvent::Assistant(a) => self.on_assistant(a, events),
            StreamEvent::RateLimitEvent(r) => {
                if r.rate_limit_info.status.as_deref() == Some("rejected") {
                    let reset = r.rate_limit_info.resets_at.and_then(unix_seconds);
                    self.limit_rejected = Some(reset);
                }
            }
            StreamEvent::Result(r) => {
                if self.session_id.is_none() {
                    self.session_id = r.session_id.clone();
                }
                if let Some(usage) = r.total_usage() {
                    self.last_usage = usage;
                    let cost = r.total_cost_usd.map(|usd| Cost {
                        usd,
                        estimated: false,
                    });
                    let _ = events.send(AgentEvent::Usage { usage, cost });
                }
                self.result = Some(r);
            }
            StreamEvent::Other => {}
        }
    }

    fn on_system(&mut self, s: SystemEvent, events: &EventSender) {
        match s.subtype.as_deref() {
            Some("init") => {
                self.session_id = s.session_id.clone().or(self.session_id.take());
                self.model = s.model.clone().or(self.model.take());
                let _ = events.send(AgentEvent::Session {
                    session_id: s.session_id,
                    model: s.model,
                });
            }
            Some("api_retry") => {
                let mut message = match (s.error_status, s.error.as_deref()) {
                    (Some(status), Some(e)) => format!("API error {status} ({e})"),
                    (Some(status), None) => format!("API error {status}"),
                    (None, Some(e)) => format!("API error ({e})"),
                    (None, None) => "API error".to_string(),
                };
                if let Some(max) = s.max_retries {
                    message.push_str(&format!("; retry {} of {max}", s.attempt.unwrap_or(0)));
                }
                if let Some(ms) = s.retry_delay_ms {
                    message.push_str(&format!(" in {:.1} s", ms / 1000.0));
                }
                let _ = events.send(AgentEvent::Retry {
                    attempt: s.attempt.unwrap_or(0),
                    message,
                });
                // Retrying a rejected key never helps, and a rate limit is better waited out (or fallen
                // back from) by ralph than by minutes of silent retries.
                if let Some(status @ (401 | 403 | 429)) = s.error_status {
                    self.fatal_retry = Some((status, s.error.clone(), s.retry_delay_ms));
                }
            }
            _ => {}
        }
    }

    fn on_assistant(&mut self, a: AssistantEvent, events: &EventSender) {
        // Claude Code reports API failures as a synthetic assistant message carrying an `error` tag.
        let synthetic = a.message.model.as_deref() == Some("<synthetic>");
        if a.error.is_some() {
            self.assistant_error = a.error;
        }
        // The model that served the main conversation (sub-agents may use another one).
        if let (false, None, Some(m)) = (synthetic, &a.parent_tool_use_id, &a.message.model) {
            self.model = Some(m.clone());
        }
        for block in a.message.content {
            match block {
                ContentBlock::Text { text } if !text.trim().is_empty() => {
                    let _ = events.send(AgentEvent::Text { text });
                }
                ContentBlock::ToolUse { name, input } => {
                    let summary = tool_summary(&name, &input, &self.workspace);
                    let _ = events.send(AgentEvent::ToolUse { name, summary });
                }
                _ => {}
            }
        }
        if let (Some(id), Some(usage), false) = (a.message.id, a.message.usage, synthetic) {
            let usage = Usage::from(usage);
            // The running sum, kept up to date instead of summed again at every message (a session of
            // thousands of messages). A saturating sum of unsigned counts does not depend on the order,
            // so adding a new message's usage gives the same total as summing them all again; a message
            // whose usage changed makes it summed again.
            match self.message_usage.entry(id) {
                Entry::Vacant(e) => {
                    e.insert(usage);
                    self.message_total += usage;
                }
                Entry::Occupied(mut e) if *e.get() != usage => {
                    e.insert(usage);
                    self.message_total = Usage::default();
                    for u in self.message_usage.values() {
                        self.message_total += *u;
                    }
                }
                Entry::Occupied(_) => {}
            }
            let total = self.message_total;
            if total != self.last_usage {
                self.last_usage = total;
                let _ = events.send(AgentEvent::Usage {
                    usage: total,
                    cost: None,
                });
            }
        }
    }
}

impl StreamHandler for ClaudeStream {
    fn on_stdout(&mut self, line: Line, events: &EventSender) {
        if let Some(event) = parse_event(&line, &mut self.unparsed_lines) {
            self.on_event(event, events);
        }
    }

    fn stop_requested(&self) -> bool {
        self.fatal_retry.is_some() && self.result.is_none()
    }

    /// The `result` event ends a run.
    fn final_event_seen(&self) -> bool {
        self.result.is_some()
    }

    fn finish(&mut self, exit: &ProcessExit) -> AgentOutcome {
        let Classified { status, message } = classify(
            self.result.as_ref(),
            self.limit_rejected,
            self.assistant_error.as_deref(),
            self.unparsed_lines,
            exit,
        );
        let (status, message) = match (&self.fatal_retry, &self.result) {
            (Some((code, tag, delay_ms)), None) => retry_outcome(*code, tag.as_deref(), *delay_ms),
            _ => (status, message),
        };
        let mut outcome = AgentOutcome::new(status);
        outcome.message = message;
        outcome.usage = self.last_usage;
        outcome.session_id = self.session_id.clone();
        outcome.model = self.model.clone();
        if let Some(r) = &self.result {
            outcome.final_text = r.result.clone();
            outcome.cost = r.total_cost_usd.map(|usd| Cost {
                usd,
                estimated: false,
            });
        }
        outcome
    }
}

/// The outcome of a run stopped at Claude Code's first retry of HTTP `code`.
fn retry_outcome(
    code: u16,
    tag: Option<&str>,
    delay_ms: Option<f64>,
) -> (OutcomeStatus, Option<String>) {
    let what = tag.map(|t| format!(" ({t})")).unwrap_or_default();
    match code {
        429 => {
            let reset = delay_ms.map(|ms| {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                now + (ms / 1000.0).ceil() as u64
            });
            (
                OutcomeStatus::RateLimited {
                    reset_at_unix: reset,
                },
                Some(format!(
                    "HTTP 429{what}: rate limited (Claude Code was retrying; stopped so ralph waits or falls back)"
                )),
            )
        }
        _ => (
            OutcomeStatus::Failed {
                kind: FailureKind::Auth,
                api_status: Some(code),
            },
            Some(format!(
                "HTTP {code}{what}: the API key was rejected (check ANTHROPIC_API_KEY or CLAUDE_API_KEY)"
            )),
        ),
    }
}

/// One-line description of a tool call: the file for file tools, the command for Bash, the pattern,
/// URL or query for search tools, else the first string in the input; secrets masked, truncated.
fn tool_summary(name: &str, input: &Value, workspace: &std::path::Path) -> String {
    let field = |k: &str| input.get(k).and_then(Value::as_str);
    let chosen = match name {
        "Write" | "Edit" | "MultiEdit" | "Read" => {
            field("file_path").map(|p| crate::tool_summary::relative(p, workspace))
        }
        "NotebookEdit" => field("notebook_path").map(str::to_string),
        "Bash" => field("command").map(str::to_string),
        "Glob" | "Grep" => field("pattern").map(str::to_string),
        "WebFetch" => field("url").map(str::to_string),
        "WebSearch" => field("query").map(str::to_string),
        "Task" | "Agent" => field("description").map(str::to_string),
        _ => None,
    };
    crate::tool_summary::one_line(chosen, input)
}

/// A number of Unix seconds (or milliseconds, from releases that sent those) as whole seconds.
fn unix_seconds(n: f64) -> Option<u64> {
    if !n.is_finite() || n <= 0.0 {
        return None;
    }
    let secs = if n > 100_000_000_000.0 { n / 1000.0 } else { n };
    Some(secs as u64)
}

/// One event of the stream, by its `type`.
#[derive(Debug)]
enum StreamEvent {
    System(SystemEvent),
    Assistant(AssistantEvent),
    RateLimitEvent(RateLimitEvent),
    Result(ResultEvent),
    /// Any other `type` (`user` tool results, `stream_event`...): not used.
    Other,
}

/// The event on `line`, or `None` for a line that is not one (counted in `unparsed` and logged).
///
/// Accepts and rejects exactly the lines serde's internally tagged enum (`#[serde(tag = "type")]` with
/// an `Other` variant) would, without its cost: serde buffers a whole internally tagged event, every
/// string of a tool result copied, before it looks at the tag. Here a first pass reads the tag while
/// checking the rest of the line the way that buffering does (every string and number parsed, nothing
/// kept: [`Checked`]); only the four event types ralph uses are then deserialized, directly into their
/// struct (the `type` field is then an unknown field, ignored).
fn parse_event(line: &Line, unparsed: &mut u64) -> Option<StreamEvent> {
    // serde also reads an internally tagged enum from an array (the type first); no agent prints one,
    // and the slow path is exact for it.
    let first = line.as_bytes().iter().find(|b| !b" \t\r\n".contains(b));
    if first == Some(&b'[') {
        return json_event::<TaggedEvent>("claude", line, unparsed).map(TaggedEvent::into_event);
    }
    let kind = json_event::<EventKind>("claude", line, unparsed)?;
    let event = match kind {
        EventKind::System => StreamEvent::System(json_event("claude", line, unparsed)?),
        EventKind::Assistant => StreamEvent::Assistant(json_event("claude", line, unparsed)?),
        EventKind::RateLimitEvent => {
            StreamEvent::RateLimitEvent(json_event("claude", line, unparsed)?)
        }
        EventKind::Result => StreamEvent::Result(json_event("claude", line, unparsed)?),
        EventKind::Other => StreamEvent::Other,
    };
    Some(event)
}

/// [`StreamEvent`] as serde's internally tagged enum: the reference [`parse_event`] follows.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum TaggedEvent {
    System(SystemEvent),
    Assistant(AssistantEvent),
    RateLimitEvent(RateLimitEvent),
    Result(ResultEvent),
    #[serde(other)]
    Other,
}

impl TaggedEvent {
    fn into_event(self) -> StreamEvent {
        match self {
            TaggedEvent::System(e) => StreamEvent::System(e),
            TaggedEvent::Assistant(e) => StreamEvent::Assistant(e),
            TaggedEvent::RateLimitEvent(e) => StreamEvent::RateLimitEvent(e),
            TaggedEvent::Result(e) => StreamEvent::Result(e),
            TaggedEvent::Other => StreamEvent::Other,
        }
    }
}

/// The `type` of a checked event line (see [`parse_event`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EventKind {
    System,
    Assistant,
    RateLimitEvent,
    Result,
    Other,
}

impl EventKind {
    fn from_tag(tag: &str) -> Self {
        match tag {
            "system" => EventKind::System,
            "assistant" => EventKind::Assistant,
            "rate_limit_event" => EventKind::RateLimitEvent,
            "result" => EventKind::Result,
            _ => EventKind::Other,
        }
    }
}

impl<'de> Deserialize<'de> for EventKind {
    /// As serde's internally tagged enums for a map: exactly one `type` (a string); every other value is
    /// checked ([`Checked`]).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EventVisitor;
        impl<'de> Visitor<'de> for EventVisitor {
            type Value = EventKind;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("internally tagged enum StreamEvent")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EventKind, A::Error> {
                let mut kind = None;
                while let Some(key) = map.next_key::<Key>()? {
                    if key.0 {
                        if kind.is_some() {
                            return Err(de::Error::duplicate_field("type"));
                        }
                        kind = Some(map.next_value::<Tag>()?.0);
                    } else {
                        map.next_value::<Checked>()?;
                    }
                }
                kind.ok_or_else(|| de::Error::missing_field("type"))
            }
        }
        deserializer.deserialize_any(EventVisitor)
    }
}

/// A map key: `true` when it is `type`.
struct Key(bool);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
                Ok(Key(key == "type"))
            }
        }
        deserializer.deserialize_any(KeyVisitor)
    }
}

/// The value of `type`: a string, as a variant name.
struct Tag(EventKind);

impl<'de> Deserialize<'de> for Tag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TagVisitor;
        impl Visitor<'_> for TagVisitor {
            type Value = Tag;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("variant identifier")
            }
            fn visit_str<E: de::Error>(self, tag: &str) -> Result<Tag, E> {
                Ok(Tag(EventKind::from_tag(tag)))
            }
        }
        deserializer.deserialize_identifier(TagVisitor)
    }
}

/// Any JSON value, parsed as serde parses a value it buffers (strings unescaped and checked as UTF-8,
/// numbers converted), but not kept.
struct Checked;

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CheckedVisitor)
    }
}

struct CheckedVisitor;

impl<'de> Visitor<'de> for CheckedVisitor {
    type Value = Checked;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_str<E>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_unit<E>(self) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_none<E>(self) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Checked, D::Error> {
        Checked::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        while map.next_entry::<Checked, Checked>()?.is_some() {}
        Ok(Checked)
    }
}

#[derive(Debug, Deserialize)]
struct SystemEvent {
    subtype: Option<String>,
    session_id: Option<String>,
    model: Option<String>,
    attempt: Option<u32>,
    max_retries: Option<u32>,
    retry_delay_ms: Option<f64>,
    error_status: Option<u16>,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AssistantEvent {
    message: AssistantMessage,
    parent_tool_use_id: Option<String>,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AssistantMessage {
    id: Option<String>,
    model: Option<String>,
    #[serde(default)]
    content: Vec<ContentBlock>,
    usage: Option<RawUsage>,
}

/// A block of an assistant message's `content` (Claude's stream-json, also Qwen Code's).
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ContentBlock {
    Text {
        text: String,
    },
    ToolUse {
        name: String,
        #[serde(default)]
        input: Value,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
struct RateLimitEvent {
    rate_limit_info: RateLimitInfo,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RateLimitInfo {
    status: Option<String>,
    resets_at: Option<f64>,
}

/// Token counts of the Anthropic `usage` object (snake case, in `assistant` and `result` events).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
struct RawUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
}

impl From<RawUsage> for Usage {
    fn from(u: RawUsage) -> Usage {
        Usage {
            input_tokens: u.input_tokens.unwrap_or(0),
            output_tokens: u.output_tokens.unwrap_or(0),
            cache_creation_input_tokens: u.cache_creation_input_tokens.unwrap_or(0),
            cache_read_input_tokens: u.cache_read_input_tokens.unwrap_or(0),
            reasoning_output_tokens: 0,
        }
    }
}

/// Per-model token counts of `result.modelUsage` (camel case).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ModelUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
}

/// The final `result` event.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct ResultEvent {
    pub(super) subtype: Option<String>,
    pub(super) is_error: Option<bool>,
    /// HTTP status of the API error (a number; `null` when there was none).
    pub(super) api_error_status: Option<Value>,
    /// The final answer (or the error text when `is_error`); absent for `error_max_turns`.
    pub(super) result: Option<String>,
    pub(super) num_turns: Option<u64>,
    total_cost_usd: Option<f64>,
    usage: Option<RawUsage>,
    #[serde(rename = "modelUsage")]
    model_usage: Option<BTreeMap<String, ModelUsage>>,
    session_id: Option<String>,
}

impl ResultEvent {
    /// The HTTP status of the API error, if any.
    pub(super) fn api_status(&self) -> Option<u16> {
        match self.api_error_status.as_ref()? {
            Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// Tokens of the whole run: the sum over `modelUsage` (includes sub-agents and helper models) when
    /// present, else `usage`.
    fn total_usage(&self) -> Option<Usage> {
        if let Some(models) = self.model_usage.as_ref().filter(|m| !m.is_empty()) {
            let mut total = Usage::default();
            for m in models.values() {
                total += Usage {
                    input_tokens: m.input_tokens.unwrap_or(0),
                    output_tokens: m.output_tokens.unwrap_or(0),
                    cache_creation_input_tokens: m.cache_creation_input_tokens.unwrap_or(0),
                    cache_read_input_tokens: m.cache_read_input_tokens.unwrap_or(0),
                    reasoning_output_tokens: 0,
                };
            }
            return Some(total);
        }
        self.usage.map(Usage::from)
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
