//! The scripted conversation a [`ModelServer`](crate::ModelServer) plays.
//!
//! A [`Script`] is a list of [`Iteration`]s, one per agent process (one Claude Code session). An iteration is a
//! list of [`Reply`]s, one per model request of that session: the server picks reply `n` for a request whose
//! `messages` already hold `n` assistant turns, so a retried request gets the same reply again.

use std::ops::{Add, AddAssign};
use std::path::Path;

use serde_json::{Value, json};

/// Token counts of one model reply, as the Anthropic Messages API reports them.
///
/// In the streaming reply, `input_tokens`, `cache_creation_input_tokens` and `cache_read_input_tokens` go into
/// the `message_start` event and `output_tokens` into the final `message_delta` event (the `message_start` event
/// says `output_tokens: 1`, as the real API does). Claude Code 2.1.197 adds these up over the turns of a session
/// and reports the sums in the `usage` of its final `result` event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Uncached input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Input tokens written to the prompt cache.
    pub cache_creation_input_tokens: u64,
    /// Input tokens read from the prompt cache.
    pub cache_read_input_tokens: u64,
}

impl Usage {
    /// Usage with the given input, output, cache-creation and cache-read token counts.
    pub const fn new(input: u64, output: u64, cache_creation: u64, cache_read: u64) -> Self {
        Self {
            input_tokens: input,
            output_tokens: output,
            cache_creation_input_tokens: cache_creation,
            cache_read_input_tokens: cache_read,
        }
    }

    /// Sum of all four kinds.
    pub fn total(&self) -> u64 {
        self.input_tokens
            + self.output_tokens
            + self.cache_creation_input_tokens
            + self.cache_read_input_tokens
    }

    /// What Claude Code 2.1.197 charges for this usage with `--model claude-sonnet-4-5`, in USD: per million
    /// tokens $3 input, $15 output, $3.75 cache write, $0.30 cache read (Anthropic's public price list, as
    /// observed in `total_cost_usd` of Claude Code 2.1.197 against this server).
    pub fn sonnet_4_5_cost_usd(&self) -> f64 {
        (self.input_tokens as f64 * 3.0
            + self.output_tokens as f64 * 15.0
            + self.cache_creation_input_tokens as f64 * 3.75
            + self.cache_read_input_tokens as f64 * 0.30)
            / 1_000_000.0
    }
}

impl Add for Usage {
    type Output = Usage;
    fn add(self, o: Usage) -> Usage {
        Usage::new(
            self.input_tokens + o.input_tokens,
            self.output_tokens + o.output_tokens,
            self.cache_creation_input_tokens + o.cache_creation_input_tokens,
            self.cache_read_input_tokens + o.cache_read_input_tokens,
        )
    }
}

impl AddAssign for Usage {
    fn add_assign(&mut self, o: Usage) {
        *self = *self + o;
    }
}

impl std::iter::Sum for Usage {
    fn sum<I: Iterator<Item = Usage>>(iter: I) -> Usage {
        iter.fold(Usage::default(), Add::add)
    }
}

/// One content block of an assistant turn.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// A `text` block.
    Text(String),
    /// A `tool_use` block: the tool's name (`Write`, `Bash`, `Edit`, `Read`, ...) and its input object.
    ToolUse {
        /// Tool name as Claude Code declares it in the request's `tools`.
        name: String,
        /// The tool input, sent as `input_json_delta` pieces.
        input: Value,
    },
}

impl Block {
    /// `Write{file_path, content}`: Claude Code's Write tool needs an absolute `file_path`.
    pub fn write(file_path: impl AsRef<Path>, content: impl Into<String>) -> Self {
        let path = file_path.as_ref();
        assert!(
            path.is_absolute(),
            "Claude Code's Write tool needs an absolute path, got {}",
            path.display()
        );
        Block::ToolUse {
            name: "Write".into(),
            input: json!({ "file_path": path.to_string_lossy(), "content": content.into() }),
        }
    }

    /// `Bash{command, description}`: runs `command` in the agent's working directory.
    pub fn bash(command: impl Into<String>, description: impl Into<String>) -> Self {
        Block::ToolUse {
            name: "Bash".into(),
            input: json!({ "command": command.into(), "description": description.into() }),
        }
    }
}

/// One assistant message: content blocks and the usage the server reports for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    /// Content blocks in order.
    pub blocks: Vec<Block>,
    /// Usage reported in `message_start` / `message_delta`.
    pub usage: Usage,
}

impl Turn {
    /// A turn with only a text block (stop reason `end_turn`) and the default usage.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            blocks: vec![Block::Text(text.into())],
            usage: Self::DEFAULT_USAGE,
        }
    }

    /// A turn with one tool call (stop reason `tool_use`) and the default usage.
    pub fn tool(block: Block) -> Self {
        Self {
            blocks: vec![block],
            usage: Self::DEFAULT_USAGE,
        }
    }

    /// Usage a turn reports unless [`Turn::usage`] sets another.
    pub const DEFAULT_USAGE: Usage = Usage::new(100, 20, 0, 0);

    /// Appends a block.
    pub fn and(mut self, block: Block) -> Self {
        self.blocks.push(block);
        self
    }

    /// Sets the reported usage.
    pub fn usage(mut self, usage: Usage) -> Self {
        self.usage = usage;
        self
    }

    /// `tool_use` when any block calls a tool, else `end_turn`.
    pub fn stop_reason(&self) -> &'static str {
        if self
            .blocks
            .iter()
            .any(|b| matches!(b, Block::ToolUse { .. }))
        {
            "tool_use"
        } else {
            "end_turn"
        }
    }
}

/// An error reply: plain JSON `{"type":"error","error":{"type":..,"message":..}}` with an HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status, e.g. 401, 429, 529.
    pub status: u16,
    /// Anthropic error type, e.g. `authentication_error`, `rate_limit_error`, `overloaded_error`.
    pub error_type: String,
    /// Human-readable message; Claude Code puts it in its `result` text.
    pub message: String,
    /// Optional `retry-after` header value in seconds.
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    /// An error with the given status, type and message.
    pub fn new(status: u16, error_type: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            error_type: error_type.into(),
            message: message.into(),
            retry_after_secs: None,
        }
    }

    /// 401 `authentication_error` ("invalid x-api-key", as the real API says).
    pub fn unauthorized() -> Self {
        Self::new(401, "authentication_error", "invalid x-api-key")
    }

    /// 429 `rate_limit_error` with `retry-after`.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self {
            retry_after_secs: Some(retry_after_secs),
            ..Self::new(
                429,
                "rate_limit_error",
                "Number of requests has exceeded your rate limit",
            )
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        json!({ "type": "error", "error": { "type": self.error_type, "message": self.message } })
    }
}

/// What the server answers to one conversation request.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// A streamed assistant message.
    Message(Turn),
    /// An HTTP error.
    Error(ApiError),
    /// Accept the request and never answer (until the server is dropped).
    Hang,
}

impl From<Turn> for Reply {
    fn from(t: Turn) -> Self {
        Reply::Message(t)
    }
}

impl From<ApiError> for Reply {
    fn from(e: ApiError) -> Self {
        Reply::Error(e)
    }
}

/// The replies of one agent session, indexed by the number of assistant turns already in the conversation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Iteration {
    /// Reply `n` answers the request that carries `n` assistant turns.
    pub replies: Vec<Reply>,
}

impl Iteration {
    /// An iteration from its replies.
    pub fn new(replies: impl IntoIterator<Item = impl Into<Reply>>) -> Self {
        Self {
            replies: replies.into_iter().map(Into::into).collect(),
        }
    }

    /// An iteration that answers every request with this error (Claude Code makes one request, then fails).
    pub fn error(error: ApiError) -> Self {
        Self {
            replies: vec![Reply::Error(error)],
        }
    }

    /// An iteration whose first request is never answered.
    pub fn hang() -> Self {
        Self {
            replies: vec![Reply::Hang],
        }
    }

    /// Sum of the usage of its message replies: what Claude Code reports in its `result` event when the whole
    /// iteration was played.
    pub fn usage(&self) -> Usage {
        self.replies
            .iter()
            .filter_map(|r| match r {
                Reply::Message(t) => Some(t.usage),
                _ => None,
            })
            .sum()
    }
}

/// The whole script: iteration `i` is played to the `i`-th new session that reaches the server.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Script {
    /// Scripted iterations, in order.
    pub iterations: Vec<Iteration>,
    /// Played to every session after the scripted ones; `None` answers them with a 500 `api_error`
    /// ("script exhausted") and records them as unscripted.
    pub then_forever: Option<Iteration>,
}

impl Script {
    /// A script of these iterations.
    pub fn new(iterations: impl IntoIterator<Item = Iteration>) -> Self {
        Self {
            iterations: iterations.into_iter().collect(),
            then_forever: None,
        }
    }

    /// A script that plays `iteration` to every session.
    pub fn always(iteration: Iteration) -> Self {
        Self {
            iterations: Vec::new(),
            then_forever: Some(iteration),
        }
    }

    /// The iteration for the `index`-th session (0-based), if any.
    pub fn iteration(&self, index: usize) -> Option<&Iteration> {
        self.iterations.get(index).or(self.then_forever.as_ref())
    }
}
