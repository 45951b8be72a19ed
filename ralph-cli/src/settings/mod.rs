//! Run settings: three [`Layer`]s (flags, environment, config file) with a field per setting, combined
//! once with the precedence flag > environment > config file > default (SPEC §2), then validated into
//! [`RunSettings`].
//!
//! Each setting is defined once, in [`defs`]: key, type, parser, flag, environment variables, default
//! and help. `--help` ([`flags`]), `ralph init`'s `ralph.yml` and the README's table ([`docs`]) are made
//! from those definitions; the defaults the engine shares live in [`ralph_core::defaults`].
//!
//! Every value is validated with a message that names where it came from (`--max-iterations`,
//! `RALPH_MAX_ITERATIONS`, `ralph.yml:3`) and what is accepted. Invalid settings exit with code 2.
//!
//! ```
//! use ralph_cli::settings::{Combine, Layer, Raw, Source};
//! let raw = |value: &str, source| Some(Raw { value: value.into(), source });
//! let flags = Layer { max_iterations: raw("5", Source::Flag("--max-iterations")), ..Layer::default() };
//! let env = Layer { max_iterations: raw("7", Source::Env("RALPH_MAX_ITERATIONS")), ..Layer::default() };
//! assert_eq!(flags.combine(env).max_iterations.unwrap().value, "5");
//! ```

pub mod defs;
pub mod docs;
pub mod file;
pub mod flags;
pub mod parse;

use crate::cli::RunArgs;
pub use defs::{DefaultValue, Kind, Layer, RunSettings, SETTINGS, Setting};
pub use file::{AdapterConfig, CommandSpec};
use std::path::{Path, PathBuf};

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A command-line flag.
    Flag(&'static str),
    /// An environment variable.
    Env(&'static str),
    /// A key in the config file.
    File {
        /// The file.
        path: PathBuf,
        /// 1-based line, when found.
        line: Option<usize>,
        /// The key.
        key: &'static str,
    },
    /// ralph's default.
    Default,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Flag(flag) => write!(f, "{flag}"),
            Source::Env(var) => write!(f, "environment variable {var}"),
            Source::File {
                path,
                line: Some(l),
                key,
            } => write!(f, "{}:{l} (`{key}`)", path.display()),
            Source::File {
                path,
                line: None,
                key,
            } => write!(f, "{} (`{key}`)", path.display()),
            Source::Default => write!(f, "default"),
        }
    }
}

/// A setting's value as given, before validation.
#[derive(Debug, Clone, PartialEq)]
pub struct Raw {
    /// The text.
    pub value: String,
    /// Where it came from.
    pub source: Source,
}

/// Layers combine: `self` wins where it has a value, `other` fills the rest (uv's `Combine`).
pub trait Combine {
    /// `self`, with `other`'s values where `self` has none.
    #[must_use]
    fn combine(self, other: Self) -> Self;
}

impl<T> Combine for Option<T> {
    fn combine(self, other: Self) -> Self {
        self.or(other)
    }
}

/// An invalid setting; the message names the source and the accepted values.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(pub String);

impl SettingsError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        SettingsError(message.into())
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl RunSettings {
    /// Where the setting `key` came from, as text (`--metrics-port`, `environment variable ...`,
    /// `ralph.yml:3 (...)`, or `default`).
    pub fn source_of(&self, key: &str) -> String {
        self.sources
            .get(key)
            .map(|src| src.to_string())
            .unwrap_or_else(|| "default".into())
    }
}

impl Layer {
    /// The environment layer: for each setting, the first of its variables that `env` has.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Layer {
        let mut layer = Layer::default();
        for s in SETTINGS {
            if let Some((var, value)) = s.env.iter().find_map(|v| env(v).map(|val| (*v, val)))
                && let Some(slot) = layer.slot(s.key)
            {
                *slot = Some(Raw {
                    value,
                    source: Source::Env(var),
                });
            }
        }
        layer
    }
}

/// `RALPH_*` variables of ralph's own making, not settings.
const INTERNAL_VARS: &[&str] = &[ralph_agents::reaper::MARKER_VAR, crate::pid1::WORKER_ENV];

/// A warning for each `RALPH_*` variable in `vars` that is no setting (a typo such as
/// `RALPH_MAX_ITERATION` would otherwise be ignored without a word), with the closest setting's name.
pub fn unknown_env_vars<'a>(vars: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let known: Vec<&str> = SETTINGS
        .iter()
        .flat_map(|s| s.env.iter().copied())
        .filter(|v| v.starts_with("RALPH_"))
        .collect();
    vars.into_iter()
        .filter(|v| v.starts_with("RALPH_") && !known.contains(v) && !INTERNAL_VARS.contains(v))
        .map(|v| {
            let hint = file::did_you_mean(v, &known);
            let hint = if hint.starts_with("; did you mean") {
                hint
            } else {
                String::new()
            };
            format!("environment variable {v} is not a ralph setting and is ignored{hint}")
        })
        .collect()
}

/// Resolves the settings of `ralph run` from `args`, the environment (`env`) and the config file, with
/// relative paths taken from `cwd`.
///
/// # Errors
/// [`SettingsError`] for the first invalid value, naming its source and the accepted range.
pub fn resolve(
    args: &RunArgs,
    env: &dyn Fn(&str) -> Option<String>,
    cwd: &Path,
) -> Result<RunSettings, SettingsError> {
    let config_file = config_path(args.config.as_deref())?;
    let file = match &config_file {
        Some(p) => file::load(p)?,
        None => file::FileLayer::default(),
    };
    check_adapters(&file, config_file.as_deref())?;
    let layer = args
        .flags
        .clone()
        .combine(Layer::from_env(env))
        .combine(file.values);
    let mut s = layer.validate()?;
    make_paths_absolute(&mut s, cwd)?;
    s.adapters = file.adapters;
    s.agent_args = args.agent_args.clone();
    s.config_file = config_file;
    Ok(s)
}

/// Where `./ralph.yml` (when it exists, as for `ralph run` without `-c`) puts the run: its `workspace`
/// and `state_dir` values as written (`None` where it sets none, or an empty one). For the commands that
/// read a run without taking run options (`status`, `health`, `report`, `clean`), so that they find the
/// run `ralph run` made in the same directory.
///
/// # Errors
/// [`SettingsError`] when `./ralph.yml` exists but cannot be read or parsed (named with its line).
pub fn file_location() -> Result<(Option<PathBuf>, Option<PathBuf>), SettingsError> {
    let Some(path) = file::default_path() else {
        return Ok((None, None));
    };
    if path.is_dir() {
        return Ok((None, None));
    }
    let layer = file::load(&path)?.values;
    let value = |raw: Option<Raw>| {
        raw.map(|r| r.value)
            .filter(|v| !v.trim().is_empty())
            .map(PathBuf::from)
    };
    Ok((value(layer.workspace), value(layer.state_dir)))
}

/// The config file: `-c FILE`, which must be a file, else `./ralph.yml` when it exists.
fn config_path(given: Option<&Path>) -> Result<Option<PathBuf>, SettingsError> {
    match given {
        Some(p) if !p.is_file() => {
            let what = if p.is_dir() {
                "is a directory, not a config file"
            } else {
                "config file not found"
            };
            Err(SettingsError::new(format!("-c {}: {what}", p.display())))
        }
        Some(p) => Ok(Some(p.to_path_buf())),
        None => Ok(file::default_path()),
    }
}

/// The workspace (relative to `cwd`, an existing directory), the state directory (relative to the
/// workspace, not the workspace itself) and the prompt file (see [`resolve_prompt_path`]), absolute.
fn make_paths_absolute(s: &mut RunSettings, cwd: &Path) -> Result<(), SettingsError> {
    let workspace = cwd.join(&s.workspace);
    if !workspace.is_dir() {
        return Err(SettingsError::new(format!(
            "workspace {}: not a directory; create it or pass -C DIR",
            workspace.display()
        )));
    }
    s.workspace = workspace.canonicalize().unwrap_or(workspace);
    s.state_dir = s.workspace.join(&s.state_dir);
    if s.state_dir
        .canonicalize()
        .map(|d| d == s.workspace)
        .unwrap_or(s.state_dir == s.workspace)
    {
        return Err(SettingsError::new(format!(
            "state dir {}: it is the workspace itself; ralph needs a directory of its own (the default is {})",
            s.state_dir.display(),
            ralph_core::defaults::STATE_DIR
        )));
    }
    if !s.prompt_file.is_absolute() {
        s.prompt_file = resolve_prompt_path(&s.prompt_file, cwd, &s.workspace);
    }
    Ok(())
}

/// `adapters.<name>`: a known agent name, and a timeout within range.
fn check_adapters(file: &file::FileLayer, path: Option<&Path>) -> Result<(), SettingsError> {
    let at = path.map(|p| p.display().to_string()).unwrap_or_default();
    let mut known: Vec<&str> = ralph_agents::KNOWN_AGENTS.iter().map(|a| a.name).collect();
    known.push("command");
    for (name, adapter) in &file.adapters {
        if !known.contains(&name.as_str()) {
            let hint = file::did_you_mean(name, &known);
            return Err(SettingsError::new(format!(
                "{at}: unknown adapter `adapters.{name}`{hint}"
            )));
        }
        if let Some(t) = adapter.timeout
            && parse::duration_from_secs(t).is_none()
        {
            return Err(SettingsError::new(format!(
                "{at}: `adapters.{name}.timeout` is {t}; accepted: seconds from 0 to {}",
                parse::MAX_DURATION_SECS
            )));
        }
    }
    Ok(())
}

/// A relative prompt path is looked up in the current directory first, then in the workspace.
fn resolve_prompt_path(p: &Path, cwd: &Path, workspace: &Path) -> PathBuf {
    let in_cwd = cwd.join(p);
    if in_cwd.exists() {
        in_cwd
    } else {
        workspace.join(p)
    }
}

#[cfg(test)]
mod tests;
