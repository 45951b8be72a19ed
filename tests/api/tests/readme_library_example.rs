//! The root README's "Use ralph as a library" example is ralph-core/README.md's, which runs as a doctest of
//! ralph-core (`#[doc = include_str!("../README.md")]`): so the README shows code that compiles and runs.

use std::path::Path;

/// The first ```rust block of `text`.
fn rust_block(text: &str) -> &str {
    let start = text.find("```rust\n").expect("a ```rust block") + "```rust\n".len();
    let len = text[start..].find("```").expect("the block ends");
    &text[start..start + len]
}

#[test]
fn the_readme_library_example_is_the_doctested_one() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let section = &readme[readme
        .find("## Use ralph as a library")
        .expect("the README has a library section")..];
    let core = std::fs::read_to_string(root.join("ralph-core/README.md")).unwrap();
    assert_eq!(
        rust_block(section),
        rust_block(&core),
        "copy ralph-core/README.md's example into the README's library section"
    );
    for line in [
        "cargo add ralph-loop-core",
        "cargo add ralph-loop-agents",
        "cargo add ralph-loop-git",
    ] {
        assert!(section.contains(line), "the library section says `{line}`");
    }
}
