//! A scripted **OpenAI Responses API** for driving the real Codex and OpenCode CLIs in tests:
//! `ScriptedServer::openai_responses(script)`.
//!
//! What the CLIs send (logged from the real CLIs against this server):
//! - Codex 0.171.0: `POST /v1/responses` with `stream: true`, `store: false`, the key as `Authorization:
//!   Bearer` (never recorded), headers `session-id` / `thread-id` (one per `codex exec` process), and the
//!   whole history in `input`: `developer` and `user` messages (instructions, environment context, the
//!   prompt read on stdin), then per turn the model's items (`message`, `function_call`,
//!   `custom_tool_call`, `reasoning`) and their results (`function_call_output`, `custom_tool_call_output`).
//!   Its `tools` for `-m gpt-5.5` (a model in Codex's bundled catalogue) include `exec_command{cmd}` (a
//!   function tool that runs `bash -lc cmd` in the workspace) and `apply_patch` (a *custom* freeform tool
//!   whose input is a `*** Begin Patch` text); for unknown models Codex warns "Model metadata … not found"
//!   and offers no `apply_patch`.
//! - OpenCode 1.18.33 (provider `npm: "@ai-sdk/openai"` with a `baseURL`): the same endpoint and history
//!   format, header `x-session-id: ses_…`, tools `bash{command, description}`, `read`, ..., and for files
//!   `write{filePath, content}` and `edit`, except for GPT-5 models (a model id containing `gpt-` but not
//!   `gpt-4` or `oss`), which get `apply_patch{patchText}` instead; plus one tool-less title request per
//!   session (`You are a title generator`):
//!   auxiliary, answered "Scripted title" without consuming the script.
//!
//! Conversations are told apart by the session header (`session-id`, else `x-session-id`, else
//! `prompt_cache_key`, else the first user text); a request's turn is the number of model turns already in
//! its `input`, where a turn is a run of consecutive model items (a text and a call of one reply are one
//! turn). Retries of a request therefore get the same reply (see [`crate::scripted`]).
//!
//! Replies, as both CLIs accept them (SSE, each event `event: TYPE` + `data: JSON`): `response.created`;
//! per block `response.output_item.added`, then for text two `response.output_text.delta`, for a
//! function call two `response.function_call_arguments.delta` and `…arguments.done`, then
//! `response.output_item.done` with the whole item; finally `response.completed` with `usage`.
//! [`Block::Text`] is a `message` item; [`Block::ToolUse`] with an object input a `function_call`, with a
//! string input a `custom_tool_call` (Codex's `apply_patch`). Usage: `input_tokens` = input + cache read +
//! cache write (the Responses API counts the whole prompt), `input_tokens_details{cached_tokens,
//! cache_write_tokens}`, `output_tokens` = output, `output_tokens_details.reasoning_tokens = 0`. Errors: the
//! OpenAI error JSON `{"error": {"message", "type", "param", "code"}}` with the HTTP status.

use std::path::Path;

use axum::http::{HeaderMap, Method, Uri, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::script::{ApiError, Block, Reply, Script, Turn, Usage};
use crate::scripted::{Parsed, Protocol, ScriptedServer, json_response, sse_response};

/// `created_at` of every reply (a fixed time keeps recordings stable).
const CREATED_AT: u64 = 1_767_225_600;

/// The patch text that adds the file `path` with `content` (every line a `+` line), as Codex's and
/// OpenCode's `apply_patch` tools take it.
pub fn add_file_patch(path: &str, content: &str) -> String {
    let body: String = content
        .strip_suffix('\n')
        .unwrap_or(content)
        .split('\n')
        .map(|line| format!("+{line}\n"))
        .collect();
    format!("*** Begin Patch\n*** Add File: {path}\n{body}*** End Patch")
}

/// Codex's `apply_patch` (a freeform custom tool) adding the file `path` (relative to the workspace).
pub fn apply_patch_add(path: &str, content: &str) -> Block {
    Block::ToolUse {
        name: "apply_patch".into(),
        input: Value::String(add_file_patch(path, content)),
    }
}

/// Codex's `exec_command{cmd}`: runs `bash -lc cmd` in the workspace.
pub fn exec_command(cmd: impl Into<String>) -> Block {
    Block::ToolUse {
        name: "exec_command".into(),
        input: json!({ "cmd": cmd.into() }),
    }
}

/// OpenCode's `apply_patch{patchText}` adding the file `path`: the file tool OpenCode 1.18.33 offers GPT-5
/// models instead of `write` and `edit`.
pub fn opencode_apply_patch_add(path: &str, content: &str) -> Block {
    Block::ToolUse {
        name: "apply_patch".into(),
        input: json!({ "patchText": add_file_patch(path, content) }),
    }
}

/// OpenCode's `write{filePath, content}` (offered to models other than GPT-5); it needs an absolute path.
pub fn opencode_write(file_path: impl AsRef<Path>, content: impl Into<String>) -> Block {
    let path = file_path.as_ref();
    assert!(
        path.is_absolute(),
        "OpenCode's write tool needs an absolute path, got {}",
        path.display()
    );
    Block::ToolUse {
        name: "write".into(),
        input: json!({ "filePath": path.to_string_lossy(), "content": content.into() }),
    }
}

/// OpenCode's `bash{command, description}` (runs in the workspace).
pub fn opencode_bash(command: impl Into<String>, description: impl Into<String>) -> Block {
    Block::ToolUse {
        name: "bash".into(),
        input: json!({ "command": command.into(), "description": description.into() }),
    }
}

/// The OpenAI Responses wire format (see the module docs).
#[derive(Debug, Default, Clone, Copy)]
pub struct OpenAiResponsesApi;

impl ScriptedServer {
    /// A scripted OpenAI Responses server; point Codex or OpenCode at `url() + "/v1"` (see
    /// `HermeticEnv::codex` and `HermeticEnv::opencode`).
    pub fn openai_responses(script: Script) -> Self {
        ScriptedServer::start(script, OpenAiResponsesApi)
    }
}

/// Whether an `input` item was produced by the model.
fn is_model_item(item: &Value) -> bool {
    let kind = item
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("message");
    match kind {
        "message" => item.get("role").and_then(Value::as_str) == Some("assistant"),
        "function_call" | "custom_tool_call" | "reasoning" | "local_shell_call"
        | "web_search_call" | "tool_search_call" => true,
        _ => false,
    }
}

/// The number of model turns in `input`: runs of consecutive model items.
fn turns(input: &[Value]) -> usize {
    let mut turns = 0;
    let mut in_turn = false;
    for item in input {
        let model = is_model_item(item);
        if model && !in_turn {
            turns += 1;
        }
        in_turn = model;
    }
    turns
}

/// The text of the first `user` message.
fn first_user_text(input: &[Value]) -> String {
    input
        .iter()
        .find(|i| i.get("role").and_then(Value::as_str) == Some("user"))
        .and_then(|m| match m.get("content") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Array(parts)) => Some(
                parts
                    .iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            _ => None,
        })
        .unwrap_or_default()
}

/// The conversation key of a request (see the module docs).
fn key(headers: &HeaderMap, body: &Value, input: &[Value]) -> String {
    ["session-id", "x-session-id"]
        .iter()
        .find_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()))
        .map(str::to_owned)
        .or_else(|| {
            body.get("prompt_cache_key")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| first_user_text(input))
}

fn usage_json(u: &Usage) -> Value {
    let input = u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens;
    json!({
        "input_tokens": input,
        "input_tokens_details": {
            "cached_tokens": u.cache_read_input_tokens,
            "cache_write_tokens": u.cache_creation_input_tokens,
        },
        "output_tokens": u.output_tokens,
        "output_tokens_details": { "reasoning_tokens": 0 },
        "total_tokens": input + u.output_tokens,
    })
}

fn halves(s: &str) -> [&str; 2] {
    let mut cut = s.len() / 2;
    while !s.is_char_boundary(cut) {
        cut += 1;
    }
    [&s[..cut], &s[cut..]]
}

/// The output items of `turn`, in order, with ids unique per request (`id` is e.g. `s1t0`).
fn output_items(turn: &Turn, id: &str) -> Vec<Value> {
    turn.blocks
        .iter()
        .enumerate()
        .map(|(i, block)| match block {
            Block::Text(text) => json!({
                "type": "message", "id": format!("msg_e2e_{id}_{i}"), "role": "assistant",
                "status": "completed",
                "content": [{ "type": "output_text", "text": text, "annotations": [] }],
            }),
            Block::ToolUse {
                name,
                input: Value::String(text),
            } => json!({
                "type": "custom_tool_call", "id": format!("ctc_e2e_{id}_{i}"),
                "call_id": format!("call_e2e_{id}_{i}"), "name": name, "input": text,
                "status": "completed",
            }),
            Block::ToolUse { name, input } => json!({
                "type": "function_call", "id": format!("fc_e2e_{id}_{i}"),
                "call_id": format!("call_e2e_{id}_{i}"), "name": name, "arguments": input.to_string(),
                "status": "completed",
            }),
        })
        .collect()
}

fn response_object(model: &str, id: &str, status: &str, output: Vec<Value>, usage: Value) -> Value {
    json!({
        "id": format!("resp_e2e_{id}"), "object": "response", "created_at": CREATED_AT,
        "status": status, "model": model, "output": output, "incomplete_details": null,
        "usage": usage,
    })
}

/// The SSE body of a streamed reply (see the module docs).
fn stream_body(turn: &Turn, model: &str, id: &str) -> String {
    let items = output_items(turn, id);
    let mut events = vec![json!({
        "type": "response.created",
        "response": response_object(model, id, "in_progress", Vec::new(), Value::Null),
    })];
    for (index, item) in items.iter().enumerate() {
        let item_id = item["id"].clone();
        match item["type"].as_str() {
            Some("message") => {
                let mut added = item.clone();
                added["status"] = json!("in_progress");
                added["content"] = json!([]);
                events.push(json!({ "type": "response.output_item.added", "output_index": index, "item": added }));
                let text = item["content"][0]["text"].as_str().unwrap_or("");
                for piece in halves(text) {
                    events.push(json!({ "type": "response.output_text.delta", "item_id": item_id,
                        "output_index": index, "content_index": 0, "delta": piece, "logprobs": [] }));
                }
            }
            Some("function_call") => {
                let mut added = item.clone();
                added["status"] = json!("in_progress");
                added["arguments"] = json!("");
                events.push(json!({ "type": "response.output_item.added", "output_index": index, "item": added }));
                let arguments = item["arguments"].as_str().unwrap_or("");
                for piece in halves(arguments) {
                    events.push(json!({ "type": "response.function_call_arguments.delta",
                        "item_id": item_id, "output_index": index, "delta": piece }));
                }
                events.push(json!({ "type": "response.function_call_arguments.done",
                    "item_id": item_id, "output_index": index, "arguments": arguments }));
            }
            _ => events.push(
                json!({ "type": "response.output_item.added", "output_index": index, "item": item }),
            ),
        }
        events.push(
            json!({ "type": "response.output_item.done", "output_index": index, "item": item }),
        );
    }
    events.push(json!({
        "type": "response.completed",
        "response": response_object(model, id, "completed", items, usage_json(&turn.usage)),
    }));
    events
        .iter()
        .enumerate()
        .map(|(seq, e)| {
            let mut e = e.clone();
            e["sequence_number"] = json!(seq);
            format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap_or(""))
        })
        .collect()
}

fn error_response(e: &ApiError) -> Response {
    let code = match e.status {
        401 => json!("invalid_api_key"),
        429 => json!("rate_limit_exceeded"),
        _ => Value::Null,
    };
    let body = json!({ "error": { "message": e.message, "type": e.error_type, "param": null, "code": code } });
    let mut resp = json_response(e.status, &body);
    if let Some(secs) = e.retry_after_secs {
        resp.headers_mut().insert(header::RETRY_AFTER, secs.into());
    }
    resp
}

impl Protocol for OpenAiResponsesApi {
    fn parse(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: Option<&Value>,
    ) -> Parsed {
        let path = uri.path();
        if method == Method::HEAD || (method == Method::GET && path == "/") {
            return Parsed::Probe;
        }
        if method != Method::POST || !path.ends_with("/responses") {
            return Parsed::Reject(404, format!("no route for {method} {path}"));
        }
        let Some(body) = body else {
            return Parsed::Reject(400, "request body is not JSON".into());
        };
        let model = body
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or("gpt-5")
            .to_owned();
        let stream = body.get("stream").and_then(Value::as_bool) == Some(true);
        let input = body
            .get("input")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let has_tools = body
            .get("tools")
            .and_then(Value::as_array)
            .is_some_and(|t| !t.is_empty());
        if !has_tools {
            let turn = Turn::text("Scripted title").usage(Usage::default());
            return Parsed::Auxiliary(self.render(&Reply::Message(turn), &model, "aux", stream));
        }
        Parsed::Conversation {
            key: key(headers, body, &input),
            turn: turns(&input),
            model,
            stream,
        }
    }

    fn render(&self, reply: &Reply, model: &str, id: &str, stream: bool) -> Response {
        match reply {
            Reply::Message(turn) if stream => sse_response(stream_body(turn, model, id)),
            Reply::Message(turn) => json_response(
                200,
                &response_object(
                    model,
                    id,
                    "completed",
                    output_items(turn, id),
                    usage_json(&turn.usage),
                ),
            ),
            Reply::Error(e) => error_response(e),
            Reply::Hang => unreachable!("hangs are handled by the server core"),
        }
    }

    fn unscripted(&self, message: &str) -> Response {
        error_response(&ApiError::new(500, "server_error", message))
    }

    fn reject(&self, status: u16, message: &str) -> Response {
        error_response(&ApiError::new(status, "invalid_request_error", message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_and_a_call_of_one_reply_are_one_turn() {
        let input = vec![
            json!({"type": "message", "role": "developer", "content": []}),
            json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": "do it"}]}),
            json!({"type": "message", "role": "assistant", "content": []}),
            json!({"type": "function_call", "call_id": "c1"}),
            json!({"type": "function_call_output", "call_id": "c1"}),
            json!({"type": "custom_tool_call", "call_id": "c2"}),
            json!({"type": "custom_tool_call_output", "call_id": "c2"}),
        ];
        assert_eq!(turns(&input), 2);
        assert_eq!(turns(&input[..2]), 0);
        assert_eq!(first_user_text(&input), "do it");
    }

    #[test]
    fn apply_patch_adds_each_line() {
        let Block::ToolUse { input, .. } = apply_patch_add("a.txt", "one\ntwo\n") else {
            panic!("not a tool call")
        };
        assert_eq!(
            input,
            "*** Begin Patch\n*** Add File: a.txt\n+one\n+two\n*** End Patch"
        );
    }

    #[test]
    fn a_streamed_reply_ends_with_usage_counting_the_whole_prompt() {
        let turn = Turn::tool(exec_command("echo hi"))
            .and(apply_patch_add("x", "y\n"))
            .usage(Usage::new(10, 2, 3, 5));
        let body = stream_body(&turn, "gpt-5.5", "s0t0");
        assert_eq!(body.matches("event: response.output_item.done").count(), 2);
        assert!(body.contains(r#""type":"custom_tool_call""#));
        assert!(body.contains(r#""input_tokens":18"#), "{body}");
        assert!(body.contains(r#""cache_write_tokens":3"#));
        let last = body.trim_end().lines().last().unwrap();
        assert!(last.contains("response.completed"), "{last}");
    }
}
