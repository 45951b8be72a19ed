//! A scripted **OpenAI chat-completions** API for driving the real Qwen Code CLI in tests:
//! `ScriptedServer::openai_chat(script)`.
//!
//! What Qwen Code 0.15.10 sends (logged from the real CLI against this server):
//! - `POST /v1/chat/completions` with `stream: true`, `stream_options.include_usage`, `tools` (OpenAI
//!   function tools), the key as `Authorization: Bearer` (never recorded), and the whole history in
//!   `messages`: `system`, a `user` message with the session context, a canned `assistant` reply
//!   "Got it. Thanks for the context!", then the `user` prompt, then per turn an `assistant` message
//!   (`content`, `tool_calls`) and `tool` messages with the results. No session id: conversations are told
//!   apart by the prompt message (see [`crate::scripted`]); the canned reply is not a model turn.
//! - Sometimes, after the conversation, a "managed memory extraction subagent" request (another system
//!   prompt, same history): auxiliary, answered "OK" with no tokens. `$HOME/.qwen/settings.json` with
//!   `memory.enableManagedAutoMemory: false` turns it off.
//!
//! Replies: SSE `data: {chat.completion.chunk}` lines: a role chunk, the text in two `delta.content`
//! pieces, each tool call as `delta.tool_calls` with its `arguments` JSON split in two, a chunk with
//! `finish_reason` (`tool_calls` or `stop`), a usage chunk (`choices: []`, `usage.prompt_tokens` = input +
//! cache read, `prompt_tokens_details.cached_tokens`, `completion_tokens` = output), then `data: [DONE]`.
//! OpenAI has no cache writes: a scripted `cache_creation_input_tokens` must be 0. Errors: the OpenAI
//! error JSON `{"error": {"message", "type", "param", "code"}}`.

use std::path::Path;

use axum::http::{HeaderMap, Method, Uri, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::script::{ApiError, Block, Reply, Script, Turn, Usage};
use crate::scripted::{Parsed, Protocol, ScriptedServer, json_response, sse_response};

/// The canned assistant reply Qwen Code 0.15.10 puts after its session context (not a model turn).
pub const QWEN_SETUP_REPLY: &str = "Got it. Thanks for the context!";

/// Qwen Code's `write_file{file_path, content}`; it needs an absolute `file_path`.
pub fn write_file(file_path: impl AsRef<Path>, content: impl Into<String>) -> Block {
    let path = file_path.as_ref();
    assert!(
        path.is_absolute(),
        "Qwen Code's write_file needs an absolute path, got {}",
        path.display()
    );
    Block::ToolUse {
        name: "write_file".into(),
        input: json!({ "file_path": path.to_string_lossy(), "content": content.into() }),
    }
}

/// Qwen Code's `run_shell_command{command, description}` (runs `bash -c command` in the workspace).
pub fn run_shell_command(command: impl Into<String>, description: impl Into<String>) -> Block {
    Block::ToolUse {
        name: "run_shell_command".into(),
        input: json!({ "command": command.into(), "description": description.into() }),
    }
}

/// 401 `invalid_api_key`, worded as OpenAI's API words it.
pub fn invalid_api_key() -> ApiError {
    ApiError::new(
        401,
        "invalid_request_error",
        "Incorrect API key provided: dummy. You can find your API key at \
         https://platform.openai.com/account/api-keys.",
    )
}

/// The OpenAI chat-completions wire format (see the module docs).
#[derive(Debug, Default, Clone, Copy)]
pub struct OpenAiChatApi;

impl ScriptedServer {
    /// A scripted OpenAI chat-completions server; point Qwen Code at `url() + "/v1"` (see
    /// `HermeticEnv::qwen`).
    pub fn openai_chat(script: Script) -> Self {
        ScriptedServer::start(script, OpenAiChatApi)
    }
}

/// The text of a message's `content` (a string or a list of `text` parts).
fn message_text(m: &Value) -> String {
    match m.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn role(m: &Value) -> &str {
    m.get("role").and_then(Value::as_str).unwrap_or("")
}

fn is_setup_reply(m: &Value) -> bool {
    role(m) == "assistant" && message_text(m) == QWEN_SETUP_REPLY
}

/// `(key, turn)` of a conversation request: the user message before the first model turn (else the
/// last user message), and the number of model turns.
fn key_and_turn(messages: &[Value]) -> (String, usize) {
    let is_turn = |m: &Value| role(m) == "assistant" && !is_setup_reply(m);
    let turn = messages.iter().filter(|m| is_turn(m)).count();
    let end = messages.iter().position(is_turn).unwrap_or(messages.len());
    let key = messages[..end]
        .iter()
        .rev()
        .find(|m| role(m) == "user")
        .map(message_text)
        .unwrap_or_default();
    (key, turn)
}

fn usage_json(u: &Usage) -> Value {
    assert_eq!(
        u.cache_creation_input_tokens, 0,
        "the OpenAI API has no cache writes: script cache_creation_input_tokens = 0"
    );
    let prompt = u.input_tokens + u.cache_read_input_tokens;
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": u.output_tokens,
        "total_tokens": prompt + u.output_tokens,
        "prompt_tokens_details": { "cached_tokens": u.cache_read_input_tokens },
    })
}

fn halves(s: &str) -> [&str; 2] {
    let mut cut = s.len() / 2;
    while !s.is_char_boundary(cut) {
        cut += 1;
    }
    [&s[..cut], &s[cut..]]
}

/// The SSE body of a streamed reply (see the module docs).
fn stream_body(turn: &Turn, model: &str, id: &str) -> String {
    let chunk = |choices: Value| {
        json!({ "id": format!("chatcmpl-e2e-{id}"), "object": "chat.completion.chunk",
                "created": 1_700_000_000, "model": model, "choices": choices })
    };
    let delta = |d: Value| chunk(json!([{ "index": 0, "delta": d, "finish_reason": null }]));
    let mut out = vec![delta(json!({ "role": "assistant", "content": "" }))];
    let mut calls = 0;
    for block in &turn.blocks {
        match block {
            Block::Text(text) => {
                for piece in halves(text).into_iter().filter(|p| !p.is_empty()) {
                    out.push(delta(json!({ "content": piece })));
                }
            }
            Block::ToolUse { name, input } => {
                let args = input.to_string();
                let [a, b] = halves(&args);
                out.push(delta(
                    json!({ "tool_calls": [{ "index": calls, "id": format!("call_e2e_{id}_{calls}"),
                    "type": "function", "function": { "name": name, "arguments": a } }] }),
                ));
                out.push(delta(
                    json!({ "tool_calls": [{ "index": calls, "function": { "arguments": b } }] }),
                ));
                calls += 1;
            }
        }
    }
    let finish = if calls > 0 { "tool_calls" } else { "stop" };
    out.push(chunk(
        json!([{ "index": 0, "delta": {}, "finish_reason": finish }]),
    ));
    let mut usage = chunk(json!([]));
    usage["usage"] = usage_json(&turn.usage);
    out.push(usage);
    let mut body: String = out.iter().map(|c| format!("data: {c}\n\n")).collect();
    body.push_str("data: [DONE]\n\n");
    body
}

/// A non-streamed reply: one `chat.completion` with the text and tool calls.
fn completion(turn: &Turn, model: &str, id: &str) -> Value {
    let text: String = turn
        .blocks
        .iter()
        .filter_map(|b| match b {
            Block::Text(t) => Some(t.as_str()),
            Block::ToolUse { .. } => None,
        })
        .collect();
    let calls: Vec<Value> = turn
        .blocks
        .iter()
        .filter_map(|b| match b {
            Block::ToolUse { name, input } => Some((name, input)),
            Block::Text(_) => None,
        })
        .enumerate()
        .map(|(i, (name, input))| {
            json!({ "id": format!("call_e2e_{id}_{i}"), "type": "function",
            "function": { "name": name, "arguments": input.to_string() } })
        })
        .collect();
    let finish = if calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    };
    let mut message = json!({ "role": "assistant", "content": text });
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    json!({ "id": format!("chatcmpl-e2e-{id}"), "object": "chat.completion", "created": 1_700_000_000,
            "model": model, "choices": [{ "index": 0, "message": message, "finish_reason": finish }],
            "usage": usage_json(&turn.usage) })
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

impl Protocol for OpenAiChatApi {
    fn parse(&self, method: &Method, uri: &Uri, _: &HeaderMap, body: Option<&Value>) -> Parsed {
        let path = uri.path();
        if method == Method::HEAD || (method == Method::GET && path == "/") {
            return Parsed::Probe;
        }
        if method != Method::POST || !path.ends_with("/chat/completions") {
            return Parsed::Reject(404, format!("no route for {method} {path}"));
        }
        let Some(body) = body else {
            return Parsed::Reject(400, "request body is not JSON".into());
        };
        let model = body
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or("test-model")
            .to_owned();
        let stream = body.get("stream").and_then(Value::as_bool) == Some(true);
        let messages = body
            .get("messages")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let has_tools = body
            .get("tools")
            .and_then(Value::as_array)
            .is_some_and(|t| !t.is_empty());
        let side_agent = messages
            .first()
            .filter(|m| role(m) == "system")
            .is_some_and(|m| message_text(m).contains("managed memory"));
        if !has_tools || side_agent {
            let turn = Turn::text("OK").usage(Usage::default());
            return Parsed::Auxiliary(self.render(&Reply::Message(turn), &model, "aux", stream));
        }
        let (key, turn) = key_and_turn(&messages);
        Parsed::Conversation {
            key,
            turn,
            model,
            stream,
        }
    }

    fn render(&self, reply: &Reply, model: &str, id: &str, stream: bool) -> Response {
        match reply {
            Reply::Message(turn) if stream => sse_response(stream_body(turn, model, id)),
            Reply::Message(turn) => json_response(200, &completion(turn, model, id)),
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
    fn the_canned_setup_reply_is_not_a_turn_and_the_prompt_is_the_key() {
        let messages = vec![
            json!({"role": "system", "content": "You are Qwen Code"}),
            json!({"role": "user", "content": [{"type": "text", "text": "context"}]}),
            json!({"role": "assistant", "content": QWEN_SETUP_REPLY}),
            json!({"role": "user", "content": [{"type": "text", "text": "iteration 2: do it"}]}),
        ];
        assert_eq!(key_and_turn(&messages), ("iteration 2: do it".into(), 0));
        let mut later = messages.clone();
        later.push(json!({"role": "assistant", "content": null, "tool_calls": []}));
        later.push(json!({"role": "tool", "content": "ok"}));
        assert_eq!(key_and_turn(&later), ("iteration 2: do it".into(), 1));
    }

    #[test]
    fn a_streamed_tool_turn_splits_arguments_and_ends_with_usage_and_done() {
        let turn =
            Turn::tool(run_shell_command("echo hi", "say hi")).usage(Usage::new(10, 2, 0, 5));
        let body = stream_body(&turn, "m", "s0t0");
        assert_eq!(body.matches("\"arguments\"").count(), 2);
        assert!(body.contains(r#""finish_reason":"tool_calls""#));
        assert!(body.contains(r#""prompt_tokens":15"#));
        assert!(body.ends_with("data: [DONE]\n\n"));
    }
}
