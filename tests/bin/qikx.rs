//! `qikx` for the end-to-end tests (see `tests/Cargo.toml`).

fn main() -> std::process::ExitCode {
    qik_cli::qikx_main()
}
