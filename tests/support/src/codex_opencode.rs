//! Installs and hermetic environments for Codex and OpenCode, which both talk to a
//! [`ScriptedServer::openai_responses`](crate::ScriptedServer) in the tests.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::env::HermeticEnv;
use crate::install::install_npm_cli;

/// npm package of Codex.
pub const CODEX_PACKAGE: &str = "@openai/codex";
/// The Codex version the end-to-end tests are written against (see AGENT-CLIS.md).
pub const CODEX_VERSION: &str = "0.171.0";
/// npm package of OpenCode.
pub const OPENCODE_PACKAGE: &str = "opencode-ai";
/// The OpenCode version the end-to-end tests are written against (see AGENT-CLIS.md).
pub const OPENCODE_VERSION: &str = "1.18.33";
/// The API key the tests give the agents, through `OPENAI_API_KEY_FILE` only.
pub const TEST_KEY: &str = "sk-test-ralph-e2e-0000000000";

/// Installs Codex [`CODEX_VERSION`] once into `<target>/agent-clis/codex-<version>/` (424 MB: a node shim
/// and a static binary) and returns its `.bin` directory. Panics when npm is missing or the install fails.
pub fn install_codex() -> PathBuf {
    static BIN_DIR: OnceLock<PathBuf> = OnceLock::new();
    BIN_DIR
        .get_or_init(|| install_npm_cli("codex", CODEX_PACKAGE, CODEX_VERSION))
        .clone()
}

/// Installs OpenCode [`OPENCODE_VERSION`] once into `<target>/agent-clis/opencode-<version>/` (354 MB,
/// a Bun binary) and returns its `.bin` directory. Panics when npm is missing or the install fails.
pub fn install_opencode() -> PathBuf {
    static BIN_DIR: OnceLock<PathBuf> = OnceLock::new();
    BIN_DIR
        .get_or_init(|| install_npm_cli("opencode", OPENCODE_PACKAGE, OPENCODE_VERSION))
        .clone()
}

/// `$CODEX_HOME/config.toml` for the tests: a provider `test` at `base_url` using the Responses API, the
/// key from `OPENAI_API_KEY`, no retries (Codex retries each request 4 times and each stream 5 times
/// otherwise), no analytics.
pub fn codex_config(base_url: &str) -> String {
    format!(
        "model_provider = \"test\"\n\n\
         [model_providers.test]\n\
         name = \"scripted test server\"\n\
         base_url = \"{base_url}/v1\"\n\
         env_key = \"OPENAI_API_KEY\"\n\
         wire_api = \"responses\"\n\
         request_max_retries = 0\n\
         stream_max_retries = 0\n\n\
         [analytics]\n\
         enabled = false\n"
    )
}

/// `opencode.json` for the tests: a provider `test` (the bundled `@ai-sdk/openai`, which speaks the
/// Responses API) at `base_url` with the model `gpt-5` and no price (OpenCode then reports cost 0), its key
/// from `OPENAI_API_KEY`; no snapshots, sharing or updates.
pub fn opencode_config(base_url: &str) -> String {
    serde_json::json!({
        "$schema": "https://opencode.ai/config.json",
        "autoupdate": false,
        "share": "disabled",
        "snapshot": false,
        "provider": {
            "test": {
                "npm": "@ai-sdk/openai",
                "name": "scripted test server",
                "options": { "baseURL": format!("{base_url}/v1") },
                "models": { "gpt-5": { "name": "GPT-5 (scripted)" } },
            },
        },
    })
    .to_string()
}

/// Writes [`TEST_KEY`] to `home/openai-key` and returns its path.
fn key_file(home: &Path) -> PathBuf {
    let path = home.join("openai-key");
    fs::write(&path, format!("{TEST_KEY}\n")).expect("write the key file");
    path
}

impl HermeticEnv {
    /// [`HermeticEnv::base`] plus Codex: its bin directory first on `PATH`, `CODEX_HOME=home/.codex` with
    /// [`codex_config`], and the key only as `OPENAI_API_KEY_FILE` (a Docker secret, as ralph's users give
    /// it): ralph must read the file and pass the key on. Running `codex` without ralph needs
    /// `.set("OPENAI_API_KEY", ...)` as well.
    pub fn codex(base_url: &str, bin_dir: &Path, home: &Path) -> Self {
        let codex_home = home.join(".codex");
        fs::create_dir_all(&codex_home).expect("create CODEX_HOME");
        fs::write(codex_home.join("config.toml"), codex_config(base_url))
            .expect("write config.toml");
        HermeticEnv::base(home)
            .with_path_first(bin_dir)
            .set("CODEX_HOME", codex_home)
            .set("OPENAI_API_KEY_FILE", key_file(home))
    }

    /// [`HermeticEnv::base`] plus OpenCode: its bin directory first on `PATH`, the XDG directories inside
    /// `home` with [`opencode_config`] as `opencode/opencode.json`, the key only as
    /// `OPENAI_API_KEY_FILE` (see [`HermeticEnv::codex`]), and the switches that keep it offline:
    /// `OPENCODE_DISABLE_MODELS_FETCH` (else it fetches models.dev and waits for the network),
    /// `OPENCODE_DISABLE_AUTOUPDATE`, `OPENCODE_DISABLE_DEFAULT_PLUGINS`, `OPENCODE_DISABLE_LSP_DOWNLOAD`,
    /// `OPENCODE_DISABLE_CLAUDE_CODE` (no reading of `~/.claude`), and
    /// `OPENCODE_EXPERIMENTAL_DISABLE_FILEWATCHER` (no inotify watcher on the workspace, a little faster).
    pub fn opencode(base_url: &str, bin_dir: &Path, home: &Path) -> Self {
        let config = home.join(".config");
        let dir = config.join("opencode");
        fs::create_dir_all(&dir).expect("create the opencode config directory");
        fs::write(dir.join("opencode.json"), opencode_config(base_url))
            .expect("write opencode.json");
        let mut env = HermeticEnv::base(home)
            .with_path_first(bin_dir)
            .set("XDG_CONFIG_HOME", config)
            .set("XDG_DATA_HOME", home.join(".local/share"))
            .set("XDG_CACHE_HOME", home.join(".cache"))
            .set("XDG_STATE_HOME", home.join(".local/state"))
            .set("OPENAI_API_KEY_FILE", key_file(home));
        for switch in [
            "OPENCODE_DISABLE_MODELS_FETCH",
            "OPENCODE_DISABLE_AUTOUPDATE",
            "OPENCODE_DISABLE_DEFAULT_PLUGINS",
            "OPENCODE_DISABLE_LSP_DOWNLOAD",
            "OPENCODE_DISABLE_CLAUDE_CODE",
            "OPENCODE_EXPERIMENTAL_DISABLE_FILEWATCHER",
        ] {
            env = env.set(switch, "1");
        }
        env
    }
}
