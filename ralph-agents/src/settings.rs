//! Building an agent from settings: the entry point of the CLI.

use crate::amazon_q::AmazonQFlavor;
use crate::claude::Claude;
use crate::cli_agent::{CliAgent, Dialect};
use crate::codex::Codex;
use crate::command::{COMMAND, CommandAgent};
use crate::detect::{detect_auto, resolve_program};
use crate::error::Error;
use crate::fallback::FallbackAgent;
use crate::gemini::Gemini;
use crate::opencode::OpenCode;
use crate::process::DEFAULT_GRACE;
use crate::qwen::Qwen;
use crate::registry::{AGENTS as KNOWN_AGENTS, AgentKind};

/// The first agent `known_names` lists.
const CLAUDE: &str = crate::registry::CLAUDE.name;
use crate::secrets::mask_argv;
use ralph_core::Agent;
use std::collections::BTreeMap;
use std::time::Duration;

/// The name that picks the first installed supported agent.
pub const AUTO: &str = "auto";

/// How to build an agent (from `--agent`, `adapters.<name>` in `ralph.yml`, and the arguments after `--`).
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSettings {
    /// `claude`, `command`, `auto` (first installed supported agent, in [`KNOWN_AGENTS`] order), or a
    /// comma list (a fallback chain in which every member gets these same settings; see [`build_chain`]).
    pub name: String,
    /// Replaces the program: for `claude` the program and leading arguments (e.g. `["npx", "claude"]`);
    /// for `command` the whole argv (required).
    pub command: Option<Vec<String>>,
    /// Extra arguments appended to the agent's argv.
    pub args: Vec<String>,
    /// Model name passed to the agent (`--model` for Claude); `None` = the agent's default.
    pub model: Option<String>,
    /// Environment variables added to the agent process.
    pub env: BTreeMap<String, String>,
    /// `false` refuses the agent (`adapters.<name>.enabled: false`).
    pub enabled: bool,
    /// Time between SIGTERM and SIGKILL when a run is stopped (default 5 s).
    pub grace: Duration,
}

impl Default for AgentSettings {
    fn default() -> Self {
        AgentSettings {
            name: AUTO.into(),
            command: None,
            args: Vec::new(),
            model: None,
            env: BTreeMap::new(),
            enabled: true,
            grace: DEFAULT_GRACE,
        }
    }
}

/// The names [`build`] accepts, for messages and help: `auto, claude, command` then the other agents of
/// the [registry](crate::registry::AGENTS) in `--agent auto` order, e.g. `auto, claude, command, gemini,
/// codex, qwen, q, kiro, opencode`.
pub fn agent_names() -> String {
    let unsupported: Vec<&str> = KNOWN_AGENTS
        .iter()
        .filter(|a| !a.supported)
        .map(|a| a.name)
        .collect();
    let more: String = KNOWN_AGENTS
        .iter()
        .filter(|a| a.supported && a.name != CLAUDE)
        .map(|a| format!(", {}", a.name))
        .collect();
    if unsupported.is_empty() {
        return format!("{AUTO}, {CLAUDE}, {COMMAND}{more}");
    }
    format!(
        "{AUTO}, {CLAUDE}, {COMMAND}{more} (not supported yet: {})",
        unsupported.join(", ")
    )
}

/// The member names of a comma list, or `None` for a single name.
fn chain_members(name: &str) -> Option<Vec<&str>> {
    name.contains(',').then(|| {
        name.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect()
    })
}

/// Resolves `auto` to the agent it stands for (with `PATH` as it is now); other names pass through.
fn resolve_auto(settings: &AgentSettings) -> Result<AgentSettings, Error> {
    let name = settings.name.trim();
    if name != AUTO && !name.is_empty() {
        return Ok(settings.clone());
    }
    let found = detect_auto(std::env::var_os("PATH").as_deref())?;
    Ok(AgentSettings {
        name: found.name.to_string(),
        ..settings.clone()
    })
}

/// Builds the agent `settings` describe. Nothing is run; see [`Agent::preflight`] for the installation
/// check (except `auto`, which looks in `PATH` to choose).
///
/// # Errors
/// [`Error::UnknownAgent`], [`Error::Unsupported`], [`Error::Disabled`], [`Error::NoAgentInstalled`]
/// (for `auto`), [`Error::InvalidSettings`] (`command` without a command, `--continue` for Claude).
pub fn build(settings: &AgentSettings) -> Result<Box<dyn Agent>, Error> {
    if let Some(members) = chain_members(&settings.name) {
        let chain: Vec<AgentSettings> = members
            .into_iter()
            .map(|name| AgentSettings {
                name: name.to_string(),
                ..settings.clone()
            })
            .collect();
        return build_chain(&chain);
    }
    if !settings.enabled {
        return Err(Error::Disabled {
            agent: settings.name.clone(),
        });
    }
    let settings = resolve_auto(settings)?;
    match settings.name.trim() {
        COMMAND => {
            let mut argv = settings.command.clone().unwrap_or_default();
            argv.extend(settings.args.iter().cloned());
            let agent = CommandAgent::new(argv)?
                .with_env(settings.env.clone())
                .with_grace(settings.grace);
            Ok(Box::new(agent))
        }
        other => match crate::registry::spec(other) {
            Some(spec) if spec.supported => Ok(cli_agent(spec.kind, &settings)?),
            Some(spec) => Err(Error::Unsupported {
                name: spec.name.into(),
                program: spec.program.into(),
            }),
            None => Err(Error::UnknownAgent {
                name: other.into(),
                known: agent_names(),
            }),
        },
    }
}

/// A [`CliAgent`] of any dialect, with what `--dry-run` shows of it.
trait BuiltAgent: Agent {
    /// The argv shown before a run.
    fn display_argv(&self) -> Vec<String>;

    /// How a run with `prompt` would start.
    #[cfg(test)]
    fn invocation(&self, prompt: &str) -> crate::Invocation;
}

impl<D: Dialect> BuiltAgent for CliAgent<D> {
    fn display_argv(&self) -> Vec<String> {
        CliAgent::display_argv(self)
    }

    #[cfg(test)]
    fn invocation(&self, prompt: &str) -> crate::Invocation {
        self.dialect.invocation(&self.opts, prompt)
    }
}

/// The agent of `kind` that `settings` describe: the one place that maps an agent to its dialect.
fn cli_agent(kind: AgentKind, settings: &AgentSettings) -> Result<Box<dyn BuiltAgent>, Error> {
    fn make<D: Dialect>(dialect: D, s: &AgentSettings) -> Result<Box<dyn BuiltAgent>, Error> {
        Ok(Box::new(CliAgent::from_settings(dialect, s)?))
    }
    match kind {
        AgentKind::Claude => make(Claude, settings),
        AgentKind::Gemini => make(Gemini, settings),
        AgentKind::Codex => make(Codex, settings),
        AgentKind::Qwen => make(Qwen, settings),
        AgentKind::Q => make(AmazonQFlavor::Q, settings),
        AgentKind::Kiro => make(AmazonQFlavor::Kiro, settings),
        AgentKind::OpenCode => make(OpenCode, settings),
    }
}

/// Builds a fallback chain, each member with its own settings (see [`FallbackAgent`]). Disabled members
/// are left out; a chain of one is that agent itself.
///
/// # Errors
/// The first member's build error; [`Error::InvalidSettings`] when no member is left.
pub fn build_chain(chain: &[AgentSettings]) -> Result<Box<dyn Agent>, Error> {
    let mut agents = Vec::new();
    for s in chain.iter().filter(|s| s.enabled) {
        if chain_members(&s.name).is_some() {
            return Err(Error::InvalidSettings {
                agent: s.name.clone(),
                message: "a fallback chain cannot contain another chain".into(),
            });
        }
        agents.push(build(s)?);
    }
    match agents.len() {
        0 => Err(Error::InvalidSettings {
            agent: chain
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(","),
            message: "every agent of the chain is disabled".into(),
        }),
        1 => Ok(agents.remove(0)),
        _ => Ok(Box::new(FallbackAgent::new(agents))),
    }
}

/// The argv the agent would run, secrets masked, for `ralph run --dry-run`. Pure apart from the `PATH`
/// lookup of `auto`; for a chain, the first member's. Empty when the settings cannot build an agent.
pub fn dry_run_argv(settings: &AgentSettings) -> Vec<String> {
    if let Some(members) = chain_members(&settings.name) {
        return members
            .first()
            .map(|m| {
                dry_run_argv(&AgentSettings {
                    name: m.to_string(),
                    ..settings.clone()
                })
            })
            .unwrap_or_default();
    }
    let Ok(settings) = resolve_auto(settings) else {
        return Vec::new();
    };
    match settings.name.trim() {
        COMMAND => {
            let mut argv = settings.command.clone().unwrap_or_default();
            argv.extend(settings.args.iter().cloned());
            mask_argv(&argv)
        }
        other => AgentKind::from_name(other)
            .and_then(|kind| cli_agent(kind, &settings).ok())
            .map(|a| a.display_argv())
            .unwrap_or_default(),
    }
}

/// One line saying which agent runs and where its program is, for `--dry-run` and `doctor`: e.g.
/// `claude (/usr/local/bin/claude; prompt on stdin)` or `auto → claude (not installed: npm install -g
/// @anthropic-ai/claude-code)`.
pub fn describe(settings: &AgentSettings) -> String {
    if let Some(members) = chain_members(&settings.name) {
        let parts: Vec<String> = members
            .iter()
            .map(|m| {
                describe(&AgentSettings {
                    name: m.to_string(),
                    ..settings.clone()
                })
            })
            .collect();
        return format!("fallback chain: {}", parts.join(", then "));
    }
    let name = settings.name.trim();
    if !settings.enabled {
        return format!("{name} (disabled)");
    }
    let prefix = if name == AUTO || name.is_empty() {
        match resolve_auto(settings) {
            Ok(s) => format!("{AUTO} → {}", s.name),
            Err(e) => return format!("{AUTO} ({e})"),
        }
    } else {
        name.to_string()
    };
    let resolved = resolve_auto(settings).map(|s| s.name).unwrap_or_default();
    let (program, install, prompt) = match resolved.as_str() {
        COMMAND => {
            let argv = settings.command.clone().unwrap_or_default();
            let prompt = if argv
                .iter()
                .any(|a| a.contains(crate::command::PROMPT_FILE_PLACEHOLDER))
            {
                "prompt in a file"
            } else if argv
                .iter()
                .any(|a| a.contains(crate::command::PROMPT_PLACEHOLDER))
            {
                "prompt as an argument"
            } else {
                "prompt on stdin"
            };
            match argv.first() {
                Some(p) => (p.clone(), None, prompt),
                None => return format!("{prefix} (no command given)"),
            }
        }
        other => match crate::registry::spec(other).filter(|s| s.supported) {
            Some(spec) => {
                let program = settings
                    .command
                    .as_ref()
                    .and_then(|c| c.first().cloned())
                    .unwrap_or_else(|| spec.program.to_string());
                (program, Some(spec.install), spec.prompt.describe())
            }
            None => return format!("{prefix} (unknown or unsupported)"),
        },
    };
    match (resolve_program(&program), install) {
        (Some(path), _) => format!("{prefix} ({}; {prompt})", path.display()),
        (None, Some(install)) => format!("{prefix} (`{program}` not installed: {install})"),
        (None, None) => format!("{prefix} (`{program}` not found)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str) -> AgentSettings {
        AgentSettings {
            name: name.into(),
            ..AgentSettings::default()
        }
    }

    fn error_of(settings: &AgentSettings) -> String {
        match build(settings) {
            Ok(agent) => panic!("built `{}`", agent.name()),
            Err(e) => e.to_string(),
        }
    }

    /// What the registry says of an agent is what its dialect does: the fixed flags in order, the model
    /// flag, how the prompt is passed, and a shown argv without the prompt.
    #[test]
    fn every_dialect_does_what_its_spec_says() {
        use crate::registry::PromptPassing;
        for spec in KNOWN_AGENTS {
            let settings = AgentSettings {
                model: Some("model-x".into()),
                ..named(spec.name)
            };
            let agent = cli_agent(spec.kind, &settings).unwrap();
            let prompt = "Do the task.";
            let run = agent.invocation(prompt);
            let argv = &run.argv;
            assert_eq!(argv[0], spec.program, "{}", spec.name);
            assert!(
                argv.windows(spec.fixed_args.len())
                    .any(|w| w == spec.fixed_args),
                "{}: {argv:?}",
                spec.name
            );
            assert!(
                argv.windows(2).any(|w| w == [spec.model_flag, "model-x"]),
                "{}: {argv:?}",
                spec.name
            );
            let on_stdin = run.stdin.as_deref() == Some(prompt.as_bytes());
            let in_argv = argv.iter().any(|a| a.contains(prompt));
            match spec.prompt {
                PromptPassing::Stdin => assert!(on_stdin && !in_argv, "{}", spec.name),
                PromptPassing::ArgumentElseStdin | PromptPassing::ArgumentElseFile => {
                    assert!(in_argv && run.stdin.is_none(), "{}", spec.name)
                }
            }
            let large = "x".repeat(crate::MAX_PROMPT_ARG + 1);
            let large_run = agent.invocation(&large);
            if spec.prompt == PromptPassing::ArgumentElseStdin {
                assert!(large_run.stdin.is_some(), "{}", spec.name);
                assert!(!large_run.argv.contains(&large), "{}", spec.name);
            }
            for shown in [&run.display_argv, &large_run.display_argv] {
                assert!(
                    !shown
                        .iter()
                        .any(|a| a.contains(prompt) || a.contains(&large)),
                    "{}: {shown:?}",
                    spec.name
                );
            }
        }
    }

    #[test]
    fn builds_claude_and_command() {
        assert_eq!(build(&named("claude")).unwrap().name(), "claude");
        let command = AgentSettings {
            command: Some(vec!["cat".into()]),
            ..named("command")
        };
        assert_eq!(build(&command).unwrap().name(), "command");
    }

    #[test]
    fn unknown_name_lists_the_known_ones() {
        let err = error_of(&named("clade"));
        assert!(err.contains("unknown agent `clade`"), "{err}");
        assert!(err.contains("auto, claude, command"), "{err}");
    }

    #[test]
    fn known_but_unsupported_agent_suggests_the_command_agent() {
        let Some(k) = KNOWN_AGENTS.iter().find(|a| !a.supported) else {
            return; // every known agent has an adapter
        };
        let err = error_of(&named(k.name));
        let hint = format!("--agent command -- {}", k.program);
        assert!(err.contains(&hint), "{err}");
    }

    #[test]
    fn disabled_agent_is_refused() {
        let s = AgentSettings {
            enabled: false,
            ..named("claude")
        };
        assert!(matches!(build(&s), Err(Error::Disabled { .. })));
    }

    #[test]
    fn command_without_argv_is_refused() {
        assert!(matches!(
            build(&named("command")),
            Err(Error::InvalidSettings { .. })
        ));
    }

    #[test]
    fn a_comma_list_builds_a_chain() {
        let s = AgentSettings {
            command: Some(vec!["cat".into()]),
            ..named("claude, command")
        };
        let agent = build(&s).unwrap();
        assert_eq!(agent.name(), "claude");
    }

    #[test]
    fn describe_names_the_program_and_how_the_prompt_is_passed() {
        let missing = AgentSettings {
            command: Some(vec!["/nonexistent/claude".into()]),
            ..named("claude")
        };
        assert_eq!(
            describe(&missing),
            "claude (`/nonexistent/claude` not installed: npm install -g @anthropic-ai/claude-code)"
        );
        let command = AgentSettings {
            command: Some(vec!["sh".into(), "-c".into(), "agent {prompt_file}".into()]),
            ..named("command")
        };
        let text = describe(&command);
        assert!(text.starts_with("command (/"), "{text}");
        assert!(text.ends_with("; prompt in a file)"), "{text}");
    }

    #[test]
    fn dry_run_argv_masks_secrets() {
        let s = AgentSettings {
            model: Some("claude-sonnet-4-5".into()),
            args: vec!["--settings".into(), "{\"apiKey\":\"k\"}".into()],
            ..named("claude")
        };
        assert_eq!(
            dry_run_argv(&s).join(" "),
            "claude -p --output-format stream-json --verbose --dangerously-skip-permissions \
             --model claude-sonnet-4-5 --settings {\"apiKey\":\"****\"}"
        );
    }
}
