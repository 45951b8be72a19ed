//! The `ralph` binary: all behaviour lives in the `ralph_cli` library.

fn main() -> std::process::ExitCode {
    ralph_cli::main()
}
