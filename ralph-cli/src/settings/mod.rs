//! Run settings: three all-optional layers (flags, environment, config file) combined once, with the
//! precedence flag > environment > config file > default (SPEC §2).
//!
//! Every value is validated with a message that names where it came from (`--max-iterations`,
//! `RALPH_MAX_ITERATIONS`, `ralph.yml:3`) and what is accepted. Invalid settings exit with code 2.

pub mod file;
pub mod parse;

use crate::cli::RunArgs;
pub use file::{AdapterConfig, CommandSpec};
use parse::{parse_bool, parse_duration, parse_f64, parse_u64};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

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

/// An invalid setting; the message names the source and the accepted values.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(pub String);

impl SettingsError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        SettingsError(message.into())
    }
}

/// One run setting: its `ralph.yml` key, flag and environment variables (first wins).
pub struct Setting {
    /// `ralph.yml` key.
    pub key: &'static str,
    /// Flag.
    pub flag: &'static str,
    /// Environment variables, in order of precedence.
    pub env: &'static [&'static str],
}

/// Every run setting (SPEC §2).
pub const SETTINGS: &[Setting] = &[
    Setting {
        key: "agent",
        flag: "--agent",
        env: &["RALPH_AGENT"],
    },
    Setting {
        key: "prompt_file",
        flag: "--prompt",
        env: &["RALPH_PROMPT_FILE"],
    },
    Setting {
        key: "prompt_text",
        flag: "--prompt-text",
        env: &["RALPH_PROMPT_TEXT"],
    },
    Setting {
        key: "max_iterations",
        flag: "--max-iterations",
        env: &["RALPH_MAX_ITERATIONS"],
    },
    Setting {
        key: "max_runtime",
        flag: "--max-runtime",
        env: &["RALPH_MAX_RUNTIME"],
    },
    Setting {
        key: "max_tokens",
        flag: "--max-tokens",
        env: &["RALPH_MAX_TOKENS"],
    },
    Setting {
        key: "max_cost",
        flag: "--max-cost",
        env: &["RALPH_MAX_COST"],
    },
    Setting {
        key: "checkpoint_interval",
        flag: "--checkpoint-interval",
        env: &["RALPH_CHECKPOINT_INTERVAL"],
    },
    Setting {
        key: "no_git",
        flag: "--no-git",
        env: &["RALPH_NO_GIT"],
    },
    Setting {
        key: "checkpoint_ref",
        flag: "--checkpoint-ref",
        env: &["RALPH_CHECKPOINT_REF"],
    },
    Setting {
        key: "git_init",
        flag: "--git-init",
        env: &["RALPH_GIT_INIT"],
    },
    Setting {
        key: "completion_promise",
        flag: "--completion-promise",
        env: &["RALPH_COMPLETION_PROMISE"],
    },
    Setting {
        key: "min_iterations",
        flag: "--min-iterations",
        env: &["RALPH_MIN_ITERATIONS"],
    },
    Setting {
        key: "retry_delay",
        flag: "--retry-delay",
        env: &["RALPH_RETRY_DELAY"],
    },
    Setting {
        key: "max_retries",
        flag: "--max-retries",
        env: &["RALPH_MAX_RETRIES"],
    },
    Setting {
        key: "iteration_timeout",
        flag: "--iteration-timeout",
        env: &["RALPH_ITERATION_TIMEOUT"],
    },
    Setting {
        key: "idle_timeout",
        flag: "--idle-timeout",
        env: &["RALPH_IDLE_TIMEOUT"],
    },
    Setting {
        key: "verify",
        flag: "--verify",
        env: &["RALPH_VERIFY"],
    },
    Setting {
        key: "stall_iterations",
        flag: "--stall-iterations",
        env: &["RALPH_STALL_ITERATIONS"],
    },
    Setting {
        key: "loop_detection",
        flag: "--loop-detection",
        env: &["RALPH_LOOP_DETECTION"],
    },
    Setting {
        key: "rate_limit_wait",
        flag: "--rate-limit-wait",
        env: &["RALPH_RATE_LIMIT_WAIT"],
    },
    Setting {
        key: "verbose",
        flag: "--verbose",
        env: &["RALPH_VERBOSE"],
    },
    Setting {
        key: "dry_run",
        flag: "--dry-run",
        env: &["RALPH_DRY_RUN"],
    },
    Setting {
        key: "fresh",
        flag: "--fresh",
        env: &["RALPH_FRESH"],
    },
    Setting {
        key: "no_preamble",
        flag: "--no-preamble",
        env: &["RALPH_NO_PREAMBLE"],
    },
    Setting {
        key: "enable_metrics",
        flag: "--metrics",
        env: &["RALPH_ENABLE_METRICS"],
    },
    Setting {
        key: "metrics_port",
        flag: "--metrics-port",
        env: &["RALPH_METRICS_PORT"],
    },
    Setting {
        key: "metrics_addr",
        flag: "--metrics-addr",
        env: &["RALPH_METRICS_ADDR"],
    },
    Setting {
        key: "notify",
        flag: "--notify",
        env: &["RALPH_NOTIFY_URL"],
    },
    Setting {
        key: "log_level",
        flag: "--log-level",
        env: &["RALPH_LOG_LEVEL", "LOG_LEVEL", "RUST_LOG"],
    },
    Setting {
        key: "log_format",
        flag: "--log-format",
        env: &["RALPH_LOG_FORMAT"],
    },
    Setting {
        key: "state_dir",
        flag: "--state-dir",
        env: &["RALPH_STATE_DIR"],
    },
    Setting {
        key: "workspace",
        flag: "--workspace",
        env: &["RALPH_WORKSPACE"],
    },
];

fn setting(key: &str) -> &'static Setting {
    SETTINGS
        .iter()
        .find(|s| s.key == key)
        .expect("known setting key")
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The resolved settings of `ralph run`.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSettings {
    /// Agent name or a comma list (`auto`, `claude`, `command`).
    pub agent: String,
    /// Prompt file, when no prompt text is given.
    pub prompt_file: PathBuf,
    /// Inline prompt text.
    pub prompt_text: Option<String>,
    /// Agent runs per run; `None` = no limit.
    pub max_iterations: Option<u64>,
    /// Wall clock per run; `None` = no limit.
    pub max_runtime: Option<Duration>,
    /// Tokens per run; `None` = no limit.
    pub max_tokens: Option<u64>,
    /// USD per run; `None` = no limit.
    pub max_cost: Option<f64>,
    /// Checkpoint every N iterations; 0 = off.
    pub checkpoint_interval: u64,
    /// Checkpoints disabled.
    pub no_git: bool,
    /// Commit checkpoints to `refs/ralph/checkpoints/<run>` instead of the current branch.
    pub checkpoint_ref: bool,
    /// Create a git repository in the workspace when there is none.
    pub git_init: bool,
    /// Completion promise; empty = disabled.
    pub completion_promise: String,
    /// Minimum iterations before a completion claim is accepted.
    pub min_iterations: u64,
    /// Shell command (`sh -c`) that must exit 0 for a completion claim to count; `None` = no check.
    pub verify: Option<String>,
    /// Backoff base.
    pub retry_delay: Duration,
    /// Consecutive failures tolerated.
    pub max_retries: u32,
    /// Per-iteration timeout; `None` = none.
    pub iteration_timeout: Option<Duration>,
    /// Idle timeout; `None` = none.
    pub idle_timeout: Option<Duration>,
    /// Stop after this many successful iterations in a row that changed nothing in the workspace; 0 = off.
    pub stall_iterations: u32,
    /// Stop after this many near-identical final answers in a row; 0 = off, else at least 2.
    pub loop_detection: u32,
    /// Wait after a usage limit that gave no reset time (doubles per rate-limited attempt in a row, up
    /// to 30 min).
    pub rate_limit_wait: Duration,
    /// Stream the agent's output.
    pub verbose: bool,
    /// Print the plan only.
    pub dry_run: bool,
    /// Start a new run.
    pub fresh: bool,
    /// Send the prompt without the preamble.
    pub no_preamble: bool,
    /// Serve metrics.
    pub enable_metrics: bool,
    /// Metrics port.
    pub metrics_port: u16,
    /// Metrics address.
    pub metrics_addr: String,
    /// URLs that get a JSON summary when the run ends or waits on a usage limit (validated: http or
    /// https); empty = no notifications. See [`crate::notify`].
    pub notify: Vec<String>,
    /// Log filter (tracing `EnvFilter` syntax, lowercased levels).
    pub log_level: String,
    /// Log format.
    pub log_format: LogFormat,
    /// Workspace (absolute).
    pub workspace: PathBuf,
    /// State directory (absolute).
    pub state_dir: PathBuf,
    /// Per-agent settings from the config file.
    pub adapters: BTreeMap<String, AdapterConfig>,
    /// Arguments after `--`.
    pub agent_args: Vec<String>,
    /// The config file used, if any.
    pub config_file: Option<PathBuf>,
    /// Where each non-default setting came from, by key.
    pub sources: BTreeMap<&'static str, Source>,
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

/// Default per-iteration timeout, seconds. Claude Code iterations that edit and test code commonly take
/// 5 to 20 minutes; 30 minutes leaves room without letting a hung agent burn the night.
pub const DEFAULT_ITERATION_TIMEOUT_SECS: u64 = 1800;
/// Default wait after a usage limit without a reset time, seconds.
pub const DEFAULT_RATE_LIMIT_WAIT_SECS: u64 = 60;
/// Default idle timeout, seconds: an agent silent on stdout and stderr for 10 minutes is treated as hung.
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 600;

fn flag_layer(args: &RunArgs) -> BTreeMap<&'static str, Raw> {
    let mut out = BTreeMap::new();
    let mut put = |key: &'static str, value: Option<String>| {
        if let Some(value) = value {
            out.insert(
                key,
                Raw {
                    value,
                    source: Source::Flag(setting(key).flag),
                },
            );
        }
    };
    let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
    let flag = |b: bool| b.then(|| "true".to_string());
    put("agent", args.agent.clone());
    put("prompt_file", path(&args.prompt_file));
    put("prompt_text", args.prompt_text.clone());
    put("max_iterations", args.max_iterations.clone());
    put("max_runtime", args.max_runtime.clone());
    put("max_tokens", args.max_tokens.clone());
    put("max_cost", args.max_cost.clone());
    put("checkpoint_interval", args.checkpoint_interval.clone());
    put("no_git", flag(args.no_git));
    put("checkpoint_ref", flag(args.checkpoint_ref));
    put("git_init", flag(args.git_init));
    put("completion_promise", args.completion_promise.clone());
    put("min_iterations", args.min_iterations.clone());
    put("verify", args.verify.clone());
    put("retry_delay", args.retry_delay.clone());
    put("max_retries", args.max_retries.clone());
    put("iteration_timeout", args.iteration_timeout.clone());
    put("idle_timeout", args.idle_timeout.clone());
    put("stall_iterations", args.stall_iterations.clone());
    put("loop_detection", args.loop_detection.clone());
    put("rate_limit_wait", args.rate_limit_wait.clone());
    put("verbose", flag(args.verbose));
    put("dry_run", flag(args.dry_run));
    put("fresh", flag(args.fresh));
    put("no_preamble", flag(args.no_preamble));
    put("enable_metrics", flag(args.metrics));
    put("metrics_port", args.metrics_port.clone());
    put("metrics_addr", args.metrics_addr.clone());
    // Repeated `--notify` flags become one list, one URL per line (split again in `parse_notify`).
    put(
        "notify",
        (!args.notify.is_empty()).then(|| args.notify.join("\n")),
    );
    put("log_level", args.log_level.clone());
    put("log_format", args.log_format.clone());
    put("state_dir", path(&args.state_dir));
    put("workspace", path(&args.workspace));
    out
}

fn env_layer(env: &dyn Fn(&str) -> Option<String>) -> BTreeMap<&'static str, Raw> {
    let mut out = BTreeMap::new();
    for s in SETTINGS {
        if let Some((var, value)) = s.env.iter().find_map(|v| env(v).map(|val| (*v, val))) {
            out.insert(
                s.key,
                Raw {
                    value,
                    source: Source::Env(var),
                },
            );
        }
    }
    out
}

/// `RALPH_*` variables of ralph's own making, not settings.
const INTERNAL_VARS: &[&str] = &["RALPH_AGENT_OF", "RALPH_PID1_WORKER"];

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
    let config_file = match &args.config {
        Some(p) if !p.is_file() => {
            let what = if p.is_dir() {
                "is a directory, not a config file"
            } else {
                "config file not found"
            };
            return Err(SettingsError::new(format!("-c {}: {what}", p.display())));
        }
        Some(p) => Some(p.clone()),
        None => file::default_path(),
    };
    let file = match &config_file {
        Some(p) => file::load(p)?,
        None => file::FileLayer::default(),
    };
    check_adapters(&file, config_file.as_deref())?;
    let flags = flag_layer(args);
    let envs = env_layer(env);
    let pick = |key: &str| {
        flags
            .get(key)
            .or_else(|| envs.get(key))
            .or_else(|| file.values.get(key))
            .cloned()
    };

    let mut sources = BTreeMap::new();
    let mut get = |key: &'static str| {
        let raw = pick(key);
        if let Some(r) = &raw {
            sources.insert(key, r.source.clone());
        }
        raw
    };

    let agent = get("agent")
        .map(|r| r.value.trim().to_string())
        .unwrap_or_else(|| "auto".into());
    if agent.is_empty() {
        return Err(SettingsError::new(
            "the agent name is empty; use auto, claude or command",
        ));
    }
    let prompt_file = get("prompt_file")
        .map(|r| PathBuf::from(r.value))
        .unwrap_or_else(|| "PROMPT.md".into());
    let prompt_text = get("prompt_text").map(|r| r.value);
    let no_limit_u64 = |r: Option<Raw>, default: u64| -> Result<Option<u64>, SettingsError> {
        Ok(match r {
            Some(r) => {
                Some(parse_u64(&r, "a whole number >= 0 (0 = no limit)")?).filter(|n| *n > 0)
            }
            None => Some(default),
        })
    };
    let max_iterations = no_limit_u64(get("max_iterations"), 100)?;
    let max_tokens = no_limit_u64(get("max_tokens"), 1_000_000)?;
    let opt_duration = |r: Option<Raw>, default: u64| -> Result<Option<Duration>, SettingsError> {
        Ok(match r {
            Some(r) => Some(parse_duration(&r)?).filter(|d| !d.is_zero()),
            None => Some(Duration::from_secs(default)),
        })
    };
    let max_runtime = opt_duration(get("max_runtime"), 14_400)?;
    let max_cost = match get("max_cost") {
        Some(r) => Some(parse_f64(&r)?).filter(|c| *c > 0.0),
        None => Some(50.0),
    };
    let checkpoint_interval = match get("checkpoint_interval") {
        Some(r) => parse_u64(&r, "a whole number >= 0 (0 = off)")?,
        None => 5,
    };
    let bool_of = |r: Option<Raw>| {
        r.map(|r| parse_bool(&r))
            .transpose()
            .map(|b| b.unwrap_or(false))
    };
    let no_git = bool_of(get("no_git"))?;
    let checkpoint_ref = bool_of(get("checkpoint_ref"))?;
    let git_init = bool_of(get("git_init"))?;
    let completion_promise = get("completion_promise")
        .map(|r| r.value.trim().to_string())
        .unwrap_or_else(|| "LOOP_COMPLETE".into());
    if completion_promise.contains('\n') {
        return Err(SettingsError::new(
            "the completion promise must be a single line",
        ));
    }
    let min_iterations = match get("min_iterations") {
        Some(r) => parse_u64(&r, "a whole number >= 0")?,
        None => 0,
    };
    let verify = get("verify")
        .map(|r| r.value.trim().to_string())
        .filter(|v| !v.is_empty());
    let retry_delay = match get("retry_delay") {
        Some(r) => parse_duration(&r)?,
        None => Duration::from_secs(2),
    };
    let max_retries = match get("max_retries") {
        Some(r) => {
            let n = parse_u64(&r, "a whole number from 0 to 1000")?;
            if n > 1000 {
                return Err(SettingsError::new(format!(
                    "{}: {n} is out of range; accepted: a whole number from 0 to 1000",
                    r.source
                )));
            }
            n as u32
        }
        None => 5,
    };
    let iteration_timeout = opt_duration(get("iteration_timeout"), DEFAULT_ITERATION_TIMEOUT_SECS)?;
    let idle_timeout = opt_duration(get("idle_timeout"), DEFAULT_IDLE_TIMEOUT_SECS)?;
    let count = |r: Option<Raw>, min: u64| -> Result<u32, SettingsError> {
        let Some(r) = r else { return Ok(0) };
        let accepted = format!("0 (off) or a whole number from {min} to 10000");
        let n = parse_u64(&r, &accepted)?;
        if n != 0 && !(min..=10_000).contains(&n) {
            return Err(SettingsError::new(format!(
                "{}: {n} is out of range; accepted: {accepted}",
                r.source
            )));
        }
        Ok(n as u32)
    };
    let stall_iterations = count(get("stall_iterations"), 1)?;
    let loop_detection = count(get("loop_detection"), 2)?;
    let rate_limit_wait = match get("rate_limit_wait") {
        Some(r) => parse_duration(&r)?,
        None => Duration::from_secs(DEFAULT_RATE_LIMIT_WAIT_SECS),
    };
    let verbose = bool_of(get("verbose"))?;
    let dry_run = bool_of(get("dry_run"))?;
    let fresh = bool_of(get("fresh"))?;
    let no_preamble = bool_of(get("no_preamble"))?;
    let enable_metrics = bool_of(get("enable_metrics"))?;
    let metrics_port = match get("metrics_port") {
        Some(r) => {
            let n = parse_u64(&r, "a port number from 1 to 65535")?;
            u16::try_from(n).ok().filter(|p| *p > 0).ok_or_else(|| {
                SettingsError::new(format!(
                    "{}: {n} is not a port; accepted: a port number from 1 to 65535",
                    r.source
                ))
            })?
        }
        None => 8080,
    };
    let metrics_addr = match get("metrics_addr") {
        Some(r) => {
            r.value.parse::<std::net::IpAddr>().map_err(|_| {
                SettingsError::new(format!(
                    "{}: `{}` is not an IP address; accepted: e.g. 127.0.0.1 or 0.0.0.0",
                    r.source, r.value
                ))
            })?;
            r.value
        }
        None => "127.0.0.1".into(),
    };
    let notify = match get("notify") {
        Some(r) => parse::parse_notify(&r)?,
        None => Vec::new(),
    };
    let log_level = match get("log_level") {
        Some(r) => parse::parse_log_level(&r)?,
        None => "info".into(),
    };
    let log_format = match get("log_format") {
        Some(r) => match r.value.trim().to_ascii_lowercase().as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            _ => {
                return Err(SettingsError::new(format!(
                    "{}: `{}` is not a log format; accepted: text, json",
                    r.source, r.value
                )));
            }
        },
        None => LogFormat::Text,
    };
    let workspace = match get("workspace") {
        Some(r) => cwd.join(&r.value),
        None => cwd.to_path_buf(),
    };
    if !workspace.is_dir() {
        return Err(SettingsError::new(format!(
            "workspace {}: not a directory; create it or pass -C DIR",
            workspace.display()
        )));
    }
    let workspace = workspace.canonicalize().unwrap_or(workspace);
    let state_dir = match get("state_dir") {
        Some(r) => workspace.join(r.value),
        None => workspace.join(".agent"),
    };
    if state_dir
        .canonicalize()
        .map(|d| d == workspace)
        .unwrap_or(state_dir == workspace)
    {
        return Err(SettingsError::new(format!(
            "state dir {}: it is the workspace itself; ralph needs a directory of its own (the default is .agent)",
            state_dir.display()
        )));
    }
    let prompt_file = if prompt_file.is_absolute() {
        prompt_file
    } else {
        resolve_prompt_path(&prompt_file, cwd, &workspace)
    };
    Ok(RunSettings {
        agent,
        prompt_file,
        prompt_text,
        max_iterations,
        max_runtime,
        max_tokens,
        max_cost,
        checkpoint_interval,
        no_git,
        checkpoint_ref,
        git_init,
        completion_promise,
        min_iterations,
        verify,
        retry_delay,
        max_retries,
        iteration_timeout,
        idle_timeout,
        stall_iterations,
        loop_detection,
        rate_limit_wait,
        verbose,
        dry_run,
        fresh,
        no_preamble,
        enable_metrics,
        metrics_port,
        metrics_addr,
        notify,
        log_level,
        log_format,
        workspace,
        state_dir,
        adapters: file.adapters,
        agent_args: args.agent_args.clone(),
        config_file,
        sources,
    })
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
