//! `workspace_fingerprint`: equal exactly when neither the files a checkpoint would see nor `HEAD` changed,
//! checked against `git write-tree` on a copy of the index.

use ralph_git::{CheckpointOptions, workspace_fingerprint};

use crate::support::Fixture;

fn fp(f: &Fixture) -> String {
    workspace_fingerprint(&f.path(), &CheckpointOptions::default())
        .unwrap()
        .expect("a fingerprint")
}

#[test]
fn the_fingerprint_follows_files_and_head_but_not_the_state_dir_or_ignored_files() {
    let f = Fixture::new(
        "new_repo\necho a > a.txt\necho 'build/' > .gitignore\ngit add -A && git commit -qm initial\n",
    );
    let start = fp(&f);
    assert_eq!(fp(&f), start, "stable when nothing changes");
    let head = f.git(&["rev-parse", "HEAD"]);
    let tree = f.git(&["rev-parse", "HEAD^{tree}"]);
    assert_eq!(start, format!("{}:{}", head.trim(), tree.trim()));

    f.sh("mkdir -p .agent build && echo log > .agent/state.json && echo o > build/out");
    assert_eq!(fp(&f), start, "state dir and ignored files do not count");

    f.sh("echo b > b.txt");
    let with_b = fp(&f);
    assert_ne!(with_b, start, "an untracked file counts");
    // Same as git's view of `git add -A`, on a scratch index.
    let expected = f.sh(
        "cp .git/index ../scratch-index && GIT_INDEX_FILE=../scratch-index git add -A -- . ':!.agent' && GIT_INDEX_FILE=../scratch-index git write-tree; rm -f ../scratch-index",
    );
    assert!(with_b.ends_with(expected.trim()), "{with_b} vs {expected}");

    f.sh("rm b.txt");
    assert_eq!(fp(&f), start, "back to the same files");
    f.sh("git commit -q --allow-empty -m empty");
    assert_ne!(fp(&f), start, "moving HEAD counts");
}
