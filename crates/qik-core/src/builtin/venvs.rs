//! The built-in venv types: `active` (the environment qik runs in) and
//! `space` (another space's venv).

use linkme::distributed_slice;
use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

use crate::ext::registry::{BUILTIN, ReqsShorthand, VENV_TYPES, VenvType, schema_of};
use crate::ext::view::{VenvCx, VenvSpec};
use crate::source::OneOrMany;

/// The environment qik itself runs in; qik does not manage it.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ActiveVenv {
    /// Requirement files: inputs of every command of the space.
    #[serde(default)]
    reqs: OneOrMany,
    /// A lock file: an input of every command of the space.
    lock: Option<String>,
}

impl VenvSpec for ActiveVenv {
    fn reqs(&self) -> &[String] {
        &self.reqs.0
    }
    fn lock(&self, _: &VenvCx<'_>) -> Option<String> {
        self.lock.clone()
    }
}

/// Inherits the venv of another space.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SpaceVenv {
    /// The space whose venv this space uses.
    #[schemars(with = "String")]
    name: Spanned<String>,
    /// More requirement files: inputs of every command of this space.
    #[serde(default)]
    reqs: OneOrMany,
    /// A lock file: an input of every command of this space.
    lock: Option<String>,
}

impl VenvSpec for SpaceVenv {
    fn inherits(&self) -> Option<&Spanned<String>> {
        Some(&self.name)
    }
    fn reqs(&self) -> &[String] {
        &self.reqs.0
    }
    fn lock(&self, _: &VenvCx<'_>) -> Option<String> {
        self.lock.clone()
    }
}

#[distributed_slice(VENV_TYPES)]
static ACTIVE: VenvType = VenvType {
    tag: "active",
    plugin: BUILTIN,
    parse: |node| Ok(Box::new(node.deserialize_without::<ActiveVenv>("type")?)),
    reqs_shorthand: ReqsShorthand::Accepted(|reqs| {
        Box::new(ActiveVenv {
            reqs: OneOrMany(reqs),
            lock: None,
        })
    }),
    schema: Some(schema_of::<ActiveVenv>),
};

#[distributed_slice(VENV_TYPES)]
static SPACE: VenvType = VenvType {
    tag: "space",
    plugin: BUILTIN,
    parse: |node| Ok(Box::new(node.deserialize_without::<SpaceVenv>("type")?)),
    reqs_shorthand: ReqsShorthand::Refused,
    schema: Some(schema_of::<SpaceVenv>),
};
