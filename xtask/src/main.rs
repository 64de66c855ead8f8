//! Developer chores: `cargo xtask bench`, `cargo xtask release`,
//! `cargo xtask schema`.

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

const USAGE: &str = "usage: cargo xtask bench [--modules N[,N...]] [--runs N] [--workers N] [--no-python] [--pygraph] [--reapi] [--callgrind | --no-callgrind]\n       cargo xtask release [--version X.Y.Z] [--dry-run]\n       cargo xtask schema [--check]";

/// The repository root: xtask's manifest sits one level below it.
pub(crate) fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("bench") => bench::main(&args[1..]),
        Some("release") => release::main(&args[1..]),
        Some("schema") => schema::main(&args[1..]),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
