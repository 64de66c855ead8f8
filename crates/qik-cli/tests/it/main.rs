//! End-to-end tests of the `qik` binaries on real git repositories.

mod completions;
mod config_errors;
mod explain;
mod limits;
mod ls_json;
mod parity;
mod pre_commit;
mod pygraph;
mod qikx;
mod registry;
mod run;
mod since;
mod spaces;
mod support;
mod tools;
mod uv;
mod watch;
