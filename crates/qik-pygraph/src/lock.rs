//! `pygraph.lock`: the upstream closure of one module as git pathspec globs
//! of internal files plus the distributions of its external imports.

use std::collections::{BTreeMap, BTreeSet};

use crate::graph::Graph;

/// What a module's runnables depend on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lock {
    /// Sorted, unique, relative to the project root.
    pub globs: Vec<String>,
    /// Sorted, unique distribution names.
    pub pydists: Vec<String>,
    /// For each glob, how the locked module reaches it: the chain of imports
    /// (and package contents), for `qik --explain`.
    pub why: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LockError {
    /// The pyimport is not an internal module of the graph.
    #[error("`{pyimport}` is not a module of the import graph{}", did_you_mean(.suggestions))]
    NotAModule {
        pyimport: String,
        /// Modules with close names or under the nearest existing parent.
        suggestions: Vec<String>,
    },
    /// External modules with no distribution (sorted).
    #[error("{}", unmapped(.modules))]
    UnmappedModules { modules: Vec<String> },
}

impl LockError {
    pub fn hint(&self) -> String {
        match self {
            LockError::NotAModule { .. } => "a pyimport is a dotted module name relative to `[defaults] python-path`, e.g. `pkg.sub`; a directory is a module only if it has an `__init__.py`".into(),
            LockError::UnmappedModules { modules } => format!(
                "install the distribution in the space's venv, or map the module in qik.toml: `[pydist.modules] {m} = \"distribution-name\"` (`{m} = \"\"` ignores it); `[pydist] ignore-missing-modules = true` ignores every unmapped module and `[plugins.pygraph] ignore-pydists = true` stops tracking distributions",
                m = modules.first().map_or("module", String::as_str)
            ),
        }
    }
}

fn did_you_mean(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        String::new()
    } else {
        format!(
            "; did you mean {}?",
            suggestions
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

fn unmapped(modules: &[String]) -> String {
    modules
        .iter()
        .map(|m| format!("No distribution found for module \"{m}\""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The lock of `pyimport`: its files, the files of every internal module it
/// reaches through imports and package contents, the `__init__.py` of every
/// ancestor package of those (importing `a.b.c` runs `a/__init__.py` and
/// `a/b/__init__.py`), and the distributions of the external modules
/// reached. `dists` maps a top-level module to its distributions (None:
/// unknown; an empty name in the list means "ignore"); unknown modules are
/// an error unless `ignore_missing`.
pub fn lock(
    graph: &Graph,
    pyimport: &str,
    dists: &dyn Fn(&str) -> Option<Vec<String>>,
    ignore_missing: bool,
) -> Result<Lock, LockError> {
    let root = match graph.find(pyimport) {
        Some(i) if graph.modules[i as usize].internal => i,
        _ => {
            return Err(LockError::NotAModule {
                pyimport: pyimport.to_string(),
                suggestions: suggestions(graph, pyimport),
            });
        }
    };
    let (parents, order) = closure_parents(graph, root);
    let n = graph.modules.len();
    let mut in_closure = vec![false; n];
    // Depth and first step of each module's chain, in breadth-first order
    // (a parent before its children): a chain is then written from its two
    // ends without walking it.
    let mut depth = vec![0u32; n];
    let mut first = vec![root; n];
    in_closure[root as usize] = true;
    for &i in &order[1..] {
        let parent = parents[i as usize];
        in_closure[i as usize] = true;
        depth[i as usize] = depth[parent as usize] + 1;
        first[i as usize] = if parent == root {
            i
        } else {
            first[parent as usize]
        };
    }
    let name = |i: u32| graph.modules[i as usize].name.as_str();
    let chain = |i: u32| {
        let mut tail = vec![name(i)];
        let mut at = i;
        while tail.len() < FULL_CHAIN.min(depth[i as usize] as usize + 1) {
            at = parents[at as usize];
            tail.push(name(at));
        }
        tail.reverse();
        elided_chain(
            name(root),
            name(first[i as usize]),
            depth[i as usize] as usize,
            &tail,
        )
    };
    let prefix = if graph.python_path.is_empty() {
        String::new()
    } else {
        format!("{}/", graph.python_path)
    };
    // Each glob with the module that brought it in, and whether as an
    // ancestor package; explanations are written once the globs are known.
    let mut found: Vec<(String, u32, bool)> = Vec::with_capacity(2 * order.len());
    let mut ancestors_seen = std::collections::HashSet::new();
    let mut pydists = BTreeSet::new();
    let mut missing = BTreeSet::new();
    let mut closure = order.clone();
    closure.sort_unstable();
    for &i in &closure {
        let module = &graph.modules[i as usize];
        if module.internal {
            let path = module.name.replace('.', "/");
            found.push((format!("{prefix}{path}/**.py"), i, false));
            found.push((format!("{prefix}{path}.py"), i, false));
            let mut end = 0;
            while let Some(dot) = module.name[end..].find('.') {
                end += dot;
                let ancestor = &module.name[..end];
                if ancestors_seen.insert(ancestor)
                    && !graph.find(ancestor).is_some_and(|a| in_closure[a as usize])
                {
                    let glob = format!("{prefix}{}/__init__.py", ancestor.replace('.', "/"));
                    found.push((glob, i, true));
                }
                end += 1;
            }
        } else {
            match dists(&module.name) {
                Some(names) => pydists.extend(names.into_iter().filter(|n| !n.is_empty())),
                None if ignore_missing => {}
                None => {
                    missing.insert(module.name.clone());
                }
            }
        }
    }
    if !missing.is_empty() {
        return Err(LockError::UnmappedModules {
            modules: missing.into_iter().collect(),
        });
    }
    // Stable: a glob keeps the first module (by index) that brought it in.
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found.dedup_by(|later, kept| later.0 == kept.0);
    let mut chains: Vec<Option<String>> = vec![None; n];
    let mut why = BTreeMap::new();
    let mut globs = Vec::with_capacity(found.len());
    for (glob, module, ancestor) in found {
        let reached = chains[module as usize].get_or_insert_with(|| chain(module));
        let reason = if ancestor {
            format!("{reached} (its package runs on import)")
        } else {
            reached.clone()
        };
        why.insert(glob.clone(), reason);
        globs.push(glob);
    }
    Ok(Lock {
        globs,
        pydists: pydists.into_iter().collect(),
        why,
    })
}

/// Longest chain written in full; longer ones keep both ends. Deep import
/// chains are common (a test module reaching the bottom of a layered
/// package), and a lock holds one chain per glob: whole chains would make the
/// lock quadratic in the depth of the graph.
const FULL_CHAIN: usize = 6;

/// The chain from `root` to a module `depth` imports away, given its last
/// links (`tail`, the whole chain when short).
fn elided_chain(root: &str, first: &str, depth: usize, tail: &[&str]) -> String {
    if depth < FULL_CHAIN {
        return tail.join(" -> ");
    }
    let tail = &tail[tail.len() - 3..];
    format!(
        "{root} -> {first} -> ({} more) -> {}",
        depth + 1 - 5,
        tail.join(" -> ")
    )
}

impl Lock {
    /// Replaces the globs under a directory by `dir/**.py` wherever that one
    /// glob selects exactly the files they select (`matching` gives the files a
    /// set of globs selects, in a form that compares equal for equal sets). A module whose whole
    /// package tree is upstream then costs one glob instead of two per
    /// module: the lock of a module at the top of a deep import graph stays
    /// small, and so does hashing every command that loads it.
    ///
    /// Exact when written; afterwards the wider glob can only select more
    /// (a new file under the directory), never less. A new module changes
    /// the graph, which writes the lock again.
    pub fn compact<Files: PartialEq, E>(
        &mut self,
        mut matching: impl FnMut(&[String]) -> Result<Files, E>,
    ) -> Result<(), E> {
        // Candidate directories: every directory holding a glob's files,
        // parents before children (sorted), each tried once.
        let mut dirs = BTreeSet::new();
        for glob in &self.globs {
            let mut dir = glob_dir(glob);
            while !dir.is_empty() {
                if !dirs.insert(dir) {
                    break;
                }
                dir = dir.rsplit_once('/').map_or("", |(parent, _)| parent);
            }
        }
        let all = &self.globs;
        let mut keep = vec![true; all.len()];
        let mut wide_globs = Vec::new();
        let mut compacted: BTreeSet<&str> = BTreeSet::new();
        for dir in dirs {
            if ancestors(dir).any(|parent| compacted.contains(parent)) {
                continue;
            }
            let under = format!("{dir}/");
            // Globs are sorted: the ones under `dir` are one contiguous run.
            let start = all.partition_point(|g| g.as_str() < under.as_str());
            let len = all[start..].partition_point(|g| g.starts_with(&under));
            if len < 2 {
                continue;
            }
            let wide = format!("{dir}/**.py");
            let inside = &all[start..start + len];
            if matching(std::slice::from_ref(&wide))? != matching(inside)? {
                continue;
            }
            let reason = inside
                .iter()
                .filter_map(|g| self.why.get(g))
                .min_by_key(|why| why.len())
                .cloned();
            if let Some(reason) = reason {
                self.why.insert(wide.clone(), reason);
            }
            keep[start..start + len].fill(false);
            wide_globs.push(wide);
            compacted.insert(dir);
        }
        let mut globs: Vec<String> = all
            .iter()
            .zip(&keep)
            .filter(|(_, keep)| **keep)
            .map(|(glob, _)| glob.clone())
            .chain(wide_globs)
            .collect();
        globs.sort_unstable();
        globs.dedup();
        self.why.retain(|glob, _| globs.binary_search(glob).is_ok());
        self.globs = globs;
        Ok(())
    }
}

/// `a/b` and `a` for `a/b/c`.
fn ancestors(dir: &str) -> impl Iterator<Item = &str> {
    dir.match_indices('/').map(|(at, _)| &dir[..at])
}

/// The directory whose files a lock glob selects: `a/b` for `a/b/**.py` and
/// `a/b/__init__.py`, `a` for `a/b.py`.
fn glob_dir(glob: &str) -> &str {
    let path = glob.strip_suffix("/**.py").unwrap_or(glob);
    if path.len() < glob.len() {
        return path;
    }
    glob.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// `root` and every module it reaches through import edges and from a
/// package to its submodules, in breadth-first order (so chains are
/// shortest), and for each the module it was first reached from (indexed by
/// module; the root's is itself).
fn closure_parents(graph: &Graph, root: u32) -> (Vec<u32>, Vec<u32>) {
    let n = graph.modules.len();
    let mut starts = vec![0u32; n + 1];
    for &(a, _) in &graph.edges {
        starts[a as usize + 1] += 1;
    }
    for i in 0..n {
        starts[i + 1] += starts[i];
    }
    const UNREACHED: u32 = u32::MAX;
    let mut parents = vec![UNREACHED; n];
    parents[root as usize] = root;
    let mut order = vec![root];
    let mut next_up = 0;
    while let Some(&i) = order.get(next_up) {
        next_up += 1;
        let edges = &graph.edges[starts[i as usize] as usize..starts[i as usize + 1] as usize];
        let children = graph.subtree(i);
        for next in edges.iter().map(|e| e.1).chain(children.skip(1)) {
            if parents[next as usize] == UNREACHED {
                parents[next as usize] = i;
                order.push(next);
            }
        }
    }
    (parents, order)
}

/// Internal modules whose names are close to `name`, or that sit under its
/// nearest existing ancestor.
fn suggestions(graph: &Graph, name: &str) -> Vec<String> {
    let internal = graph.modules.iter().filter(|m| m.internal);
    let mut scored: Vec<(f64, &str)> = internal
        .map(|m| (strsim::jaro_winkler(name, &m.name), m.name.as_str()))
        .filter(|(score, _)| *score > 0.85)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    let mut out: Vec<String> = scored
        .into_iter()
        .take(3)
        .map(|(_, n)| n.to_string())
        .collect();
    if out.is_empty() {
        // The children of the nearest ancestor that exists.
        let mut parent = name;
        while let Some((p, _)) = parent.rsplit_once('.') {
            parent = p;
            if let Some(i) = graph.find(parent) {
                let prefix = format!("{parent}.");
                out = graph
                    .subtree(i)
                    .skip(1)
                    .map(|j| graph.modules[j as usize].name.as_str())
                    .filter(|m| !m[prefix.len()..].contains('.'))
                    .take(5)
                    .map(str::to_string)
                    .collect();
                break;
            }
        }
    }
    out
}
