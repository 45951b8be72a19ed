//! A fresh crate outside the workspace (its own `[workspace]`, in the temporary directory) depends on
//! `ralph-core` and `ralph-agents` by path, as a user's tool would after `cargo add`, and its own test
//! suite runs loops with a custom agent, with the command agent (`sh -c`) and with a `mockall` mock of the
//! `Agent` trait. Built with `cargo test --offline` (the registry cache the workspace build filled, the
//! workspace's `Cargo.lock` as a starting point) in `<target>/tmp/downstream-target`, so only the first
//! run compiles the dependencies.

use ralph_testkit::run_with_timeout;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The downstream crate's own tests: what a user writes, from the crate docs.
const LIB_RS: &str = r#"//! A tool that embeds the ralph loop.

#[cfg(test)]
mod tests {
    use ralph_core::prompt::PromptSource;
    use ralph_core::{
        Agent, AgentOutcome, AgentRequest, CancellationToken, Engine, EngineConfig, Error,
        EventSender, StopHandle, StopReason,
    };
    use std::sync::atomic::{AtomicU32, Ordering};

    fn config(workspace: &std::path::Path) -> EngineConfig {
        let mut config =
            EngineConfig::new(PromptSource::Text("Say done.".into()), workspace.into());
        config.limits.max_iterations = Some(5);
        config
    }

    fn completed_in(reason: &StopReason) -> Option<u64> {
        match reason {
            StopReason::Completed { iteration, .. } => Some(*iteration),
            _ => None,
        }
    }

    /// Completes on its second run.
    struct Twice(AtomicU32);

    #[ralph_core::async_trait]
    impl Agent for Twice {
        fn name(&self) -> &str {
            "twice"
        }
        async fn run(
            &self,
            _: AgentRequest,
            _: EventSender,
            _: CancellationToken,
        ) -> Result<AgentOutcome, Error> {
            let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(AgentOutcome::success(if n == 2 { "LOOP_COMPLETE" } else { "working" }))
        }
    }

    #[tokio::test]
    async fn a_custom_agent_completes_in_its_second_iteration() {
        let dir = tempfile::tempdir().unwrap();
        let summary = Engine::new(config(dir.path()), Box::new(Twice(AtomicU32::new(0))))
            .run(StopHandle::new())
            .await;
        assert_eq!(completed_in(&summary.reason), Some(2), "{summary:?}");
        assert_eq!(summary.iterations, 2);
    }

    #[tokio::test]
    async fn the_command_agent_runs_a_shell_command_that_prints_the_promise() {
        let dir = tempfile::tempdir().unwrap();
        let agent = ralph_agents::CommandAgent::new(vec![
            "sh".into(),
            "-c".into(),
            "cat > prompt.txt; echo 'All done.'; echo LOOP_COMPLETE".into(),
        ])
        .unwrap();
        let summary = Engine::new(config(dir.path()), Box::new(agent))
            .run(StopHandle::new())
            .await;
        assert_eq!(completed_in(&summary.reason), Some(1), "{summary:?}");
        assert_eq!(summary.iterations, 1);
        let prompt = std::fs::read_to_string(dir.path().join("prompt.txt")).unwrap();
        assert!(prompt.contains("Say done."), "the prompt arrives on stdin: {prompt}");
    }

    mockall::mock! {
        Agent {}
        #[ralph_core::async_trait]
        impl Agent for Agent {
            fn name(&self) -> &str;
            async fn run(
                &self,
                request: AgentRequest,
                events: EventSender,
                cancel: CancellationToken,
            ) -> Result<AgentOutcome, Error>;
        }
    }

    #[tokio::test]
    async fn a_mockall_mock_of_the_agent_trait_drives_the_loop() {
        let dir = tempfile::tempdir().unwrap();
        let mut agent = MockAgent::new();
        agent.expect_name().return_const("mock".to_string());
        let mut seq = mockall::Sequence::new();
        agent
            .expect_run()
            .withf(|request, _, _| request.iteration == 1)
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _, _| Ok(AgentOutcome::success("not yet")));
        agent
            .expect_run()
            .withf(|request, _, _| request.iteration == 2 && request.prompt.contains("Say done."))
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _, _| Ok(AgentOutcome::success("LOOP_COMPLETE")));
        let summary = Engine::new(config(dir.path()), Box::new(agent))
            .run(StopHandle::new())
            .await;
        assert_eq!(completed_in(&summary.reason), Some(2), "{summary:?}");
    }
}
"#;

/// The `name` in the `[package]` table of the manifest at `path` (the crates may be published under
/// other names than their directories).
fn package_name(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let mut in_package = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package && let Some(value) = line.strip_prefix("name") {
            let value = value.trim_start().trim_start_matches('=').trim();
            return value.trim_matches('"').to_string();
        }
    }
    panic!("no [package] name in {}", path.display());
}

#[test]
fn a_fresh_crate_outside_the_workspace_embeds_the_loop() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let dir = tempfile::Builder::new()
        .prefix("ralph-downstream-")
        .tempdir()
        .unwrap();
    let krate = dir.path().join("downstream");
    assert!(!krate.starts_with(root), "outside the workspace");
    std::fs::create_dir_all(krate.join("src")).unwrap();
    let dep = |dir: &str| {
        let path = root.join(dir);
        format!(
            "{{ path = {:?}, package = {:?} }}",
            path.display().to_string(),
            package_name(&path.join("Cargo.toml"))
        )
    };
    let manifest = format!(
        r#"[package]
name = "downstream"
version = "0.0.0"
edition = "2024"
publish = false

# Not part of any other workspace.
[workspace]

[dependencies]
ralph-core = {core}
ralph-agents = {agents}
tokio = {{ version = "1", features = ["macros", "rt"] }}

[dev-dependencies]
mockall = "0.15"
tempfile = "3"
"#,
        core = dep("ralph-core"),
        agents = dep("ralph-agents"),
    );
    std::fs::write(krate.join("Cargo.toml"), manifest).unwrap();
    std::fs::write(krate.join("src/lib.rs"), LIB_RS).unwrap();
    // The versions the workspace was built and tested with, all in the registry cache.
    std::fs::copy(root.join("Cargo.lock"), krate.join("Cargo.lock")).unwrap();

    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("downstream-target");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["test", "--offline"])
        .current_dir(&krate)
        .env("CARGO_TARGET_DIR", &target);
    let started = Instant::now();
    let out = run_with_timeout(&mut cmd, None, Duration::from_secs(900), dir.path());
    eprintln!(
        "downstream `cargo test --offline`: {:.1?}",
        started.elapsed()
    );

    assert_eq!(out.code(), 0, "{}", out.dump());
    assert!(
        out.stdout.contains("test result: ok. 3 passed"),
        "{}",
        out.dump()
    );
}
