//! The qik.pygraph plugin: `pygraph.lock` / `pygraph.check` and `pygraph`
//! deps through the CLI, and the engine compared with Python's own `ast`
//! and with grimp on real packages. (The engine's tests that need no tools
//! live in crates/qik-pygraph/tests.)

mod ast_parity;
mod cli;
mod grimp;
