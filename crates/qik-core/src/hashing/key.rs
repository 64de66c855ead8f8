//! The bytes cache keys are made of, written once for hashing and
//! `--explain`.
//!
//! Shared caches compare keys computed by different qik binaries, so a key
//! must not depend on anything but its inputs: no `Debug` output (std does
//! not promise it across compiler versions), no hash-map order, no
//! native-endian or pointer-sized integers. Every field is written here
//! explicitly: a string or byte string as its length (8 bytes, little
//! endian) and its bytes, a list as its count and then its items, a flag as
//! one byte. No two different field sequences encode the same bytes.
//!
//! [`KEY_VERSION`] starts every definition digest and the hash; bump it
//! whenever the bytes change, so entries of older versions simply miss.

use std::collections::BTreeMap;

use crate::ext::depset::{CommandDep, DepSet, LoadDep};
use crate::ext::runnable::Runnable;
use crate::model::SpaceInputs;

/// Bumped whenever the encoding changes. `qik-hash-2` hashed command deps
/// through `Debug`; 3 is the explicit encoding below.
pub(crate) const KEY_VERSION: &str = "qik-hash-3";

/// The key of the encoding version in [`definition_parts`]: parts written
/// by another version are not compared.
pub(crate) const KEY_VERSION_PART: &str = "key-version";

pub(crate) use super::encode::Encoder;

impl Encoder {
    /// `load` deps, in their (sorted) order: path and default globs of each.
    pub(crate) fn loads<'d>(
        &mut self,
        loads: impl ExactSizeIterator<Item = &'d LoadDep>,
    ) -> &mut Self {
        self.count(loads.len());
        for load in loads {
            self.str(&load.path).strs(&load.default);
        }
        self
    }
}

/// One command dep: its name, then its arguments in key order. How it
/// reaches the upstream (`strict`, `isolated`) is selection, not input.
pub(crate) fn command_dep(dep: &CommandDep) -> Vec<u8> {
    let mut e = Encoder::with_capacity(64);
    e.str(&dep.name).pairs(&dep.args);
    e.into_bytes()
}

/// Command deps encoded and sorted by their bytes: the order they were
/// declared or injected in does not count.
pub(crate) fn command_deps<'d>(deps: impl IntoIterator<Item = &'d CommandDep>) -> Vec<Vec<u8>> {
    let mut encoded: Vec<Vec<u8>> = deps.into_iter().map(command_dep).collect();
    encoded.sort_unstable();
    encoded
}

/// The digest of everything about a runnable's definition that should re-run
/// it when changed (hex). Cache settings (`cache`, `cache-when`), tags and
/// `hidden` are left out: they do not change what the command does.
pub(crate) fn definition(runnable: &Runnable) -> String {
    let mut e = Encoder::with_capacity(512);
    e.str(KEY_VERSION);
    e.str(&runnable.command)
        .str(&runnable.exec)
        .str(&runnable.space)
        .opt_str(runnable.module.as_deref());
    let DepSet {
        globs,
        consts,
        pydists,
        loads,
        commands,
    } = &runnable.deps;
    e.strs(globs).strs(consts).strs(pydists);
    e.loads(loads.iter());
    e.commands(&command_deps(commands));
    e.strs(&runnable.artifacts);
    e.pairs(&runnable.args);
    let mut env: Vec<(&String, &String)> = runnable.env.iter().map(|(k, v)| (k, v)).collect();
    env.sort_unstable();
    e.pairs(env);
    e.flag(runnable.in_space_env)
        .flag(runnable.native.is_some());
    e.hex()
}

/// A digest per part of a runnable's definition (`exec`, `space`, `deps`,
/// `artifacts`, `dotenv`, `venv`), so `--explain` can name the part that
/// changed, and [`KEY_VERSION_PART`]. `space` is what the runnable's space
/// gives it; its dotenv and venv files are parts of their own, not deps.
/// Constants are left out: a changed constant is shown as its values.
pub(crate) fn definition_parts(
    runnable: &Runnable,
    space: &SpaceInputs,
) -> BTreeMap<String, String> {
    let venv_commands = command_deps(&space.venv_commands);
    let deps = &runnable.deps;
    let declared: Vec<&String> = deps
        .globs
        .iter()
        .filter(|g| !space.dotenv.contains(g) && !space.venv.contains(g))
        .collect();
    let commands: Vec<Vec<u8>> = command_deps(&deps.commands)
        .into_iter()
        .filter(|c| !venv_commands.contains(c))
        .collect();
    let part = |write: &dyn Fn(&mut Encoder)| {
        let mut e = Encoder::with_capacity(256);
        write(&mut e);
        e.hex()[..16].to_string()
    };
    let mut parts = BTreeMap::new();
    parts.insert("exec", part(&|e| _ = e.str(&runnable.exec)));
    parts.insert(
        "space",
        part(&|e| {
            e.str(&runnable.space).opt_str(runnable.module.as_deref());
        }),
    );
    parts.insert(
        "deps",
        part(&|e| {
            e.strs(declared.iter().copied())
                .strs(&deps.pydists)
                .loads(deps.loads.iter())
                .commands(&commands);
        }),
    );
    parts.insert("artifacts", part(&|e| _ = e.strs(&runnable.artifacts)));
    parts.insert("dotenv", part(&|e| _ = e.strs(&space.dotenv)));
    parts.insert(
        "venv",
        part(&|e| _ = e.strs(&space.venv).commands(&venv_commands)),
    );
    let mut parts: BTreeMap<String, String> = parts
        .into_iter()
        .map(|(name, digest)| (name.to_string(), digest))
        .collect();
    parts.insert(KEY_VERSION_PART.to_string(), KEY_VERSION.to_string());
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layout spelled out: name, count of arguments, key and value.
    #[test]
    fn a_command_dep_encodes_as_documented() {
        let dep = CommandDep {
            name: "uv.lock".into(),
            args: [("space".to_string(), "a".to_string())].into(),
            strict: true,
            isolated: None,
            origin: None,
        };
        let mut expected = Vec::new();
        expected.extend_from_slice(&[7, 0, 0, 0, 0, 0, 0, 0]);
        expected.extend_from_slice(b"uv.lock");
        expected.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
        expected.extend_from_slice(&[5, 0, 0, 0, 0, 0, 0, 0]);
        expected.extend_from_slice(b"space");
        expected.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
        expected.extend_from_slice(b"a");
        assert_eq!(command_dep(&dep), expected);
    }
}
