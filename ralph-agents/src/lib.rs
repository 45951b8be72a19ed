//! # ralph-agents
//!
//! [`Agent`](ralph_core::Agent) implementations for ralph: each runs an AI coding-agent CLI once per
//! iteration as a supervised process and turns what it prints into events and a classified outcome.
//!
//! Published as `ralph-loop-agents`: `cargo add ralph-loop-core ralph-loop-agents`, then
//! `use ralph_agents::...`. Unix only (process groups, signals).
//!
//! - [`ClaudeAgent`]: Claude Code in headless `stream-json` mode (tested with 2.1.197).
//! - [`GeminiAgent`]: Gemini CLI in headless `stream-json` mode (tested with 0.61.0).
//! - [`QwenAgent`]: Qwen Code in headless `stream-json` mode against OpenAI-compatible APIs (tested with
//!   0.15.10).
//! - [`CodexAgent`]: OpenAI Codex CLI in `exec --json` mode (tested with 0.171.0).
//! - [`OpenCodeAgent`]: OpenCode in `run --format json` mode (tested with 1.18.33).
//! - [`AmazonQAgent`]: Amazon Q Developer CLI (`q`) and Kiro CLI (`kiro-cli`), plain-text `chat
//!   --no-interactive` (built from their documentation; neither could be installed to test against).
//! - [`CommandAgent`]: any program; prompt on stdin, as `{prompt}` or as `{prompt_file}`; plain-text output.
//! - [`FallbackAgent`]: a chain (`--agent claude,command`) that moves on when an agent is missing,
//!   unauthenticated or rate limited.
//! - [`build`] makes one of these from [`AgentSettings`]; [`describe`], [`dry_run_argv`] and
//!   [`describe_keys`] serve `--dry-run`.
//! - [`ProcessRegistry`]: the handle on the agents' process groups that runs are scoped in
//!   ([`ProcessRegistry::scope`]); it serves a hard stop ([`ProcessRegistry::kill_all`]) and, given a
//!   state directory, finds processes left behind by a killed ralph or outside an agent's group
//!   ([`reaper`]).
//!
//! Every agent CLI is one [`AgentSpec`] in the [`registry`] (program, install hint, fixed flags, model
//! flag, how the prompt is passed, refused arguments, key variables, stream dialect), read by detection,
//! settings, `doctor`, `agents`, `--dry-run`, the environment builder and redaction; and one [`Dialect`]
//! (its argv quirks, its [`StreamHandler`] with the event mapping and the outcome rules), run by the
//! generic [`CliAgent`], which does the spawning, environment and stream plumbing once. A new agent is a
//! variant of [`AgentKind`] (the compiler then points at the two `match`es that need it), its spec, a
//! dialect module and its recorded fixtures.
//!
//! The building blocks are public so that adapters for more CLIs reuse them: [`process::supervise`] runs a
//! process in its own process group with deadlines, an idle timeout, cancellation (SIGTERM, grace period,
//! SIGKILL to the whole group) and bounded-memory line reading ([`lines`]); a
//! [`StreamHandler`] maps the agent's output.
//!
//! ```no_run
//! use ralph_agents::{AgentSettings, build};
//! use ralph_core::{AgentRequest, TimeoutKind};
//! use std::time::{Duration, Instant};
//! use ralph_core::CancellationToken;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let agent = build(&AgentSettings { name: "claude".into(), ..AgentSettings::default() })?;
//! agent.preflight().await?; // "`claude` was not found in PATH; install it with `npm install -g ...`"
//! let request = AgentRequest {
//!     prompt: "Write hello.txt, then print LOOP_COMPLETE on a line of its own.".into(),
//!     workspace: ".".into(),
//!     state_dir: std::fs::canonicalize(".")?.join(".agent"),
//!     run_id: "demo".into(),
//!     iteration: 1,
//!     deadline: Some(Instant::now() + Duration::from_secs(600)),
//!     deadline_kind: TimeoutKind::Iteration,
//!     idle_timeout: Some(Duration::from_secs(300)),
//! };
//! let (events, mut rx) = tokio::sync::mpsc::unbounded_channel();
//! tokio::spawn(async move { while let Some(e) = rx.recv().await { println!("{e:?}") } });
//! let outcome = agent.run(request, events, CancellationToken::new()).await?;
//! println!("{}: {:?} ({} tokens)", outcome.status.label(), outcome.final_text, outcome.usage.billable_total());
//! # Ok(()) }
//! ```
//!
//! The Claude Code example above needs the `claude` CLI and a key, so it is only compiled. This one runs
//! anywhere with a POSIX shell: a whole loop whose agent is a command ([`CommandAgent`], prompt on
//! stdin) that writes a file and prints the completion promise.
//!
//! ```
//! use ralph_agents::CommandAgent;
//! use ralph_core::prompt::PromptSource;
//! use ralph_core::{Engine, EngineConfig, StopHandle, StopReason};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! let workspace = dir.path().to_path_buf();
//! let agent = CommandAgent::new(vec![
//!     "sh".into(),
//!     "-c".into(),
//!     "cat >/dev/null; echo hello > hello.txt; echo LOOP_COMPLETE".into(),
//! ])?;
//! let config = EngineConfig::new(PromptSource::Text("Write hello.txt".into()), workspace.clone());
//! let summary = Engine::new(config, Box::new(agent)).run(StopHandle::new()).await;
//! assert!(matches!(summary.reason, StopReason::Completed { iteration: 1, .. }), "{:?}", summary.reason);
//! assert_eq!(std::fs::read_to_string(workspace.join("hello.txt"))?, "hello\n");
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

mod amazon_q;
mod api_error;
mod claude;
mod cli_agent;
mod cli_options;
mod codex;
mod command;
mod detect;
mod error;
mod fallback;
mod gemini;
mod group;
pub mod lines;
mod opencode;
mod outcome;
pub mod pricing;
pub mod process;
mod qwen;
pub mod reaper;
pub mod registry;
#[cfg(test)]
mod replay;
mod reset_time;
mod secrets;
mod settings;
mod shell_verify;
mod tool_summary;
pub mod transcript;

pub use amazon_q::{AmazonQAgent, AmazonQFlavor, AmazonQStream};
pub use claude::{Claude, ClaudeAgent, ClaudeStream};
pub use cli_agent::{CliAgent, Dialect, Invocation};
pub use cli_options::CliOptions;
pub use codex::{Codex, CodexAgent, CodexStream};
pub use command::{
    COMMAND, CommandAgent, FINAL_TEXT_CAP, MAX_PROMPT_ARG, PROMPT_FILE_NAME,
    PROMPT_FILE_PLACEHOLDER, PROMPT_PLACEHOLDER, TextStream,
};
pub use detect::{
    KNOWN_AGENTS, KnownAgent, detect_auto, known_agent, resolve_program, resolve_program_in,
};
pub use error::Error;
pub use fallback::FallbackAgent;
pub use gemini::{GEMINI_STDIN_MAX, Gemini, GeminiAgent, GeminiStream};
pub use group::ProcessRegistry;
pub use opencode::{OpenCode, OpenCodeAgent, OpenCodeStream};
pub use process::{ProcessExit, ProcessSpec, StreamHandler};
pub use qwen::{Qwen, QwenAgent, QwenStream};
pub use registry::{AgentKind, AgentSpec};
pub use secrets::{
    MASK, describe_keys, is_secret_name, mask_argv, mask_env, mask_secrets, resolve_key,
};
pub use settings::{AUTO, AgentSettings, agent_names, build, build_chain, describe, dry_run_argv};
pub use shell_verify::ShellVerifier;

/// Compile-time checks: every public future of this crate is `Send`, so the agents run inside an
/// engine spawned with `tokio::spawn`.
#[cfg(test)]
mod futures_are_send {
    use crate::process::{Deadlines, ProcessSpec, StreamHandler};
    use ralph_core::{AgentRequest, CancellationToken, Verifier, VerifyRequest};

    fn assert_send<T: Send>(_: &T) {}

    #[allow(dead_code, clippy::too_many_arguments)]
    fn every_public_future_is_send(
        spec: &ProcessSpec,
        handler: &mut dyn StreamHandler,
        request: AgentRequest,
        verify: VerifyRequest,
        registry: &crate::ProcessRegistry,
        lines: &mut crate::lines::LineReader<tokio::io::BufReader<tokio::process::ChildStdout>>,
    ) {
        let (events, _rx) = ralph_core::event_channel();
        let cancel = CancellationToken::new();
        assert_send(&crate::process::supervise(
            spec,
            Deadlines::from_request(&request),
            handler,
            &events,
            &cancel,
        ));
        let settings = crate::AgentSettings {
            name: "claude".into(),
            ..Default::default()
        };
        if let Ok(agent) = crate::build(&settings) {
            assert_send(&agent.preflight());
            assert_send(&agent.run(request, events, cancel.clone()));
        }
        let verifier = crate::ShellVerifier::new("true");
        assert_send(&verifier.verify(verify, cancel));
        assert_send(&registry.kill_left_behind());
        assert_send(&registry.scope(async {}));
        assert_send(&lines.next_line());
    }
}

// The crate's README.md: its example is compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
