//! Modules: the unit commands are parametrized over, as config strings see
//! them (`{module.dir}`, `{module.pyimport}`, `{module.name}`).

/// A module of a space, the unit commands are parametrized over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Module {
    /// The name used in runnable names and `-m` (the alias, or the path).
    pub name: String,
    /// The directory relative to the project root.
    pub path: String,
    /// The dotted import path, relative to `[defaults] python-path`.
    pub pyimport: String,
    pub space: String,
}
