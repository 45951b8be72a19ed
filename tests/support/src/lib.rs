//! Test kit for ralph's end-to-end tests: the real agent CLIs, driven by ralph, talking to a scripted model.
//!
//! - [`ModelServer`] (module `server`, encoding in `sse`): a scripted Anthropic Messages API server on
//!   `127.0.0.1:0` that plays a [`Script`] of [`Iteration`]s (one per agent session) made of [`Reply`]s (one per
//!   model request) and records every request.
//! - [`install_claude`]: installs the pinned Claude Code CLI from npm once into `<target>/agent-clis/`.
//! - [`HermeticEnv`] and [`TestDir`]: an environment with nothing of the developer's in it, a temporary git
//!   workspace and a fresh `HOME`.
//! - [`run_with_timeout`]: runs a command with a wall-clock limit; [`procs`] finds processes that outlived it.
//! - [`ScriptedServer`] (modules `scripted`, `gemini_server`, `openai_chat_server`): the same [`Script`]s
//!   played as the Gemini API (for Gemini CLI) or as OpenAI chat completions (for Qwen Code);
//!   [`install_gemini`], [`install_qwen`], `HermeticEnv::gemini` and `HermeticEnv::qwen` go with them.
//! - `ScriptedServer::openai_responses` (module `openai_responses_server`): the OpenAI Responses API, for
//!   Codex and OpenCode; [`install_codex`], [`install_opencode`], `HermeticEnv::codex` and
//!   `HermeticEnv::opencode` (module `codex_opencode`) go with it.
//! - [`workspace::Workspace`]: a temporary workspace for the `ralph` binary with shell-script agents.
//! - [`tools::require`]: external tools (promtool, chromium, podman, ...) required under CI, skipped
//!   with a message elsewhere.
//! - [`RalphRun`] (module `ralph_run`): runs `ralph run --agent ...` with limits and a timeout; module
//!   `ralph_state` reads what it left ([`state`], [`iteration_records`], [`usage_of`]) and holds the shared
//!   checks ([`assert_completed`], [`assert_no_survivors`]); module `task` scripts the three-iteration task
//!   every agent is given ([`three_iteration_task`]).
//!
//! ```no_run
//! use std::process::Command;
//! use std::time::Duration;
//! use ralph_testkit::*;
//!
//! let dir = TestDir::new();
//! let server = ModelServer::start(Script::new([Iteration::new([
//!     Turn::tool(Block::write(dir.path("hello.txt"), "hello\n")),
//!     Turn::text("Done.\nLOOP_COMPLETE"),
//! ])]));
//! let env = HermeticEnv::claude(&server.url(), &install_claude(), dir.home());
//! let mut cmd = Command::new("claude");
//! env.apply(&mut cmd).current_dir(dir.workspace());
//! cmd.args(["-p", "--output-format", "stream-json", "--verbose", "--dangerously-skip-permissions"]);
//! let out = run_with_timeout(&mut cmd, Some(b"say hello".to_vec()), Duration::from_secs(30), dir.root());
//! assert_eq!(out.code(), 0, "{}", out.dump());
//! assert_eq!(dir.read("hello.txt"), "hello\n");
//! assert_eq!(server.sessions().len(), 1);
//! ```

pub mod agent_envs;
pub mod codex_opencode;
pub mod env;
pub mod gemini_server;
pub mod install;
pub mod openai_chat_server;
pub mod openai_responses_server;
pub mod procs;
pub mod ralph_run;
pub mod ralph_state;
mod recording;
pub mod run;
pub mod script;
pub mod scripted;
pub mod server;
pub mod sse;
pub mod task;
pub mod tools;
pub mod workspace;

pub use agent_envs::{GEMINI_VERSION, QWEN_VERSION, install_gemini, install_qwen};
pub use codex_opencode::{CODEX_VERSION, OPENCODE_VERSION, install_codex, install_opencode};
pub use env::{HermeticEnv, TestDir};
pub use install::{CLAUDE_VERSION, install_claude};
pub use ralph_run::{RALPH_TIMEOUT, RalphRun};
pub use ralph_state::{
    Completed, Cost, Served, assert_auth_failures, assert_completed, assert_no_survivors,
    assert_not_leaked, cost_usd, iteration_records, read_json, state, usage_of,
};
pub use run::{RunOutput, run_with_timeout};
pub use script::{ApiError, Block, Iteration, Reply, Script, Turn, Usage};
pub use scripted::ScriptedServer;
pub use server::{Answer, ModelServer, RecordedRequest, RequestKind};
pub use task::{TASK_COMMAND, TASK_HELLO, TASK_PROMPT, assert_task_files, three_iteration_task};
