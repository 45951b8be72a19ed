//! The command line (clap). Every run setting is an `Option` here: `None` means "not given on the command
//! line", so the environment, the config file or the default decides (see [`crate::settings`]).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Runs an AI coding agent in a loop until the task in PROMPT.md is done.
#[derive(Debug, Parser)]
#[command(
    name = "ralph",
    version,
    about,
    args_conflicts_with_subcommands = true,
    allow_negative_numbers = true,
    after_help = "Exit codes: 0 completed, 1 failed (too many consecutive agent failures, internal error), \
2 invalid usage, config or input, 3 a limit was reached before completion, 130 interrupted (SIGINT), \
143 terminated (SIGTERM).\n\nWithout a command, ralph runs `ralph run` with the options given."
)]
pub struct Cli {
    /// The command; `run` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of `ralph run`, accepted without the word `run`.
    #[command(flatten)]
    pub run: RunArgs,
}

/// ralph's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the agent in a loop until the task is complete or a limit is reached (the default command).
    #[command(allow_negative_numbers = true)]
    Run(RunArgs),
    /// Show the workspace's run: status, iteration, tokens, cost (works during a run and after).
    Status(StatusArgs),
    /// Exit 0 when a run in the workspace is alive and showing progress, 1 with the reason otherwise
    /// (for container health checks).
    Health(StatusLocation),
    /// Write a run report: a self-contained HTML page with charts, or JSON.
    Report(ReportArgs),
    /// Remove the records of earlier runs from the state directory (never the current run's).
    Clean(CleanArgs),
    /// Write a PROMPT.md template, a ralph.yml with every setting at its default, and the state directory
    /// (existing files are kept).
    Init {
        /// Directory to initialise [default: current directory].
        #[arg(short = 'C', long, value_name = "DIR")]
        workspace: Option<PathBuf>,
    },
    /// List the git checkpoints of the workspace's runs (id, run, iteration, time, files changed).
    Checkpoints {
        /// Only this run's checkpoints.
        #[arg(long, value_name = "RUN_ID")]
        run: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Workspace [default: current directory].
        #[arg(short = 'C', long, value_name = "DIR")]
        workspace: Option<PathBuf>,
    },
    /// Restore the workspace to a checkpoint as a new commit (history is never rewritten).
    Rollback {
        /// Checkpoint id (a commit id or a prefix of at least 4 hex digits).
        id: String,
        /// Save uncommitted changes in a commit first instead of refusing.
        #[arg(long)]
        checkpoint_first: bool,
        /// Workspace [default: current directory].
        #[arg(short = 'C', long, value_name = "DIR")]
        workspace: Option<PathBuf>,
    },
    /// List the agent CLIs ralph knows: installed, version, adapter, API key set.
    Agents {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check that everything a run needs is in place (config, prompt, agents, keys, git, state dir).
    Doctor {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// The run options to check (as for `ralph run`).
        #[command(flatten)]
        run: RunArgs,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Options of `ralph run`. Each has a `RALPH_*` variable and a `ralph.yml` key; a flag wins over both.
#[derive(Debug, Default, Clone, Args)]
pub struct RunArgs {
    /// Config file (YAML). Default: ./ralph.yml when it exists.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Agent: claude, gemini, codex, qwen, opencode, q, kiro, command, auto (the first installed), or a
    /// comma list (fallback chain) [default: auto]; env RALPH_AGENT.
    #[arg(short = 'a', long, value_name = "NAME")]
    pub agent: Option<String>,

    /// Task prompt file, re-read every iteration [default: PROMPT.md]; env RALPH_PROMPT_FILE.
    #[arg(
        short = 'P',
        long = "prompt",
        visible_alias = "prompt-file",
        value_name = "FILE"
    )]
    pub prompt_file: Option<PathBuf>,

    /// Inline task prompt instead of a file; env RALPH_PROMPT_TEXT.
    #[arg(short = 'p', long = "prompt-text", value_name = "TEXT")]
    pub prompt_text: Option<String>,

    /// Agent runs per run, 0 = no limit [default: 100]; env RALPH_MAX_ITERATIONS.
    #[arg(short = 'i', long, value_name = "N")]
    pub max_iterations: Option<String>,

    /// Wall-clock seconds per run (also `30m`, `4h`), 0 = no limit [default: 14400]; env RALPH_MAX_RUNTIME.
    #[arg(short = 't', long, value_name = "SECS")]
    pub max_runtime: Option<String>,

    /// Tokens per run (input + cache writes + output), 0 = no limit [default: 1000000]; env RALPH_MAX_TOKENS.
    #[arg(long, value_name = "N")]
    pub max_tokens: Option<String>,

    /// USD per run, 0 = no limit [default: 50.0]; env RALPH_MAX_COST.
    #[arg(long, value_name = "USD")]
    pub max_cost: Option<String>,

    /// Git checkpoint every N iterations, 0 = off [default: 5]; env RALPH_CHECKPOINT_INTERVAL.
    #[arg(long, value_name = "N")]
    pub checkpoint_interval: Option<String>,

    /// Disable git checkpoints; env RALPH_NO_GIT.
    #[arg(long)]
    pub no_git: bool,

    /// Commit checkpoints to refs/ralph/checkpoints/<run> instead of the current branch (branch, HEAD
    /// and index untouched); env RALPH_CHECKPOINT_REF.
    #[arg(long)]
    pub checkpoint_ref: bool,

    /// Create a git repository in the workspace when it is not in one; env RALPH_GIT_INIT.
    #[arg(long)]
    pub git_init: bool,

    /// Completion promise the agent prints when done; empty disables it [default: LOOP_COMPLETE];
    /// env RALPH_COMPLETION_PROMISE.
    #[arg(long, value_name = "WORD")]
    pub completion_promise: Option<String>,

    /// Completion claims before this iteration are rejected [default: 0]; env RALPH_MIN_ITERATIONS.
    #[arg(long, value_name = "N")]
    pub min_iterations: Option<String>,

    /// Seconds, base of the exponential backoff after a failed iteration [default: 2]; env RALPH_RETRY_DELAY.
    #[arg(long, value_name = "SECS")]
    pub retry_delay: Option<String>,

    /// Consecutive failed iterations tolerated before the run stops [default: 5]; env RALPH_MAX_RETRIES.
    #[arg(long, value_name = "N")]
    pub max_retries: Option<String>,

    /// Wall-clock seconds for one agent run, 0 = none [default: 1800]; env RALPH_ITERATION_TIMEOUT.
    #[arg(long, value_name = "SECS")]
    pub iteration_timeout: Option<String>,

    /// Seconds without any agent output before it counts as hung, 0 = none [default: 600];
    /// env RALPH_IDLE_TIMEOUT.
    #[arg(long, value_name = "SECS")]
    pub idle_timeout: Option<String>,

    /// Shell command run in the workspace when the agent claims completion; the claim counts only if it
    /// exits 0, else its output tail is fed back in the next prompt; env RALPH_VERIFY.
    #[arg(long, value_name = "CMD")]
    pub verify: Option<String>,

    /// Stop (exit 3) after N successful iterations in a row that changed nothing in the workspace and did
    /// not move HEAD, 0 = off [default: 0]; env RALPH_STALL_ITERATIONS.
    #[arg(long, value_name = "N")]
    pub stall_iterations: Option<String>,

    /// Stop (exit 3) after N near-identical final answers in a row, 0 = off [default: 0];
    /// env RALPH_LOOP_DETECTION.
    #[arg(long, value_name = "N")]
    pub loop_detection: Option<String>,

    /// Seconds to wait when the agent hits a usage limit and gives no reset time; doubles for each
    /// rate-limited attempt in a row, up to 30 min [default: 60]; env RALPH_RATE_LIMIT_WAIT.
    #[arg(long, value_name = "SECS")]
    pub rate_limit_wait: Option<String>,

    /// Stream the agent's text and tool calls; env RALPH_VERBOSE.
    #[arg(short = 'v', long)]
    pub verbose: bool,

    /// Print the resolved plan and run nothing; env RALPH_DRY_RUN.
    #[arg(short = 'd', long)]
    pub dry_run: bool,

    /// Start a new run even if an unfinished or finished one is in the state dir; env RALPH_FRESH.
    #[arg(long)]
    pub fresh: bool,

    /// Send the prompt without ralph's instruction preamble; env RALPH_NO_PREAMBLE.
    #[arg(long)]
    pub no_preamble: bool,

    /// Serve Prometheus metrics on /metrics and a health check on /healthz; env RALPH_ENABLE_METRICS.
    #[arg(long)]
    pub metrics: bool,

    /// Metrics port [default: 8080]; env RALPH_METRICS_PORT.
    #[arg(long, value_name = "PORT")]
    pub metrics_port: Option<String>,

    /// Metrics address [default: 127.0.0.1]; env RALPH_METRICS_ADDR.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<String>,

    /// POST a JSON summary to URL when the run ends or starts waiting on a usage limit (http or https;
    /// repeat for several); env RALPH_NOTIFY_URL (several separated by commas or spaces).
    #[arg(long, value_name = "URL")]
    pub notify: Vec<String>,

    /// Log level: error, warn, info, debug, trace (any case) [default: info]; env LOG_LEVEL,
    /// RALPH_LOG_LEVEL or RUST_LOG.
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,

    /// Log format: text or json (one object per line) [default: text]; env RALPH_LOG_FORMAT.
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<String>,

    /// State directory, inside the workspace unless absolute [default: .agent]; env RALPH_STATE_DIR.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Workspace the agent works in [default: current directory]; env RALPH_WORKSPACE.
    #[arg(short = 'C', long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,

    /// Extra arguments for the agent CLI (for `--agent command`: the command and its arguments).
    #[arg(last = true, value_name = "AGENT_ARGS")]
    pub agent_args: Vec<String>,
}

/// Options of `ralph status`.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Print JSON (the saved state plus `active` and `pid`).
    #[arg(long)]
    pub json: bool,
    /// Workspace [default: current directory]; env RALPH_WORKSPACE.
    #[arg(short = 'C', long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// State directory [default: .agent]; env RALPH_STATE_DIR.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

/// Options of `ralph clean`.
#[derive(Debug, Clone, Args)]
pub struct CleanArgs {
    /// Show what would be removed, remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Workspace [default: current directory]; env RALPH_WORKSPACE.
    #[arg(short = 'C', long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// State directory [default: .agent]; env RALPH_STATE_DIR.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

/// Where `ralph health` looks for the run.
#[derive(Debug, Clone, Args)]
pub struct StatusLocation {
    /// Workspace [default: current directory]; env RALPH_WORKSPACE.
    #[arg(short = 'C', long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// State directory [default: .agent]; env RALPH_STATE_DIR.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

/// Format of `ralph report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ReportFormat {
    /// One self-contained HTML page (inline CSS and SVG charts; loads nothing from the network).
    #[default]
    Html,
    /// The same data as JSON (format `ralph-report/1`).
    Json,
}

/// Options of `ralph report`.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// Run id (a directory under <state dir>/runs) [default: the current run in state.json].
    #[arg(value_name = "RUN")]
    pub run: Option<String>,
    /// Output file; `-` for stdout [default: <state dir>/report-<run>.html for html, stdout for json].
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// html or json.
    #[arg(long, value_enum, default_value_t = ReportFormat::Html)]
    pub format: ReportFormat,
    /// Workspace [default: current directory]; env RALPH_WORKSPACE.
    #[arg(short = 'C', long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// State directory [default: .agent]; env RALPH_STATE_DIR.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}
