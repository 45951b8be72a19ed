//! # ralph-cli
//!
//! The `ralph` command: parses the command line, layers settings (flags > `RALPH_*` environment >
//! `ralph.yml` > defaults), builds the agent from `ralph-agents`, wires signals, state and terminal
//! output into the `ralph-core` engine, and maps how the run stopped to a documented exit code
//! ([`exit_codes`]).
//!
//! ```no_run
//! // What `main.rs` does:
//! fn main() -> std::process::ExitCode {
//!     ralph_cli::main()
//! }
//! ```

// The doc comments of `cli` are clap's `--help` text, read in a terminal: `<state dir>` there is a
// placeholder, not an HTML tag.
#[allow(rustdoc::invalid_html_tags)]
pub mod cli;
pub mod doctor;
pub mod exit_codes;
pub mod fingerprint;
pub mod git;
pub mod health;
pub mod init;
pub mod inspect;
pub mod metrics;
pub mod notify;
pub mod output;
pub mod pid1;
pub mod plan;
pub mod redact;
pub mod report;
pub mod run;
pub mod settings;
pub mod status_line;

use clap::Parser;

/// `println!` that ignores a closed stdout (`ralph status | head`) instead of panicking.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}
use std::process::ExitCode;

/// Runs `ralph` with the process's arguments and environment; returns the exit code.
pub fn main() -> ExitCode {
    pid1::unblock_inherited_signals();
    pid1::init_if_pid1();
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help and version itself (exit 0); usage errors exit 2.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit_codes::USAGE
            } else {
                exit_codes::COMPLETED
            });
        }
    };
    let args = match cli.command {
        Some(cli::Command::Run(args)) => args,
        Some(cli::Command::Status(args)) => return ExitCode::from(inspect::status(&args)),
        Some(cli::Command::Report(args)) => return ExitCode::from(report::report(&args)),
        Some(cli::Command::Clean(args)) => return ExitCode::from(inspect::clean(&args)),
        Some(cli::Command::Health(args)) => {
            let dir = inspect::state_dir(&args.workspace, &args.state_dir);
            return ExitCode::from(health::health(&dir));
        }
        Some(cli::Command::Checkpoints {
            run,
            json,
            workspace,
        }) => {
            return ExitCode::from(git::list(workspace, run.as_deref(), json));
        }
        Some(cli::Command::Rollback {
            id,
            checkpoint_first,
            workspace,
        }) => {
            return ExitCode::from(git::rollback(workspace, &id, checkpoint_first));
        }
        Some(cli::Command::Agents { json }) => return ExitCode::from(doctor::agents(json)),
        Some(cli::Command::Doctor { json, run }) => {
            return ExitCode::from(doctor::doctor(&run, json));
        }
        Some(cli::Command::Init { workspace }) => {
            let dir = workspace.unwrap_or_else(|| std::path::PathBuf::from("."));
            return ExitCode::from(init::init(&dir));
        }
        Some(cli::Command::Completions { shell }) => {
            use clap::CommandFactory;
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cli::Cli::command(), "ralph", &mut script);
            use std::io::Write as _;
            let _ = std::io::stdout().lock().write_all(&script);
            return ExitCode::SUCCESS;
        }
        None => cli.run,
    };
    // One thread runs the loop and everything async beside it (agent pipes, signals, metrics, status
    // line); blocking work (state writes, checkpoints, process-group clean-up) goes to tokio's blocking
    // pool. A multi-threaded runtime bought nothing for one loop and cost each iteration about twice the
    // CPU (cross-thread wake-ups, TLB shoot-downs when forking the agent): see benches/README.md.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ralph: error: cannot start the async runtime: {e}");
            return ExitCode::from(exit_codes::FAILED);
        }
    };
    ExitCode::from(runtime.block_on(run::run(args)))
}
