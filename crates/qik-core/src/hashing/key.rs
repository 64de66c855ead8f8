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

use crate::deps::{CommandDep, DepSet, LoadDep};
use crate::model::{Runnable, SpaceInputs};

/// Bumped whenever the encoding changes. `qik-hash-2` hashed command deps
/// through `Debug`; 3 is the explicit encoding below.
pub(crate) const KEY_VERSION: &str = "qik-hash-3";

/// The key of the encoding version in [`definition_parts`]: parts written
/// by another version are not compared.
pub(crate) const KEY_VERSION_PART: &str = "key-version";

/// A buffer of length-prefixed fields, hashed once: blake3's per-`update`
/// overhead dwarfs fields this small.
#[derive(Default)]
pub(crate) struct Encoder {
    bytes: Vec<u8>,
}

impl Encoder {
    pub(crate) fn with_capacity(capacity: usize) -> Encoder {
        Encoder {
            bytes: Vec::with_capacity(capacity),
        }
    }

    /// A count or length: 8 bytes, little endian, whatever the platform.
    pub(crate) fn count(&mut self, n: usize) -> &mut Self {
        self.bytes.extend_from_slice(&(n as u64).to_le_bytes());
        self
    }

    /// A byte string: its length, then its bytes.
    pub(crate) fn bytes(&mut self, value: &[u8]) -> &mut Self {
        self.count(value.len());
        self.bytes.extend_from_slice(value);
        self
    }

    pub(crate) fn str(&mut self, value: &str) -> &mut Self {
        self.bytes(value.as_bytes())
    }

    /// An optional string: a flag, then the string when there is one.
    pub(crate) fn opt_str(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            None => self.flag(false),
            Some(value) => self.flag(true).str(value),
        }
    }

    /// A flag: one byte, 0 or 1.
    pub(crate) fn flag(&mut self, value: bool) -> &mut Self {
        self.bytes.push(u8::from(value));
        self
    }

    /// A digest: fixed width, so written as it is.
    pub(crate) fn digest(&mut self, value: &[u8; 32]) -> &mut Self {
        self.bytes.extend_from_slice(value);
        self
    }

    /// A list of strings: its count, then each.
    pub(crate) fn strs<'s, I>(&mut self, items: I) -> &mut Self
    where
        I: IntoIterator<Item = &'s String>,
        I::IntoIter: ExactSizeIterator,
    {
        let items = items.into_iter();
        self.count(items.len());
        items.for_each(|item| {
            self.str(item);
        });
        self
    }

    /// Key/value pairs in the given order: their count, then key and value
    /// of each.
    pub(crate) fn pairs<'s, I>(&mut self, pairs: I) -> &mut Self
    where
        I: IntoIterator<Item = (&'s String, &'s String)>,
        I::IntoIter: ExactSizeIterator,
    {
        let pairs = pairs.into_iter();
        self.count(pairs.len());
        for (key, value) in pairs {
            self.str(key).str(value);
        }
        self
    }

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

    /// Command deps in their canonical order ([`command_deps`]).
    pub(crate) fn commands(&mut self, commands: &[Vec<u8>]) -> &mut Self {
        self.count(commands.len());
        commands.iter().for_each(|c| {
            self.bytes(c);
        });
        self
    }

    pub(crate) fn hash(&self) -> blake3::Hash {
        blake3::hash(&self.bytes)
    }

    pub(crate) fn hex(&self) -> String {
        self.hash().to_hex().to_string()
    }
}

/// One command dep: its name, then its arguments in key order. How it
/// reaches the upstream (`strict`, `isolated`) is selection, not input.
pub(crate) fn command_dep(dep: &CommandDep) -> Vec<u8> {
    let mut e = Encoder::with_capacity(64);
    e.str(&dep.name).pairs(&dep.args);
    e.bytes
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
