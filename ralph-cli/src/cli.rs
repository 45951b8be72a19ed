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
2 invalid usage, config or input, 3 a limit was reached before completion, 129 hung up (SIGHUP), \
130 interrupted (SIGINT), 143 terminated (SIGTERM).\n\nWithout a command, ralph runs `ralph run` with the options given."
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

/// Options of `ralph run`: the config file, a flag per setting, and the agent's own arguments. Each
/// setting also has a `RALPH_*` variable and a `ralph.yml` key; a flag wins over both.
#[derive(Debug, Default, Clone, Args)]
pub struct RunArgs {
    /// Config file (YAML). Default: ./ralph.yml when it exists.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Every run setting given as a flag (one per setting, made from its definition in
    /// [`crate::settings::defs`]).
    #[command(flatten)]
    pub flags: crate::settings::Layer,

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
    /// Workspace [default: current directory]; env RALPH_WORKSPACE, or `workspace` in ./ralph.yml.
    #[arg(short = 'C', long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// State directory [default: .agent]; env RALPH_STATE_DIR, or `state_dir` in ./ralph.yml.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

/// Options of `ralph clean`.
#[derive(Debug, Clone, Args)]
pub struct CleanArgs {
    /// Show what would be removed, remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Workspace [default: current directory]; env RALPH_WORKSPACE, or `workspace` in ./ralph.yml.
    #[arg(short = 'C', long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// State directory [default: .agent]; env RALPH_STATE_DIR, or `state_dir` in ./ralph.yml.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

/// Where `ralph health` looks for the run.
#[derive(Debug, Clone, Args)]
pub struct StatusLocation {
    /// Workspace [default: current directory]; env RALPH_WORKSPACE, or `workspace` in ./ralph.yml.
    #[arg(short = 'C', long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// State directory [default: .agent]; env RALPH_STATE_DIR, or `state_dir` in ./ralph.yml.
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
    /// Workspace [default: current directory]; env RALPH_WORKSPACE, or `workspace` in ./ralph.yml.
    #[arg(short = 'C', long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// State directory [default: .agent]; env RALPH_STATE_DIR, or `state_dir` in ./ralph.yml.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}
