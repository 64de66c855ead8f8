//! `qik` as pre-commit installs it: the same program under the name the
//! hooks in `.pre-commit-hooks.yaml` call.

fn main() -> std::process::ExitCode {
    qik_cli::qik_main()
}
