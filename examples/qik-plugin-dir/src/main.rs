//! `qik-dir`: qik with the `example.dir` plugin linked in.

// Nothing here names the plugin crate; without this line the linker would
// drop it, and its registry entries with it.
use qik_plugin_dir as _;

fn main() -> std::process::ExitCode {
    qik_cli::qik_main()
}
