//! `ralph checkpoints` and `ralph rollback`: listing checkpoints from their trailers, restoring one as a new
//! commit without rewriting history, and refusing to overwrite uncommitted work.

use ralph_git::{
    CheckpointMode, CheckpointOptions, Error, RollbackOptions, list_checkpoints, rollback,
};

use crate::support::{Fixture, committed, request};

/// A repository with an initial commit, then two checkpoints of run `run-a` (iterations 1 and 2).
fn with_two_checkpoints() -> (Fixture, String, String) {
    let fx = Fixture::new(
        "new_repo; echo v0 > app.txt; echo keep > keep.txt; git add -A; git commit -qm initial",
    );
    let git = fx.checkpointer(CheckpointOptions::default());
    fx.sh("echo v1 > app.txt; echo one > one.txt");
    let first = git.checkpoint_blocking(&request("run-a", 1)).unwrap();
    fx.sh("echo v2 > app.txt; rm one.txt; mkdir -p new/dir; echo two > new/dir/two.txt; ln -s app.txt link; chmod +x keep.txt");
    let second = git.checkpoint_blocking(&request("run-a", 2)).unwrap();
    (
        fx,
        committed(&first).commit.0.clone(),
        committed(&second).commit.0.clone(),
    )
}

#[test]
fn checkpoints_are_listed_oldest_first_with_iteration_run_and_files_changed() {
    let (fx, first, second) = with_two_checkpoints();
    fx.sh("git commit -q --allow-empty -m 'not a checkpoint'");
    let options = CheckpointOptions {
        mode: CheckpointMode::Ref,
        ..CheckpointOptions::default()
    };
    fx.sh("echo ref > ref.txt");
    let in_ref = fx
        .checkpointer(options)
        .checkpoint_blocking(&request("run-b", 9))
        .unwrap();

    let all = list_checkpoints(&fx.path(), None).unwrap();

    let summary: Vec<_> = all
        .iter()
        .map(|c| {
            (
                c.id.0.clone(),
                c.run_id.as_str(),
                c.iteration,
                c.files_changed,
                c.reference.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (first.clone(), "run-a", 1, 2, "HEAD"),
            (second.clone(), "run-a", 2, 5, "HEAD"),
            (
                committed(&in_ref).commit.0.clone(),
                "run-b",
                9,
                1,
                "refs/ralph/checkpoints/run-b"
            ),
        ]
    );
    assert_eq!(all[0].message, "ralph: checkpoint 1 (run run-a)");
    assert_eq!(all[0].agent.as_deref(), Some("test-agent"));
    assert_eq!(all[0].cost_usd, Some(0.25));
    assert!(
        all[0].time > 1_600_000_000,
        "commit time in seconds since the epoch"
    );

    let run_a = list_checkpoints(&fx.path(), Some("run-a")).unwrap();
    assert_eq!(
        run_a.iter().map(|c| c.iteration).collect::<Vec<_>>(),
        vec![1, 2]
    );
}

#[test]
fn rollback_restores_a_checkpoint_as_a_new_commit_without_rewriting_history() {
    let (fx, first, second) = with_two_checkpoints();
    let first_tree = fx.rev(&format!("{first}^{{tree}}"));

    let id = rollback(&fx.path(), &first[..10], &RollbackOptions::default()).unwrap();

    assert_eq!(fx.rev("HEAD"), id.0);
    assert_eq!(
        fx.rev("HEAD~1"),
        second,
        "the rollback commit sits on top of the history"
    );
    assert_eq!(fx.rev("HEAD^{tree}"), first_tree);
    assert_eq!(
        fx.oracle_tree(&[]),
        first_tree,
        "the working tree holds the checkpoint's files"
    );
    assert_eq!(std::fs::read_to_string(fx.file("app.txt")).unwrap(), "v1\n");
    assert!(
        !fx.file("new").exists(),
        "directories emptied by the rollback are removed"
    );
    assert!(!fx.file("link").exists());
    assert_eq!(fx.git(&["diff-files", "--name-only"]), "");
    assert_eq!(fx.status(), Vec::<String>::new());
    assert!(
        fx.git(&["log", "-1", "--format=%B"])
            .contains(&format!("Ralph-Rollback-To: {first}"))
    );
    fx.assert_fsck_clean();

    // And forward again: the second checkpoint is still reachable and restorable.
    rollback(&fx.path(), &second, &RollbackOptions::default()).unwrap();
    assert_eq!(fx.rev("HEAD^{tree}"), fx.rev(&format!("{second}^{{tree}}")));
    assert_eq!(fx.oracle_tree(&[]), fx.rev("HEAD^{tree}"));
    assert!(fx.git(&["ls-tree", "HEAD", "link"]).starts_with("120000"));
}

#[test]
fn rollback_refuses_to_overwrite_uncommitted_changes_and_names_them() {
    let (fx, first, _) = with_two_checkpoints();
    fx.sh("echo 'precious work' > app.txt; echo draft > draft.txt");
    let head = fx.rev("HEAD");

    let err = rollback(&fx.path(), &first, &RollbackOptions::default()).unwrap_err();

    match &err {
        Error::DirtyWorkspace { files } => assert_eq!(files, &["app.txt", "draft.txt"]),
        other => panic!("expected DirtyWorkspace, got {other:?}"),
    }
    assert!(err.to_string().contains("--checkpoint-first"), "{err}");
    assert_eq!(fx.rev("HEAD"), head);
    assert_eq!(
        std::fs::read_to_string(fx.file("app.txt")).unwrap(),
        "precious work\n"
    );
}

#[test]
fn rollback_refuses_when_a_skipped_secret_file_would_be_overwritten() {
    let fx = Fixture::new("new_repo; echo a > a; git add a; git commit -qm initial");
    fx.sh("echo OLD=1 > .env; git add .env");
    let with_env = fx.checkpoint();
    fx.sh("git rm -q .env; git commit -qm 'stop tracking .env'; echo SECRET=1 > .env");

    let err = rollback(
        &fx.path(),
        &committed(&with_env).commit.0,
        &RollbackOptions::default(),
    )
    .unwrap_err();

    assert!(
        matches!(&err, Error::DirtyWorkspace { files } if files == &[".env"]),
        "{err:?}"
    );
    assert_eq!(
        std::fs::read_to_string(fx.file(".env")).unwrap(),
        "SECRET=1\n"
    );
}

#[test]
fn rollback_refuses_to_overwrite_an_ignored_file() {
    let fx = Fixture::new("new_repo; echo a > a; git add a; git commit -qm initial");
    fx.sh("echo v1 > cache.db");
    let with_cache = fx.checkpoint();
    fx.sh("git rm -q --cached cache.db; echo cache.db > .gitignore; git add .gitignore; git commit -qm 'ignore the cache'; echo v2 > cache.db");

    let err = rollback(
        &fx.path(),
        &committed(&with_cache).commit.0,
        &RollbackOptions::default(),
    )
    .unwrap_err();

    assert!(
        matches!(&err, Error::DirtyWorkspace { files } if files == &["cache.db"]),
        "{err:?}"
    );
    assert_eq!(
        std::fs::read_to_string(fx.file("cache.db")).unwrap(),
        "v2\n"
    );
}

#[test]
fn rollback_with_checkpoint_first_saves_the_uncommitted_work_then_restores() {
    let (fx, first, _) = with_two_checkpoints();
    fx.sh("echo 'precious work' > app.txt");

    let options = RollbackOptions {
        checkpoint_first: true,
        ..RollbackOptions::default()
    };
    rollback(&fx.path(), &first, &options).unwrap();

    assert_eq!(
        fx.git(&["show", "HEAD~1:app.txt"]),
        "precious work",
        "the save commit holds the work"
    );
    assert!(
        fx.git(&["log", "-1", "--format=%s", "HEAD~1"])
            .starts_with("ralph: save before rollback to ")
    );
    assert_eq!(std::fs::read_to_string(fx.file("app.txt")).unwrap(), "v1\n");
    assert_eq!(fx.status(), Vec::<String>::new());
}

#[test]
fn rollback_rejects_ids_that_are_not_checkpoints() {
    let (fx, _, _) = with_two_checkpoints();
    let initial = fx.rev("HEAD~2");

    let not_a_checkpoint = rollback(&fx.path(), &initial, &RollbackOptions::default()).unwrap_err();
    let too_short = rollback(&fx.path(), "ab", &RollbackOptions::default()).unwrap_err();

    assert!(
        matches!(not_a_checkpoint, Error::UnknownCheckpoint { .. }),
        "{not_a_checkpoint:?}"
    );
    assert!(not_a_checkpoint.to_string().contains("ralph checkpoints"));
    assert!(
        matches!(too_short, Error::UnknownCheckpoint { .. }),
        "{too_short:?}"
    );
}

#[test]
fn rollback_during_a_merge_is_refused() {
    let (fx, first, _) = with_two_checkpoints();
    fx.sh("git checkout -qb other HEAD~1; echo theirs > app.txt; git commit -qam theirs; git checkout -q main; git merge other >/dev/null 2>&1 || true");

    let err = rollback(&fx.path(), &first, &RollbackOptions::default()).unwrap_err();

    assert!(matches!(err, Error::Busy { .. }), "{err:?}");
}

#[test]
fn rollback_in_a_workspace_inside_a_larger_repository_restores_only_the_workspace() {
    let fx = Fixture::new(
        "new_repo; mkdir pkg other; echo p0 > pkg/p; echo o0 > other/o; git add -A; git commit -qm initial",
    );
    let pkg =
        ralph_git::GitCheckpointer::open(fx.file("pkg"), CheckpointOptions::default()).unwrap();
    fx.sh("echo p1 > pkg/p");
    let first = pkg.checkpoint_blocking(&request("r", 1)).unwrap();
    fx.sh("echo p2 > pkg/p; echo n > pkg/n; echo o1 > other/o; git add -A; git commit -qm 'work inside and outside the workspace'");

    rollback(
        &fx.file("pkg"),
        &committed(&first).commit.0,
        &RollbackOptions::default(),
    )
    .unwrap();

    assert_eq!(fx.git(&["show", "HEAD:pkg/p"]), "p1");
    assert_eq!(
        fx.git(&["show", "HEAD:other/o"]),
        "o1",
        "outside the workspace nothing is rolled back"
    );
    assert!(!fx.file("pkg/n").exists());
    assert_eq!(fx.status(), Vec::<String>::new());
}
