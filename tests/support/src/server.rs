//! [`ModelServer`]: a scripted Anthropic Messages API server on `127.0.0.1`, for driving the real Claude Code
//! CLI in tests.
//!
//! What Claude Code 2.1.197 sends (logged from the real CLI against this server):
//! - `HEAD /` once at start-up (a connectivity probe): answered `200` with an empty body.
//! - `POST /v1/messages?beta=true` with `stream: true`, the agent's 20-odd `tools`, `max_tokens: 32000`,
//!   `metadata.user_id` = a JSON *string* `{"device_id":..,"account_uuid":"","session_id":"<uuid>"}` (also sent as
//!   the `X-Claude-Code-Session-Id` header), and the whole conversation in `messages`: the first `user` message
//!   holds a few `<system-reminder>` text blocks and then the prompt read from stdin as its last text block.
//! - Without `CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1` also a title-generation request of the same session:
//!   streaming, `tools: []`, an `output_config.format` JSON schema asking for `{"title": ..}`. (Without that
//!   switch Claude Code also looks up `api.anthropic.com` in DNS despite the base URL: tests always set it.)
//!
//! Requests that carry tools are *conversation* requests and play the [`Script`]; requests without tools (or
//! with `max_tokens <= 1`, a quota probe) are *auxiliary* and get a harmless answer without consuming it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::Response;
use serde_json::Value;

use crate::recording;
use crate::script::{ApiError, Reply, Script};
use crate::sse;

/// Largest request body accepted, in bytes (the spec wants 10 MB prompts to work).
const MAX_BODY_BYTES: usize = 256 << 20;

/// How the server classified a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestKind {
    /// A turn of an agent conversation: `iteration` is the 0-based index of its session in arrival order, `turn`
    /// the number of assistant messages already in the request.
    Conversation {
        /// 0-based iteration (= order in which the session first reached the server).
        iteration: usize,
        /// 0-based turn within the iteration.
        turn: usize,
    },
    /// A tool-less side request (title generation, quota probe): answered without consuming the script.
    Auxiliary,
    /// Anything else (`HEAD /`, unknown paths, unparsable bodies).
    Other,
}

/// What the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A scripted streamed message with this stop reason (`tool_use` or `end_turn`).
    Message(&'static str),
    /// A scripted error with this HTTP status.
    Error(u16),
    /// Nothing, ever (scripted hang).
    Hang,
    /// 500 `api_error`: the script had no reply for this request.
    Unscripted,
    /// A canned answer to an auxiliary request.
    Auxiliary,
    /// `200` to the `HEAD /` probe.
    Probe,
    /// 404 or 400 JSON error for a request the server does not understand.
    Rejected(u16),
}

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// 0-based arrival order over all requests.
    pub seq: usize,
    /// HTTP method.
    pub method: String,
    /// Path and query, e.g. `/v1/messages?beta=true`.
    pub path: String,
    /// Request headers (lower-case names), without `x-api-key` and `authorization`.
    pub headers: BTreeMap<String, String>,
    /// The session id from `metadata.user_id` (or the `x-claude-code-session-id` header), if any.
    pub session_id: Option<String>,
    /// Classification.
    pub kind: RequestKind,
    /// The answer given.
    pub answer: Answer,
    /// The JSON body, when there was one and it parsed.
    pub body: Option<Value>,
    /// Body size in bytes.
    pub body_len: usize,
}

impl RecordedRequest {
    /// The text of the first `user` message: its string content, or its `text` blocks concatenated.
    /// The prompt Claude Code read on stdin is the last of these blocks.
    pub fn first_user_text(&self) -> Option<String> {
        let messages = self.body.as_ref()?.get("messages")?.as_array()?;
        let first = messages
            .iter()
            .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))?;
        match first.get("content")? {
            Value::String(s) => Some(s.clone()),
            Value::Array(blocks) => Some(
                blocks
                    .iter()
                    .filter_map(|b| b.get("text").and_then(Value::as_str))
                    .collect::<String>(),
            ),
            _ => None,
        }
    }

    /// One line for logs and assertion messages.
    pub fn summary(&self) -> String {
        format!(
            "#{} {} {} session={} {:?} -> {:?} ({} bytes)",
            self.seq,
            self.method,
            self.path,
            self.session_id.as_deref().unwrap_or("-"),
            self.kind,
            self.answer,
            self.body_len
        )
    }
}

#[derive(Default)]
struct Recorder {
    /// Conversation session ids in order of first arrival; the index is the iteration.
    sessions: Vec<String>,
    requests: Vec<RecordedRequest>,
}

struct Shared {
    script: Script,
    recorder: Mutex<Recorder>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Recorder> {
        // A panicking test thread must not hide the recording from the others.
        self.recorder.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A scripted Anthropic Messages API server bound to `127.0.0.1` on a free port, running on its own tokio
/// runtime thread. Dropping it stops it (hung requests are abandoned, their connections closed).
///
/// ```no_run
/// use ralph_testkit::{Iteration, ModelServer, Script, Turn};
/// let server = ModelServer::start(Script::new([Iteration::new([Turn::text("LOOP_COMPLETE")])]));
/// // ANTHROPIC_BASE_URL=server.url() ... run claude ...
/// assert_eq!(server.sessions().len(), 1);
/// ```
pub struct ModelServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl ModelServer {
    /// Starts the server with `script`. Panics if it cannot bind `127.0.0.1:0`.
    pub fn start(script: Script) -> Self {
        let shared = Arc::new(Shared {
            script,
            recorder: Mutex::default(),
            changed: Condvar::new(),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("model-server")
            .enable_all()
            .build()
            .expect("build model server runtime");
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let addr = listener.local_addr().expect("listener address");
        let app = Router::new()
            .fallback(handle)
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(Arc::clone(&shared));
        {
            let _enter = runtime.enter();
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            runtime.spawn(async move {
                if let Err(e) = axum::serve(listener, app).await {
                    eprintln!("model-server: stopped: {e}");
                }
            });
        }
        Self {
            addr,
            shared,
            runtime: Some(runtime),
        }
    }

    /// `http://127.0.0.1:PORT`, the value for `ANTHROPIC_BASE_URL`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// All requests so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Conversation session ids in order of first arrival: one per agent process that reached the model.
    pub fn sessions(&self) -> Vec<String> {
        self.shared.lock().sessions.clone()
    }

    /// Conversation requests of the `iteration`-th session (0-based), in arrival order.
    pub fn iteration_requests(&self, iteration: usize) -> Vec<RecordedRequest> {
        recording::of_iteration(self.requests(), iteration)
    }

    /// Requests the script had no reply for (answered with 500 `api_error`).
    pub fn unscripted(&self) -> Vec<RecordedRequest> {
        recording::unscripted(self.requests())
    }

    /// One [`RecordedRequest::summary`] line per request.
    pub fn log(&self) -> String {
        recording::log(&self.requests())
    }

    /// Waits until `done(requests)` holds or `timeout` passes; returns whether it held.
    pub fn wait_for(&self, timeout: Duration, done: impl Fn(&[RecordedRequest]) -> bool) -> bool {
        recording::wait_until(
            &self.shared.recorder,
            &self.shared.changed,
            |r| &r.requests,
            timeout,
            done,
        )
    }
}

impl Drop for ModelServer {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// The session id Claude Code puts in `metadata.user_id` (a JSON string), else its session header.
fn session_id(body: &Value, headers: &HeaderMap) -> Option<String> {
    body.pointer("/metadata/user_id")
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .and_then(|v| {
            v.get("session_id")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .or_else(|| {
            headers
                .get("x-claude-code-session-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
}

fn is_auxiliary(body: &Value) -> bool {
    let no_tools = body
        .get("tools")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    let probe = body
        .get("max_tokens")
        .and_then(Value::as_u64)
        .is_some_and(|m| m <= 1);
    no_tools || probe
}

fn json_response(status: u16, body: &Value) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("valid response")
}

fn error_response(e: &ApiError) -> Response {
    let mut resp = json_response(e.status, &e.body());
    if let Some(secs) = e.retry_after_secs {
        resp.headers_mut().insert(header::RETRY_AFTER, secs.into());
    }
    resp
}

fn sse_response(body: String) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from(body))
        .expect("valid response")
}

/// Answer to an auxiliary request: `{"title": ..}` when a JSON schema is asked for, else a short text.
fn auxiliary_response(body: &Value, model: &str, id: &str) -> Response {
    let text = if body.pointer("/output_config/format").is_some() {
        r#"{"title":"Scripted session"}"#
    } else {
        "OK"
    };
    if body.get("stream").and_then(Value::as_bool) == Some(true) {
        let turn = crate::script::Turn::text(text).usage(crate::script::Usage::new(1, 1, 0, 0));
        sse_response(sse::encode_turn(&turn, model, id))
    } else {
        json_response(200, &sse::message_json(text, model, id))
    }
}

fn rejected(status: u16, message: &str) -> (Answer, Response) {
    let kind = if status == 404 {
        "not_found_error"
    } else {
        "invalid_request_error"
    };
    (
        Answer::Rejected(status),
        error_response(&ApiError::new(status, kind, message)),
    )
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    let path = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned());
    let body: Option<Value> = serde_json::from_slice(&bytes).ok();
    let session = body.as_ref().and_then(|b| session_id(b, &headers));
    let mut kind = RequestKind::Other;
    let mut reply = None;

    let (answer, response) = if uri.path() == "/"
        && (method == Method::HEAD || method == Method::GET)
    {
        (Answer::Probe, Response::new(Body::empty()))
    } else if method != Method::POST || uri.path() != "/v1/messages" {
        rejected(
            404,
            &format!("no route for {method} {path} on the scripted model server"),
        )
    } else if let Some(body) = body.as_ref() {
        let model = body
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or("claude-sonnet-4-5")
            .to_owned();
        if is_auxiliary(body) {
            kind = RequestKind::Auxiliary;
            let seq = shared.lock().requests.len();
            (
                Answer::Auxiliary,
                auxiliary_response(body, &model, &format!("aux{seq}")),
            )
        } else if let Some(session) = session.as_deref() {
            let iteration = {
                let mut rec = shared.lock();
                match rec.sessions.iter().position(|s| s == session) {
                    Some(i) => i,
                    None => {
                        rec.sessions.push(session.to_owned());
                        rec.sessions.len() - 1
                    }
                }
            };
            let turn = body
                .get("messages")
                .and_then(Value::as_array)
                .map_or(0, |m| {
                    m.iter()
                        .filter(|m| m.get("role").and_then(Value::as_str) == Some("assistant"))
                        .count()
                });
            kind = RequestKind::Conversation { iteration, turn };
            reply = shared
                .script
                .iteration(iteration)
                .and_then(|it| it.replies.get(turn))
                .cloned();
            match &reply {
                Some(Reply::Message(t)) => {
                    let sse = sse::encode_turn(t, &model, &format!("s{iteration}t{turn}"));
                    (Answer::Message(t.stop_reason()), sse_response(sse))
                }
                Some(Reply::Error(e)) => (Answer::Error(e.status), error_response(e)),
                Some(Reply::Hang) => (Answer::Hang, Response::new(Body::empty())),
                None => {
                    let msg =
                        format!("script exhausted: no reply for iteration {iteration} turn {turn}");
                    (
                        Answer::Unscripted,
                        error_response(&ApiError::new(500, "api_error", msg)),
                    )
                }
            }
        } else {
            rejected(400, "no session id in metadata.user_id")
        }
    } else {
        rejected(400, "request body is not JSON")
    };

    let mut recorded_headers = BTreeMap::new();
    for (name, value) in &headers {
        if name != "x-api-key" && name != header::AUTHORIZATION {
            recorded_headers.insert(
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            );
        }
    }
    {
        let mut rec = shared.lock();
        let request = RecordedRequest {
            seq: rec.requests.len(),
            method: method.to_string(),
            path,
            headers: recorded_headers,
            session_id: session,
            kind,
            answer,
            body,
            body_len: bytes.len(),
        };
        eprintln!("model-server: {}", request.summary());
        rec.requests.push(request);
    }
    shared.changed.notify_all();

    if matches!(reply, Some(Reply::Hang)) {
        std::future::pending::<()>().await;
    }
    response
}
