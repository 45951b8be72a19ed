//! Checkpoint time with 10 changed files in repositories of 1k, 10k and 100k small files: `ralph-git`
//! (gitoxide, branch mode) against `git add -A && git commit -q` on an identical copy.
//!
//! Run with `cargo bench -p ralph-benches --bench checkpoint`; the repositories are generated once per size into
//! a temporary directory (100k files take a minute or so). Only the checkpoint is timed, not the edits.
//! Under `cargo test` (criterion's test mode, [`ralph_benches::quick`]) only the 1k size runs, once.

use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, SamplingMode, criterion_group, criterion_main};
use ralph_benches::BenchRepo;
use ralph_core::CheckpointRequest;
use ralph_git::{CheckpointOptions, GitCheckpointer};

/// Files changed before each measured checkpoint.
const CHANGED_FILES: usize = 10;
/// Repository sizes, in files.
const SIZES: &[usize] = &[1_000, 10_000, 100_000];
/// Repository sizes under `cargo test`.
const QUICK_SIZES: &[usize] = &[1_000];

fn checkpoint(c: &mut Criterion) {
    let mut group = c.benchmark_group("checkpoint");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    let sizes = if ralph_benches::quick() {
        QUICK_SIZES
    } else {
        SIZES
    };
    for &size in sizes {
        let dir = tempfile::tempdir().expect("temp dir");
        let ours =
            BenchRepo::create(&dir.path().join("gix"), size).expect("generate the repository");
        let theirs = ours
            .copy_to(&dir.path().join("git"))
            .expect("copy the repository");
        let checkpointer =
            GitCheckpointer::open(ours.path(), CheckpointOptions::default()).expect("open");

        let mut round = 0;
        group.bench_with_input(BenchmarkId::new("ralph-git", size), &size, |b, _| {
            b.iter_batched(
                || {
                    round += 1;
                    ours.change_files(CHANGED_FILES, round).expect("edit files");
                    request(round)
                },
                |request| {
                    let outcome = checkpointer
                        .checkpoint_blocking(&request)
                        .expect("checkpoint");
                    assert!(outcome.commit().is_some(), "every round changes files");
                },
                BatchSize::PerIteration,
            );
        });

        let mut round = 0;
        group.bench_with_input(BenchmarkId::new("git-cli", size), &size, |b, _| {
            b.iter_batched(
                || {
                    round += 1;
                    theirs
                        .change_files(CHANGED_FILES, round)
                        .expect("edit files");
                    round
                },
                |round| {
                    theirs
                        .git_add_and_commit(round)
                        .expect("git add -A && git commit")
                },
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

fn request(iteration: u64) -> CheckpointRequest {
    CheckpointRequest {
        run_id: "bench".to_owned(),
        iteration,
        agent: "bench".to_owned(),
        cost_usd: 0.0,
        is_final: false,
        state_dir: None,
    }
}

criterion_group!(benches, checkpoint);
criterion_main!(benches);
