//! Which agent CLIs ralph knows, and which are installed (a `PATH` lookup, nothing is run).

use crate::error::Error;
use crate::registry::AgentSpec;
use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// An agent CLI ralph knows about: its [registry](crate::registry) entry.
pub type KnownAgent = AgentSpec;

/// The agent CLIs in `--agent auto` priority order: the [registry](crate::registry)'s table.
pub const KNOWN_AGENTS: &[KnownAgent] = crate::registry::AGENTS;

/// The known agent called `name`.
pub fn known_agent(name: &str) -> Option<&'static KnownAgent> {
    crate::registry::spec(name)
}

/// Finds `program` in `PATH` (or checks it directly when it contains a `/`). Returns the path of an
/// executable regular file.
pub fn resolve_program(program: &str) -> Option<PathBuf> {
    resolve_program_in(program, std::env::var_os("PATH").as_deref())
}

/// Like [`resolve_program`], searching the `:`-separated directories of `path` instead of `PATH`.
pub fn resolve_program_in(program: &str, path: Option<&OsStr>) -> Option<PathBuf> {
    if program.is_empty() {
        return None;
    }
    if program.contains('/') {
        let p = PathBuf::from(program);
        return is_executable(&p).then_some(p);
    }
    std::env::split_paths(path?)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The first supported agent of [`KNOWN_AGENTS`] installed in `path` (for `--agent auto`).
///
/// # Errors
/// [`Error::NoAgentInstalled`] naming what was looked for and how to install it.
pub fn detect_auto(path: Option<&OsStr>) -> Result<&'static KnownAgent, Error> {
    let mut unsupported_found = Vec::new();
    for agent in KNOWN_AGENTS {
        if resolve_program_in(agent.program, path).is_none() {
            continue;
        }
        if agent.supported {
            return Ok(agent);
        }
        unsupported_found.push(agent.name);
    }
    let supported: Vec<String> = KNOWN_AGENTS
        .iter()
        .filter(|a| a.supported)
        .map(|a| format!("{} (`{}`)", a.name, a.install))
        .collect();
    let mut message = format!("install one of: {}", supported.join(", "));
    if !unsupported_found.is_empty() {
        message.push_str(&format!(
            "; found {} but ralph has no adapter for it yet: run it with `--agent command -- <argv>`",
            unsupported_found.join(", ")
        ));
    }
    Err(Error::NoAgentInstalled { message })
}

/// Checks that `program` of agent `agent` can be run.
///
/// # Errors
/// [`Error::NotInstalled`] with `install` as the fix.
pub fn check_program(agent: &str, program: &str, install: &str) -> Result<PathBuf, Error> {
    resolve_program(program).ok_or_else(|| Error::NotInstalled {
        agent: agent.to_string(),
        program: program.to_string(),
        install: install.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn fake_bin(dir: &Path, name: &str) {
        let p = dir.join(name);
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn resolves_executables_only() {
        let dir = tempfile::tempdir().unwrap();
        fake_bin(dir.path(), "claude");
        std::fs::write(dir.path().join("gemini"), "not executable").unwrap();
        let path = dir.path().as_os_str();
        assert_eq!(
            resolve_program_in("claude", Some(path)),
            Some(dir.path().join("claude"))
        );
        assert_eq!(resolve_program_in("gemini", Some(path)), None);
        assert_eq!(resolve_program_in("claude", None), None);
    }

    #[test]
    fn auto_picks_claude_when_installed() {
        let dir = tempfile::tempdir().unwrap();
        fake_bin(dir.path(), "codex");
        fake_bin(dir.path(), "claude");
        assert_eq!(
            detect_auto(Some(dir.path().as_os_str())).unwrap().name,
            "claude"
        );
    }

    #[test]
    fn auto_without_supported_agent_says_what_to_install() {
        let dir = tempfile::tempdir().unwrap();
        let unsupported = KNOWN_AGENTS.iter().find(|a| !a.supported);
        if let Some(k) = unsupported {
            fake_bin(dir.path(), k.program);
        }
        let err = detect_auto(Some(dir.path().as_os_str()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("npm install -g @anthropic-ai/claude-code"),
            "{err}"
        );
        if let Some(k) = unsupported {
            assert!(err.contains(&format!("found {}", k.name)), "{err}");
        }
    }

    #[test]
    fn auto_takes_gemini_before_qwen_when_claude_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        fake_bin(dir.path(), "qwen");
        fake_bin(dir.path(), "gemini");
        assert_eq!(
            detect_auto(Some(dir.path().as_os_str())).unwrap().name,
            "gemini"
        );
    }
}
