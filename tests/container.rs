//! Smoke tests of the container image (the repository's `Dockerfile`), built and run for real with podman.
//!
//! The image is built once per test binary with `podman build --pull=never --format docker` after
//! `deploy/podman/setup-local-images.sh` has made the local stand-in base images (no registry is reachable
//! here); it is tagged with a hash of the build context, so an unchanged tree reuses the image. The runs use
//! the real Claude Code CLI baked into the image, talking to the scripted model server on the host's loopback
//! (`--network host`).
//!
//! Needs root and podman (`apt-get install -y podman buildah debootstrap runc`); skipped with a message
//! without podman, failed under CI. The first build takes minutes (cargo in the container); then seconds.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ralph_testkit::{
    Block, Cost, HermeticEnv, Iteration, ModelServer, RunOutput, Script, TASK_COMMAND, TASK_HELLO,
    TASK_PROMPT, TestDir, Turn, Usage, assert_completed, assert_not_leaked, assert_task_files,
    iteration_records, run_with_timeout, state, three_iteration_task, tools,
};
use serde_json::Value;

/// How long one `podman run` of a loop may take before the test fails.
const RUN_TIMEOUT: Duration = Duration::from_secs(240);
/// How long the image build may take (a cold build compiles ralph in release mode).
const BUILD_TIMEOUT: Duration = Duration::from_secs(40 * 60);
/// Where the workspace is mounted, as the image's `WORKDIR`.
const WS: &str = "/workspace";
/// The image's user.
const RALPH_UID: u32 = 1000;

// --- the image -----------------------------------------------------------------------------------------

/// The repository root (the build context).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("ralph-cli has a parent")
        .to_path_buf()
}

/// podman with the settings of `deploy/podman/setup-local-images.sh` (its `export` lines).
struct Podman {
    env: BTreeMap<String, String>,
    image: String,
}

static PODMAN: OnceLock<Option<Podman>> = OnceLock::new();

/// The built image, or `None` (after printing why) when podman is missing or this is not root.
fn podman() -> Option<&'static Podman> {
    PODMAN.get_or_init(setup).as_ref()
}

fn setup() -> Option<Podman> {
    tools::require(
        "podman",
        "apt-get install -y podman buildah debootstrap runc",
    )?;
    if !nix::unistd::Uid::effective().is_root() {
        let message = "the container tests need root (rootful podman and debootstrap)";
        assert!(!tools::in_ci(), "{message}");
        eprintln!("SKIPPED: {message}");
        return None;
    }
    let root = repo_root();
    let script = root.join("deploy/podman/setup-local-images.sh");
    let out = Command::new(&script)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} failed ({})",
        script.display(),
        out.status
    );
    let env = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect::<BTreeMap<_, _>>();
    assert!(
        env.contains_key("CONTAINERS_CONF"),
        "the setup script printed no settings: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let podman = Podman {
        env,
        image: format!("localhost/ralph-test:{:016x}", context_hash(&root)),
    };
    let exists = podman
        .cmd(["image", "exists", &podman.image])
        .status()
        .is_ok_and(|s| s.success());
    if !exists {
        eprintln!("building {} (a cold build takes minutes)", podman.image);
        let start = Instant::now();
        let mut build = podman.cmd(["build", "--pull=never", "--format", "docker", "-t"]);
        build.arg(&podman.image).arg(&root);
        let out = run_with_timeout(&mut build, None, BUILD_TIMEOUT, &root.join("target"));
        assert_eq!(out.code(), 0, "podman build failed\n{}", out.dump());
        eprintln!("built {} in {:.0?}", podman.image, start.elapsed());
        // Earlier test images are of no further use (their untagged stages stay: the layer cache).
        let old = podman
            .cmd([
                "images",
                "--format",
                "{{.Repository}}:{{.Tag}}",
                "localhost/ralph-test",
            ])
            .output();
        for tag in old
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
            .lines()
        {
            if tag.starts_with("localhost/ralph-test:") && tag != podman.image {
                let _ = podman.cmd(["rmi", tag]).output();
            }
        }
    }
    Some(podman)
}

/// FNV-1a over the path and contents of every file of the build context that can change the image:
/// the Dockerfile, `.dockerignore`, Cargo manifests and lock file, and the crates' sources.
fn context_hash(root: &Path) -> u64 {
    let mut files = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
            let path = entry.expect("directory entry").path();
            let rel = path
                .strip_prefix(root)
                .expect("inside the root")
                .to_path_buf();
            let name = rel.to_string_lossy();
            let skipped = [
                "target", ".git", ".agent", ".ci", ".cache", "docs", "deploy",
            ];
            if skipped.iter().any(|s| name == *s) || name.ends_with(".md") {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(rel);
            }
        }
    }
    files.sort();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for rel in files {
        feed(rel.to_string_lossy().as_bytes());
        feed(&fs::read(root.join(&rel)).unwrap_or_default());
    }
    hash
}

impl Podman {
    /// `podman ARGS` with the settings, in the repository root.
    fn cmd<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = Command::new("podman");
        cmd.args(args).envs(&self.env).current_dir(repo_root());
        cmd
    }

    /// `podman ARGS`, captured, failing the test after [`RUN_TIMEOUT`].
    fn run<I, S>(&self, args: I, dir: &TestDir) -> RunOutput
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        run_with_timeout(&mut self.cmd(args), None, RUN_TIMEOUT, dir.root())
    }
}

/// A container name unique to this test process; the container is removed when the guard drops.
struct Container<'p> {
    podman: &'p Podman,
    name: String,
}

impl<'p> Container<'p> {
    fn new(podman: &'p Podman, what: &str) -> Self {
        let name = format!("ralph-test-{}-{what}", std::process::id());
        let _ = podman.cmd(["rm", "-f", "-t", "0", &name]).output();
        Self { podman, name }
    }
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        let _ = self
            .podman
            .cmd(["rm", "-f", "-t", "0", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

// --- workspaces and arguments ----------------------------------------------------------------------------

/// `-e NAME=VALUE` for Claude Code's settings that point it at `server` (as the e2e tests set them), but
/// the image's own `PATH` and `HOME`.
fn claude_env(server: &ModelServer) -> Vec<String> {
    claude_env_without(server, &[])
}

/// [`claude_env`] without the variables `left_out`.
fn claude_env_without(server: &ModelServer, left_out: &[&str]) -> Vec<String> {
    HermeticEnv::claude(
        &server.url(),
        Path::new("/opt/agents/bin"),
        Path::new("/home/ralph"),
    )
    .vars()
    .iter()
    .filter(|(k, _)| !matches!(k.as_str(), "PATH" | "HOME") && !left_out.contains(&k.as_str()))
    .flat_map(|(k, v)| ["-e".to_owned(), format!("{k}={}", v.to_string_lossy())])
    .collect()
}

/// ralph's limits for a test run, then the agent arguments of the e2e tests.
const LOOP_ARGS: &[&str] = &[
    "--max-iterations",
    "10",
    "--max-retries",
    "0",
    "--retry-delay",
    "0",
    "--iteration-timeout",
    "120",
    "--idle-timeout",
    "120",
];
const AGENT_ARGS: &[&str] = &["--", "--model", "claude-sonnet-4-5"];

/// Makes the whole workspace belong to `uid:gid` (a mount of a host directory keeps its owner).
fn chown_workspace(dir: &TestDir, uid: u32, gid: u32) {
    let status = Command::new("chown")
        .arg("-R")
        .arg(format!("{uid}:{gid}"))
        .arg(dir.workspace())
        .status()
        .expect("run chown");
    assert!(status.success(), "chown -R {uid}:{gid} workspace");
}

/// Leaves the workspace owned by root but writable by everyone: a mount owned by another uid than the
/// container's user, which git refuses as "dubious ownership" unless `safe.directory` says otherwise.
fn make_workspace_world_writable(dir: &TestDir) {
    let status = Command::new("chmod")
        .args(["-R", "a+rwX"])
        .arg(dir.workspace())
        .status()
        .expect("run chmod");
    assert!(status.success(), "chmod -R a+rwX workspace");
}

/// The checkpoint commits on the workspace's branch (subjects), read with the host's git as root.
fn checkpoint_subjects(dir: &TestDir) -> Vec<String> {
    chown_workspace(dir, 0, 0);
    dir.git(&["log", "--format=%s"])
        .lines()
        .filter(|l| l.starts_with("ralph: checkpoint"))
        .map(str::to_owned)
        .collect()
}

/// The three-iteration task of the e2e tests, with the agent writing inside the container's `/workspace`.
fn three_iteration_script() -> (Script, Vec<Usage>) {
    let iterations = three_iteration_task(
        Block::write(format!("{WS}/hello.txt"), TASK_HELLO),
        Block::bash(TASK_COMMAND, "record the build"),
        [
            Usage::new(1000, 40, 300, 0),
            Usage::new(1100, 15, 0, 300),
            Usage::new(1200, 30, 0, 350),
            Usage::new(1300, 12, 25, 400),
            Usage::new(1400, 9, 0, 450),
        ],
    );
    let usage = iterations.iter().map(Iteration::usage).collect();
    (Script::new(iterations), usage)
}

/// Claude Code's price for claude-sonnet-4-5 (it reports the cost itself).
const SONNET_COST: Cost = Cost::Reported([3.0, 15.0, 3.75, 0.30]);

/// One iteration: writes `file` with `content`, runs `command` (its output to `command.txt`), completes.
fn one_iteration(file: &str, content: &str, command: &str) -> Script {
    Script::new([Iteration::new([
        Turn::tool(Block::write(format!("{WS}/{file}"), content)),
        Turn::tool(Block::bash(
            format!("({command}) > command.txt 2>&1"),
            "look around",
        )),
        Turn::text("Done and verified.\nLOOP_COMPLETE"),
    ])])
}

/// `podman run --rm --network host -v WS:/workspace EXTRA... IMAGE --agent claude LOOP_ARGS ... AGENT_ARGS`.
fn run_loop(
    podman: &Podman,
    dir: &TestDir,
    server: &ModelServer,
    extra: &[&str],
    ralph_args: &[&str],
) -> RunOutput {
    let mut args: Vec<String> = ["run", "--rm", "--network", "host", "-v"]
        .map(str::to_owned)
        .to_vec();
    args.push(format!("{}:{WS}", dir.workspace().display()));
    args.extend(claude_env(server));
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args.push(podman.image.clone());
    args.extend(["--agent", "claude"].map(str::to_owned));
    args.extend(ralph_args.iter().map(|s| (*s).to_owned()));
    args.extend(LOOP_ARGS.iter().map(|s| (*s).to_owned()));
    args.extend(AGENT_ARGS.iter().map(|s| (*s).to_owned()));
    podman.run(&args, dir)
}

// --- tests -----------------------------------------------------------------------------------------------

#[test]
fn version_user_workdir_and_image_settings() {
    let Some(podman) = podman() else { return };
    let dir = TestDir::without_git();

    let out = podman.run(
        [
            "run",
            "--rm",
            "--network",
            "none",
            &podman.image,
            "--version",
        ],
        &dir,
    );
    assert_eq!(out.code(), 0, "{}", out.dump());
    assert_eq!(
        out.stdout.trim(),
        format!("ralph {}", env!("CARGO_PKG_VERSION"))
    );

    // No arguments: CMD is --help.
    let out = podman.run(["run", "--rm", "--network", "none", &podman.image], &dir);
    assert_eq!(out.code(), 0, "{}", out.dump());
    assert!(out.stdout.contains("Usage"), "{}", out.dump());

    // --entrypoint /bin/bash -c ... works; the default user is ralph (1000) with a writable HOME; no build
    // tools in the runtime image; the agent CLIs and git are there.
    let script = "id -u; id -g; id -un; echo $HOME; pwd; test -w $HOME && echo home-writable; \
                  for t in cargo rustc gcc cc make npm; do command -v $t; done; \
                  claude --version; git --version; ralph --version";
    let out = podman.run(
        [
            "run",
            "--rm",
            "--network",
            "none",
            "--entrypoint",
            "/bin/bash",
            &podman.image,
            "-c",
            script,
        ],
        &dir,
    );
    assert_eq!(out.code(), 0, "{}", out.dump());
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[..6],
        ["1000", "1000", "ralph", "/home/ralph", WS, "home-writable"],
        "{}",
        out.dump()
    );
    assert_eq!(
        lines[6],
        "2.1.197 (Claude Code)",
        "only the pinned Claude Code; no build tools\n{}",
        out.dump()
    );
    assert!(lines[7].starts_with("git version"), "{}", out.dump());

    let out = podman.run(["image", "inspect", &podman.image], &dir);
    assert_eq!(out.code(), 0, "{}", out.dump());
    let inspect: Value = serde_json::from_str(&out.stdout).expect("image inspect JSON");
    let config = &inspect[0]["Config"];
    assert_eq!(config["User"], "1000:1000", "{config:#}");
    assert_eq!(config["WorkingDir"], WS, "{config:#}");
    assert_eq!(
        config["Entrypoint"],
        serde_json::json!(["ralph"]),
        "{config:#}"
    );
    assert_eq!(config["Cmd"], serde_json::json!(["--help"]), "{config:#}");
    assert!(
        config["ExposedPorts"].get("8080/tcp").is_some(),
        "{config:#}"
    );
    assert_eq!(
        inspect[0]["Healthcheck"]["Test"],
        serde_json::json!(["CMD", "ralph", "health"]),
        "HEALTHCHECK (needs --format docker)\n{config:#}"
    );
    let env: Vec<&str> = config["Env"]
        .as_array()
        .expect("Env")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(env.contains(&"RALPH_METRICS_ADDR=0.0.0.0"), "{env:?}");
    assert_eq!(
        config["Labels"]["org.opencontainers.image.title"], "ralph",
        "{config:#}"
    );
    assert_eq!(
        config["Labels"]["org.opencontainers.image.version"],
        env!("CARGO_PKG_VERSION"),
        "{config:#}"
    );
}

/// The seed's `docker run -v $(pwd):/workspace IMAGE --agent claude --prompt PROMPT.md`, with the workspace
/// owned by the image's user as on a typical workstation: three real iterations, a checkpoint.
#[test]
fn seed_command_runs_a_three_iteration_loop_with_the_real_claude_cli() {
    let Some(podman) = podman() else { return };
    let dir = TestDir::new();
    dir.write("PROMPT.md", TASK_PROMPT);
    chown_workspace(&dir, RALPH_UID, RALPH_UID);
    let (script, scripted) = three_iteration_script();
    let server = ModelServer::start(script);

    let out = run_loop(podman, &dir, &server, &[], &["--prompt", "PROMPT.md"]);

    assert_completed(&dir, &out, &server, &scripted, SONNET_COST);
    assert_task_files(&dir);
    let owner =
        fs::metadata(dir.path("hello.txt")).map(|m| std::os::unix::fs::MetadataExt::uid(&m));
    assert_eq!(owner.ok(), Some(RALPH_UID), "files are written as uid 1000");
    let checkpoints = checkpoint_subjects(&dir);
    assert_eq!(
        checkpoints.len(),
        1,
        "the final checkpoint: {checkpoints:?}"
    );
    assert_eq!(
        dir.git(&["status", "--porcelain"]),
        "",
        "clean after the checkpoint"
    );

    // What a restart policy does to a finished task: the same `docker run` again. It reports the earlier
    // outcome with the same exit code and spends nothing: no model request, no new checkpoint.
    let requests = server.requests().len();
    chown_workspace(&dir, RALPH_UID, RALPH_UID);
    let again = run_loop(podman, &dir, &server, &[], &["--prompt", "PROMPT.md"]);
    assert_eq!(again.code(), 0, "{}", again.dump());
    assert!(
        again.stderr.contains("already finished"),
        "{}",
        again.dump()
    );
    assert_eq!(
        server.requests().len(),
        requests,
        "no model request on a rerun"
    );
    assert_eq!(checkpoint_subjects(&dir), checkpoints);
}

/// A read-only prompt mount (`-v dir:/prompts:ro --prompt /prompts/PROMPT.md`) and a workspace owned by
/// another uid (root) than the container's user: git inside the container (the agent's shell) and ralph's
/// gitoxide checkpoints both work on it.
#[test]
fn read_only_prompt_mount_and_a_workspace_owned_by_another_uid() {
    let Some(podman) = podman() else { return };
    let dir = TestDir::new();
    make_workspace_world_writable(&dir);
    let prompts = dir.root().join("prompts");
    fs::create_dir(&prompts).expect("create prompts");
    fs::write(prompts.join("PROMPT.md"), "Write note.txt and check git.\n").expect("write prompt");
    let server = ModelServer::start(one_iteration(
        "note.txt",
        "a note\n",
        "git status --short; id -u",
    ));
    let mount = format!("{}:/prompts:ro", prompts.display());

    let out = run_loop(
        podman,
        &dir,
        &server,
        &["-v", &mount],
        &["--prompt", "/prompts/PROMPT.md"],
    );

    assert_eq!(out.code(), 0, "{}\n{}", out.dump(), server.log());
    let command = dir.read("command.txt");
    assert!(
        !command.contains("dubious"),
        "git refused the workspace:\n{command}"
    );
    assert!(
        command.contains("?? note.txt") && command.ends_with("1000\n"),
        "{command}"
    );
    assert_eq!(state(&dir)["stop_reason"]["reason"], "completed");
    assert_eq!(
        checkpoint_subjects(&dir).len(),
        1,
        "gitoxide checkpointed the foreign-owned workspace"
    );
    assert!(
        dir.git(&["show", "--stat", "HEAD"]).contains("note.txt"),
        "the checkpoint holds the agent's file"
    );
}

/// `--env-file` with `CLAUDE_API_KEY_FILE=/run/secrets/claude_key`: the key from the file reaches Claude Code
/// (the run completes without any other key) and is printed nowhere: not in `podman logs`, not under `.agent/`.
#[test]
fn env_file_and_a_key_file_secret_are_honoured_and_never_printed() {
    let Some(podman) = podman() else { return };
    let dir = TestDir::new();
    dir.write("PROMPT.md", "Write key-test.txt.\n");
    chown_workspace(&dir, RALPH_UID, RALPH_UID);
    let secret = "sk-ant-api03-containerTESTkey0000000000000000000000000000000000";
    let secrets = dir.root().join("secrets");
    fs::create_dir(&secrets).expect("create secrets");
    fs::write(secrets.join("claude_key"), format!("{secret}\n")).expect("write key");
    fs::set_permissions(
        secrets.join("claude_key"),
        fs::Permissions::from_mode(0o644),
    )
    .expect("chmod key");
    let env_file = dir.root().join("ralph.env");
    fs::write(
        &env_file,
        "CLAUDE_API_KEY_FILE=/run/secrets/claude_key\nRALPH_MAX_ITERATIONS=4\nRALPH_VERBOSE=true\n",
    )
    .expect("write env file");
    let server = ModelServer::start(one_iteration("key-test.txt", "ok\n", "echo done"));
    let container = Container::new(podman, "secret");

    // The dry run names the key as set, masked.
    let mut args: Vec<String> = vec![
        "run".into(),
        "--rm".into(),
        "--network".into(),
        "none".into(),
    ];
    args.extend(["--env-file".into(), env_file.display().to_string()]);
    args.extend([
        "-v".into(),
        format!("{}:/run/secrets:ro", secrets.display()),
    ]);
    args.extend(["-v".into(), format!("{}:{WS}", dir.workspace().display())]);
    args.extend([
        podman.image.clone(),
        "--agent".into(),
        "claude".into(),
        "--dry-run".into(),
    ]);
    let dry = podman.run(&args, &dir);
    assert_eq!(dry.code(), 0, "{}", dry.dump());
    assert!(
        dry.stdout.contains("CLAUDE_API_KEY") || dry.stderr.contains("CLAUDE_API_KEY"),
        "{}",
        dry.dump()
    );
    assert!(
        !dry.stdout.contains(secret) && !dry.stderr.contains(secret),
        "the dry run printed the key"
    );

    // The real run, without --rm so that `podman logs` can be read afterwards.
    let mut args: Vec<String> = vec!["run".into(), "--name".into(), container.name.clone()];
    args.extend([
        "--network".into(),
        "host".into(),
        "--env-file".into(),
        env_file.display().to_string(),
    ]);
    args.extend([
        "-v".into(),
        format!("{}:/run/secrets:ro", secrets.display()),
    ]);
    args.extend(["-v".into(), format!("{}:{WS}", dir.workspace().display())]);
    args.extend(claude_env_without(&server, &["ANTHROPIC_API_KEY"]));
    args.extend([podman.image.clone(), "--agent".into(), "claude".into()]);
    args.extend(LOOP_ARGS.iter().map(|s| (*s).to_string()));
    args.extend(AGENT_ARGS.iter().map(|s| (*s).to_string()));
    let out = podman.run(&args, &dir);
    assert_eq!(out.code(), 0, "{}\n{}", out.dump(), server.log());
    assert_eq!(dir.read("key-test.txt"), "ok\n");
    let logs = podman.run(["logs", &container.name], &dir);
    assert_eq!(logs.code(), 0, "{}", logs.dump());
    assert!(
        !logs.stdout.is_empty() || !logs.stderr.is_empty(),
        "podman logs is empty"
    );
    assert!(
        !logs.stdout.contains(secret) && !logs.stderr.contains(secret),
        "the key is in podman logs"
    );
    assert_not_leaked(secret, &dir, &out);
    let inspect = podman.run(["inspect", &container.name], &dir);
    assert!(
        !inspect.stdout.contains(secret),
        "the key is in the container's configuration"
    );
}

/// `--user $(id -u):$(id -g)`, and an arbitrary uid without a passwd entry: HOME stays writable, the loop
/// completes, files belong to that uid.
#[test]
fn runs_as_the_callers_uid_and_as_an_arbitrary_uid() {
    let Some(podman) = podman() else { return };
    let host = (
        nix::unistd::getuid().as_raw(),
        nix::unistd::getgid().as_raw(),
    );
    for (uid, gid) in [host, (4242, 4242)] {
        let dir = TestDir::new();
        dir.write("PROMPT.md", "Write user.txt.\n");
        chown_workspace(&dir, uid, gid);
        let server = ModelServer::start(one_iteration("user.txt", "mine\n", "id -u; echo $HOME"));
        let user = format!("{uid}:{gid}");

        let out = run_loop(
            podman,
            &dir,
            &server,
            &["--user", &user],
            &["--prompt", "PROMPT.md"],
        );

        assert_eq!(
            out.code(),
            0,
            "--user {user}\n{}\n{}",
            out.dump(),
            server.log()
        );
        assert_eq!(
            dir.read("command.txt"),
            format!("{uid}\n/home/ralph\n"),
            "--user {user}"
        );
        let owner =
            fs::metadata(dir.path("user.txt")).map(|m| std::os::unix::fs::MetadataExt::uid(&m));
        assert_eq!(owner.ok(), Some(uid), "--user {user}");
        assert_eq!(checkpoint_subjects(&dir).len(), 1, "--user {user}");
    }
}

/// `--read-only --tmpfs /tmp` (plus a tmpfs for HOME, where Claude Code keeps its settings), and the
/// resource limits `--pids-limit=100 --memory=512m`: the three-iteration loop completes under them.
#[test]
fn read_only_root_and_resource_limits() {
    let Some(podman) = podman() else { return };
    let dir = TestDir::new();
    dir.write("PROMPT.md", TASK_PROMPT);
    chown_workspace(&dir, RALPH_UID, RALPH_UID);
    let (script, scripted) = three_iteration_script();
    let server = ModelServer::start(script);
    let extra = [
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--tmpfs",
        "/home/ralph:mode=1777",
        "--cap-drop=ALL",
        "--security-opt=no-new-privileges",
        "--pids-limit=100",
        "--memory=512m",
    ];

    let out = run_loop(podman, &dir, &server, &extra, &["--prompt", "PROMPT.md"]);

    assert_completed(&dir, &out, &server, &scripted, SONNET_COST);
    assert_task_files(&dir);
}

/// `--network none` with `--dry-run`: the plan is printed, nothing runs, no network is needed.
#[test]
fn network_none_dry_run() {
    let Some(podman) = podman() else { return };
    let dir = TestDir::new();
    dir.write("PROMPT.md", "Plan only.\n");
    chown_workspace(&dir, RALPH_UID, RALPH_UID);
    let ws = format!("{}:{WS}", dir.workspace().display());

    let out = podman.run(
        [
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            &ws,
            &podman.image,
            "--agent",
            "claude",
            "--dry-run",
        ],
        &dir,
    );

    assert_eq!(out.code(), 0, "{}", out.dump());
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(
        text.contains("/opt/agents/bin/claude") && text.contains("/workspace/PROMPT.md (11 bytes)"),
        "{}",
        out.dump()
    );
    assert!(
        !dir.path(".agent/state.json").exists(),
        "a dry run starts no run"
    );
}

/// A run whose iteration 1 leaves orphans behind and whose iteration 2 waits for a model that never
/// answers, started detached as `NAME`; returns once iteration 2 has reached the model.
fn start_hanging_run<'p>(
    podman: &'p Podman,
    dir: &TestDir,
    server: &ModelServer,
    what: &str,
) -> (Container<'p>, Child) {
    let container = Container::new(podman, what);
    let mut args: Vec<String> = vec!["run".into(), "--name".into(), container.name.clone()];
    args.extend(["--network".into(), "host".into(), "-v".into()]);
    args.push(format!("{}:{WS}", dir.workspace().display()));
    args.extend(claude_env(server));
    args.extend([podman.image.clone(), "--agent".into(), "claude".into()]);
    args.extend(LOOP_ARGS.iter().map(|s| (*s).to_string()));
    args.extend(AGENT_ARGS.iter().map(|s| (*s).to_string()));
    let child = podman
        .cmd(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn podman run");
    let mut child = child;
    let deadline = Instant::now() + RUN_TIMEOUT;
    let two_sessions = |requests: &[ralph_testkit::RecordedRequest]| {
        let mut ids: Vec<&String> = requests
            .iter()
            .filter_map(|r| r.session_id.as_ref())
            .collect();
        ids.sort();
        ids.dedup();
        ids.len() >= 2
    };
    while !server.wait_for(Duration::from_secs(1), two_sessions) {
        if let Some(status) = child.try_wait().expect("poll podman run") {
            let out = child.wait_with_output().expect("podman run output");
            panic!(
                "podman run ended ({status}) before iteration 2 reached the model\n{}\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                server.log()
            );
        }
        assert!(
            Instant::now() < deadline,
            "iteration 2 never reached the model\n{}",
            server.log()
        );
    }
    (container, child)
}

/// The script of [`start_hanging_run`], then a completing iteration for the resumed run.
fn hanging_script() -> Script {
    // Orphans: a background process and a `setsid` one, both outliving the shell and exiting soon after.
    let orphans = "(sleep 1 &) ; setsid sh -c 'sleep 1' & echo spawned";
    Script::new([
        Iteration::new([
            Turn::tool(Block::bash(orphans, "start helpers")),
            Turn::text("Started the helpers; more to do."),
        ]),
        Iteration::hang(),
        Iteration::new([Turn::text("All done.\nLOOP_COMPLETE")]),
    ])
}

/// The process states inside the container (`STATE COMM` per process), from `podman exec`.
fn container_processes(podman: &Podman, dir: &TestDir, name: &str) -> String {
    let out = podman.run(
        [
            "exec",
            name,
            "sh",
            "-c",
            "for f in /proc/[0-9]*/stat; do cut -d' ' -f2,3 \"$f\"; done 2>/dev/null",
        ],
        dir,
    );
    assert_eq!(out.code(), 0, "{}", out.dump());
    out.stdout
}

/// `podman stop -t 10` ends a run gracefully (exit 143, state saved as interrupted); the next `podman run` on
/// the same workspace resumes it (same run id, the iteration count continues) and completes. While it ran,
/// ralph as PID 1 reaped the orphans iteration 1 left: no zombie remains.
#[test]
fn stop_ends_a_run_gracefully_and_the_next_run_resumes_it_without_zombies() {
    let Some(podman) = podman() else { return };
    let dir = TestDir::new();
    dir.write("PROMPT.md", "Work in several steps.\n");
    chown_workspace(&dir, RALPH_UID, RALPH_UID);
    let server = ModelServer::start(hanging_script());
    let (container, mut child) = start_hanging_run(podman, &dir, &server, "stop");

    // PID 1 is ralph (the init half); the orphans of iteration 1 are gone and none is a zombie.
    let deadline = Instant::now() + Duration::from_secs(20);
    let procs = loop {
        let procs = container_processes(podman, &dir, &container.name);
        let settled = !procs.contains("(sleep)") && !procs.lines().any(|l| l.ends_with(" Z"));
        if settled || Instant::now() > deadline {
            break procs;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        !procs.lines().any(|l| l.ends_with(" Z")),
        "zombies in the container:\n{procs}"
    );
    assert!(
        !procs.contains("(sleep)"),
        "the orphans are still running:\n{procs}"
    );
    let pid1 = podman.run(["exec", &container.name, "cat", "/proc/1/cmdline"], &dir);
    assert!(
        pid1.stdout.starts_with("ralph"),
        "PID 1 is ralph: {}",
        pid1.dump()
    );

    let stop = podman.run(["stop", "-t", "10", &container.name], &dir);
    assert_eq!(stop.code(), 0, "{}", stop.dump());
    let status = child.wait().expect("wait for podman run");
    assert_eq!(status.code(), Some(143), "SIGTERM: exit 143");
    let exit = podman.run(
        [
            "inspect",
            "--format",
            "{{.State.ExitCode}}",
            &container.name,
        ],
        &dir,
    );
    assert_eq!(exit.stdout.trim(), "143", "{}", exit.dump());
    let stopped = state(&dir);
    assert_eq!(
        stopped["stop_reason"]["reason"], "interrupted",
        "{stopped:#}"
    );
    assert_eq!(stopped["stop_reason"]["signal"], "SIGTERM", "{stopped:#}");
    let run_id = stopped["run_id"].clone();
    let stopped_at = stopped["iteration"].as_u64().expect("iteration");
    assert_eq!(stopped_at, 2, "{stopped:#}");
    drop(container);

    let out = run_loop(podman, &dir, &server, &[], &[]);

    assert_eq!(out.code(), 0, "{}\n{}", out.dump(), server.log());
    assert!(
        out.stderr.to_lowercase().contains("resum"),
        "ralph says it resumes\n{}",
        out.dump()
    );
    let finished = state(&dir);
    assert_eq!(finished["run_id"], run_id, "same run\n{finished:#}");
    assert_eq!(
        finished["stop_reason"]["reason"], "completed",
        "{finished:#}"
    );
    assert_eq!(finished["iteration"], stopped_at + 1, "{finished:#}");
    let records = iteration_records(&dir, &finished);
    assert_eq!(
        records.last().expect("records")["iteration"],
        stopped_at + 1,
        "{records:#?}"
    );
    assert_eq!(server.sessions().len(), 3, "{}", server.log());
}

/// `podman healthcheck run` (the image's `HEALTHCHECK CMD ["ralph","health"]`) is healthy while a run is
/// alive and progressing.
#[test]
fn healthcheck_is_healthy_during_a_run() {
    let Some(podman) = podman() else { return };
    let dir = TestDir::new();
    dir.write("PROMPT.md", "Work in several steps.\n");
    chown_workspace(&dir, RALPH_UID, RALPH_UID);
    let server = ModelServer::start(hanging_script());
    let (container, mut child) = start_hanging_run(podman, &dir, &server, "health");

    let health = podman.run(["healthcheck", "run", &container.name], &dir);

    assert_eq!(
        health.code(),
        0,
        "unhealthy during a run\n{}",
        health.dump()
    );
    let stop = podman.run(["stop", "-t", "10", &container.name], &dir);
    assert_eq!(stop.code(), 0, "{}", stop.dump());
    let _ = child.wait();
}
