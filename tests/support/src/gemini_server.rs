//! A scripted **Gemini API** (`generativelanguage`, `v1beta`) for driving the real Gemini CLI in tests:
//! `ScriptedServer::gemini(script)`.
//!
//! What Gemini CLI 0.61.0 sends (logged from the real CLI against this server):
//! - Without `-m`, first a tool-less `POST /v1beta/models/<router model>:generateContent` that wants JSON
//!   (`responseJsonSchema` with `complexity_reasoning`, `complexity_score`): the model router. Answered as
//!   an auxiliary request with a "simple task" verdict and no tokens. With `-m M` there is none.
//! - Then per model turn `POST /v1beta/models/M:streamGenerateContent?alt=sse` with `contents` (the whole
//!   history: `user` contents, `model` contents with `text` and `functionCall` parts, `user` contents with
//!   `functionResponse` parts), `systemInstruction`, `tools[].functionDeclarations` and the key in the
//!   `x-goog-api-key` header (never recorded). No session id anywhere: conversations are told apart by
//!   the first user content, which holds the session context and the prompt (see [`crate::scripted`]).
//!
//! Replies: `text/event-stream`, each chunk a `data: {GenerateContentResponse}` line and a blank line, one
//! chunk per part (text split in two), the last with `finishReason: "STOP"` and `usageMetadata`
//! (`promptTokenCount` = input + cache read, `cachedContentTokenCount`, `candidatesTokenCount` = output,
//! `totalTokenCount`). Gemini has no cache writes: a scripted `cache_creation_input_tokens` must be 0.
//! Errors: the Google API error JSON `{"error": {"code", "message", "status", "details"}}`.
//! Tools of Gemini CLI 0.61.0: `write_file{file_path, content}`, `run_shell_command{command,
//! description}`, `replace`, `read_file`, `list_directory`, `glob`, `grep_search`, ...

use std::path::Path;

use axum::http::{HeaderMap, Method, Uri, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::script::{ApiError, Block, Reply, Script, Turn, Usage};
use crate::scripted::{Parsed, Protocol, ScriptedServer, json_response, sse_response};

/// `error_type` of an [`ApiError`] that becomes Google's "API key not valid" (400 `INVALID_ARGUMENT`
/// with an `ErrorInfo` of reason `API_KEY_INVALID`), as the real API answers a wrong key.
pub const API_KEY_INVALID: &str = "API_KEY_INVALID";
/// `error_type` of an [`ApiError`] that becomes Google's free-tier daily quota error (429
/// `RESOURCE_EXHAUSTED` with a `QuotaFailure` per day and a `RetryInfo`).
pub const DAILY_QUOTA: &str = "DAILY_QUOTA";

/// Gemini CLI's `write_file{file_path, content}`.
pub fn write_file(file_path: impl AsRef<Path>, content: impl Into<String>) -> Block {
    Block::ToolUse {
        name: "write_file".into(),
        input: json!({ "file_path": file_path.as_ref().to_string_lossy(), "content": content.into() }),
    }
}

/// Gemini CLI's `run_shell_command{command, description}` (runs `bash -c command` in the workspace).
pub fn run_shell_command(command: impl Into<String>, description: impl Into<String>) -> Block {
    Block::ToolUse {
        name: "run_shell_command".into(),
        input: json!({ "command": command.into(), "description": description.into() }),
    }
}

/// 400 "API key not valid. Please pass a valid API key." (see [`API_KEY_INVALID`]).
pub fn api_key_invalid() -> ApiError {
    ApiError::new(
        400,
        API_KEY_INVALID,
        "API key not valid. Please pass a valid API key.",
    )
}

/// 429 daily quota exhausted, "Please retry in `retry_secs`s." (see [`DAILY_QUOTA`]). Gemini CLI does not
/// retry it.
pub fn daily_quota_exhausted(retry_secs: u64) -> ApiError {
    ApiError {
        retry_after_secs: Some(retry_secs),
        ..ApiError::new(
            429,
            DAILY_QUOTA,
            format!(
                "You exceeded your current quota, please check your plan and billing details.\n* Quota \
                 exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, \
                 limit: 250\nPlease retry in {retry_secs}s."
            ),
        )
    }
}

/// The Gemini API wire format (see the module docs).
#[derive(Debug, Default, Clone, Copy)]
pub struct GeminiApi;

impl ScriptedServer {
    /// A scripted Gemini API server; point Gemini CLI at it with `GOOGLE_GEMINI_BASE_URL` (see
    /// `HermeticEnv::gemini`).
    pub fn gemini(script: Script) -> Self {
        ScriptedServer::start(script, GeminiApi)
    }
}

/// All `text` of a `contents[]` entry's parts.
fn content_text(content: &Value) -> String {
    content
        .get("parts")
        .and_then(Value::as_array)
        .map(|parts| {
            parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

fn usage_metadata(u: &Usage) -> Value {
    assert_eq!(
        u.cache_creation_input_tokens, 0,
        "the Gemini API has no cache writes: script cache_creation_input_tokens = 0"
    );
    let prompt = u.input_tokens + u.cache_read_input_tokens;
    let mut meta = json!({
        "promptTokenCount": prompt,
        "candidatesTokenCount": u.output_tokens,
        "totalTokenCount": prompt + u.output_tokens,
    });
    if u.cache_read_input_tokens > 0 {
        meta["cachedContentTokenCount"] = json!(u.cache_read_input_tokens);
    }
    meta
}

/// One `GenerateContentResponse` chunk per part; the last carries the finish reason and the usage.
fn chunks(turn: &Turn, model: &str, id: &str) -> Vec<Value> {
    let mut parts = Vec::new();
    for block in &turn.blocks {
        match block {
            Block::Text(text) => {
                let mut cut = text.len() / 2;
                while !text.is_char_boundary(cut) {
                    cut += 1;
                }
                for piece in [&text[..cut], &text[cut..]] {
                    if !piece.is_empty() {
                        parts.push(json!({ "text": piece }));
                    }
                }
            }
            Block::ToolUse { name, input } => {
                parts.push(json!({ "functionCall": { "name": name, "args": input } }));
            }
        }
    }
    let n = parts.len();
    parts
        .into_iter()
        .enumerate()
        .map(|(i, part)| {
            let mut chunk = json!({
                "candidates": [{ "content": { "role": "model", "parts": [part] }, "index": 0 }],
                "modelVersion": model,
                "responseId": format!("e2e-{id}"),
            });
            if i + 1 == n {
                chunk["candidates"][0]["finishReason"] = json!("STOP");
                chunk["usageMetadata"] = usage_metadata(&turn.usage);
            }
            chunk
        })
        .collect()
}

fn google_error(e: &ApiError) -> Value {
    let (status, details) = match e.error_type.as_str() {
        API_KEY_INVALID => (
            "INVALID_ARGUMENT",
            json!([{
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": { "service": "generativelanguage.googleapis.com" },
            }]),
        ),
        DAILY_QUOTA => (
            "RESOURCE_EXHAUSTED",
            json!([
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [{
                        "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                        "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                        "quotaValue": "250",
                    }],
                },
                {
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": format!("{}s", e.retry_after_secs.unwrap_or(60)),
                },
            ]),
        ),
        other => (other, json!([])),
    };
    json!({ "error": { "code": e.status, "message": e.message, "status": status, "details": details } })
}

fn error_response(e: &ApiError) -> Response {
    let mut resp = json_response(e.status, &google_error(e));
    if let Some(secs) = e.retry_after_secs {
        resp.headers_mut().insert(header::RETRY_AFTER, secs.into());
    }
    resp
}

/// The router's verdict (both the numerical and the older classifier schema), no tokens.
fn router_answer(stream: bool) -> Response {
    let verdict = json!({
        "complexity_reasoning": "scripted test task",
        "complexity_score": 10,
        "reasoning": "scripted test task",
        "model_choice": "flash",
    });
    let reply = json!({
        "candidates": [{
            "content": { "role": "model", "parts": [{ "text": verdict.to_string() }] },
            "finishReason": "STOP",
            "index": 0,
        }],
        "usageMetadata": { "promptTokenCount": 0, "candidatesTokenCount": 0, "totalTokenCount": 0 },
    });
    if stream {
        sse_response(format!("data: {reply}\r\n\r\n"))
    } else {
        json_response(200, &reply)
    }
}

impl Protocol for GeminiApi {
    fn parse(&self, method: &Method, uri: &Uri, _: &HeaderMap, body: Option<&Value>) -> Parsed {
        let path = uri.path();
        if path == "/" && (method == Method::HEAD || method == Method::GET) {
            return Parsed::Probe;
        }
        let Some((model, action)) = path
            .strip_prefix("/v1beta/models/")
            .and_then(|rest| rest.split_once(':'))
        else {
            return Parsed::Reject(404, format!("no route for {method} {path}"));
        };
        let stream = match action {
            "streamGenerateContent" => true,
            "generateContent" => false,
            _ => return Parsed::Reject(404, format!("no route for {method} {path}")),
        };
        let Some(body) = body else {
            return Parsed::Reject(400, "request body is not JSON".into());
        };
        let has_tools = body
            .get("tools")
            .and_then(Value::as_array)
            .is_some_and(|t| !t.is_empty());
        if !has_tools {
            return Parsed::Auxiliary(router_answer(stream));
        }
        let contents = body
            .get("contents")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let turn = contents
            .iter()
            .filter(|c| c.get("role").and_then(Value::as_str) == Some("model"))
            .count();
        let key = contents.first().map(content_text).unwrap_or_default();
        Parsed::Conversation {
            key,
            turn,
            model: model.to_owned(),
            stream,
        }
    }

    fn render(&self, reply: &Reply, model: &str, id: &str, stream: bool) -> Response {
        match reply {
            Reply::Message(turn) => {
                let chunks = chunks(turn, model, id);
                if stream {
                    sse_response(
                        chunks
                            .iter()
                            .map(|c| format!("data: {c}\r\n\r\n"))
                            .collect(),
                    )
                } else {
                    let parts: Vec<Value> = chunks
                        .iter()
                        .map(|c| c["candidates"][0]["content"]["parts"][0].clone())
                        .collect();
                    let mut last = chunks.last().cloned().unwrap_or_else(|| json!({}));
                    last["candidates"][0]["content"]["parts"] = Value::Array(parts);
                    json_response(200, &last)
                }
            }
            Reply::Error(e) => error_response(e),
            Reply::Hang => unreachable!("hangs are handled by the server core"),
        }
    }

    fn unscripted(&self, message: &str) -> Response {
        error_response(&ApiError::new(500, "INTERNAL", message))
    }

    fn reject(&self, status: u16, message: &str) -> Response {
        let kind = if status == 404 {
            "NOT_FOUND"
        } else {
            "INVALID_ARGUMENT"
        };
        error_response(&ApiError::new(status, kind, message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_chunk_carries_usage_with_cached_tokens_inside_the_prompt_count() {
        let turn = Turn::tool(write_file("/ws/a.txt", "a"))
            .and(Block::Text("done".into()))
            .usage(Usage::new(100, 20, 0, 30));
        let c = chunks(&turn, "gemini-2.5-flash", "s0t0");
        assert_eq!(c.len(), 3, "one tool call, text in two pieces");
        let meta = &c[2]["usageMetadata"];
        assert_eq!(meta["promptTokenCount"], 130);
        assert_eq!(meta["cachedContentTokenCount"], 30);
        assert_eq!(meta["totalTokenCount"], 150);
        assert!(c[0].get("usageMetadata").is_none());
        assert_eq!(
            c[0]["candidates"][0]["content"]["parts"][0]["functionCall"]["name"],
            "write_file"
        );
    }

    #[test]
    fn api_key_errors_look_like_googles() {
        let body = google_error(&api_key_invalid());
        assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");
        assert_eq!(body["error"]["details"][0]["reason"], "API_KEY_INVALID");
    }
}
