//! `qik-dir-conflict`: `qik-dir` plus a second plugin that claims the dep
//! type `env` again. It must refuse to start, naming both plugins.

use linkme::distributed_slice;
use qik_core::ext::{DEP_TYPES, PLUGINS};
use qik_core::ext::{DepType, PluginDef};
use qik_plugin_dir as _;

#[distributed_slice(PLUGINS)]
static OTHER: PluginDef = PluginDef {
    id: "acme.env",
    config: |_| Ok(std::sync::Arc::new(())),
    commands: "",
    factories: &[],
    schema: None,
};

#[distributed_slice(DEP_TYPES)]
static ENV_AGAIN: DepType = DepType {
    tag: "env",
    plugin: "acme.env",
    // Never called: the registry refuses the binary first.
    parse: |node| Err(node.error(qik_core::diagnostic::Code::General, "unreachable", "")),
    schema: None,
};

fn main() -> std::process::ExitCode {
    qik_cli::qik_main()
}
