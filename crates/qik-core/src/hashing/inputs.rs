//! What went into a runnable's hash, as cache entries record it.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// What went into a hash.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inputs {
    /// Digest of the runnable's definition (exec, deps, artifacts, space...).
    pub definition: String,
    /// Path (relative to the project root) → git blob id.
    pub files: BTreeMap<String, String>,
    pub consts: BTreeSet<String>,
    /// Distribution → version.
    pub pydists: BTreeMap<String, String>,
    /// A digest per part of the definition (`exec`, `deps`, ...), so
    /// `--explain` can name the part that changed. Not hashed; written with
    /// entries only, and absent from entries of older versions.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub definition_fields: BTreeMap<String, String>,
}
