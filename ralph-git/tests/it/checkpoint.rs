//! The basic contract: one commit as `git add -A` would stage it, message and trailers, nothing when
//! nothing changed, ref mode, the `Checkpointer` trait.

use ralph_git::{CheckpointMode, CheckpointOptions, CheckpointOutcome};

use crate::support::{Fixture, assert_checkpoint_matches_git, committed, request};

fn project() -> Fixture {
    Fixture::new(
        r#"new_repo
mkdir -p src docs
echo 'fn main() {}' > src/main.rs
echo '# readme' > README.md
echo 'notes' > docs/notes.md
git add -A && git commit -qm initial
"#,
    )
}

#[test]
fn a_checkpoint_commits_modified_new_and_deleted_files_like_git_add_all() {
    let fx = project();
    fx.sh("echo 'fn main() { println!(\"hi\"); }' > src/main.rs; echo new > src/lib.rs; rm docs/notes.md");
    let before = fx.rev("HEAD");

    let outcome = fx.checkpoint();

    assert_checkpoint_matches_git(&fx, &outcome, &[]);
    assert_eq!(
        fx.rev("HEAD~1"),
        before,
        "the checkpoint's parent is the previous HEAD"
    );
    assert_eq!(committed(&outcome).files_changed, 3);
    assert_eq!(committed(&outcome).reference, "refs/heads/main");
}

#[test]
fn the_message_names_iteration_and_run_with_trailers() {
    let fx = project();
    fx.sh("echo change >> README.md");
    let mut req = request("20250101-abcd", 7);
    req.cost_usd = 1.5;
    req.is_final = true;

    fx.checkpointer(CheckpointOptions::default())
        .checkpoint_blocking(&req)
        .unwrap();

    assert_eq!(
        fx.git(&["log", "-1", "--format=%B"]),
        "ralph: checkpoint 7 (run 20250101-abcd)\n\nRalph-Run-Id: 20250101-abcd\nRalph-Iteration: 7\nRalph-Agent: test-agent\nRalph-Cost-Usd: 1.5000\nRalph-Final: true"
    );
    assert_eq!(
        fx.git(&[
            "log",
            "-1",
            "--format=%(trailers:key=Ralph-Iteration,valueonly)"
        ]),
        "7"
    );
    assert_eq!(
        fx.git(&["log", "-1", "--format=%an <%ae>|%cn <%ce>"]),
        "Fixture <fixture@example.com>|Fixture <fixture@example.com>"
    );
}

#[test]
fn nothing_changed_means_no_commit() {
    let fx = project();
    let before = fx.rev("HEAD");

    let outcome = fx.checkpoint();

    assert_eq!(outcome, CheckpointOutcome::Unchanged { skipped: vec![] });
    assert_eq!(fx.rev("HEAD"), before);
}

#[test]
fn a_second_checkpoint_without_changes_commits_nothing() {
    let fx = project();
    fx.sh("echo more >> README.md");
    let first = fx.checkpoint();

    let second = fx.checkpoint();

    assert!(
        matches!(second, CheckpointOutcome::Unchanged { .. }),
        "{second:?}"
    );
    assert_eq!(fx.rev("HEAD"), committed(&first).commit.0);
}

#[test]
fn ref_mode_commits_to_the_run_ref_and_leaves_branch_head_and_index_alone() {
    let fx = project();
    fx.sh("echo staged > staged.txt; git add staged.txt; echo change >> README.md; echo new > new.txt");
    let head = fx.rev("HEAD");
    let index = std::fs::read(fx.file(".git/index")).unwrap();
    let status = fx.status();
    let options = CheckpointOptions {
        mode: CheckpointMode::Ref,
        ..CheckpointOptions::default()
    };

    let first = fx.checkpoint_with(options.clone());
    fx.sh("echo later >> new.txt");
    let second = fx.checkpoint_with(options);

    let first = committed(&first);
    let second = committed(&second);
    assert_eq!(second.reference, "refs/ralph/checkpoints/run-1");
    assert_eq!(fx.rev("refs/ralph/checkpoints/run-1"), second.commit.0);
    assert_eq!(
        fx.rev(&format!("{}~1", second.commit)),
        first.commit.0,
        "checkpoints of a run form a chain"
    );
    assert_eq!(
        fx.rev(&format!("{}~1", first.commit)),
        head,
        "the first one starts from HEAD"
    );
    assert_eq!(second.tree.0, fx.oracle_tree(&[]));
    assert_eq!(fx.rev("HEAD"), head, "HEAD unchanged");
    assert_eq!(fx.git(&["symbolic-ref", "HEAD"]), "refs/heads/main");
    assert_eq!(
        std::fs::read(fx.file(".git/index")).unwrap(),
        index,
        "index unchanged"
    );
    assert_eq!(fx.status(), status);
    fx.assert_fsck_clean();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_checkpointer_trait_returns_the_commit_id_or_none() {
    use ralph_core::Checkpointer;
    let fx = project();
    let git = fx.checkpointer(CheckpointOptions::default());
    fx.sh("echo x > x.txt");

    let id = git.checkpoint(&request("r", 1)).await.unwrap();
    let none = git.checkpoint(&request("r", 2)).await.unwrap();

    assert_eq!(id.map(|id| id.0), Some(fx.rev("HEAD")));
    assert_eq!(none, None);
}

#[test]
fn a_workspace_inside_a_larger_repository_commits_only_its_own_files() {
    let fx = Fixture::new(
        "new_repo; mkdir pkg other; echo p > pkg/p; echo o > other/o; git add -A; git commit -qm i",
    );
    fx.sh("echo p2 >> pkg/p; echo n > pkg/new; echo o2 >> other/o; echo stray > stray.txt; echo s > other/staged; git add other/staged");
    let git =
        ralph_git::GitCheckpointer::open(fx.file("pkg"), CheckpointOptions::default()).unwrap();

    let outcome = git.checkpoint_blocking(&request("r", 1)).unwrap();

    // The oracle: `git add -A -- pkg` on a copy whose index has nothing else staged.
    let expected = {
        fx.sh("cp -a . ../scoped");
        let tree = fx.sh_in(
            &fx.file("../scoped"),
            "git reset -q && git add -A -- pkg && git write-tree",
        );
        fx.sh("rm -rf ../scoped");
        tree.trim().to_owned()
    };
    assert_eq!(committed(&outcome).tree.0, expected);
    let mut status = fx.status();
    status.sort();
    assert_eq!(
        status,
        [" M other/o", "?? stray.txt", "A  other/staged"],
        "outside the workspace nothing changes"
    );
    fx.assert_fsck_clean();
}
