//! A synthetic Claude Code `stream-json` stream, and the per-line pipeline ralph applies to an agent's stdout.
//!
//! [`ClaudeStreamGenerator`] produces the shapes Claude Code 2.1.x prints with
//! `claude -p --output-format stream-json --verbose` (see `ralph-agents/tests/fixtures/claude/`): one
//! `system` `init` event, then turns of an `assistant` text message, an `assistant` `tool_use` (Read, Bash,
//! Edit, Write, Grep) and a `user` event with the `tool_result` (and the `tool_use_result` copy Claude Code
//! adds), then a `result` event with usage and cost. Tool results are source code with `cat -n` line
//! numbers (JSON escapes: `\t`, `\n`, `\"`, some non-ASCII), from a few hundred bytes to 512 KiB. The
//! generator is a reader that produces the stream on the fly in pieces of at most about 1 MiB, so a 1 GB
//! stream or a 100 MB line never sits in memory.
//!
//! [`consume`] is what `ralph_agents::process::supervise` does with each stdout line, through public API
//! only: [`LineReader`] (the 8 MiB line cap), [`Transcript::push`] (the capped NDJSON copy), then the
//! dialect's [`StreamHandler::on_stdout`] (here [`ClaudeStream`]), with the events it sends drained as the
//! engine would, and [`StreamHandler::finish`] at the end.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use ralph_agents::ClaudeStream;
use ralph_agents::lines::{DEFAULT_MAX_LINE, LineReader};
use ralph_agents::process::{ProcessExit, StreamHandler};
use ralph_agents::transcript::Transcript;
use ralph_core::AgentOutcome;
use tokio::io::{AsyncBufRead, AsyncRead, ReadBuf};

/// Source text of the tool results: real Rust source of this repository (quotes, tabs, backslashes,
/// non-ASCII in comments).
const CORPUS: &[&str] = &[
    include_str!("../../ralph-agents/src/process.rs"),
    include_str!("../../ralph-agents/src/claude/stream.rs"),
    include_str!("../../ralph-core/src/engine/mod.rs"),
];

/// Bytes of escaped text prepared once, from which every tool result is cut.
const BODY_BYTES: usize = 1024 * 1024;
/// Largest piece appended to the output at once when streaming a long line.
const PIECE: usize = 1024 * 1024;
const SESSION: &str = "784c69a1-bc57-427d-8e67-739c7aaece9e";
const MODEL: &str = "claude-sonnet-4-5";

/// The same text JSON-escaped twice over: with `cat -n` line numbers (what Read returns to the model) and
/// without (the file content in `tool_use_result`), each with the offsets where its lines end.
struct Bodies {
    numbered: Vec<u8>,
    numbered_ends: Vec<usize>,
    plain: Vec<u8>,
    plain_ends: Vec<usize>,
}

impl Bodies {
    fn new() -> Self {
        let mut b = Bodies {
            numbered: Vec::with_capacity(BODY_BYTES + 4096),
            numbered_ends: Vec::new(),
            plain: Vec::with_capacity(BODY_BYTES + 4096),
            plain_ends: Vec::new(),
        };
        let lines = CORPUS.iter().flat_map(|text| text.lines()).cycle();
        for (n, line) in lines.enumerate() {
            if b.numbered.len() >= BODY_BYTES {
                break;
            }
            escape_into(&mut b.numbered, &format!("{:>6}\t{line}\n", n + 1));
            b.numbered_ends.push(b.numbered.len());
            escape_into(&mut b.plain, &format!("{line}\n"));
            b.plain_ends.push(b.plain.len());
        }
        b
    }

    /// The number of whole lines whose numbered text is closest to `bytes` (at least one).
    fn lines_for(&self, bytes: usize) -> usize {
        self.numbered_ends
            .partition_point(|&end| end < bytes)
            .max(1)
    }

    fn numbered(&self, lines: usize) -> &[u8] {
        &self.numbered[..self.numbered_ends[lines - 1]]
    }

    fn plain(&self, lines: usize) -> &[u8] {
        &self.plain[..self.plain_ends[lines - 1]]
    }
}

/// Appends `text` as the inside of a JSON string (without the quotes).
fn escape_into(out: &mut Vec<u8>, text: &str) {
    let quoted = serde_json::to_string(text).expect("a string serialises");
    out.extend_from_slice(&quoted.as_bytes()[1..quoted.len() - 1]);
}

enum State {
    Init,
    Turn,
    Result,
    /// A single line of a `user` event: prefix, then body pieces up to `left` bytes, then suffix.
    LongLine {
        left: u64,
        started: bool,
    },
    Done,
}

/// A generated Claude Code stream, read with [`std::io::Read`] or [`tokio::io::AsyncRead`] (see the
/// module docs). Deterministic for a given seed.
pub struct ClaudeStreamGenerator {
    bodies: Bodies,
    rng: fastrand::Rng,
    state: State,
    /// Stream bytes still to produce before the closing `result` event (turns are whole: the stream ends
    /// a little over the target).
    budget: u64,
    turn: u64,
    pending: Vec<u8>,
    pos: usize,
    produced: u64,
}

impl ClaudeStreamGenerator {
    /// A session of about `bytes` bytes: `init`, turns until the size is reached, `result`.
    pub fn session(bytes: u64, seed: u64) -> Self {
        Self::with_state(State::Init, bytes, seed)
    }

    /// One `user` event line of `bytes` bytes (a tool result that large), newline-terminated.
    pub fn long_line(bytes: u64) -> Self {
        Self::with_state(
            State::LongLine {
                left: bytes,
                started: false,
            },
            bytes,
            1,
        )
    }

    fn with_state(state: State, budget: u64, seed: u64) -> Self {
        ClaudeStreamGenerator {
            bodies: Bodies::new(),
            rng: fastrand::Rng::with_seed(seed),
            state,
            budget,
            turn: 0,
            pending: Vec::with_capacity(2 * PIECE),
            pos: 0,
            produced: 0,
        }
    }

    /// The whole stream in memory (for criterion, which times the parsing only).
    pub fn collect(mut self) -> Vec<u8> {
        let mut all = Vec::new();
        io::Read::read_to_end(&mut self, &mut all).expect("generation does not fail");
        all
    }

    /// Bytes produced so far.
    pub fn produced(&self) -> u64 {
        self.produced
    }

    /// Fills `pending` with the next piece; false at the end of the stream.
    fn refill(&mut self) -> bool {
        self.pending.clear();
        self.pos = 0;
        match self.state {
            State::Init => {
                self.push_init();
                self.state = State::Turn;
            }
            State::Turn => {
                self.push_turn();
                if self.produced + self.pending.len() as u64 >= self.budget {
                    self.state = State::Result;
                }
            }
            State::Result => {
                self.push_result();
                self.state = State::Done;
            }
            State::LongLine { left, started } => {
                const PREFIX: &str = r#"{"type":"user","message":{"role":"user","content":[{"tool_use_id":"toolu_big","type":"tool_result","content":""#;
                let suffix = format!(
                    r#""}}]}},"parent_tool_use_id":null,"session_id":"{SESSION}","uuid":"u-big"}}"#
                );
                let fixed = (PREFIX.len() + suffix.len() + 1) as u64;
                let mut left = left;
                if !started {
                    self.pending.extend_from_slice(PREFIX.as_bytes());
                    left = left.saturating_sub(fixed);
                }
                // Whole lines of the body while they fit, then plain letters to the exact size.
                while left > 0 && self.pending.len() < PIECE {
                    let room = (PIECE - self.pending.len()).min(left as usize);
                    let lines = self.bodies.lines_for(room);
                    let body = self.bodies.numbered(lines);
                    let take = if body.len() <= room {
                        body
                    } else {
                        &b"abcdefghijklmnopqrstuvwxyz"[..room.min(26)]
                    };
                    self.pending.extend_from_slice(take);
                    left -= take.len() as u64;
                }
                if left == 0 {
                    self.pending.extend_from_slice(suffix.as_bytes());
                    self.pending.push(b'\n');
                    self.state = State::Done;
                } else {
                    self.state = State::LongLine {
                        left,
                        started: true,
                    };
                }
            }
            State::Done => return false,
        }
        true
    }

    fn push_init(&mut self) {
        let line = format!(
            r#"{{"type":"system","subtype":"init","cwd":"/tmp/rec-ws","session_id":"{SESSION}","tools":["Task","Bash","Edit","Glob","Grep","NotebookEdit","Read","TodoWrite","WebFetch","WebSearch","Write"],"mcp_servers":[],"model":"{MODEL}","permissionMode":"bypassPermissions","slash_commands":["compact","context","cost","init","review","security-review"],"apiKeySource":"ANTHROPIC_API_KEY","claude_code_version":"2.1.197","output_style":"default","agents":["general-purpose","Explore","Plan"],"skills":[],"plugins":[],"uuid":"878dc506-dd97-420c-ac48-51c532a2c4a9","fast_mode_state":"off"}}"#
        );
        self.line(line.as_bytes());
    }

    /// One turn: the model says what it does, calls a tool, and gets the tool's result.
    fn push_turn(&mut self) {
        self.turn += 1;
        let n = self.turn;
        let words = self.rng.usize(20..120);
        let mut text = String::from("Let me look at ");
        for w in 0..words {
            text.push_str(
                [
                    "the", "driver", "state", "file", "and", "tests", "— ", "then",
                ][w % 8],
            );
            text.push(' ');
        }
        self.assistant(n, &format!(r#"{{"type":"text","text":{}}}"#, json(&text)));

        let path = format!("/tmp/rec-ws/src/module_{}.rs", self.rng.u32(0..200));
        // Sizes of tool output: mostly a few KB, sometimes hundreds of KB.
        let size = match self.rng.u32(0..100) {
            0..50 => self.rng.usize(2_000..8_000),
            50..80 => self.rng.usize(8_000..64_000),
            80..95 => self.rng.usize(64_000..256_000),
            _ => self.rng.usize(256_000..512_000),
        };
        let lines = self.bodies.lines_for(size);
        match self.rng.u32(0..10) {
            0..5 => {
                let input = format!(r#"{{"file_path":{}}}"#, json(&path));
                self.tool_use(n, "Read", &input);
                let head = self.user_head(n);
                self.pending.extend_from_slice(&head);
                self.pending.extend_from_slice(self.bodies.numbered(lines));
                let mid = format!(
                    r#""}}]}},"parent_tool_use_id":null,"session_id":"{SESSION}","uuid":"u-{n}","timestamp":"2026-11-30T07:30:15.806Z","tool_use_result":{{"type":"text","file":{{"filePath":{},"content":""#,
                    json(&path)
                );
                self.pending.extend_from_slice(mid.as_bytes());
                self.pending.extend_from_slice(self.bodies.plain(lines));
                let tail =
                    format!(r#"","numLines":{lines},"startLine":1,"totalLines":{lines}}}}}}}"#);
                self.line(tail.as_bytes());
            }
            5..8 => {
                let command = "cargo test -p ralph-loop-core 2>&1 | tail -200";
                let input = format!(
                    r#"{{"command":{},"description":"Run the tests"}}"#,
                    json(command)
                );
                self.tool_use(n, "Bash", &input);
                let head = self.user_head(n);
                self.pending.extend_from_slice(&head);
                self.pending.extend_from_slice(self.bodies.plain(lines));
                self.pending.extend_from_slice(
                    br#"","is_error":false}]},"parent_tool_use_id":null,"session_id":""#,
                );
                let mid = format!(
                    r#"{SESSION}","uuid":"u-{n}","timestamp":"2026-11-30T07:30:15.947Z","tool_use_result":{{"stdout":""#
                );
                self.pending.extend_from_slice(mid.as_bytes());
                self.pending.extend_from_slice(self.bodies.plain(lines));
                self.line(br#"","stderr":"","interrupted":false,"isImage":false,"noOutputExpected":false}}"#);
            }
            8 => {
                // Writes and edits carry the text in the tool call; the result is one short sentence.
                let content =
                    String::from_utf8(self.bodies.plain(lines.min(400)).to_vec()).expect("utf-8");
                let input = format!(r#"{{"file_path":{},"content":"{content}"}}"#, json(&path));
                self.tool_use(n, "Write", &input);
                self.short_result(n, &format!("File created successfully at: {path}"));
            }
            _ => {
                let input = format!(
                    r#"{{"file_path":{},"old_string":"let x = 1;","new_string":"let x = 2;","replace_all":false}}"#,
                    json(&path)
                );
                self.tool_use(n, "Edit", &input);
                self.short_result(n, &format!("The file {path} has been updated."));
            }
        }
    }

    fn push_result(&mut self) {
        let turns = self.turn.max(1);
        let line = format!(
            r#"{{"type":"result","subtype":"success","is_error":false,"api_error_status":null,"duration_ms":{},"duration_api_ms":{},"num_turns":{turns},"result":"Done.\n\nLOOP_COMPLETE","stop_reason":"end_turn","session_id":"{SESSION}","total_cost_usd":{},"usage":{{"input_tokens":{},"cache_creation_input_tokens":900,"cache_read_input_tokens":{},"output_tokens":{},"server_tool_use":{{"web_search_requests":0,"web_fetch_requests":0}},"service_tier":"standard"}},"modelUsage":{{"{MODEL}":{{"inputTokens":{},"outputTokens":{},"cacheReadInputTokens":{},"cacheCreationInputTokens":900,"webSearchRequests":0,"costUSD":0.5,"contextWindow":200000,"maxOutputTokens":32000}}}},"permission_denials":[],"terminal_reason":"completed","uuid":"caf83e1b-771e-4e28-9786-cd555a2b8fc8"}}"#,
            turns * 4_000,
            turns * 3_000,
            turns as f64 * 0.01,
            turns * 120,
            turns * 2_000,
            turns * 80,
            turns * 120,
            turns * 80,
            turns * 2_000,
        );
        self.line(line.as_bytes());
    }

    fn assistant(&mut self, n: u64, block: &str) {
        let line = format!(
            r#"{{"type":"assistant","message":{{"id":"msg_{n:06}","type":"message","role":"assistant","model":"{MODEL}","content":[{block}],"stop_reason":null,"stop_sequence":null,"usage":{{"input_tokens":120,"output_tokens":{},"cache_read_input_tokens":{},"cache_creation_input_tokens":300}},"context_management":null}},"parent_tool_use_id":null,"session_id":"{SESSION}","uuid":"a-{n}"}}"#,
            n % 50 + 1,
            n * 2_000
        );
        self.line(line.as_bytes());
    }

    fn tool_use(&mut self, n: u64, name: &str, input: &str) {
        self.assistant(
            n,
            &format!(
                r#"{{"type":"tool_use","id":"toolu_{n:06}","name":"{name}","input":{input}}}"#
            ),
        );
    }

    fn user_head(&self, n: u64) -> Vec<u8> {
        format!(
            r#"{{"type":"user","message":{{"role":"user","content":[{{"tool_use_id":"toolu_{n:06}","type":"tool_result","content":""#
        )
        .into_bytes()
    }

    fn short_result(&mut self, n: u64, text: &str) {
        let head = self.user_head(n);
        self.pending.extend_from_slice(&head);
        escape_into(&mut self.pending, text);
        let tail = format!(
            r#""}}]}},"parent_tool_use_id":null,"session_id":"{SESSION}","uuid":"u-{n}","timestamp":"2026-11-30T07:30:15.806Z","tool_use_result":{{"type":"update","filePath":"/tmp/rec-ws/x.rs","structuredPatch":[],"userModified":false}}}}"#
        );
        self.line(tail.as_bytes());
    }

    /// Appends the end of a line and its newline.
    fn line(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        self.pending.push(b'\n');
    }

    /// Copies stream bytes into `out`; 0 at the end.
    fn copy_into(&mut self, out: &mut [u8]) -> usize {
        while self.pos == self.pending.len() {
            if !self.refill() {
                return 0;
            }
        }
        let n = out.len().min(self.pending.len() - self.pos);
        out[..n].copy_from_slice(&self.pending[self.pos..self.pos + n]);
        self.pos += n;
        self.produced += n as u64;
        n
    }
}

fn json(text: &str) -> String {
    serde_json::to_string(text).expect("a string serialises")
}

impl io::Read for ClaudeStreamGenerator {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(self.copy_into(buf))
    }
}

impl AsyncRead for ClaudeStreamGenerator {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let n = this.copy_into(buf.initialize_unfilled());
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

/// What [`consume`] saw.
#[derive(Debug)]
pub struct Consumed {
    /// Lines read from the stream.
    pub lines: u64,
    /// Bytes read from the stream (lines as the agent printed them, newlines included).
    pub bytes: u64,
    /// [`ralph_core::AgentEvent`]s the handler sent.
    pub events: u64,
    /// Bytes of the transcript kept (at most [`ralph_agents::transcript::TRANSCRIPT_CAP`]).
    pub transcript_bytes: usize,
    /// The handler's classification of the run, as if the agent had exited with code 0.
    pub outcome: AgentOutcome,
}

/// Reads `reader` to its end the way the agent supervisor reads stdout (see the module docs) and
/// returns what it saw.
///
/// # Errors
/// I/O errors of `reader`.
pub async fn consume<R: AsyncBufRead + Unpin>(
    reader: R,
    handler: &mut dyn StreamHandler,
) -> io::Result<Consumed> {
    let mut lines = LineReader::new(reader, DEFAULT_MAX_LINE);
    let mut transcript = Transcript::default();
    let (events, mut received) = ralph_core::event_channel();
    let (mut count, mut bytes, mut sent) = (0, 0, 0);
    while let Some(line) = lines.next_line().await? {
        count += 1;
        bytes += line.original_len() + 1;
        transcript.push(&line);
        handler.on_stdout(line, &events);
        // The supervisor checks both after every line.
        std::hint::black_box((handler.stop_requested(), handler.final_event_seen()));
        while received.try_recv().is_ok() {
            sent += 1;
        }
    }
    let exit = ProcessExit {
        exit_code: Some(0),
        transcript: transcript.finish(),
        ..ProcessExit::default()
    };
    let outcome = handler.finish(&exit);
    Ok(Consumed {
        lines: count,
        bytes,
        events: sent,
        transcript_bytes: exit.transcript.len(),
        outcome,
    })
}

/// [`consume`] with Claude Code's handler for a run in `/tmp/rec-ws`, over `reader` buffered as the
/// supervisor buffers stdout (64 KiB).
///
/// # Errors
/// I/O errors of `reader`.
pub async fn consume_claude<R: AsyncRead + Unpin>(reader: R) -> io::Result<Consumed> {
    let mut handler = ClaudeStream::new("/tmp/rec-ws");
    consume(
        tokio::io::BufReader::with_capacity(64 * 1024, reader),
        &mut handler,
    )
    .await
}
