//! The git CLI as the oracle over a matrix of fixtures: after each round of changes, the checkpoint's tree is
//! what `git add -A && git write-tree` gives on a copy, `git status` is clean and `git fsck --strict` is happy.
//! Several rounds per fixture also check that the index a checkpoint leaves behind is right for the next one.

use ralph_git::CheckpointOutcome;

use crate::support::Fixture;

struct Case {
    name: &'static str,
    setup: &'static str,
    rounds: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        name: "plain edits",
        setup: "new_repo; echo a > a; mkdir d; echo b > d/b; git add -A; git commit -qm i",
        rounds: &[
            "echo a2 >> a; echo c > d/c",
            "rm d/b; echo e > e",
            "echo a3 >> a",
        ],
    },
    Case {
        name: "file becomes a directory and back",
        setup: "new_repo; echo a > a; mkdir d; echo b > d/b; git add -A; git commit -qm i",
        rounds: &[
            "rm a; mkdir a; echo x > a/x",
            "rm -r d; echo now-file > d",
            "rm -r a; echo a > a",
        ],
    },
    Case {
        name: "symlink and file trade places",
        setup: "new_repo; echo t > target; ln -s target link; echo f > file; git add -A; git commit -qm i",
        rounds: &[
            "rm link; echo plain > link; rm file; ln -s target file",
            "chmod +x link; ln -s d dirlink",
        ],
    },
    Case {
        name: "staged rename, intent to add, staged deletion",
        setup: "new_repo; echo a > a; echo b > b; echo c > c; git add -A; git commit -qm i",
        rounds: &[
            "git mv a renamed; echo n > n; git add -N n; git rm -q b",
            "echo more >> renamed; git add renamed; echo c2 >> c; git add c; rm c",
        ],
    },
    Case {
        name: "core.fileMode=false keeps index modes",
        setup: "new_repo; git config core.fileMode false; echo a > a.sh; echo x > x.sh; chmod +x x.sh; \
                git add -A; git update-index --chmod=+x x.sh; git commit -qm i",
        rounds: &[
            "chmod +x a.sh; chmod -x x.sh; echo n > n.sh; chmod +x n.sh",
            "echo a2 >> a.sh; echo x2 >> x.sh",
        ],
    },
    Case {
        name: "binary, CRLF and empty files",
        setup: "new_repo; printf 'a\\r\\nb\\r\\n' > crlf.txt; git add -A; git commit -qm i",
        rounds: &[
            "head -c 3000 /dev/urandom > bin.dat; : > empty; printf 'c\\r\\n' >> crlf.txt",
            "printf '\\0\\1\\2' > bin.dat",
        ],
    },
    Case {
        name: "ignored directories and re-included files",
        setup: "new_repo; printf 'out/\\n!out/keep\\n*.tmp\\n!important.tmp\\n' > .gitignore; git add -A; git commit -qm i",
        rounds: &[
            "mkdir -p out src; echo o > out/keep; echo x > x.tmp; echo i > important.tmp; echo s > src/s.tmp",
            "mkdir -p src/out; echo nested > src/out/n; echo '!*.tmp' > src/.gitignore",
        ],
    },
    Case {
        name: "tracked file inside an ignored directory",
        setup: "new_repo; mkdir gen; echo g > gen/tracked; git add -A; git commit -qm i; echo 'gen/' > .gitignore",
        rounds: &[
            "echo g2 >> gen/tracked; echo u > gen/untracked",
            "rm gen/tracked",
        ],
    },
    Case {
        name: "everything deleted",
        setup: "new_repo; mkdir -p a/b; echo 1 > a/b/1; echo 2 > 2; git add -A; git commit -qm i",
        rounds: &["rm -r a 2", "echo back > back"],
    },
    Case {
        name: "many files in many directories",
        setup: "new_repo; for d in $(seq 1 20); do mkdir -p dir$d/sub; for f in $(seq 1 15); do echo $d$f > dir$d/sub/f$f; done; done; \
                git add -A; git commit -qm i",
        rounds: &[
            "for d in 3 7 11; do echo changed >> dir$d/sub/f2; rm dir$d/sub/f5; echo new > dir$d/new; done",
            "rm -r dir1 dir2; mkdir -p dir21/a/b/c; echo deep > dir21/a/b/c/deep",
        ],
    },
    Case {
        name: "long and odd names",
        setup: "new_repo; echo a > a; git add -A; git commit -qm i",
        rounds: &[
            "mkdir -p \"$(printf 'd%.0s' $(seq 1 100))/x\"; echo l > \"$(printf 'd%.0s' $(seq 1 100))/x/$(printf 'f%.0s' $(seq 1 200))\"",
            "echo 1 > '-dash'; echo 2 > '#hash'; echo 3 > 'a.b.c'; echo 4 > 'UPPER'; echo 5 > 'upper'",
        ],
    },
    Case {
        name: "an untracked symlink to a directory is a link",
        setup: "new_repo; mkdir real; echo r > real/r; git add -A; git commit -qm i",
        rounds: &["ln -s real alias; mkdir other; echo o > other/o; ln -s ../other real/up"],
    },
];

#[test]
fn every_fixture_checkpoints_to_the_tree_that_git_add_all_writes() {
    for case in CASES {
        let fx = Fixture::new(case.setup);
        for (round, script) in case.rounds.iter().enumerate() {
            fx.sh(script);
            let expected = fx.oracle_tree(&[]);

            let outcome = fx.checkpoint();

            let what = format!("fixture `{}`, round {}", case.name, round + 1);
            match &outcome {
                CheckpointOutcome::Committed(checkpoint) => {
                    assert_eq!(
                        checkpoint.tree.0, expected,
                        "{what}: tree differs from git's"
                    );
                    assert_eq!(fx.rev("HEAD"), checkpoint.commit.0, "{what}");
                }
                CheckpointOutcome::Unchanged { .. } => {
                    assert_eq!(fx.rev("HEAD^{tree}"), expected, "{what}")
                }
                other => panic!("{what}: {other:?}"),
            }
            assert_eq!(
                fx.status(),
                Vec::<String>::new(),
                "{what}: git status after the checkpoint"
            );
            fx.assert_fsck_clean();
        }
    }
}
