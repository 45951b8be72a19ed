//! [`ScriptedServer`]: the protocol-independent part of a scripted model server (binding, recording,
//! telling conversations apart, hanging), shared by the Gemini API and OpenAI chat-completions servers.
//!
//! A protocol ([`Protocol`]) says what a request is ([`Parsed`]) and how replies look on the wire; the core
//! picks the reply from the [`Script`]: iteration `i` answers the `i`-th conversation that reached the
//! server, reply `n` the request whose history already holds `n` model turns.
//!
//! Neither Gemini CLI 0.61.0 nor Qwen Code 0.15.10 sends a session id, so a conversation is recognised by
//! a *key*: the text that opens it (Gemini: the first user content; Qwen: the prompt message), which ralph
//! makes unique per iteration ("This is iteration N"). A request with `n > 0` turns continues the latest
//! conversation with its key. A request with no turns starts a new conversation, unless the latest one
//! with the same key has never got past its first request: then it is a retry of that request (the CLIs
//! retry transient errors), and gets the same reply. See [`Conversations`].

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
use crate::script::{Reply, Script};
use crate::server::{Answer, RecordedRequest, RequestKind};

/// Largest request body accepted, in bytes (ralph's spec wants 10 MB prompts to work).
const MAX_BODY_BYTES: usize = 256 << 20;

/// What a protocol makes of one request.
#[derive(Debug)]
pub enum Parsed {
    /// A turn of a conversation that plays the script.
    Conversation {
        /// Text that identifies the conversation (see the module docs).
        key: String,
        /// Model turns already in the request's history.
        turn: usize,
        /// Model name to echo in the reply.
        model: String,
        /// Whether the client asked for a streamed reply.
        stream: bool,
    },
    /// A side request answered without consuming the script.
    Auxiliary(Response),
    /// A probe (`HEAD /`): answered 200.
    Probe,
    /// Not understood: answered with this status and message.
    Reject(u16, String),
}

/// The wire format of one model API.
pub trait Protocol: Send + Sync + 'static {
    /// Classifies a request.
    fn parse(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: Option<&Value>,
    ) -> Parsed;

    /// The response for a scripted reply (a message or an error; hangs are handled by the core). `id`
    /// is unique per request, e.g. `s2t1`.
    fn render(&self, reply: &Reply, model: &str, id: &str, stream: bool) -> Response;

    /// The response when the script has no reply: an HTTP 500 in the API's error format.
    fn unscripted(&self, message: &str) -> Response;

    /// The response to a request that is not understood.
    fn reject(&self, status: u16, message: &str) -> Response;
}

/// Tells conversations apart by key and turn (see the module docs).
#[derive(Debug, Default)]
pub struct Conversations {
    /// `(key, furthest turn seen)` per conversation, in order of first arrival.
    seen: Vec<(String, usize)>,
}

impl Conversations {
    /// The 0-based conversation (= iteration) a request with `key` and `turn` belongs to.
    pub fn locate(&mut self, key: &str, turn: usize) -> usize {
        let latest = self.seen.iter().rposition(|(k, _)| k == key);
        match latest {
            Some(i) if turn > 0 || self.seen[i].1 == 0 => {
                self.seen[i].1 = self.seen[i].1.max(turn);
                i
            }
            _ => {
                self.seen.push((key.to_owned(), turn));
                self.seen.len() - 1
            }
        }
    }

    /// Number of conversations so far.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// True before the first conversation.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[derive(Default)]
struct Recorder {
    conversations: Conversations,
    requests: Vec<RecordedRequest>,
}

struct Shared {
    script: Script,
    protocol: Box<dyn Protocol>,
    recorder: Mutex<Recorder>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Recorder> {
        self.recorder.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A scripted model server bound to `127.0.0.1` on a free port, on its own runtime thread. Dropping it
/// stops it. Build one with `ScriptedServer::gemini` or `ScriptedServer::openai_chat`.
pub struct ScriptedServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl ScriptedServer {
    /// Starts a server that plays `script` in `protocol`. Panics if it cannot bind `127.0.0.1:0`.
    pub fn start(script: Script, protocol: impl Protocol) -> Self {
        let shared = Arc::new(Shared {
            script,
            protocol: Box::new(protocol),
            recorder: Mutex::default(),
            changed: Condvar::new(),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("scripted-server")
            .enable_all()
            .build()
            .expect("build scripted server runtime");
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
                    eprintln!("scripted-server: stopped: {e}");
                }
            });
        }
        Self {
            addr,
            shared,
            runtime: Some(runtime),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// All requests so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Number of conversations (agent runs that reached the model) so far.
    pub fn conversations(&self) -> usize {
        self.shared.lock().conversations.len()
    }

    /// Conversation requests of the `iteration`-th conversation (0-based), in arrival order.
    pub fn iteration_requests(&self, iteration: usize) -> Vec<RecordedRequest> {
        recording::of_iteration(self.requests(), iteration)
    }

    /// Requests the script had no reply for (answered with a 500).
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

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// A JSON response with `status`.
pub fn json_response(status: u16, body: &Value) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("valid response")
}

/// A `200 text/event-stream` response with `body`.
pub fn sse_response(body: String) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from(body))
        .expect("valid response")
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
    let parsed = shared
        .protocol
        .parse(&method, &uri, &headers, body.as_ref());
    let mut kind = RequestKind::Other;
    let mut session = None;
    let mut hang = false;
    let (answer, response) = match parsed {
        Parsed::Probe => (Answer::Probe, Response::new(Body::empty())),
        Parsed::Reject(status, message) => (
            Answer::Rejected(status),
            shared.protocol.reject(status, &message),
        ),
        Parsed::Auxiliary(response) => {
            kind = RequestKind::Auxiliary;
            (Answer::Auxiliary, response)
        }
        Parsed::Conversation {
            key,
            turn,
            model,
            stream,
        } => {
            let iteration = shared.lock().conversations.locate(&key, turn);
            kind = RequestKind::Conversation { iteration, turn };
            session = Some(format!("conversation-{iteration}"));
            let reply = shared
                .script
                .iteration(iteration)
                .and_then(|it| it.replies.get(turn))
                .cloned();
            let id = format!("s{iteration}t{turn}");
            match reply {
                Some(Reply::Hang) => {
                    hang = true;
                    (Answer::Hang, Response::new(Body::empty()))
                }
                Some(r @ Reply::Message(_)) => {
                    let Reply::Message(t) = &r else {
                        unreachable!()
                    };
                    let stop = t.stop_reason();
                    (
                        Answer::Message(stop),
                        shared.protocol.render(&r, &model, &id, stream),
                    )
                }
                Some(r @ Reply::Error(_)) => {
                    let Reply::Error(e) = &r else { unreachable!() };
                    (
                        Answer::Error(e.status),
                        shared.protocol.render(&r, &model, &id, stream),
                    )
                }
                None => (
                    Answer::Unscripted,
                    shared.protocol.unscripted(&format!(
                        "script exhausted: no reply for iteration {iteration} turn {turn}"
                    )),
                ),
            }
        }
    };

    let mut recorded_headers = BTreeMap::new();
    for (name, value) in &headers {
        let secret = ["x-api-key", "x-goog-api-key", "authorization"].contains(&name.as_str());
        if !secret {
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
        eprintln!("scripted-server: {}", request.summary());
        rec.requests.push(request);
    }
    shared.changed.notify_all();
    if hang {
        std::future::pending::<()>().await;
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_request_again_is_a_retry_until_the_conversation_moved_on() {
        let mut c = Conversations::default();
        assert_eq!(c.locate("iteration 1", 0), 0);
        assert_eq!(c.locate("iteration 1", 0), 0, "retry of the first request");
        assert_eq!(c.locate("iteration 1", 1), 0);
        assert_eq!(c.locate("iteration 1", 1), 0, "retry of a later request");
        assert_eq!(c.locate("iteration 2", 0), 1);
        assert_eq!(c.locate("iteration 1", 0), 2, "same prompt, new process");
        assert_eq!(c.locate("iteration 2", 1), 1);
        assert_eq!(c.len(), 3);
    }
}
