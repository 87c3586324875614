//! The `api` binary again, built as part of the root package so that the
//! tests that need the server as a real OS process (killed with SIGKILL,
//! its database stopped under it) find it as `CARGO_BIN_EXE_linli-api`,
//! always built and up to date by `cargo test`.

fn main() -> std::process::ExitCode {
    api::cli::main()
}
