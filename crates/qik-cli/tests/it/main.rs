//! End-to-end tests of the `qik` binaries on real git repositories.

mod config_errors;
mod parity;
mod qikx;
mod registry;
mod run;
mod limits;
mod spaces;
mod support;
