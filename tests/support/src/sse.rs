//! Encoding of replies in the Anthropic Messages streaming format, as Claude Code 2.1.197 accepts it.
//!
//! A reply is `content-type: text/event-stream`; each event is an `event: NAME` line, a `data: JSON` line and a
//! blank line: `message_start` (with usage: input and cache tokens, `output_tokens: 1`), `ping`, per content block
//! `content_block_start`, one or more `content_block_delta` (`text_delta` or `input_json_delta` with the tool
//! input's JSON split in pieces) and `content_block_stop`, then `message_delta` (`stop_reason` and the final
//! `output_tokens`) and `message_stop`. Source: Anthropic's "Streaming Messages" documentation, checked against
//! the requests and events of Claude Code 2.1.197.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::script::{Block, Turn, Usage};

/// Appends one SSE event.
fn event(out: &mut String, name: &str, data: &Value) {
    // `Value`'s Display is compact JSON on one line, as SSE `data:` needs.
    let _ = write!(out, "event: {name}\ndata: {data}\n\n");
}

/// Splits `s` into up to `n` non-empty pieces on char boundaries, the first one short, so that a client that
/// does not concatenate `input_json_delta` pieces gets invalid JSON.
fn pieces(s: &str, n: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s;
    let mut take = 7.min(s.len());
    while !rest.is_empty() {
        if out.len() + 1 == n {
            out.push(rest);
            break;
        }
        let mut cut = take.min(rest.len());
        while !rest.is_char_boundary(cut) {
            cut += 1;
        }
        let (head, tail) = rest.split_at(cut);
        out.push(head);
        rest = tail;
        take = rest.len().div_ceil(2).max(1);
    }
    out
}

/// The SSE body for `turn`. `id_prefix` makes message and tool-use ids unique per request, e.g. `s3t1`.
pub fn encode_turn(turn: &Turn, model: &str, id_prefix: &str) -> String {
    let mut out = String::new();
    let Usage {
        input_tokens,
        output_tokens,
        cache_creation_input_tokens,
        cache_read_input_tokens,
    } = turn.usage;
    event(
        &mut out,
        "message_start",
        &json!({
            "type": "message_start",
            "message": {
                "id": format!("msg_e2e_{id_prefix}"),
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": null,
                "stop_sequence": null,
                "usage": {
                    "input_tokens": input_tokens,
                    "cache_creation_input_tokens": cache_creation_input_tokens,
                    "cache_read_input_tokens": cache_read_input_tokens,
                    "output_tokens": 1,
                },
            },
        }),
    );
    event(&mut out, "ping", &json!({ "type": "ping" }));
    for (index, block) in turn.blocks.iter().enumerate() {
        match block {
            Block::Text(text) => {
                event(
                    &mut out,
                    "content_block_start",
                    &json!({ "type": "content_block_start", "index": index,
                             "content_block": { "type": "text", "text": "" } }),
                );
                for piece in pieces(text, 2) {
                    event(
                        &mut out,
                        "content_block_delta",
                        &json!({ "type": "content_block_delta", "index": index,
                                 "delta": { "type": "text_delta", "text": piece } }),
                    );
                }
            }
            Block::ToolUse { name, input } => {
                event(
                    &mut out,
                    "content_block_start",
                    &json!({ "type": "content_block_start", "index": index,
                             "content_block": { "type": "tool_use", "id": format!("toolu_e2e_{id_prefix}_{index}"),
                                                "name": name, "input": {} } }),
                );
                let input_json = input.to_string();
                for piece in pieces(&input_json, 3) {
                    event(
                        &mut out,
                        "content_block_delta",
                        &json!({ "type": "content_block_delta", "index": index,
                                 "delta": { "type": "input_json_delta", "partial_json": piece } }),
                    );
                }
            }
        }
        event(
            &mut out,
            "content_block_stop",
            &json!({ "type": "content_block_stop", "index": index }),
        );
    }
    event(
        &mut out,
        "message_delta",
        &json!({ "type": "message_delta",
                 "delta": { "stop_reason": turn.stop_reason(), "stop_sequence": null },
                 "usage": { "output_tokens": output_tokens } }),
    );
    event(&mut out, "message_stop", &json!({ "type": "message_stop" }));
    out
}

/// A complete non-streaming Messages API reply holding one text block (for auxiliary requests).
pub fn message_json(text: &str, model: &str, id: &str) -> Value {
    json!({
        "id": format!("msg_e2e_{id}"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{ "type": "text", "text": text }],
        "stop_reason": "end_turn",
        "stop_sequence": null,
        "usage": { "input_tokens": 1, "output_tokens": 1,
                   "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0 },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_rejoin_to_the_input_on_char_boundaries() {
        let s = r#"{"content":"ünï日本語 text","file_path":"/tmp/x"}"#;
        for n in 1..5 {
            let p = pieces(s, n);
            assert!(p.len() <= n && !p.is_empty());
            assert_eq!(p.concat(), s);
        }
        assert_eq!(pieces("", 3), Vec::<&str>::new());
    }

    #[test]
    fn tool_turn_streams_its_input_in_several_deltas_and_stops_for_tool_use() {
        let turn = Turn::tool(Block::bash("echo hi", "say hi")).usage(Usage::new(5, 6, 7, 8));
        let sse = encode_turn(&turn, "m", "s0t0");
        assert_eq!(sse.matches("event: content_block_delta").count(), 3);
        assert!(sse.contains(r#""stop_reason":"tool_use""#));
        assert!(sse.contains(r#""usage":{"output_tokens":6}"#));
        assert!(sse.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
    }
}
