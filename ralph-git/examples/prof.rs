fn main() {
    let path = std::env::args().nth(1).unwrap();
    let git = ralph_git::GitCheckpointer::open(&path, Default::default()).unwrap();
    for round in 0..20u64 {
        for i in 0..10 {
            std::fs::write(format!("{path}/d{}/f{}.txt", i * 10, i), format!("round {round}\n")).unwrap();
        }
        let t = std::time::Instant::now();
        let req = ralph_core::CheckpointRequest { run_id: "p".into(), iteration: round, agent: "a".into(), cost_usd: 0.0, is_final: false };
        let out = git.checkpoint_blocking(&req).unwrap();
        eprintln!("{:?} {}", t.elapsed(), out.commit().is_some());
    }
}
