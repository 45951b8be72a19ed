//! Processes that leave an agent's process group (`setsid`) are killed after the run from ralph's own
//! children, with no scan of the machine's processes.
//!
//! A test binary of its own: [`ProcessRegistry::adopt_orphans`] makes the whole process a child subreaper,
//! which must not change what the other process tests see.

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use ralph_agents::reaper::{MARKER_VAR, PID_FILE};
use ralph_agents::{CommandAgent, ProcessRegistry};
use ralph_core::{Agent, AgentRequest, OutcomeStatus, TimeoutKind};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

fn pid_in(path: &Path) -> Pid {
    let began = Instant::now();
    loop {
        if let Some(pid) = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
        {
            return Pid::from_raw(pid);
        }
        assert!(
            began.elapsed() < Duration::from_secs(5),
            "{path:?} never written"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[tokio::test]
async fn a_marked_process_that_left_the_group_is_killed_after_its_run_from_our_own_children() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join(".agent");
    std::fs::create_dir(&state).unwrap();
    let processes = ProcessRegistry::recording_in(&state);
    processes.adopt_orphans().unwrap();
    // Two daemons that leave the agent's group and session: one keeps the marker, one drops it (the
    // sweep only kills what it can tell is the agent's).
    let script = dir.path().join("agent.sh");
    std::fs::write(
        &script,
        "cat > /dev/null\n\
         setsid sh -c 'echo $$ > marked.pid; exec sleep 300' < /dev/null > /dev/null 2>&1 &\n\
         setsid env -u RALPH_AGENT_OF sh -c 'echo $$ > unmarked.pid; exec sleep 300' < /dev/null > /dev/null 2>&1 &\n\
         while [ ! -s marked.pid ] || [ ! -s unmarked.pid ]; do sleep 0.01; done\n\
         printenv RALPH_AGENT_OF > marker.txt\n\
         echo done\n",
    )
    .unwrap();
    let agent = CommandAgent::new(vec!["sh".into(), script.display().to_string()]).unwrap();
    let request = AgentRequest {
        prompt: "x".into(),
        workspace: dir.path().to_path_buf(),
        state_dir: state.clone(),
        run_id: "t".into(),
        iteration: 1,
        deadline: Some(Instant::now() + Duration::from_secs(20)),
        deadline_kind: TimeoutKind::Iteration,
        idle_timeout: None,
    };
    let (events, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let outcome = processes
        .scope(agent.run(request, events, CancellationToken::new()))
        .await
        .unwrap();
    drain.await.unwrap();
    assert_eq!(outcome.status, OutcomeStatus::Success, "{outcome:?}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("marker.txt"))
            .unwrap()
            .trim(),
        state.display().to_string(),
        "the agent carries {MARKER_VAR}"
    );

    let marked = pid_in(&dir.path().join("marked.pid"));
    let unmarked = pid_in(&dir.path().join("unmarked.pid"));
    assert_eq!(
        kill(marked, None),
        Err(Errno::ESRCH),
        "the marked daemon is killed and reaped when the run ends"
    );
    assert_eq!(processes.adopted_killed(), 1);
    let examined = processes.children_examined();
    assert!(
        (1..10).contains(&examined),
        "only our own children are looked at: {examined}"
    );
    assert!(processes.running().is_empty());
    assert!(
        std::fs::read_to_string(state.join(PID_FILE))
            .unwrap_or_default()
            .trim()
            .is_empty(),
        "no live group left to record"
    );

    // The unmarked one was adopted (it is our child now) but left alone.
    kill(unmarked, None).expect("the unmarked daemon is left alone");
    kill(unmarked, Signal::SIGKILL).unwrap();
    waitpid(unmarked, None).expect("adopted: it is our child");
}
