//! The qik.toml loader, from text to a `Project` and its runnables: any
//! text is a project or a diagnostic (which renders), never a panic.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use qik_core::ctx::Ctx;
use qik_core::model::Project;
// Plugins' config sections, types and commands are part of what loads.
// (qik.s3 is built here without its cache, for the seal target alone: its
// `[caches.*]` table is a serde struct, covered by qik-s3's own tests.)
use qik_pygraph as _;
use qik_uv as _;

/// An empty project directory: module paths and files are looked up in it.
static ROOT: LazyLock<tempfile::TempDir> =
    LazyLock::new(|| tempfile::tempdir().expect("a temp dir"));

fn load(text: &str) -> Result<(), qik_core::diagnostic::Diagnostic> {
    let config = qik_core::config::parse_str(ROOT.path(), text)?;
    let ctx = Ctx::resolve(&config.ctx_vars, |_| None, Default::default())?;
    let project = Project::new(config, ctx)?;
    let commands: Vec<String> = project.config.commands.keys().cloned().collect();
    for command in commands {
        for runnable in project.runnables_of(&command)?.iter() {
            project.upstream_of(runnable)?;
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(diagnostic) = load(text) {
        diagnostic.render(false);
    }
});
