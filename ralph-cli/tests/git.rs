//! Git checkpoints through the `ralph` binary, with the git CLI as the oracle.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const RALPH: &str = env!("CARGO_BIN_EXE_ralph");

struct Repo {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

/// An agent that writes `file<N>.txt` in iteration N and prints the promise in iteration `done`.
const AGENT: &str = "#!/bin/sh\ncat > /dev/null\nn=$(( $(ls file*.txt 2>/dev/null | wc -l) + 1 ))\necho \"content $n\" > file$n.txt\nif [ \"$n\" -ge \"${DONE:-99}\" ]; then echo LOOP_COMPLETE; else echo \"wrote file$n.txt\"; fi\n";

impl Repo {
    fn new(git: bool) -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().canonicalize().unwrap();
        std::fs::write(path.join("PROMPT.md"), "Write the files.\n").unwrap();
        let agent = dir.path().join("agent.sh");
        std::fs::write(&agent, AGENT).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
        let repo = Repo { _dir: dir, path };
        if git {
            repo.git(&["init", "-q", "-b", "main"]);
            std::fs::write(repo.path.join(".gitignore"), "/agent.sh\n").unwrap();
            repo.git(&["add", "-A"]);
            repo.git(&["commit", "-q", "-m", "start"]);
        }
        repo
    }

    fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(&self.path)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@localhost")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@localhost")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn ralph(&self, args: &[&str]) -> Output {
        let mut c = Command::new(RALPH);
        c.current_dir(&self.path).stdin(Stdio::null());
        for (k, _) in std::env::vars() {
            if k.starts_with("RALPH_") {
                c.env_remove(k);
            }
        }
        c.args(args);
        if args.first().is_none_or(|a| a.starts_with('-')) {
            c.args(["--agent", "command", "--retry-delay", "0", "--"])
                .arg(self.path.join("agent.sh"));
        }
        c.output().unwrap()
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn subjects(repo: &Repo) -> Vec<String> {
    repo.git(&["log", "--format=%s"])
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn checkpoints_every_interval_leave_a_clean_readable_history() {
    let repo = Repo::new(true);
    let out = repo.ralph(&["--max-iterations", "6", "--checkpoint-interval", "2"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let log = subjects(&repo);
    let run = serde_json::from_slice::<serde_json::Value>(
        &std::fs::read(repo.path.join(".agent/state.json")).unwrap(),
    )
    .unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        log,
        vec![
            format!("ralph: checkpoint 6 (run {run})"),
            format!("ralph: checkpoint 4 (run {run})"),
            format!("ralph: checkpoint 2 (run {run})"),
            "start".to_string()
        ],
        "the final checkpoint adds nothing when nothing changed since iteration 6"
    );
    assert_eq!(
        repo.git(&["status", "--porcelain"]),
        "",
        "git status is clean afterwards"
    );
    repo.git(&["fsck", "--strict"]);
    let body = repo.git(&["log", "-1", "--format=%B"]);
    assert!(
        body.contains(&format!("Ralph-Run-Id: {run}"))
            && body.contains("Ralph-Iteration: 6")
            && body.contains("Ralph-Agent: command"),
        "{body}"
    );
    for n in 1..=6 {
        assert_eq!(
            repo.git(&["show", &format!("HEAD:file{n}.txt")]),
            format!("content {n}\n")
        );
    }

    let listed = repo.ralph(&["checkpoints", "--json"]);
    let list: Vec<serde_json::Value> = serde_json::from_slice(&listed.stdout).unwrap();
    let iterations: Vec<u64> = list
        .iter()
        .map(|c| c["iteration"].as_u64().unwrap())
        .collect();
    assert_eq!(iterations, vec![2, 4, 6], "oldest first");
    assert_eq!(
        list[0]["files_changed"], 3,
        "file1, file2 and .agent/.gitignore, as `git add -A` would"
    );
}

#[test]
fn rollback_restores_a_checkpoint_as_a_new_commit_and_never_loses_uncommitted_work() {
    let repo = Repo::new(true);
    assert_eq!(
        repo.ralph(&["--max-iterations", "4", "--checkpoint-interval", "2"])
            .status
            .code(),
        Some(3)
    );
    let list: Vec<serde_json::Value> =
        serde_json::from_slice(&repo.ralph(&["checkpoints", "--json"]).stdout).unwrap();
    let at_2 = list.iter().find(|c| c["iteration"] == 2).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let commits_before = subjects(&repo).len();

    std::fs::write(repo.path.join("file1.txt"), "my unsaved edit\n").unwrap();
    let refused = repo.ralph(&["rollback", &at_2]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("file1.txt") && stderr(&refused).contains("--checkpoint-first"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(
        std::fs::read_to_string(repo.path.join("file1.txt")).unwrap(),
        "my unsaved edit\n"
    );

    let done = repo.ralph(&["rollback", "--checkpoint-first", &at_2[..8]]);
    assert_eq!(done.status.code(), Some(0), "{}", stderr(&done));
    assert!(!repo.path.join("file3.txt").exists() && !repo.path.join("file4.txt").exists());
    assert_eq!(
        std::fs::read_to_string(repo.path.join("file1.txt")).unwrap(),
        "content 1\n"
    );
    let log = subjects(&repo);
    assert_eq!(
        log.len(),
        commits_before + 2,
        "a save commit and a rollback commit; nothing rewritten: {log:?}"
    );
    let saved = repo.git(&["show", "HEAD~1:file1.txt"]);
    assert_eq!(
        saved, "my unsaved edit\n",
        "the uncommitted edit is kept in history"
    );
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
}

#[test]
fn outside_a_repository_ralph_warns_once_and_runs_without_checkpoints() {
    let repo = Repo::new(false);
    let out = repo.ralph(&["--max-iterations", "3", "--checkpoint-interval", "1"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(
        stderr(&out).matches("not in a git repository").count(),
        1,
        "{}",
        stderr(&out)
    );
    assert!(!repo.path.join(".git").exists());

    let init = repo.ralph(&["--fresh", "--git-init", "--max-iterations", "1"]);
    assert_eq!(init.status.code(), Some(3), "{}", stderr(&init));
    assert!(repo.path.join(".git").exists());
    assert_eq!(
        subjects(&repo).len(),
        1,
        "a root commit on the new repository"
    );
    repo.git(&["fsck", "--strict"]);
}

#[test]
fn ref_mode_leaves_branch_head_and_index_untouched() {
    let repo = Repo::new(true);
    let head = repo.git(&["rev-parse", "HEAD"]);
    let out = repo.ralph(&[
        "--max-iterations",
        "2",
        "--checkpoint-interval",
        "1",
        "--checkpoint-ref",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(repo.git(&["rev-parse", "HEAD"]), head);
    assert_eq!(repo.git(&["diff", "--cached", "--name-only"]), "");
    let refs = repo.git(&[
        "for-each-ref",
        "--format=%(refname)",
        "refs/ralph/checkpoints/",
    ]);
    assert_eq!(refs.lines().count(), 1, "{refs}");
    let tree = repo.git(&["ls-tree", "--name-only", refs.trim()]);
    assert!(tree.contains("file2.txt"), "{tree}");
}

#[test]
fn secrets_and_ignored_files_are_never_committed() {
    let repo = Repo::new(true);
    std::fs::write(
        repo.path.join(".env"),
        "OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuv\n",
    )
    .unwrap();
    std::fs::write(
        repo.path.join("server.pem"),
        "-----BEGIN PRIVATE KEY-----\n",
    )
    .unwrap();
    std::fs::write(repo.path.join(".gitignore"), "/agent.sh\n/build/\n").unwrap();
    std::fs::create_dir(repo.path.join("build")).unwrap();
    std::fs::write(repo.path.join("build/out.bin"), "artifact").unwrap();
    let out = repo.ralph(&["--max-iterations", "1", "--checkpoint-interval", "1"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let files = repo.git(&["ls-tree", "-r", "--name-only", "HEAD"]);
    for never in [".env", "server.pem", "build/out.bin", ".agent/state.json"] {
        assert!(
            !files.lines().any(|f| f == never),
            "{never} was committed: {files}"
        );
    }
    assert!(files.contains("file1.txt"), "{files}");
    assert!(
        stderr(&out).contains(".env"),
        "the skipped secret is named: {}",
        stderr(&out)
    );
    assert!(
        Path::new(&repo.path.join(".env")).exists(),
        "skipped files are left alone"
    );
}

#[test]
fn rollback_is_refused_while_a_run_holds_the_workspace() {
    let repo = Repo::new(true);
    assert_eq!(
        repo.ralph(&["--max-iterations", "1", "--checkpoint-interval", "1"])
            .status
            .code(),
        Some(3)
    );
    let id = repo.git(&["rev-parse", "HEAD"]).trim().to_string();
    std::fs::write(
        repo.path.join("slow.sh"),
        "#!/bin/sh\ncat > /dev/null\ntouch started\nsleep 30\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        repo.path.join("slow.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let mut run = Command::new(RALPH)
        .current_dir(&repo.path)
        .args(["--fresh", "--agent", "command", "--", "./slow.sh"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let began = std::time::Instant::now();
    while !repo.path.join("started").exists() {
        assert!(began.elapsed() < std::time::Duration::from_secs(20));
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = repo.ralph(&["rollback", &id]);
    Command::new("kill")
        .args(["-TERM", &run.id().to_string()])
        .status()
        .unwrap();
    run.wait().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("another ralph run is active"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_stale_index_lock_is_reported_with_its_fix_and_never_deleted() {
    let repo = Repo::new(true);
    std::fs::write(repo.path.join(".git/index.lock"), "").unwrap();
    let out = repo.ralph(&["--max-iterations", "1", "--checkpoint-interval", "1"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("index.lock exists") && stderr(&out).contains("rm "),
        "{}",
        stderr(&out)
    );
    assert!(
        repo.path.join(".git/index.lock").exists(),
        "lock files are never deleted"
    );
    let doctor = repo.ralph(&["doctor", "--json", "--agent", "command", "--", "true"]);
    let checks: Vec<serde_json::Value> = serde_json::from_slice(&doctor.stdout).unwrap();
    let git = checks.iter().find(|c| c["name"] == "git").unwrap();
    assert_eq!(git["status"], "warn", "{git}");
}
