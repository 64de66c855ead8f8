//! `--shard K/N`: one of N CI jobs runs a deterministic share of the
//! selected runnables.
//!
//! Every shard computes the same partition from the same inputs, so the
//! shares never overlap and their union is the whole selection. Each shard
//! also runs the upstream runnables its share needs (usually replays from a
//! shared cache), so a share is never run without its inputs.
//!
//! Shares are balanced by the runnables' last recorded durations when the
//! repo cache (`.qik/cache`, committed, hence the same in every job) holds
//! one; a runnable without one weighs the median of the known ones. The
//! local cache is not consulted: it differs between machines, and shards
//! that disagree on weights would drop or repeat runnables.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use crate::cache::{Store, WorkDirs};
use crate::graph::Graph;
use crate::model::Project;

/// Shard `index` (1-based) of `total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub total: usize,
}

/// Why a `K/N` shard does not parse.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("expected K/N, such as 1/4")]
    Format,
    #[error("a shard count must be at least 1")]
    NoShards,
    #[error("shard {index} is outside 1..={total}")]
    OutOfRange { index: usize, total: usize },
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(text: &str) -> Result<Shard, ShardError> {
        let (index, total) = text.split_once('/').ok_or(ShardError::Format)?;
        let number = |s: &str| s.trim().parse::<usize>().map_err(|_| ShardError::Format);
        let (index, total) = (number(index)?, number(total)?);
        if total == 0 {
            return Err(ShardError::NoShards);
        }
        if index == 0 || index > total {
            return Err(ShardError::OutOfRange { index, total });
        }
        Ok(Shard { index, total })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.total)
    }
}

/// Narrows `graph` to this shard's share, with the upstream runnables it
/// needs unless `isolated` (`--isolated` leaves upstream runnables out).
pub fn select(project: &Project, graph: &mut Graph, shard: Shard, isolated: bool) {
    let dirs = WorkDirs {
        root: project.config.root.clone(),
    };
    let repo = dirs.repo_store();
    let weighed: Vec<(String, Option<u64>)> = graph
        .runnables()
        .map(|r| {
            (
                r.name.clone(),
                recorded_duration(&repo, &r.command, &r.name),
            )
        })
        .collect();
    let owners = partition(&weighed, shard.total);
    let share: BTreeSet<String> = weighed
        .into_iter()
        .zip(owners)
        .filter(|(_, owner)| *owner == shard.index - 1)
        .map(|((name, _), _)| name)
        .collect();
    if isolated {
        graph.retain(|r| share.contains(&r.name));
    } else {
        graph.retain_with_upstream(&share);
    }
}

/// The newest duration the repo cache recorded for a runnable, any hash.
fn recorded_duration(repo: &Store, command: &str, runnable: &str) -> Option<u64> {
    repo.entries(command, runnable)
        .into_iter()
        .filter_map(|e| Some((e.manifest.created, e.manifest.duration_ms?)))
        .max()
        .map(|(_, duration)| duration)
}

/// The shard (0-based) of each runnable: longest first, each to the least
/// loaded shard (ties to the lowest), which keeps the longest share within
/// 4/3 of the best possible. Only names and weights decide, so every job
/// computes the same answer.
fn partition(weighed: &[(String, Option<u64>)], total: usize) -> Vec<usize> {
    let mut known: Vec<u64> = weighed.iter().filter_map(|(_, w)| *w).collect();
    known.sort_unstable();
    let fallback = known.get(known.len() / 2).copied().unwrap_or(1);
    let mut order: Vec<(u64, &str, usize)> = weighed
        .iter()
        .enumerate()
        .map(|(at, (name, weight))| (weight.unwrap_or(fallback).max(1), name.as_str(), at))
        .collect();
    order.sort_unstable_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    let mut load = vec![0u64; total];
    let mut owners = vec![0; weighed.len()];
    for (weight, _, at) in order {
        let lightest = (0..total)
            .min_by_key(|&shard| (load[shard], shard))
            .expect("at least one shard");
        load[lightest] += weight;
        owners[at] = lightest;
    }
    owners
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weighed(items: &[(&str, Option<u64>)]) -> Vec<(String, Option<u64>)> {
        items.iter().map(|(n, w)| (n.to_string(), *w)).collect()
    }

    #[test]
    fn parses_k_of_n_and_refuses_the_rest() {
        assert_eq!("2/3".parse(), Ok(Shard { index: 2, total: 3 }));
        assert_eq!("1/1".parse(), Ok(Shard { index: 1, total: 1 }));
        assert_eq!(
            "0/3".parse::<Shard>(),
            Err(ShardError::OutOfRange { index: 0, total: 3 })
        );
        assert_eq!(
            "4/3".parse::<Shard>(),
            Err(ShardError::OutOfRange { index: 4, total: 3 })
        );
        assert_eq!("1/0".parse::<Shard>(), Err(ShardError::NoShards));
        for bad in ["", "3", "a/b", "1/2/3", "-1/2", "1/"] {
            assert_eq!(bad.parse::<Shard>(), Err(ShardError::Format), "{bad:?}");
        }
    }

    #[test]
    fn every_runnable_has_exactly_one_shard_and_shares_are_even() {
        let names: Vec<(String, Option<u64>)> = (0..10).map(|i| (format!("r{i}"), None)).collect();
        let owners = partition(&names, 3);
        let mut sizes = [0; 3];
        for owner in &owners {
            sizes[*owner] += 1;
        }
        assert_eq!(sizes, [4, 3, 3]);
        assert_eq!(partition(&names, 3), owners, "deterministic");
        assert_eq!(partition(&names, 1), vec![0; 10]);
        // More shards than runnables: some shards have nothing to do.
        assert_eq!(partition(&names[..2], 4), [0, 1]);
    }

    #[test]
    fn durations_balance_the_shares() {
        // One long runnable against four short ones: it gets a shard alone.
        let items = weighed(&[
            ("a", Some(10)),
            ("b", Some(10)),
            ("long", Some(40)),
            ("c", Some(10)),
            ("d", Some(10)),
        ]);
        assert_eq!(partition(&items, 2), [1, 1, 0, 1, 1]);
        // Unknown durations weigh the median of the known ones (10 here), so
        // they join the short side.
        let items = weighed(&[
            ("long", Some(40)),
            ("new", None),
            ("short", Some(10)),
            ("short2", Some(10)),
        ]);
        assert_eq!(partition(&items, 2), [0, 1, 1, 1]);
    }
}
