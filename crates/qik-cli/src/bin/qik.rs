fn main() -> std::process::ExitCode {
    qik_cli::qik_main()
}
