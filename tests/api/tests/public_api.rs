//! The public API of ralph-core, ralph-agents and ralph-git, snapshotted (`snapshots/*.snap`, one line per
//! public path, field, variant, method and trait impl; see `ralph_public_api::public_api`).
//!
//! When this test fails, the library's public API changed. Read the diff it prints:
//! - a line added is a new item: fine in any release;
//! - a line removed or changed (an item gone or renamed, a signature, a field, a variant, a trait impl or
//!   a derive changed, `#[non_exhaustive]` removed) is a BREAKING change for the crates that use the
//!   library: it needs a new major version (0.x: a new minor version), and a note in the changelog.
//!
//! If the change is intended, accept it with
//!
//! ```sh
//! INSTA_UPDATE=always cargo test -p ralph-public-api
//! ```
//!
//! (or `cargo insta review` with cargo-insta), and commit the updated `.snap` files with the change.

use std::path::Path;

fn api(dir: &str, krate: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    ralph_public_api::public_api(krate, &root.join(dir).join("src/lib.rs"))
}

#[test]
fn ralph_core_public_api() {
    insta::assert_snapshot!("ralph_core", api("ralph-core", "ralph_core"));
}

#[test]
fn ralph_agents_public_api() {
    insta::assert_snapshot!("ralph_agents", api("ralph-agents", "ralph_agents"));
}

#[test]
fn ralph_git_public_api() {
    insta::assert_snapshot!("ralph_git", api("ralph-git", "ralph_git"));
}
