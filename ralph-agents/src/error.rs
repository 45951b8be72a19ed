//! The one error type of `ralph-agents`.
//!
//! These are the errors of *building* and *checking* an agent. A run that started and went wrong is not an
//! error but an [`AgentOutcome`](ralph_core::AgentOutcome) with a classified status.

/// What can go wrong before an agent runs.
///
/// `#[non_exhaustive]`: variants will be added in minor releases; match with a `_` arm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `--agent` names no agent ralph knows.
    #[error("unknown agent `{name}`; known agents: {known}")]
    UnknownAgent {
        /// The name given.
        name: String,
        /// The accepted names, comma-separated.
        known: String,
    },
    /// The agent is known but this version of ralph has no adapter for it.
    #[error(
        "agent `{name}` is not supported yet; run it through the generic command agent: \
         `--agent command -- {program} ...`"
    )]
    Unsupported {
        /// The agent name.
        name: String,
        /// Its program.
        program: String,
    },
    /// The agent's program is not installed (not found in `PATH`, or not executable).
    #[error("`{program}` {}; {}", not_found(program), install_hint(install))]
    NotInstalled {
        /// The agent name.
        agent: String,
        /// The program looked for.
        program: String,
        /// How to install it.
        install: String,
    },
    /// `--agent auto` found no supported agent.
    #[error("no supported agent CLI is installed; {message}")]
    NoAgentInstalled {
        /// What to install.
        message: String,
    },
    /// The agent is switched off in the configuration.
    #[error("agent `{agent}` is disabled in the configuration (adapters.{agent}.enabled: false)")]
    Disabled {
        /// The agent name.
        agent: String,
    },
    /// The agent's settings cannot work (an empty command, a forbidden argument).
    #[error("agent `{agent}`: {message}")]
    InvalidSettings {
        /// The agent name.
        agent: String,
        /// What is wrong and how to fix it.
        message: String,
    },
}

impl Error {
    /// The agent the error is about, when there is one.
    pub fn agent(&self) -> Option<&str> {
        match self {
            Error::UnknownAgent { name, .. } | Error::Unsupported { name, .. } => Some(name),
            Error::NotInstalled { agent, .. }
            | Error::Disabled { agent }
            | Error::InvalidSettings { agent, .. } => Some(agent),
            Error::NoAgentInstalled { .. } => None,
        }
    }
}

impl From<Error> for ralph_core::Error {
    fn from(e: Error) -> Self {
        let agent = e.agent().unwrap_or("auto").to_string();
        match e {
            Error::NotInstalled { .. }
            | Error::NoAgentInstalled { .. }
            | Error::Disabled { .. } => ralph_core::Error::AgentUnavailable {
                agent,
                message: e.to_string(),
            },
            Error::UnknownAgent { .. }
            | Error::Unsupported { .. }
            | Error::InvalidSettings { .. } => ralph_core::Error::Config(e.to_string()),
        }
    }
}

/// "install it with `npm install ...`" for install commands, the text itself for other advice.
/// Where `program` was looked for: a name in `PATH`, a path as given.
fn not_found(program: &str) -> &'static str {
    if program.contains('/') {
        "does not exist or is not executable"
    } else {
        "was not found in PATH or is not executable"
    }
}

fn install_hint(install: &str) -> String {
    if install.starts_with("npm ") || install.starts_with("pip ") || install.starts_with("cargo ") {
        format!("install it with `{install}`")
    } else {
        install.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_program_becomes_agent_unavailable_with_the_install_command() {
        let e: ralph_core::Error = Error::NotInstalled {
            agent: "claude".into(),
            program: "claude".into(),
            install: "npm install -g @anthropic-ai/claude-code".into(),
        }
        .into();
        match e {
            ralph_core::Error::AgentUnavailable { agent, message } => {
                assert_eq!(agent, "claude");
                assert!(message.contains("npm install -g @anthropic-ai/claude-code"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_missing_path_is_not_said_to_be_missing_from_path() {
        let missing = |program: &str| {
            Error::NotInstalled {
                agent: "claude".into(),
                program: program.into(),
                install: "npm install -g @anthropic-ai/claude-code".into(),
            }
            .to_string()
        };
        assert!(missing("claude").contains("`claude` was not found in PATH"));
        assert!(
            missing("/opt/claude/bin/claude").starts_with(
                "`/opt/claude/bin/claude` does not exist or is not executable; install"
            )
        );
    }
}
