//! The `ralph.yml` layer.

use super::{Kind, Layer, Raw, SETTINGS, SettingsError, Source};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Per-agent settings under `adapters.<name>` in `ralph.yml`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdapterConfig {
    /// `false` removes the agent from `auto` detection and refuses it by name.
    pub enabled: Option<bool>,
    /// Program (and arguments) to run instead of the default binary.
    pub command: Option<CommandSpec>,
    /// Extra arguments appended to the agent's argv.
    #[serde(default)]
    pub args: Vec<String>,
    /// Extra environment variables for the agent.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Iteration timeout for this agent, seconds.
    pub timeout: Option<f64>,
    /// Model name passed to the agent.
    pub model: Option<String>,
}

/// A command as a YAML string (`claude`) or list (`["node", "agent.js"]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    untagged,
    expecting = "`command` must be a program (a string) or a list of the program and its arguments (strings)"
)]
pub enum CommandSpec {
    /// A program name or path; no shell splitting.
    One(String),
    /// Program and arguments.
    Argv(Vec<String>),
}

impl CommandSpec {
    /// As an argv.
    pub fn argv(&self) -> Vec<String> {
        match self {
            CommandSpec::One(s) => vec![s.clone()],
            CommandSpec::Argv(v) => v.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

impl Scalar {
    fn into_string(self) -> String {
        match self {
            Scalar::Bool(b) => b.to_string(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Str(s) => s,
        }
    }
}

/// A parsed config file: the settings as given, each with its line, and the adapters.
#[derive(Debug, Default)]
pub struct FileLayer {
    pub(super) values: Layer,
    pub(super) adapters: BTreeMap<String, AdapterConfig>,
}

/// Every key `ralph.yml` accepts at the top level.
pub fn known_keys() -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = SETTINGS.iter().map(|s| s.key).collect();
    keys.push("adapters");
    keys
}

/// Reads and parses `path`.
///
/// # Errors
/// [`SettingsError`] naming the file and line: unreadable file, YAML syntax, an unknown key (with a
/// "did you mean" hint), a value of the wrong shape.
pub fn load(path: &Path) -> Result<FileLayer, SettingsError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        SettingsError::new(format!(
            "config file {}: cannot read it: {e}",
            path.display()
        ))
    })?;
    parse(&text, path)
}

pub(super) fn parse(text: &str, path: &Path) -> Result<FileLayer, SettingsError> {
    let doc: serde_norway::Value =
        serde_norway::from_str(text).map_err(|e| yaml_error(path, &e))?;
    let map = match doc {
        serde_norway::Value::Null => return Ok(FileLayer::default()),
        serde_norway::Value::Mapping(m) => m,
        _ => {
            return Err(SettingsError::new(format!(
                "config file {}: expected a mapping of settings (key: value)",
                path.display()
            )));
        }
    };
    let mut layer = FileLayer::default();
    for (k, v) in map {
        let key = match k {
            serde_norway::Value::String(s) => s,
            other => {
                return Err(SettingsError::new(format!(
                    "config file {}: keys must be strings, got {other:?}",
                    path.display()
                )));
            }
        };
        let line = line_of(text, &key);
        let at = || format!("{}:{}", path.display(), line.unwrap_or(0));
        if key == "adapters" {
            layer.adapters = parse_adapters(v, text, path, line)?;
            continue;
        }
        let Some(setting) = SETTINGS.iter().find(|s| s.key == key) else {
            let hint = did_you_mean(&key, &known_keys());
            return Err(SettingsError::new(format!(
                "{}: unknown key `{key}`{hint}",
                at()
            )));
        };
        if v.is_null() {
            continue;
        }
        // A list setting (`notify`) may be a YAML list; it is kept one value per line, as repeated flags
        // are.
        let v = match v {
            serde_norway::Value::Sequence(items) if matches!(setting.kind, Kind::List(_)) => {
                let urls: Result<Vec<String>, SettingsError> = items
                    .into_iter()
                    .map(|item| match item {
                        serde_norway::Value::String(s) => Ok(s),
                        _ => Err(SettingsError::new(format!(
                            "{}: `notify` must be a URL or a list of URLs (strings)",
                            at()
                        ))),
                    })
                    .collect();
                serde_norway::Value::String(urls?.join("\n"))
            }
            v => v,
        };
        let scalar: Scalar = serde_norway::from_value(v).map_err(|_| {
            SettingsError::new(format!(
                "{}: `{key}` must be a single value (string, number or boolean)",
                at()
            ))
        })?;
        if let Some(slot) = layer.values.slot(setting.key) {
            *slot = Some(Raw {
                value: scalar.into_string(),
                source: Source::File {
                    path: path.to_path_buf(),
                    line,
                    key: setting.key,
                },
            });
        }
    }
    Ok(layer)
}

/// `adapters:` one adapter at a time, so that an error names the adapter and its line.
fn parse_adapters(
    v: serde_norway::Value,
    text: &str,
    path: &Path,
    adapters_line: Option<usize>,
) -> Result<BTreeMap<String, AdapterConfig>, SettingsError> {
    let at = |line: Option<usize>| format!("{}:{}", path.display(), line.unwrap_or(0));
    let map = match v {
        serde_norway::Value::Null => return Ok(BTreeMap::new()),
        serde_norway::Value::Mapping(m) => m,
        _ => {
            return Err(SettingsError::new(format!(
                "{}: `adapters` must map agent names to their settings",
                at(adapters_line)
            )));
        }
    };
    let mut out = BTreeMap::new();
    for (name, value) in map {
        let name = match name {
            serde_norway::Value::String(n) => n,
            other => {
                return Err(SettingsError::new(format!(
                    "{}: adapter names must be strings, got {other:?}",
                    at(adapters_line)
                )));
            }
        };
        // The adapter's own line: the first indented `name:` after `adapters:`.
        let line = adapters_line.and_then(|start| {
            text.lines()
                .enumerate()
                .skip(start)
                .find(|(_, l)| {
                    l.starts_with([' ', '\t'])
                        && l.trim_start()
                            .strip_prefix(name.as_str())
                            .is_some_and(|r| r.trim_start().starts_with(':'))
                })
                .map(|(i, _)| i + 1)
        });
        let config: AdapterConfig = serde_norway::from_value(value).map_err(|e| {
            SettingsError::new(format!(
                "{}: `adapters.{name}`: {e}; an adapter accepts enabled (bool), command (string or list), args (list), env (map), timeout (seconds), model (string)",
                at(line.or(adapters_line))
            ))
        })?;
        out.insert(name, config);
    }
    Ok(out)
}

fn yaml_error(path: &Path, e: &serde_norway::Error) -> SettingsError {
    let at = e
        .location()
        .map(|l| format!(":{}:{}", l.line(), l.column()))
        .unwrap_or_default();
    SettingsError::new(format!(
        "config file {}{at}: invalid YAML: {e}",
        path.display()
    ))
}

/// The 1-based line of a top-level `key:` in `text`.
fn line_of(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let t = l.trim_end();
            !t.starts_with([' ', '\t'])
                && t.strip_prefix(key)
                    .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
        .map(|i| i + 1)
}

/// `; did you mean `x`?` for the closest known key, or nothing.
pub fn did_you_mean(word: &str, candidates: &[&str]) -> String {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(word, c), *c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| format!("; did you mean `{c}`?"))
        .unwrap_or_else(|| format!("; known keys: {}", candidates.join(", ")))
}

/// The default config file: `./ralph.yml` when it exists.
pub fn default_path() -> Option<PathBuf> {
    // A `ralph.yml` that is a directory is passed on so that loading it fails with a clear message.
    let p = PathBuf::from("ralph.yml");
    p.exists().then_some(p)
}
