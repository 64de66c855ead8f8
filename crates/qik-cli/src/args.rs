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

/// When qik's own output (stderr) is colored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    /// On a terminal, unless `NO_COLOR`, `CLICOLOR=0` or `TERM=dumb` say
    /// otherwise; `CLICOLOR_FORCE` or `FORCE_COLOR` force it.
    #[default]
    Auto,
    Always,
    Never,
}

/// The text format of `--graph`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// Graphviz (`dot -Tsvg`).
    Dot,
    /// Mermaid (`flowchart`), as GitHub and GitLab render in Markdown.
    Mermaid,
}

/// The highest verbosity level.
pub(crate) const MAX_VERBOSITY: u8 = 3;

/// qik: a cached command runner for monorepos.
#[derive(Clone, Debug, Parser)]
#[command(
    name = "qik",
    about,
    max_term_width = 100,
    disable_version_flag = true,
    after_help = "Exit codes: 0 ok; the highest exit code of the runnables that failed; 2 bad arguments or names; 78 a configuration error; 74 qik could not use a file, git or a process; 130 Ctrl-C (143 SIGTERM). See docs/cli.md."
)]
pub struct QikArgs {
    /// Commands to run, or single runnables by the names `--ls` prints
    /// (`lint`, `lint#greet`, `test@api`); all visible commands when none
    /// are given.
    #[arg(value_name = "NAME", env = "QIK__COMMANDS", value_delimiter = ',', add = ArgValueCompleter::new(completions::commands))]
    pub commands: Vec<String>,

    /// Select runnables of these modules, by module name: the `name` given
    /// in `modules = [...]`, else the path it is listed as (`api/users`).
    /// A module's path is refused when the module has another name.
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

    /// With --ls --json: list each runnable's inputs (files with digests,
    /// constants, distributions, upstream runnables and their artifacts).
    #[arg(long, requires = "json", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new(), env = "QIK__INPUTS")]
    pub inputs: bool,

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

    /// More output: `-v` every runnable's output, `-vv` also every
    /// duration. `-v 0|1|2` (the reference's levels) also work.
    #[arg(short = 'v', long = "verbose", action = ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Less output: warnings and failures only.
    #[arg(short = 'q', long, action = ArgAction::SetTrue)]
    pub quiet: bool,

    /// Output detail as a number: 0 quiet, 1 default, 2 `-v`, 3 `-vv`
    /// (`-q` and `-v` win over it).
    #[arg(long, value_name = "LEVEL", env = "QIK__VERBOSITY", value_parser = clap::value_parser!(u8).range(0..=MAX_VERBOSITY as i64))]
    pub verbosity: Option<u8>,

    /// When to color qik's own output.
    #[arg(long, value_enum, value_name = "WHEN", env = "QIK__COLOR", default_value_t = ColorWhen::Auto)]
    pub color: ColorWhen,

    /// Write a JSON report of the run to FILE: each runnable's status,
    /// duration, cache source and hash (docs/cli.md).
    #[arg(long, value_name = "FILE", env = "QIK__REPORT", conflicts_with_all = ["ls", "fail", "watch"])]
    pub report: Option<std::path::PathBuf>,

    /// Print the selected runnables and their dependencies as a graph
    /// instead of running them.
    #[arg(long, value_enum, value_name = "FORMAT", conflicts_with_all = ["ls", "watch", "report"])]
    pub graph: Option<GraphFormat>,

    /// Print the version (with -v, also the plugins compiled in).
    #[arg(short = 'V', long, action = ArgAction::SetTrue)]
    pub version: bool,

    /// Context profile: `[ctx.<PROFILE>.qik]` and `[ctx.<PROFILE>.project]`.
    #[arg(short = 'p', long, value_name = "PROFILE", env = "QIK__PROFILE")]
    pub profile: Option<String>,

    /// How to show progress.
    #[arg(short = 'l', long, value_enum, env = "QIK__LOGGER")]
    pub logger: Option<Logger>,
}

impl QikArgs {
    /// The verbosity level 0..=3: `-q`, `-v`s, or `--verbosity` (through a
    /// profile too), else 1.
    pub fn verbosity_level(&self) -> u8 {
        if self.quiet {
            0
        } else if self.verbose > 0 {
            (1 + self.verbose).min(MAX_VERBOSITY)
        } else {
            self.verbosity.unwrap_or(1)
        }
    }
}

/// Rewrites the reference's `-v LEVEL` and `-vLEVEL` (0, 1 or 2) as
/// `--verbosity=LEVEL`, so that `-v` can count (`-vv`) and `qik -v 2` still
/// means what it did. Stops at `--`.
pub(crate) fn legacy_verbosity(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let level = |arg: &std::ffi::OsStr| {
        matches!(arg.to_str(), Some("0" | "1" | "2")).then(|| arg.to_owned())
    };
    let mut out = Vec::with_capacity(args.len());
    let mut args = args.into_iter().peekable();
    while let Some(arg) = args.next() {
        if arg == "--" {
            out.push(arg);
            out.extend(args);
            break;
        }
        let attached = arg
            .to_str()
            .and_then(|a| a.strip_prefix("-v"))
            .and_then(|rest| level(std::ffi::OsStr::new(rest)));
        if let Some(value) = attached {
            out.push(format!("--verbosity={}", value.to_string_lossy()).into());
        } else if arg == "-v" {
            match args.peek().and_then(|next| level(next)) {
                Some(value) => {
                    args.next();
                    out.push(format!("--verbosity={}", value.to_string_lossy()).into());
                }
                None => out.push(arg),
            }
        } else {
            out.push(arg);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(args: &[&str]) -> Vec<String> {
        legacy_verbosity(args.iter().map(Into::into).collect())
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn reference_levels_become_verbosity_and_counts_stay() {
        assert_eq!(
            rewritten(&["qik", "-v", "2", "lint"]),
            ["qik", "--verbosity=2", "lint"]
        );
        assert_eq!(rewritten(&["qik", "-v0"]), ["qik", "--verbosity=0"]);
        assert_eq!(rewritten(&["qik", "-v", "lint"]), ["qik", "-v", "lint"]);
        assert_eq!(rewritten(&["qik", "-vv"]), ["qik", "-vv"]);
        assert_eq!(rewritten(&["qik", "-v", "3"]), ["qik", "-v", "3"]);
        assert_eq!(
            rewritten(&["qik", "--", "-v", "2"]),
            ["qik", "--", "-v", "2"]
        );
    }

    #[test]
    fn levels_combine_the_flags() {
        let parse = |args: &[&str]| QikArgs::try_parse_from(args).map(|a| a.verbosity_level());
        assert_eq!(parse(&["qik"]).unwrap(), 1);
        assert_eq!(parse(&["qik", "-q"]).unwrap(), 0);
        assert_eq!(parse(&["qik", "-v"]).unwrap(), 2);
        assert_eq!(parse(&["qik", "-vv"]).unwrap(), 3);
        assert_eq!(parse(&["qik", "-vvvv"]).unwrap(), 3);
        assert_eq!(parse(&["qik", "--verbosity", "0"]).unwrap(), 0);
        assert!(parse(&["qik", "-q", "-v"]).is_err());
    }
}
