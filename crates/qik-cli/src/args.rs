//! Command-line arguments of `qik`. Every runtime flag can also be set through
//! a `QIK__<NAME>` environment variable, as in the reference implementation.

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Parser, ValueEnum};
use clap_complete::engine::ArgValueCompleter;

use crate::completions;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CacheStatus {
    Warm,
    Cold,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Logger {
    Progress,
    Stdout,
}

/// qik: a cached command runner for monorepos.
#[derive(Clone, Debug, Parser)]
#[command(name = "qik", version = crate::VERSION, about, max_term_width = 100)]
pub struct QikArgs {
    /// Commands to run, or single runnables by the names `--ls` prints
    /// (`lint`, `lint#greet`, `test@api`); all visible commands when none
    /// are given.
    #[arg(value_name = "NAME", env = "QIK__COMMANDS", value_delimiter = ',', add = ArgValueCompleter::new(completions::commands))]
    pub commands: Vec<String>,

    /// Select runnables of these modules (name or path).
    #[arg(
        short = 'm',
        long = "module",
        value_name = "MODULE",
        env = "QIK__MODULES",
        value_delimiter = ',',
        add = ArgValueCompleter::new(completions::modules)
    )]
    pub modules: Vec<String>,

    /// Select runnables of these spaces (default: the space whose root holds the
    /// current directory).
    #[arg(
        short = 's',
        long = "space",
        value_name = "SPACE",
        env = "QIK__SPACES",
        value_delimiter = ',',
        add = ArgValueCompleter::new(completions::spaces)
    )]
    pub spaces: Vec<String>,

    /// Select commands with any of these tags.
    #[arg(
        short = 't',
        long = "tag",
        value_name = "TAG",
        env = "QIK__TAGS",
        value_delimiter = ',',
        add = ArgValueCompleter::new(completions::tags)
    )]
    pub tags: Vec<String>,

    /// Select commands stored in these caches.
    #[arg(
        long = "cache",
        value_name = "CACHE",
        env = "QIK__CACHES",
        value_delimiter = ','
    )]
    pub caches: Vec<String>,

    /// Select runnables whose cache is warm or cold.
    #[arg(long, value_enum, env = "QIK__CACHE_STATUS")]
    pub cache_status: Option<CacheStatus>,

    /// Select runnables whose inputs changed since a git reference.
    #[arg(long, value_name = "REF", env = "QIK__SINCE")]
    pub since: Option<String>,

    /// Run share K of N of the selection (for N parallel CI jobs): every
    /// runnable is in one share, balanced by durations the repo cache
    /// recorded; each share also runs the upstream runnables it needs.
    #[arg(long, value_name = "K/N", env = "QIK__SHARD")]
    pub shard: Option<qik_core::shard::Shard>,

    /// Leave out the upstream commands of the selected ones.
    #[arg(long, action = ArgAction::SetTrue, value_parser = BoolishValueParser::new(), env = "QIK__ISOLATED")]
    pub isolated: bool,

    /// List the selected runnables instead of running them.
    #[arg(long, action = ArgAction::SetTrue, value_parser = BoolishValueParser::new(), env = "QIK__LS")]
    pub ls: bool,

    /// With --ls: print one JSON document (names, hashes, cache status...).
    #[arg(long, requires = "ls", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new(), env = "QIK__JSON")]
    pub json: bool,

    /// Say why each runnable runs, or which cache entry it replays (with
    /// --ls: would run / would replay).
    #[arg(long, action = ArgAction::SetTrue, value_parser = BoolishValueParser::new(), env = "QIK__EXPLAIN")]
    pub explain: bool,

    /// Exit with 1 when anything is selected (with --ls, after listing).
    #[arg(long, action = ArgAction::SetTrue, value_parser = BoolishValueParser::new(), env = "QIK__FAIL")]
    pub fail: bool,

    /// Ignore caches and run everything selected.
    #[arg(short = 'f', long, action = ArgAction::SetTrue, value_parser = BoolishValueParser::new(), env = "QIK__FORCE")]
    pub force: bool,

    /// Re-run runnables when their inputs change.
    #[arg(long, action = ArgAction::SetTrue, value_parser = BoolishValueParser::new(), env = "QIK__WATCH")]
    pub watch: bool,

    /// Number of parallel workers (default: available cores).
    #[arg(short = 'n', long, value_name = "N", env = "QIK__WORKERS", value_parser = clap::value_parser!(u16).range(1..))]
    pub workers: Option<u16>,

    /// Output detail: 0 quiet, 1 default, 2 full output (`-v` alone means 2).
    #[arg(short = 'v', long, value_name = "LEVEL", num_args = 0..=1, default_missing_value = "2", env = "QIK__VERBOSITY", value_parser = clap::value_parser!(u8).range(0..=2))]
    pub verbosity: Option<u8>,

    /// Context profile: `[ctx.<PROFILE>.qik]` and `[ctx.<PROFILE>.project]`.
    #[arg(short = 'p', long, value_name = "PROFILE", env = "QIK__PROFILE")]
    pub profile: Option<String>,

    /// How to show progress.
    #[arg(short = 'l', long, value_enum, env = "QIK__LOGGER")]
    pub logger: Option<Logger>,
}
