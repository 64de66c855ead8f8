//! The `qik` and `qikx` command line: running, caching, selecting,
//! listing, explaining, errors, spaces, `--since`, `--shard`, `--watch`, completion
//! and limits.

mod completions;
mod config_errors;
mod conventions;
mod explain;
mod kept_files;
mod limits;
mod ls_json;
mod qikx;
mod replayed_logs;
mod repo_cache;
mod report;
mod run;
mod shard;
mod since;
mod spaces;
mod staging;
mod watch;
