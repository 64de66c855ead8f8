//! Developer chores: `cargo xtask bench`, `cargo xtask release`,
//! `cargo xtask schema`, `cargo xtask generate`.

mod bench;
mod generate;
mod measure;
mod package_graph;
mod pyqik;
mod reapi_bench;
mod release;
mod schema;
mod tools;

use std::process::ExitCode;

/// The project's own tasks, run as `cargo xtask <task>`.
#[derive(clap::Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
enum Task {
    /// Time qik against its floors (and the Python qik) on generated monorepos.
    Bench(bench::Args),
    /// Build the release binaries, the wheel, checksums and the changelog.
    Release(release::Args),
    /// Write schema/qik.schema.json from the config types.
    Schema(schema::Args),
    /// Write one of the bench's monorepos to a directory, to profile by hand.
    Generate(generate::Args),
}

/// The repository root: xtask's manifest sits one level below it.
pub(crate) fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn main() -> ExitCode {
    let result = match <Task as clap::Parser>::parse() {
        Task::Bench(args) => bench::main(args),
        Task::Release(args) => release::main(&args),
        Task::Schema(args) => schema::main(&args),
        Task::Generate(args) => generate::main(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
