//! Every run setting, each defined once: its `ralph.yml` key (the field name), type, parser, flag,
//! environment variables, default and help.
//!
//! The `settings!` invocation below generates from these definitions:
//! - [`SETTINGS`], the table that `--help` (see [`super::flags`]), the environment and config file layers,
//!   `ralph init`'s `ralph.yml` and the README's settings table (see [`super::docs`]) are made from;
//! - [`Layer`], one layer of given values (flags, environment or config file) with a field per setting;
//! - [`RunSettings`], the validated settings, with a field per setting of the setting's type.
//!
//! Defaults the engine shares live in [`ralph_core::defaults`]; the definitions refer to them.

use super::{AdapterConfig, Combine, LogFormat, Raw, SettingsError, Source, parse};
use DefaultValue::{Described, Float, Int, Text, Unset};
use Kind::{List, Path, Switch, Value};
use ralph_core::defaults;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// How a setting is given on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A switch without a value (`--verbose`): `true` when given.
    Switch,
    /// A flag with a value; the text names the value in `--help` (`--max-iterations N`).
    Value(&'static str),
    /// A flag with a path (which need not be UTF-8 on the command line).
    Path(&'static str),
    /// A flag that may be repeated (`--notify URL --notify URL`); the values are kept one per line.
    List(&'static str),
}

impl Kind {
    /// The value's name in `--help` and the README, if the flag takes a value.
    pub fn value_name(self) -> Option<&'static str> {
        match self {
            Switch => None,
            Value(name) | Path(name) | List(name) => Some(name),
        }
    }
}

/// A setting's default.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DefaultValue {
    /// None: the setting is off (or empty) until given.
    Unset,
    /// Text, parsed like a given value.
    Text(&'static str),
    /// A whole number, parsed like a given value.
    Int(u64),
    /// A number, written with its fraction (`50.0`) and parsed like a given value.
    Float(f64),
    /// `value`, parsed like a given value, and described as `shown` in the documentation (the workspace's
    /// `.` is "current directory").
    Described {
        /// The value.
        value: &'static str,
        /// Its description.
        shown: &'static str,
    },
}

impl DefaultValue {
    /// The default as it would be written in `ralph.yml` or given to a flag; `None` when unset.
    pub fn value(self) -> Option<String> {
        match self {
            Unset => None,
            Text(text) | Described { value: text, .. } => Some(text.to_string()),
            Int(n) => Some(n.to_string()),
            Float(x) => Some(format!("{x:?}")),
        }
    }

    /// The default as `--help` and the README show it; `None` when unset.
    pub fn shown(self) -> Option<String> {
        match self {
            Described { shown, .. } => Some(shown.to_string()),
            other => other.value(),
        }
    }
}

/// The definition of one run setting.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// `ralph.yml` key, also the field of [`Layer`] and [`RunSettings`] and the flag's clap id.
    pub key: &'static str,
    /// Long flag, with its dashes (`--max-iterations`).
    pub flag: &'static str,
    /// Short flag, if any.
    pub short: Option<char>,
    /// Another long name of the flag, without dashes, shown in `--help`.
    pub alias: Option<&'static str>,
    /// Switch or value, and the value's name.
    pub kind: Kind,
    /// Environment variables, in order of precedence (the first one set wins).
    pub env: &'static [&'static str],
    /// Default.
    pub default: DefaultValue,
    /// One sentence for `--help`, `ralph.yml` and the README, without the default and the variables;
    /// `{agents}` stands for the known agents' names.
    pub help: &'static str,
    /// More for the README only, appended to `help` (starts with its punctuation).
    pub details: &'static str,
}

impl Setting {
    /// The fields every definition sets for itself, as placeholders.
    const BASE: Setting = Setting {
        key: "",
        flag: "",
        short: None,
        alias: None,
        kind: Switch,
        env: &[],
        default: Unset,
        help: "",
        details: "",
    };
}

/// Defines the settings. Each entry is `/// docs` (of the [`RunSettings`] field), `key: Type = parser`,
/// and the [`Setting`] fields other than `key` in braces.
macro_rules! settings {
    (
        $(
            $(#[doc = $doc:literal])*
            $key:ident: $ty:ty = $parse:path {
                $($field:ident: $value:expr),* $(,)?
            }
        )*
    ) => {
        /// One definition per setting, named after its key.
        mod def {
            #![allow(non_upper_case_globals)]
            use super::*;
            $(
                // A definition that sets every field leaves nothing to the update.
                #[allow(clippy::needless_update)]
                pub(super) const $key: Setting = Setting {
                    key: stringify!($key),
                    $($field: $value,)*
                    ..Setting::BASE
                };
            )*
        }

        /// Every run setting (SPEC §2), in the order `--help`, the dry-run plan and the README list them.
        pub const SETTINGS: &[Setting] = &[$(def::$key),*];

        /// One layer of settings as given (on the command line, in the environment or in the config
        /// file): a field per setting, `None` where the layer says nothing. Values stay text until the
        /// layers are combined, so that only the value that wins is validated (a `RUST_LOG` that ralph
        /// cannot read does no harm when `--log-level` is given).
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct Layer {
            $(
                #[doc = concat!("`", stringify!($key), "`.")]
                pub $key: Option<Raw>,
            )*
        }

        impl Combine for Layer {
            fn combine(self, other: Self) -> Self {
                Layer {
                    $($key: self.$key.combine(other.$key),)*
                }
            }
        }

        impl Layer {
            /// The field of the setting `key`; `None` for a key that is no setting.
            pub fn slot(&mut self, key: &str) -> Option<&mut Option<Raw>> {
                match key {
                    $(stringify!($key) => Some(&mut self.$key),)*
                    _ => None,
                }
            }

            /// Validates every setting, in [`SETTINGS`] order: this layer's value, else the default.
            /// Paths are as given; `resolve` makes them absolute and fills the fields that are no
            /// settings.
            pub(super) fn validate(self) -> Result<RunSettings, SettingsError> {
                let mut sources = BTreeMap::new();
                Ok(RunSettings {
                    $($key: pick(self.$key, &def::$key, $parse, &mut sources)?,)*
                    adapters: BTreeMap::new(),
                    agent_args: Vec::new(),
                    config_file: None,
                    sources,
                })
            }
        }

        /// The resolved settings of `ralph run`.
        #[derive(Debug, Clone, PartialEq)]
        pub struct RunSettings {
            $(
                $(#[doc = $doc])*
                pub $key: $ty,
            )*
            /// Per-agent settings from the config file.
            pub adapters: BTreeMap<String, AdapterConfig>,
            /// Arguments after `--`.
            pub agent_args: Vec<String>,
            /// The config file used, if any.
            pub config_file: Option<PathBuf>,
            /// Where each non-default setting came from, by key.
            pub sources: BTreeMap<&'static str, Source>,
        }
    };
}

/// The value of `setting`: `given` (its source recorded in `sources`), else the default; `T::default()`
/// for a setting without one.
fn pick<T: Default>(
    given: Option<Raw>,
    setting: &Setting,
    parse: fn(&Raw) -> Result<T, SettingsError>,
    sources: &mut BTreeMap<&'static str, Source>,
) -> Result<T, SettingsError> {
    let raw = match given {
        Some(raw) => {
            sources.insert(setting.key, raw.source.clone());
            raw
        }
        None => match setting.default.value() {
            Some(value) => Raw {
                value,
                source: Source::Default,
            },
            None => return Ok(T::default()),
        },
    };
    parse(&raw)
}

settings! {
    /// Agent name or a comma list (fallback chain); `auto` is the first installed agent.
    agent: String = parse::agent {
        flag: "--agent",
        short: Some('a'),
        kind: Value("NAME"),
        env: &["RALPH_AGENT"],
        default: Text("auto"),
        help: "Agent: {agents}, command, auto (the first installed), or a comma list (fallback chain)",
    }
    /// Prompt file, when no prompt text is given (absolute).
    prompt_file: PathBuf = parse::file_path {
        flag: "--prompt",
        short: Some('P'),
        alias: Some("prompt-file"),
        kind: Path("FILE"),
        env: &["RALPH_PROMPT_FILE"],
        default: Text("PROMPT.md"),
        help: "Task prompt file, re-read every iteration",
        details: "; may be read-only. Relative paths: current directory first, then the workspace",
    }
    /// Inline prompt text.
    prompt_text: Option<String> = parse::some_text {
        flag: "--prompt-text",
        short: Some('p'),
        kind: Value("TEXT"),
        env: &["RALPH_PROMPT_TEXT"],
        help: "Inline task prompt instead of a file",
    }
    /// Agent runs per run; `None` = no limit.
    max_iterations: Option<u64> = parse::limit_u64 {
        flag: "--max-iterations",
        short: Some('i'),
        kind: Value("N"),
        env: &["RALPH_MAX_ITERATIONS"],
        default: Int(defaults::MAX_ITERATIONS),
        help: "Agent runs per run, 0 = no limit",
    }
    /// Wall clock per run; `None` = no limit.
    max_runtime: Option<Duration> = parse::limit_duration {
        flag: "--max-runtime",
        short: Some('t'),
        kind: Value("SECS"),
        env: &["RALPH_MAX_RUNTIME"],
        default: Int(defaults::MAX_RUNTIME_SECS),
        help: "Wall-clock seconds per run (also `30m`, `4h`), 0 = no limit",
        details: "; interrupts a running agent",
    }
    /// Tokens per run; `None` = no limit.
    max_tokens: Option<u64> = parse::limit_u64 {
        flag: "--max-tokens",
        kind: Value("N"),
        env: &["RALPH_MAX_TOKENS"],
        default: Int(defaults::MAX_TOKENS),
        help: "Tokens per run (input + cache writes + output), 0 = no limit",
        details: "; cache reads are shown but not counted (agents re-read their cached context every \
                  turn at a tenth of the price); checked as usage arrives",
    }
    /// USD per run; `None` = no limit.
    max_cost: Option<f64> = parse::limit_usd {
        flag: "--max-cost",
        kind: Value("USD"),
        env: &["RALPH_MAX_COST"],
        default: Float(defaults::MAX_COST_USD),
        help: "USD per run, 0 = no limit",
        details: "; the agent's own figure (Claude Code reports `total_cost_usd`)",
    }
    /// Checkpoint every N iterations; 0 = off.
    checkpoint_interval: u64 = parse::interval {
        flag: "--checkpoint-interval",
        kind: Value("N"),
        env: &["RALPH_CHECKPOINT_INTERVAL"],
        default: Int(defaults::CHECKPOINT_INTERVAL),
        help: "Git checkpoint every N iterations and at the end of the run, 0 = off",
    }
    /// Checkpoints disabled.
    no_git: bool = parse::boolean {
        flag: "--no-git",
        env: &["RALPH_NO_GIT"],
        default: Text("false"),
        help: "Disable git checkpoints",
    }
    /// Commit checkpoints to `refs/ralph/checkpoints/<run>` instead of the current branch.
    checkpoint_ref: bool = parse::boolean {
        flag: "--checkpoint-ref",
        env: &["RALPH_CHECKPOINT_REF"],
        default: Text("false"),
        help: "Commit checkpoints to `refs/ralph/checkpoints/<run>` instead of the current branch \
               (branch, HEAD and index untouched)",
    }
    /// Create a git repository in the workspace when there is none.
    git_init: bool = parse::boolean {
        flag: "--git-init",
        env: &["RALPH_GIT_INIT"],
        default: Text("false"),
        help: "Create a git repository in the workspace when it is not in one",
    }
    /// Completion promise; empty = disabled.
    completion_promise: String = parse::promise {
        flag: "--completion-promise",
        kind: Value("WORD"),
        env: &["RALPH_COMPLETION_PROMISE"],
        default: Text(defaults::COMPLETION_PROMISE),
        help: "Completion promise the agent prints when done; empty disables it",
    }
    /// Minimum iterations before a completion claim is accepted.
    min_iterations: u64 = parse::whole {
        flag: "--min-iterations",
        kind: Value("N"),
        env: &["RALPH_MIN_ITERATIONS"],
        default: Int(defaults::MIN_ITERATIONS),
        help: "Completion claims before this iteration are rejected",
    }
    /// Backoff base.
    retry_delay: Duration = parse::duration {
        flag: "--retry-delay",
        kind: Value("SECS"),
        env: &["RALPH_RETRY_DELAY"],
        default: Int(defaults::RETRY_DELAY_SECS),
        help: "Seconds, base of the exponential backoff after a failed iteration",
        details: " (doubles per failure, ±20 % jitter, capped at 300 s)",
    }
    /// Consecutive failures tolerated.
    max_retries: u32 = parse::retries {
        flag: "--max-retries",
        kind: Value("N"),
        env: &["RALPH_MAX_RETRIES"],
        default: Int(defaults::MAX_RETRIES as u64),
        help: "Consecutive failed iterations tolerated before the run stops",
        details: " (exit 1)",
    }
    /// Per-iteration timeout; `None` = none.
    iteration_timeout: Option<Duration> = parse::limit_duration {
        flag: "--iteration-timeout",
        kind: Value("SECS"),
        env: &["RALPH_ITERATION_TIMEOUT"],
        default: Int(defaults::ITERATION_TIMEOUT_SECS),
        help: "Wall-clock seconds for one agent run, 0 = none",
        details: "; a timeout is a failed iteration; `adapters.<name>.timeout` overrides it per agent",
    }
    /// Idle timeout; `None` = none.
    idle_timeout: Option<Duration> = parse::limit_duration {
        flag: "--idle-timeout",
        kind: Value("SECS"),
        env: &["RALPH_IDLE_TIMEOUT"],
        default: Int(defaults::IDLE_TIMEOUT_SECS),
        help: "Seconds without any agent output before it counts as hung, 0 = none",
        details: "; a hung agent is a failed iteration",
    }
    /// Shell command (`sh -c`) that must exit 0 for a completion claim to count; `None` = no check.
    verify: Option<String> = parse::optional_text {
        flag: "--verify",
        kind: Value("CMD"),
        env: &["RALPH_VERIFY"],
        help: "Shell command run in the workspace when the agent claims completion; the claim counts \
               only if it exits 0, else its output tail is fed back in the next prompt",
        details: "; see [Verifying completion](#verifying-completion)",
    }
    /// Stop after this many successful iterations in a row that changed nothing in the workspace; 0 = off.
    stall_iterations: u32 = parse::stall_count {
        flag: "--stall-iterations",
        kind: Value("N"),
        env: &["RALPH_STALL_ITERATIONS"],
        default: Int(0),
        help: "Stop (exit 3) after N successful iterations in a row that changed nothing in the \
               workspace and did not move HEAD, 0 = off",
        details: "; see [Stall and loop detection](#stall-and-loop-detection)",
    }
    /// Stop after this many near-identical final answers in a row; 0 = off, else at least 2.
    loop_detection: u32 = parse::loop_count {
        flag: "--loop-detection",
        kind: Value("N"),
        env: &["RALPH_LOOP_DETECTION"],
        default: Int(0),
        help: "Stop (exit 3) after N (at least 2) near-identical final answers in a row, 0 = off",
    }
    /// Wait after a usage limit that gave no reset time (doubles per rate-limited attempt in a row, up
    /// to 30 min).
    rate_limit_wait: Duration = parse::duration {
        flag: "--rate-limit-wait",
        kind: Value("SECS"),
        env: &["RALPH_RATE_LIMIT_WAIT"],
        default: Int(defaults::RATE_LIMIT_WAIT_SECS),
        help: "Seconds to wait when the agent hits a usage limit and gives no reset time; doubles for \
               each rate-limited attempt in a row, up to 30 min",
        details: ", back to the base after any other outcome; see \
                  [Waits and the runtime budget](#waits-and-the-runtime-budget)",
    }
    /// Stream the agent's output.
    verbose: bool = parse::boolean {
        flag: "--verbose",
        short: Some('v'),
        env: &["RALPH_VERBOSE"],
        default: Text("false"),
        help: "Stream the agent's text and tool calls",
    }
    /// Print the plan only.
    dry_run: bool = parse::boolean {
        flag: "--dry-run",
        short: Some('d'),
        env: &["RALPH_DRY_RUN"],
        default: Text("false"),
        help: "Print the resolved plan and run nothing",
        details: "; needs no API key and no agent installed; see [Dry run](#dry-run)",
    }
    /// Start a new run.
    fresh: bool = parse::boolean {
        flag: "--fresh",
        env: &["RALPH_FRESH"],
        default: Text("false"),
        help: "Start a new run even if an unfinished or finished one is in the state dir",
    }
    /// Send the prompt without the preamble.
    no_preamble: bool = parse::boolean {
        flag: "--no-preamble",
        env: &["RALPH_NO_PREAMBLE"],
        default: Text("false"),
        help: "Send the prompt without ralph's instruction preamble",
    }
    /// Serve metrics.
    enable_metrics: bool = parse::boolean {
        flag: "--metrics",
        env: &["RALPH_ENABLE_METRICS"],
        default: Text("false"),
        help: "Serve Prometheus metrics on /metrics and a health check on /healthz",
        details: "; see [Metrics](#metrics)",
    }
    /// Metrics port.
    metrics_port: u16 = parse::port {
        flag: "--metrics-port",
        kind: Value("PORT"),
        env: &["RALPH_METRICS_PORT"],
        default: Int(8080),
        help: "Metrics port",
        details: "; a port that is taken is an error before the first iteration (exit 2)",
    }
    /// Metrics address.
    metrics_addr: String = parse::ip_addr {
        flag: "--metrics-addr",
        kind: Value("ADDR"),
        env: &["RALPH_METRICS_ADDR"],
        default: Text("127.0.0.1"),
        help: "Metrics address",
        details: ": an IP address of this machine; the container image sets `0.0.0.0`",
    }
    /// URLs that get a JSON summary when the run ends or waits on a usage limit (validated: http or
    /// https); empty = no notifications. See [`crate::notify`].
    notify: Vec<String> = parse::parse_notify {
        flag: "--notify",
        kind: List("URL"),
        env: &["RALPH_NOTIFY_URL"],
        help: "POST a JSON summary to URL when the run ends or starts waiting on a usage limit (http \
               or https; repeat the flag, or separate several by commas or spaces)",
        details: "; see [Notifications](#notifications)",
    }
    /// Log filter (tracing `EnvFilter` syntax, lowercased levels).
    log_level: String = parse::parse_log_level {
        flag: "--log-level",
        kind: Value("LEVEL"),
        env: &["RALPH_LOG_LEVEL", "LOG_LEVEL", "RUST_LOG"],
        default: Text("info"),
        help: "Log level: error, warn, info, debug, trace (any case)",
        details: ", or a tracing filter such as `ralph=debug,info`",
    }
    /// Log format.
    log_format: LogFormat = parse::log_format {
        flag: "--log-format",
        kind: Value("FORMAT"),
        env: &["RALPH_LOG_FORMAT"],
        default: Text("text"),
        help: "Log format: text or json (one object per line)",
        details: "; json writes every loop event to stderr",
    }
    /// Iterations whose transcripts are kept per run; `None` = all.
    keep_transcripts: Option<u64> = parse::keep_count {
        flag: "--keep-transcripts",
        kind: Value("N"),
        env: &["RALPH_KEEP_TRANSCRIPTS"],
        default: Int(defaults::KEEP_TRANSCRIPTS),
        help: "Keep the prompt and output of the last N iterations in the state dir and delete older \
               ones; `all` keeps every one, 0 none",
        details: "; the iteration records and the task prompts (one file per distinct prompt) are \
                  always kept; see [State and resume](#state-and-resume)",
    }
    /// State directory (absolute).
    state_dir: PathBuf = parse::path {
        flag: "--state-dir",
        kind: Path("DIR"),
        env: &["RALPH_STATE_DIR"],
        default: Text(defaults::STATE_DIR),
        help: "State directory, inside the workspace unless absolute",
    }
    /// Workspace (absolute).
    workspace: PathBuf = parse::path {
        flag: "--workspace",
        short: Some('C'),
        kind: Path("DIR"),
        env: &["RALPH_WORKSPACE"],
        default: Described {
            value: ".",
            shown: "current directory",
        },
        help: "Workspace the agent works in",
    }
}
