//! The edge cases of the issue, one test each: repository states, locks, identity, file kinds, paths.

use std::time::{Duration, Instant};

use ralph_git::{CheckpointOptions, CheckpointOutcome, GitCheckpointer, SkipReason};

use crate::support::{Fixture, assert_checkpoint_matches_git, committed, request};

/// A repository with one commit of `a.txt` and `dir/b.txt`.
fn committed_repo() -> Fixture {
    Fixture::new(
        r#"new_repo
mkdir dir
echo a > a.txt
echo b > dir/b.txt
git add -A && git commit -qm initial
"#,
    )
}

/// `main` and `other` both changed `f`, so merging or rebasing one onto the other conflicts.
const DIVERGED: &str = r#"new_repo
echo base > f
git add f && git commit -qm base
git checkout -qb other
echo theirs > f && git commit -qam theirs
git checkout -q main
echo ours > f && git commit -qam ours
"#;

#[test]
fn a_workspace_outside_any_repository_is_reported_as_such() {
    let dir = tempfile::tempdir().unwrap();

    let err = GitCheckpointer::open(dir.path(), CheckpointOptions::default()).unwrap_err();

    assert!(err.is_not_a_repository(), "{err:?}");
    assert!(err.to_string().contains("--git-init"), "{err}");
    assert_eq!(ralph_git::discover_repository(dir.path()).unwrap(), None);
}

#[test]
fn git_init_creates_a_repository_whose_first_checkpoint_is_the_root_commit() {
    let fx = Fixture::new("echo hello > hello.txt; mkdir src; echo x > src/x.rs");

    assert!(ralph_git::init_repository(&fx.path()).unwrap(), "created");
    assert!(
        !ralph_git::init_repository(&fx.path()).unwrap(),
        "a second --git-init finds the repository"
    );
    fx.git(&["config", "user.name", "Fixture"]);
    fx.git(&["config", "user.email", "fixture@example.com"]);
    let outcome = fx.checkpoint();

    assert_checkpoint_matches_git(&fx, &outcome, &[]);
    assert_eq!(fx.git(&["rev-list", "--count", "HEAD"]), "1");
}

#[test]
fn an_unborn_branch_gets_a_root_commit() {
    let fx = Fixture::new("new_repo; echo a > a.txt; echo staged > s.txt; git add s.txt");

    let outcome = fx.checkpoint();

    assert_checkpoint_matches_git(&fx, &outcome, &[]);
    assert_eq!(fx.git(&["rev-list", "--count", "HEAD"]), "1");
    assert_eq!(fx.git(&["symbolic-ref", "HEAD"]), "refs/heads/main");
    assert_eq!(committed(&outcome).reference, "refs/heads/main");
}

#[test]
fn a_detached_head_gets_the_commit_and_says_so() {
    let fx = committed_repo();
    fx.sh("git checkout -q --detach; echo more >> a.txt");
    let main = fx.rev("main");

    let outcome = fx.checkpoint();

    assert_checkpoint_matches_git(&fx, &outcome, &[]);
    let checkpoint = committed(&outcome);
    assert!(checkpoint.detached);
    assert_eq!(checkpoint.reference, "HEAD");
    assert_eq!(fx.rev("HEAD~1"), main);
    assert_eq!(fx.rev("main"), main, "no branch moved");
}

/// Asserts the checkpoint was skipped for a reason matching `expected`, and HEAD and the index did not change.
fn assert_skipped(fx: &Fixture, expected: impl Fn(&SkipReason) -> bool) {
    let head = fx.rev("HEAD");
    let index = std::fs::read(fx.file(".git/index")).unwrap();

    let outcome = fx.checkpoint();

    match &outcome {
        CheckpointOutcome::Skipped { reason } => assert!(expected(reason), "{reason:?}"),
        other => panic!("expected a skip, got {other:?}"),
    }
    assert_eq!(fx.rev("HEAD"), head);
    assert_eq!(std::fs::read(fx.file(".git/index")).unwrap(), index);
}

#[test]
fn a_merge_in_progress_skips_the_checkpoint() {
    let fx = Fixture::new(&format!(
        "{DIVERGED}git merge other >/dev/null 2>&1 || true; echo new > new.txt"
    ));

    assert_skipped(
        &fx,
        |r| matches!(r, SkipReason::OperationInProgress { operation } if operation == "Merge"),
    );
    assert!(
        fx.file(".git/MERGE_HEAD").exists(),
        "the merge is left as it was"
    );
}

#[test]
fn a_rebase_in_progress_skips_the_checkpoint() {
    let fx = Fixture::new(&format!(
        "{DIVERGED}git rebase other >/dev/null 2>&1 || true; test -d .git/rebase-merge"
    ));

    assert_skipped(&fx, |r| matches!(r, SkipReason::OperationInProgress { .. }));
}

#[test]
fn unresolved_conflicts_skip_the_checkpoint() {
    // The merge state files are gone but the index still has conflict stages for `f`.
    let fx = Fixture::new(&format!(
        "{DIVERGED}git merge other >/dev/null 2>&1 || true; rm .git/MERGE_HEAD .git/MERGE_MSG .git/MERGE_MODE"
    ));

    assert_skipped(
        &fx,
        |r| matches!(r, SkipReason::Conflicts { paths } if paths == &[std::path::PathBuf::from("f")]),
    );
}

#[test]
fn an_index_lock_held_by_another_process_skips_after_a_brief_wait_and_is_left_in_place() {
    let fx = committed_repo();
    fx.sh("echo change >> a.txt; echo 'held by another git' > .git/index.lock");
    let head = fx.rev("HEAD");
    let options = CheckpointOptions {
        lock_timeout: Duration::from_millis(300),
        ..CheckpointOptions::default()
    };

    let start = Instant::now();
    let outcome = fx.checkpoint_with(options);

    assert!(
        matches!(&outcome, CheckpointOutcome::Skipped { reason: SkipReason::IndexLocked { lock } } if lock.ends_with(".git/index.lock")),
        "{outcome:?}"
    );
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "it retried before giving up"
    );
    assert_eq!(
        std::fs::read_to_string(fx.file(".git/index.lock")).unwrap(),
        "held by another git\n"
    );
    assert_eq!(fx.rev("HEAD"), head);
}

#[test]
fn an_index_lock_released_during_the_wait_does_not_skip_the_checkpoint() {
    let fx = committed_repo();
    fx.sh("echo change >> a.txt; touch .git/index.lock");
    let lock = fx.file(".git/index.lock");
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(150));
        std::fs::remove_file(lock).unwrap();
    });

    let outcome = fx.checkpoint();
    releaser.join().unwrap();

    assert_checkpoint_matches_git(&fx, &outcome, &[]);
}

/// Set in the child process of [`without_a_configured_identity_the_fallback_identity_commits`].
const ISOLATED: &str = "RALPH_GIT_TEST_NO_IDENTITY";

#[test]
fn without_a_configured_identity_the_fallback_identity_commits() {
    if std::env::var_os(ISOLATED).is_none() {
        // gitoxide reads the real user's configuration in-process: run this test again in a child process whose
        // HOME has no git configuration and whose environment has no GIT_* identity.
        let home = tempfile::tempdir().unwrap();
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "edge::without_a_configured_identity_the_fallback_identity_commits",
                "--exact",
                "--nocapture",
            ])
            .env(ISOLATED, "1")
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env_remove("GIT_AUTHOR_NAME")
            .env_remove("GIT_AUTHOR_EMAIL")
            .env_remove("GIT_COMMITTER_NAME")
            .env_remove("GIT_COMMITTER_EMAIL")
            .env_remove("EMAIL")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("1 passed"),
            "child test failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        return;
    }
    let fx = Fixture::new("git init -q -b main; echo a > a.txt");

    let outcome = fx.checkpoint();

    committed(&outcome);
    assert_eq!(
        fx.git(&["log", "-1", "--format=%an <%ae>|%cn <%ce>"]),
        "ralph <ralph@localhost>|ralph <ralph@localhost>"
    );
    fx.assert_fsck_clean();
}

#[test]
fn executable_bits_are_committed_as_git_would() {
    let fx = Fixture::new(
        "new_repo; echo a > tool.sh; echo b > bin.sh; chmod +x bin.sh; git add -A; git commit -qm i",
    );
    fx.sh("chmod +x tool.sh; chmod -x bin.sh; echo c > new.sh; chmod +x new.sh");

    let outcome = fx.checkpoint();

    assert_checkpoint_matches_git(&fx, &outcome, &[]);
    let modes = fx.git(&["ls-tree", "HEAD"]);
    assert!(
        modes.contains("100755 blob") && modes.contains("100644 blob"),
        "{modes}"
    );
}

#[test]
fn symbolic_links_are_committed_as_links() {
    let fx = Fixture::new(
        "new_repo; mkdir d; echo t > d/t; ln -s d/t old-link; ln -s a to-file; echo a > a; git add -A; git commit -qm i",
    );
    fx.sh("ln -sfn d new-dir-link; ln -s missing dangling; ln -sfn d/t to-file; rm old-link; echo now-a-file > old-link");

    let outcome = fx.checkpoint();

    assert_checkpoint_matches_git(&fx, &outcome, &[]);
    assert!(
        fx.git(&["ls-tree", "HEAD", "dangling"])
            .starts_with("120000 blob")
    );
}

#[test]
fn deleted_files_and_directories_are_removed_from_the_tree() {
    let fx = Fixture::new(
        "new_repo; mkdir -p x/y; echo 1 > x/y/1; echo 2 > x/2; echo 3 > 3; git add -A; git commit -qm i",
    );
    fx.sh("rm -r x; rm 3; echo keep > keep");

    let outcome = fx.checkpoint();

    assert_checkpoint_matches_git(&fx, &outcome, &[]);
    assert_eq!(fx.files_in("HEAD"), vec!["keep"]);
}

#[test]
fn a_file_staged_and_then_modified_is_committed_as_it_is_on_disk() {
    let fx = committed_repo();
    fx.sh("echo staged > a.txt; git add a.txt; echo on-disk > a.txt; echo new-staged > n.txt; git add n.txt; rm n.txt");

    let outcome = fx.checkpoint();

    assert_checkpoint_matches_git(&fx, &outcome, &[]);
    assert_eq!(fx.git(&["show", "HEAD:a.txt"]), "on-disk");
    assert!(!fx.files_in("HEAD").contains(&"n.txt".to_owned()));
}

#[test]
fn a_file_removed_with_git_rm_cached_is_kept_because_it_is_still_there() {
    let fx = committed_repo();
    fx.sh("git rm -q --cached dir/b.txt");
    let head = fx.rev("HEAD");

    let outcome = fx.checkpoint();

    // `git add -A` would stage it again: the tree is unchanged, and the index is repaired.
    assert!(
        matches!(outcome, CheckpointOutcome::Unchanged { .. }),
        "{outcome:?}"
    );
    assert_eq!(fx.rev("HEAD"), head);
    assert_eq!(fx.status(), Vec::<String>::new());

    fx.sh("git rm -q --cached a.txt; echo changed >> dir/b.txt");
    let outcome = fx.checkpoint();
    assert_checkpoint_matches_git(&fx, &outcome, &[]);
}

#[test]
fn new_nested_directories_are_committed_file_by_file() {
    let fx = committed_repo();
    fx.sh("mkdir -p deep/er/est empty/dir; echo 1 > deep/1; echo 2 > deep/er/2; echo 3 > deep/er/est/3; echo b2 > dir/new.txt");

    let outcome = fx.checkpoint();

    assert_checkpoint_matches_git(&fx, &outcome, &[]);
    assert!(fx.files_in("HEAD").contains(&"deep/er/est/3".to_owned()));
}

#[test]
fn submodules_are_left_alone() {
    let fx = Fixture::new(
        r#"new_repo ../lib-src
echo s > ../lib-src/s.txt
git -C ../lib-src add -A && git -C ../lib-src commit -qm lib
new_repo
echo top > top.txt
git -c protocol.file.allow=always submodule add -q ../lib-src lib
git commit -qam 'add submodule'
"#,
    );
    fx.sh("echo dirty >> lib/s.txt; echo inner > lib/untracked.txt; echo more >> top.txt");
    let gitlink = fx.git(&["ls-tree", "HEAD", "lib"]);
    let sub_head = fx.sh("git -C lib rev-parse HEAD");
    let sub_status = fx.sh("git -C lib status --porcelain");

    let outcome = fx.checkpoint();

    let checkpoint = committed(&outcome);
    assert_eq!(
        checkpoint.tree.0,
        fx.oracle_tree(&[]),
        "tree equals git add -A"
    );
    assert_eq!(
        fx.git(&["ls-tree", "HEAD", "lib"]),
        gitlink,
        "the recorded submodule commit is unchanged"
    );
    assert_eq!(
        fx.sh("git -C lib rev-parse HEAD"),
        sub_head,
        "the submodule's HEAD is unchanged"
    );
    assert_eq!(
        fx.sh("git -C lib status --porcelain"),
        sub_status,
        "its changes are left for it"
    );
    fx.assert_fsck_clean();
}

#[test]
fn paths_with_spaces_and_non_ascii_names_are_committed() {
    let fx = committed_repo();
    fx.sh(r#"mkdir -p 'with space/sub dir' 'ünïcødé' '日本語'
echo 1 > 'with space/sub dir/a file.txt'
echo 2 > 'ünïcødé/naïve café.md'
echo 3 > '日本語/ファイル.txt'
echo 4 > 'quote"and\backslash'
echo 5 > ' leading space'
echo 6 > 'tab	name'
echo 7 > '*star?'
"#);

    let outcome = fx.checkpoint();

    let checkpoint = committed(&outcome);
    assert_eq!(checkpoint.tree.0, fx.oracle_tree(&[]));
    assert_eq!(checkpoint.files_changed, 7);
    assert_eq!(
        fx.git(&["status", "--porcelain", "--untracked-files=all"]),
        ""
    );
    fx.assert_fsck_clean();
}

#[test]
fn commits_made_by_the_agent_during_the_iteration_become_the_parent() {
    let fx = committed_repo();
    fx.checkpoint();
    fx.sh("echo agent > agent.txt; git add agent.txt; git commit -qm 'agent commit'; echo after >> a.txt; echo c > c.txt");
    let agent_commit = fx.rev("HEAD");

    let outcome = fx.checkpoint();

    assert_checkpoint_matches_git(&fx, &outcome, &[]);
    assert_eq!(fx.rev("HEAD~1"), agent_commit);
    assert_eq!(committed(&outcome).files_changed, 2);
}

#[test]
fn a_checkpointer_works_through_the_async_trait_on_a_runtime() {
    let fx = committed_repo();
    fx.sh("echo x >> a.txt");
    let git = fx.checkpointer(CheckpointOptions::default());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let outcome = runtime
        .block_on(git.checkpoint_detailed(&request("r", 1)))
        .unwrap();

    assert_checkpoint_matches_git(&fx, &outcome, &[]);
}
