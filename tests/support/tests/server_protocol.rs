//! The scripted model server's bookkeeping, exercised with plain HTTP/1.1 requests (no agent CLI needed).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use ralph_testkit::*;
use serde_json::{Value, json};

/// Sends one request with `Connection: close` and returns the status code and the body.
fn request(server: &ModelServer, method: &str, path: &str, body: Option<&Value>) -> (u16, String) {
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        server.addr(),
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// A conversation request as Claude Code shapes it: tools, `metadata.user_id` as a JSON string, and
/// `assistant_turns` earlier assistant messages.
fn conversation(session: &str, assistant_turns: usize) -> Value {
    let mut messages =
        vec![json!({ "role": "user", "content": [{ "type": "text", "text": "the prompt" }] })];
    for _ in 0..assistant_turns {
        messages.push(json!({ "role": "assistant", "content": [{ "type": "text", "text": "x" }] }));
        messages.push(json!({ "role": "user", "content": [{ "type": "text", "text": "y" }] }));
    }
    json!({
        "model": "claude-sonnet-4-5",
        "stream": true,
        "max_tokens": 32000,
        "tools": [{ "name": "Bash", "input_schema": {} }],
        "metadata": { "user_id": json!({ "device_id": "d", "account_uuid": "", "session_id": session }).to_string() },
        "messages": messages,
    })
}

/// The text of a streamed reply: its `text_delta` pieces joined.
fn streamed_text(sse: &str) -> String {
    sse.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter(|e| e["delta"]["type"] == "text_delta")
        .map(|e| e["delta"]["text"].as_str().unwrap().to_owned())
        .collect()
}

fn script() -> Script {
    Script::new([
        Iteration::new([
            Turn::tool(Block::bash("true", "nothing")),
            Turn::text("first done"),
        ]),
        Iteration::new([Turn::text("second done")]),
    ])
}

#[test]
fn new_sessions_take_the_next_iteration_and_turns_follow_the_assistant_count() {
    let server = ModelServer::start(script());

    let (status, a0) = request(
        &server,
        "POST",
        "/v1/messages?beta=true",
        Some(&conversation("A", 0)),
    );
    assert_eq!(status, 200);
    assert!(
        a0.contains(r#""stop_reason":"tool_use""#) && a0.contains("input_json_delta"),
        "{a0}"
    );
    let (_, b0) = request(
        &server,
        "POST",
        "/v1/messages?beta=true",
        Some(&conversation("B", 0)),
    );
    assert_eq!(streamed_text(&b0), "second done");
    let (_, a1) = request(
        &server,
        "POST",
        "/v1/messages?beta=true",
        Some(&conversation("A", 1)),
    );
    assert_eq!(streamed_text(&a1), "first done");
    assert!(a1.contains(r#""stop_reason":"end_turn""#), "{a1}");
    // A retried request (same history) gets the same reply again.
    let (_, a1_again) = request(
        &server,
        "POST",
        "/v1/messages?beta=true",
        Some(&conversation("A", 1)),
    );
    assert_eq!(streamed_text(&a1_again), "first done");

    assert_eq!(server.sessions(), ["A", "B"]);
    let kinds: Vec<_> = server.requests().into_iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds,
        [(0, 0), (1, 0), (0, 1), (0, 1)]
            .map(|(iteration, turn)| RequestKind::Conversation { iteration, turn })
    );
    assert!(server.unscripted().is_empty());
}

#[test]
fn a_session_beyond_the_script_gets_a_500_and_is_recorded_as_unscripted() {
    let server = ModelServer::start(script());
    for s in ["A", "B", "C"] {
        request(&server, "POST", "/v1/messages", Some(&conversation(s, 0)));
    }
    let (status, body) = request(&server, "POST", "/v1/messages", Some(&conversation("C", 0)));
    assert_eq!(status, 500);
    assert!(body.contains("script exhausted"), "{body}");
    assert_eq!(server.unscripted().len(), 2);
}

#[test]
fn tool_less_requests_are_answered_without_consuming_the_script() {
    let server = ModelServer::start(script());
    let mut title = conversation("A", 0);
    title["tools"] = json!([]);
    title["output_config"] = json!({ "format": { "type": "json_schema", "schema": {} } });
    let (status, body) = request(&server, "POST", "/v1/messages?beta=true", Some(&title));
    assert_eq!(status, 200);
    assert_eq!(streamed_text(&body), r#"{"title":"Scripted session"}"#);
    let mut probe = conversation("A", 0);
    probe["max_tokens"] = json!(1);
    probe["stream"] = json!(false);
    let (status, body) = request(&server, "POST", "/v1/messages", Some(&probe));
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["type"],
        "message"
    );

    assert!(server.sessions().is_empty());
    let (_, first) = request(&server, "POST", "/v1/messages", Some(&conversation("A", 0)));
    assert!(first.contains("tool_use"), "{first}");
}

#[test]
fn errors_carry_their_status_type_and_retry_after() {
    let server = ModelServer::start(Script::new([
        Iteration::error(ApiError::unauthorized()),
        Iteration::error(ApiError::rate_limited(7)),
    ]));
    let (status, body) = request(&server, "POST", "/v1/messages", Some(&conversation("A", 0)));
    assert_eq!(status, 401);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"]["type"],
        "authentication_error"
    );
    let (status, _) = request(&server, "POST", "/v1/messages", Some(&conversation("B", 0)));
    assert_eq!(status, 429);
    let answers: Vec<_> = server.requests().into_iter().map(|r| r.answer).collect();
    assert_eq!(answers, [Answer::Error(401), Answer::Error(429)]);
}

#[test]
fn probe_and_unknown_paths_are_answered_and_logged() {
    let server = ModelServer::start(script());
    assert_eq!(request(&server, "HEAD", "/", None).0, 200);
    let (status, body) = request(&server, "GET", "/v1/models", None);
    assert_eq!(status, 404);
    assert!(body.contains("not_found_error"), "{body}");
    let answers: Vec<_> = server
        .requests()
        .into_iter()
        .map(|r| (r.path, r.answer))
        .collect();
    assert_eq!(
        answers,
        [
            ("/".to_owned(), Answer::Probe),
            ("/v1/models".to_owned(), Answer::Rejected(404))
        ]
    );
}

#[test]
fn a_hung_request_is_recorded_and_never_answered_until_the_server_stops() {
    let server = ModelServer::start(Script::always(Iteration::hang()));
    let body = conversation("A", 0).to_string();
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    write!(
        stream,
        "POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    assert!(server.wait_for(Duration::from_secs(5), |r| r.len() == 1));
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 64];
    assert!(
        stream.read(&mut buf).is_err(),
        "a hung request got an answer"
    );
    drop(server);
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(
        stream.read(&mut buf).unwrap_or(0),
        0,
        "the connection is closed when the server stops"
    );
}
