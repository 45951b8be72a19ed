//! Running `ralph run --agent <agent>` in a [`TestDir`] with a [`HermeticEnv`], with limits and a wall-clock
//! timeout. The kit does not depend on ralph: the test passes in the binary (`env!("CARGO_BIN_EXE_ralph")`).
//!
//! ```no_run
//! # use ralph_testkit::*;
//! let dir = TestDir::new();
//! let env = HermeticEnv::base(dir.home());
//! let out = RalphRun::new("target/debug/ralph", "gemini", &dir, env)
//!     .max_retries(1)
//!     .agent_args(["-m", "gemini-2.5-flash"])
//!     .run();
//! ```

use std::ffi::{OsStr, OsString};
use std::process::Command;
use std::time::Duration;

use crate::{HermeticEnv, RunOutput, TestDir, run_with_timeout};

/// The default wall-clock limit for one `ralph` run; the run is killed and the test fails beyond it.
pub const RALPH_TIMEOUT: Duration = Duration::from_secs(60);

/// A `ralph run` invocation: `ralph run --agent <agent> <ralph args> --prompt <ws>/PROMPT.md -C <ws> <limits>
/// -- <agent args>`, run in the workspace with closed stdin.
///
/// Defaults: `--max-iterations 10 --max-retries 0 --retry-delay 0 --iteration-timeout 60 --idle-timeout 60
/// --max-runtime 120`, and [`RALPH_TIMEOUT`].
#[must_use = "call run()"]
pub struct RalphRun<'a> {
    ralph: OsString,
    agent: String,
    dir: &'a TestDir,
    env: HermeticEnv,
    max_iterations: u32,
    max_retries: u32,
    iteration_timeout: u32,
    idle_timeout: Option<u32>,
    max_runtime: u32,
    ralph_args: Vec<OsString>,
    agent_args: Vec<OsString>,
    timeout: Duration,
}

impl<'a> RalphRun<'a> {
    /// `ralph` (the binary's path) runs `agent` (e.g. `claude` or the chain `claude,gemini`) in `dir`'s
    /// workspace with exactly the environment `env`.
    pub fn new(ralph: impl AsRef<OsStr>, agent: &str, dir: &'a TestDir, env: HermeticEnv) -> Self {
        Self {
            ralph: ralph.as_ref().to_owned(),
            agent: agent.to_owned(),
            dir,
            env,
            max_iterations: 10,
            max_retries: 0,
            iteration_timeout: 60,
            idle_timeout: Some(60),
            max_runtime: 120,
            ralph_args: Vec::new(),
            agent_args: Vec::new(),
            timeout: RALPH_TIMEOUT,
        }
    }

    /// `--max-iterations`.
    pub fn max_iterations(mut self, n: u32) -> Self {
        self.max_iterations = n;
        self
    }

    /// `--max-retries`.
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// `--iteration-timeout`, in seconds.
    pub fn iteration_timeout(mut self, secs: u32) -> Self {
        self.iteration_timeout = secs;
        self
    }

    /// No `--idle-timeout`: ralph's default applies.
    pub fn without_idle_timeout(mut self) -> Self {
        self.idle_timeout = None;
        self
    }

    /// `--max-runtime`, in seconds.
    pub fn max_runtime(mut self, secs: u32) -> Self {
        self.max_runtime = secs;
        self
    }

    /// Further arguments of `ralph run` itself (before `--`), e.g. `-c <config>`.
    pub fn ralph_args(mut self, args: impl IntoIterator<Item = impl AsRef<OsStr>>) -> Self {
        self.ralph_args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Arguments for the agent CLI (after `--`).
    pub fn agent_args(mut self, args: impl IntoIterator<Item = impl AsRef<OsStr>>) -> Self {
        self.agent_args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// The wall-clock limit of the whole run (default [`RALPH_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs ralph with [`run_with_timeout`] (which fails the test beyond the timeout) and prints its exit code,
    /// time and stderr.
    pub fn run(self) -> RunOutput {
        let dir = self.dir;
        let mut cmd = Command::new(&self.ralph);
        self.env.apply(&mut cmd).current_dir(dir.workspace());
        cmd.args(["run", "--agent", &self.agent])
            .args(&self.ralph_args)
            .arg("--prompt")
            .arg(dir.path("PROMPT.md"))
            .arg("-C")
            .arg(dir.workspace());
        let limits = [
            ("--max-iterations", Some(self.max_iterations)),
            ("--max-retries", Some(self.max_retries)),
            ("--retry-delay", Some(0)),
            ("--iteration-timeout", Some(self.iteration_timeout)),
            ("--idle-timeout", self.idle_timeout),
            ("--max-runtime", Some(self.max_runtime)),
        ];
        for (flag, value) in limits {
            if let Some(value) = value {
                cmd.arg(flag).arg(value.to_string());
            }
        }
        if !self.agent_args.is_empty() {
            cmd.arg("--").args(&self.agent_args);
        }
        let out = run_with_timeout(&mut cmd, None, self.timeout, dir.root());
        eprintln!(
            "ralph finished: exit {} in {:.1?}\n{}",
            out.code(),
            out.elapsed,
            out.stderr
        );
        out
    }
}
