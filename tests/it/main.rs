//! End-to-end tests of qik: the real binaries on temporary git projects,
//! with the real tools the plugins drive. One test binary, a module per
//! area, one harness (`support`).

mod ci_doc;
mod cli;
mod install;
mod parity;
mod pre_commit;
mod pygraph;
mod reapi;
mod s3;
mod support;
mod uv;
