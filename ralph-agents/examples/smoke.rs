//! Temporary smoke run against the real claude (not committed).
use ralph_agents::ClaudeAgent;
use ralph_core::{Agent, AgentRequest, TimeoutKind};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port = &args[1];
    let ws = std::path::PathBuf::from(&args[2]);
    let home = &args[3];
    let deadline_ms: u64 = args[4].parse().unwrap();
    let env = BTreeMap::from([
        ("ANTHROPIC_BASE_URL".to_string(), format!("http://127.0.0.1:{port}")),
        ("ANTHROPIC_API_KEY".to_string(), "dummy".to_string()),
        ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC".to_string(), "1".to_string()),
        ("DISABLE_TELEMETRY".to_string(), "1".to_string()),
        ("DISABLE_AUTOUPDATER".to_string(), "1".to_string()),
        ("DISABLE_ERROR_REPORTING".to_string(), "1".to_string()),
        ("CLAUDE_CODE_MAX_RETRIES".to_string(), "0".to_string()),
        ("HOME".to_string(), home.clone()),
    ]);
    let agent = ClaudeAgent::new()
        .with_command(vec!["/work/target-agents/npm/node_modules/.bin/claude".into()])
        .with_model(Some("claude-sonnet-4-5".into()))
        .with_env(env);
    let req = AgentRequest {
        prompt: "Write hello.txt".into(),
        workspace: ws.clone(),
        state_dir: ws.join(".agent"),
        run_id: "smoke".into(),
        iteration: 1,
        deadline: Some(Instant::now() + Duration::from_millis(deadline_ms)),
        deadline_kind: TimeoutKind::Iteration,
        idle_timeout: None,
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let t = Instant::now();
    let o = agent.run(req, tx, CancellationToken::new()).await.unwrap();
    while let Ok(e) = rx.try_recv() {
        println!("event {e:?}");
    }
    println!("took {:?}", t.elapsed());
    println!("status {:?} message {:?} final {:?} exit {:?} usage {:?} cost {:?}", o.status, o.message, o.final_text, o.exit_code, o.usage, o.cost);
}
