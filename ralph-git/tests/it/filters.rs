//! What is never committed: ignored files, ralph's runtime files, secret-looking and oversized untracked files,
//! nested repositories.

use ralph_git::{CheckpointOptions, SkipFileReason, SkippedFile};

use crate::support::{Fixture, assert_checkpoint_matches_git, committed, request};

#[test]
fn ignored_files_are_never_committed_with_nested_ignores_negations_and_info_exclude() {
    let fx = Fixture::new(
        r#"new_repo
printf '*.log\n!keep.log\n/build/\n' > .gitignore
mkdir -p sub/deeper
printf 'local-*\n!local-keep\n' > sub/.gitignore
echo 'scratch/' >> .git/info/exclude
echo tracked > tracked.log
git add -f tracked.log
git add -A && git commit -qm initial
"#,
    );
    fx.sh(
        r#"mkdir -p build scratch sub/deeper/build
echo x > app.log; echo k > keep.log; echo b > build/out.o; echo s > scratch/tmp
echo l > sub/local-a; echo lk > sub/local-keep; echo d > sub/deeper/local-b; echo nb > sub/deeper/build/not-root.o
echo changed >> tracked.log
"#,
    );

    let outcome = fx.checkpoint();

    assert_checkpoint_matches_git(&fx, &outcome, &[]);
    let files = fx.files_in("HEAD");
    for ignored in [
        "app.log",
        "build/out.o",
        "scratch/tmp",
        "sub/local-a",
        "sub/deeper/local-b",
    ] {
        assert!(
            !files.contains(&ignored.to_owned()),
            "{ignored} must not be committed: {files:?}"
        );
    }
    for kept in ["keep.log", "sub/local-keep", "sub/deeper/build/not-root.o"] {
        assert!(
            files.contains(&kept.to_owned()),
            "{kept} must be committed: {files:?}"
        );
    }
    assert_eq!(
        fx.git(&["show", "HEAD:tracked.log"]),
        "tracked\nchanged",
        "tracked files stay tracked even if ignored"
    );
}

#[test]
fn the_state_dir_runtime_files_are_never_committed_even_without_its_gitignore() {
    let fx = Fixture::new("new_repo; echo a > a; git add a; git commit -qm i");
    fx.sh(r#"mkdir -p .agent/runs/r1
echo '{}' > .agent/state.json; echo 1 > .agent/lock; echo '{}' > .agent/runs/r1/iterations.jsonl
echo notes > .agent/scratchpad.md
"#);

    let outcome = fx.checkpoint();

    let checkpoint = committed(&outcome);
    assert_eq!(
        checkpoint.tree.0,
        fx.oracle_tree(&[".agent/state.json", ".agent/lock", ".agent/runs"]),
    );
    assert_eq!(fx.files_in("HEAD"), vec![".agent/scratchpad.md", "a"]);
    assert!(
        checkpoint
            .skipped
            .iter()
            .all(|s| s.reason == SkipFileReason::StateDir)
    );
    assert_eq!(checkpoint.skipped.len(), 3);
}

#[test]
fn with_ralphs_gitignore_the_state_dir_commits_as_git_does() {
    let fx = Fixture::new("new_repo; echo a > a; git add a; git commit -qm i");
    fx.sh(
        r#"mkdir -p .agent/runs/r1
printf '# Written by ralph\n*\n!.gitignore\n!scratchpad.md\n' > .agent/.gitignore
echo '{}' > .agent/state.json; echo '{}' > .agent/runs/r1/1.output.jsonl; echo notes > .agent/scratchpad.md
"#,
    );

    let outcome = fx.checkpoint();

    assert_checkpoint_matches_git(&fx, &outcome, &[]);
    assert_eq!(
        fx.files_in("HEAD"),
        vec![".agent/.gitignore", ".agent/scratchpad.md", "a"]
    );
}

#[test]
fn a_state_dir_elsewhere_is_honoured() {
    let fx = Fixture::new("new_repo; echo a > a; git add a; git commit -qm i");
    fx.sh("mkdir -p var/ralph; echo '{}' > var/ralph/state.json; echo n > var/ralph/scratchpad.md; echo '{}' > .agent-like.json");
    let options = CheckpointOptions {
        state_dir: fx.file("var/ralph"),
        ..CheckpointOptions::default()
    };

    let outcome = fx.checkpoint_with(options);

    assert_checkpoint_matches_git(&fx, &outcome, &["var/ralph/state.json"]);
}

#[test]
fn the_state_dir_named_by_the_request_wins_over_the_options() {
    let fx = Fixture::new("new_repo; echo a > a; git add a; git commit -qm i");
    fx.sh("mkdir -p var/ralph; echo '{}' > var/ralph/state.json; echo n > var/ralph/scratchpad.md; echo '{}' > .agent-like.json");
    // The options keep their default (`.agent`): the engine names its state directory in the request.
    let request = request("run-1", 1).with_state_dir(fx.file("var/ralph"));

    let outcome = fx
        .checkpointer(CheckpointOptions::default())
        .checkpoint_blocking(&request)
        .expect("checkpoint");

    assert_checkpoint_matches_git(&fx, &outcome, &["var/ralph/state.json"]);
}

#[test]
fn untracked_secret_looking_files_are_skipped_reported_and_left_untracked() {
    let fx =
        Fixture::new("new_repo; echo 'A=1' > .env; git add .env; git commit -qm 'tracked env'");
    fx.sh(
        r#"mkdir -p config .ssh
echo 'A=2' > .env
echo 'KEY=x' > .env.local; echo 'KEY=' > .env.example
echo pem > config/server.pem; echo key > config/tls.key; echo rsa > .ssh/id_rsa; echo pub > .ssh/id_rsa.pub
echo code > config/app.toml
"#,
    );

    let outcome = fx.checkpoint();

    let secrets = [
        ".env.local",
        ".ssh/id_rsa",
        ".ssh/id_rsa.pub",
        "config/server.pem",
        "config/tls.key",
    ];
    assert_checkpoint_matches_git(&fx, &outcome, &secrets);
    let checkpoint = committed(&outcome);
    let reported: Vec<_> = checkpoint
        .skipped
        .iter()
        .map(|s| s.path.to_str().unwrap())
        .collect();
    assert_eq!(reported, secrets);
    assert!(
        matches!(&checkpoint.skipped[0].reason, SkipFileReason::Secret { pattern } if pattern == ".env.*")
    );
    assert_eq!(
        fx.git(&["show", "HEAD:.env"]),
        "A=2",
        "a tracked .env stays tracked"
    );
    assert!(fx.files_in("HEAD").contains(&".env.example".to_owned()));
}

#[test]
fn untracked_files_over_the_size_limit_are_skipped_but_tracked_ones_are_committed() {
    let fx = Fixture::new("new_repo; echo small > big-tracked.bin; git add -A; git commit -qm i");
    fx.sh("head -c 2048 /dev/zero > big-tracked.bin; head -c 1025 /dev/zero > big.bin; head -c 1024 /dev/zero > fits.bin");
    let options = CheckpointOptions {
        max_untracked_file_size: 1024,
        ..CheckpointOptions::default()
    };

    let outcome = fx.checkpoint_with(options);

    assert_checkpoint_matches_git(&fx, &outcome, &["big.bin"]);
    assert_eq!(
        committed(&outcome).skipped,
        vec![SkippedFile {
            path: "big.bin".into(),
            reason: SkipFileReason::TooLarge {
                size: 1025,
                limit: 1024
            },
        }]
    );
}

#[test]
fn an_untracked_nested_repository_is_not_turned_into_a_submodule() {
    let fx = Fixture::new("new_repo; echo a > a; git add a; git commit -qm i");
    fx.sh("new_repo vendored; echo v > vendored/v.txt; git -C vendored add -A; git -C vendored commit -qm v; echo b > b");

    let outcome = fx.checkpoint();

    assert_checkpoint_matches_git(&fx, &outcome, &["vendored/"]);
    assert_eq!(
        committed(&outcome).skipped[0].reason,
        SkipFileReason::EmbeddedRepository
    );
}
