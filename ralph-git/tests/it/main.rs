//! Integration tests of `ralph-git` against real repositories, with the git CLI as the oracle.

mod checkpoint;
mod edge;
mod filters;
mod fingerprint;
mod history;
mod matrix;
mod support;
