//! Installs and hermetic environments for Gemini CLI and Qwen Code (the Claude Code ones are in
//! [`crate::install`] and [`crate::env`]).

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::env::HermeticEnv;
use crate::install::install_npm_cli;

/// npm package of Gemini CLI.
pub const GEMINI_PACKAGE: &str = "@google/gemini-cli";
/// The Gemini CLI version the end-to-end tests are written against (see AGENT-CLIS.md).
pub const GEMINI_VERSION: &str = "0.61.0";
/// npm package of Qwen Code.
pub const QWEN_PACKAGE: &str = "@qwen-code/qwen-code";
/// The Qwen Code version the end-to-end tests are written against (see AGENT-CLIS.md).
pub const QWEN_VERSION: &str = "0.15.10";

/// Installs Gemini CLI [`GEMINI_VERSION`] once into `<target>/agent-clis/gemini-<version>/` and returns
/// its `.bin` directory. Panics when npm is missing or the install fails.
pub fn install_gemini() -> PathBuf {
    static BIN_DIR: OnceLock<PathBuf> = OnceLock::new();
    BIN_DIR
        .get_or_init(|| install_npm_cli("gemini", GEMINI_PACKAGE, GEMINI_VERSION))
        .clone()
}

/// Installs Qwen Code [`QWEN_VERSION`] once into `<target>/agent-clis/qwen-<version>/` and returns its
/// `.bin` directory. Panics when npm is missing or the install fails.
pub fn install_qwen() -> PathBuf {
    static BIN_DIR: OnceLock<PathBuf> = OnceLock::new();
    BIN_DIR
        .get_or_init(|| install_npm_cli("qwen", QWEN_PACKAGE, QWEN_VERSION))
        .clone()
}

/// The Claude Code variables of [`HermeticEnv::claude`], removed for the other agents.
const CLAUDE_VARS: &[&str] = &[
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_API_KEY",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
    "DISABLE_AUTOUPDATER",
    "DISABLE_ERROR_REPORTING",
    "CLAUDE_CODE_MAX_RETRIES",
    "IS_SANDBOX",
];

/// `~/.gemini/settings.json` for the tests: API-key auth (needed with `GOOGLE_GEMINI_BASE_URL`, else
/// exit 41), no usage statistics, and one attempt per model call (Gemini CLI retries errors up to 10
/// times with 5–30 s pauses otherwise).
pub const GEMINI_SETTINGS: &str = r#"{"security":{"auth":{"selectedType":"gemini-api-key"}},"privacy":{"usageStatisticsEnabled":false},"general":{"maxAttempts":1}}"#;

/// `~/.qwen/settings.json` for the tests: no background memory-extraction requests after a run.
pub const QWEN_SETTINGS: &str =
    r#"{"memory":{"enableManagedAutoMemory":false,"enableManagedAutoDream":false}}"#;

fn write_settings(home: &Path, dir: &str, json: &str) {
    let dir = home.join(dir);
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    fs::write(dir.join("settings.json"), json).expect("write settings.json");
}

impl HermeticEnv {
    /// `PATH` (system directories and git) and `HOME` = `home`, nothing else: the base for agents other
    /// than Claude Code.
    pub fn base(home: &Path) -> Self {
        let mut env = HermeticEnv::claude("", Path::new("/nonexistent"), home);
        for var in CLAUDE_VARS {
            env = env.remove(var);
        }
        env
    }

    /// Prepends `bin_dir` to `PATH`.
    pub fn with_path_first(self, bin_dir: &Path) -> Self {
        let path = self
            .vars()
            .get("PATH")
            .cloned()
            .unwrap_or_else(|| OsString::from("/usr/bin:/bin"));
        let mut dirs = vec![bin_dir.to_path_buf()];
        dirs.extend(
            std::env::split_paths(&path).filter(|d| d != Path::new("/nonexistent") && d != bin_dir),
        );
        let joined = std::env::join_paths(dirs).expect("PATH entries without ':'");
        self.set("PATH", joined)
    }

    /// [`HermeticEnv::base`] plus what points Gemini CLI at a [`ScriptedServer::gemini`](crate::ScriptedServer)
    /// at `base_url` (see [`HermeticEnv::with_gemini`]).
    pub fn gemini(base_url: &str, bin_dir: &Path, home: &Path) -> Self {
        HermeticEnv::base(home).with_gemini(base_url, bin_dir, home)
    }

    /// Adds Gemini CLI's bin directory and settings to this environment: `GOOGLE_GEMINI_BASE_URL`,
    /// `GEMINI_API_KEY=dummy`, `GEMINI_CLI_TRUST_WORKSPACE=true`, `TMPDIR` inside `home` (Gemini CLI writes
    /// error reports there), and [`GEMINI_SETTINGS`] as `home/.gemini/settings.json`.
    pub fn with_gemini(self, base_url: &str, bin_dir: &Path, home: &Path) -> Self {
        write_settings(home, ".gemini", GEMINI_SETTINGS);
        let tmp = home.join("tmp");
        fs::create_dir_all(&tmp).expect("create TMPDIR");
        self.with_path_first(bin_dir)
            .set("GOOGLE_GEMINI_BASE_URL", base_url)
            .set("GEMINI_API_KEY", "dummy")
            .set("GEMINI_CLI_TRUST_WORKSPACE", "true")
            .set("TMPDIR", tmp)
    }

    /// [`HermeticEnv::base`] plus what points Qwen Code at a
    /// [`ScriptedServer::openai_chat`](crate::ScriptedServer) at `base_url`, as a user of an
    /// OpenAI-compatible endpoint sets it up: `OPENAI_API_KEY=dummy`, `OPENAI_BASE_URL=<base_url>/v1`
    /// (ralph then adds `--auth-type openai`), and [`QWEN_SETTINGS`] as `home/.qwen/settings.json`. No
    /// proxy variables: Qwen Code ignores `NO_PROXY`.
    pub fn qwen(base_url: &str, bin_dir: &Path, home: &Path) -> Self {
        write_settings(home, ".qwen", QWEN_SETTINGS);
        HermeticEnv::base(home)
            .with_path_first(bin_dir)
            .set("OPENAI_API_KEY", "dummy")
            .set("OPENAI_BASE_URL", format!("{base_url}/v1"))
    }
}
