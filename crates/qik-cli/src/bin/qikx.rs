fn main() -> std::process::ExitCode {
    qik_cli::qikx_main()
}
