//! A binary whose plugins claim one name twice: the registry reports the
//! conflict, naming both plugins, before any qik.toml is read.

use linkme::distributed_slice;
use qik_core::diagnostic::Diagnostic;
use qik_core::ext::{DEP_TYPES, PLUGINS};
use qik_core::ext::{DepCx, DepSet, DepSpec};
use qik_core::ext::{DepType, PluginDef, Registry};

#[derive(Debug)]
struct Nothing;

impl DepSpec for Nothing {
    fn resolve(&self, _: &DepCx<'_>, _: &mut DepSet) -> Result<(), Diagnostic> {
        Ok(())
    }
}

#[distributed_slice(PLUGINS)]
static OTHER: PluginDef = PluginDef {
    id: "acme.other",
    config: |_| Ok(std::sync::Arc::new(())),
    commands: "",
    factories: &[],
    schema: None,
};

// `glob` is a built-in type of qik itself.
#[distributed_slice(DEP_TYPES)]
static GLOB_AGAIN: DepType = DepType {
    tag: "glob",
    plugin: "acme.other",
    parse: |_| Ok(Box::new(Nothing)),
    schema: None,
};

#[test]
fn a_type_tag_claimed_by_two_plugins_names_both() {
    let err = Registry::checked().err().expect("the conflict is reported");
    assert!(
        err.message
            .contains("dep type `glob` is registered by both `acme.other` and `qik`"),
        "{}",
        err.message
    );
    assert!(
        err.hint.as_deref().is_some_and(|h| h.contains("rename")),
        "{err:?}"
    );
}

#[test]
fn loading_a_config_reports_the_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let err = qik_core::config::parse_str(dir.path(), "[commands]\nx = \"echo\"\n")
        .expect_err("the binary is unusable");
    assert!(err.message.contains("acme.other"), "{}", err.message);
}
