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
    let parents = closure_parents(graph, root);
    let closure: BTreeSet<u32> = parents.keys().copied().collect();
    let chain = |mut i: u32| {
        let mut names = vec![graph.modules[i as usize].name.as_str()];
        while let Some(&Some(parent)) = parents.get(&i) {
            names.push(graph.modules[parent as usize].name.as_str());
            i = parent;
        }
        names.reverse();
        names.join(" -> ")
    };
    let mut why = BTreeMap::new();
    let prefix = if graph.python_path.is_empty() {
        String::new()
    } else {
        format!("{}/", graph.python_path)
    };
    let mut globs = BTreeSet::new();
    let mut pydists = BTreeSet::new();
    let mut missing = BTreeSet::new();
    for &i in &closure {
        let module = &graph.modules[i as usize];
        if module.internal {
            let path = module.name.replace('.', "/");
            let reached = chain(i);
            for glob in [
                format!("{prefix}{path}/**.py"),
                format!("{prefix}{path}.py"),
            ] {
                why.entry(glob.clone()).or_insert_with(|| reached.clone());
                globs.insert(glob);
            }
            let mut end = 0;
            while let Some(dot) = module.name[end..].find('.') {
                end += dot;
                let ancestor = &module.name[..end];
                if !graph.find(ancestor).is_some_and(|a| closure.contains(&a)) {
                    let glob = format!("{prefix}{}/__init__.py", ancestor.replace('.', "/"));
                    why.entry(glob.clone())
                        .or_insert_with(|| format!("{} (its package runs on import)", chain(i)));
                    globs.insert(glob);
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
    Ok(Lock {
        globs: globs.into_iter().collect(),
        pydists: pydists.into_iter().collect(),
        why,
    })
}

/// `root` and every module it reaches through import edges and from a
/// package to its submodules, each with the module it was first reached
/// from (breadth first, so chains are shortest; `None` for the root).
fn closure_parents(graph: &Graph, root: u32) -> BTreeMap<u32, Option<u32>> {
    let n = graph.modules.len();
    let mut starts = vec![0u32; n + 1];
    for &(a, _) in &graph.edges {
        starts[a as usize + 1] += 1;
    }
    for i in 0..n {
        starts[i + 1] += starts[i];
    }
    let mut parents = BTreeMap::from([(root, None)]);
    let mut queue = std::collections::VecDeque::from([root]);
    while let Some(i) = queue.pop_front() {
        let edges = &graph.edges[starts[i as usize] as usize..starts[i as usize + 1] as usize];
        let children = graph.subtree(i);
        for next in edges.iter().map(|e| e.1).chain(children.skip(1)) {
            if let std::collections::btree_map::Entry::Vacant(slot) = parents.entry(next) {
                slot.insert(Some(i));
                queue.push_back(next);
            }
        }
    }
    parents
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
