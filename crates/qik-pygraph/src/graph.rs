//! The import graph and its `graph.json` form:
//! `{"modules":[[name,is_internal],...],"edges":[[importer,imported],...]}`,
//! modules sorted by name, edges sorted and unique indexes into `modules`.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use serde::Deserialize;

/// A node: an internal module (`pkg.sub.mod`) or an external top-level
/// name (`django`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Module {
    pub name: String,
    pub internal: bool,
}

/// Where an import edge comes from in the source.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ImportSite {
    pub importer: u32,
    pub imported: u32,
    /// 1-based first line of the import statement.
    pub line: u32,
}

/// The import graph of a project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Graph {
    pub(crate) modules: Vec<Module>,
    pub(crate) edges: Vec<(u32, u32)>,
    /// The python path, relative to the project root, '' for the root.
    pub(crate) python_path: String,
    /// Per module: the file (relative to the project root) of an internal
    /// module, when the graph was built rather than read from json.
    pub(crate) files: Vec<Option<String>>,
    /// Every import statement's edge, sorted; empty for a graph read from
    /// json.
    pub(crate) sites: Vec<ImportSite>,
    pub(crate) index: HashMap<String, u32>,
}

/// `graph.json` does not hold a graph.
#[derive(Debug, thiserror::Error)]
pub enum GraphFileError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not an import graph: {reason}")]
    Invalid { path: String, reason: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GraphJson {
    modules: Vec<(String, bool)>,
    edges: Vec<(u32, u32)>,
}

impl Graph {
    pub(crate) fn new(
        modules: Vec<Module>,
        edges: Vec<(u32, u32)>,
        python_path: String,
        files: Vec<Option<String>>,
        sites: Vec<ImportSite>,
    ) -> Graph {
        let index = modules
            .iter()
            .enumerate()
            .map(|(i, m)| (m.name.clone(), i as u32))
            .collect();
        Graph {
            modules,
            edges,
            python_path,
            files,
            sites,
            index,
        }
    }

    /// The nodes, sorted by name.
    pub fn modules(&self) -> &[Module] {
        &self.modules
    }

    /// Import edges (importer, imported), sorted and unique; parent-package
    /// links are implied by the names, not stored.
    pub fn edges(&self) -> &[(u32, u32)] {
        &self.edges
    }

    /// Every import statement behind the edges (empty when read from json).
    pub fn sites(&self) -> &[ImportSite] {
        &self.sites
    }

    /// The index of a module by name.
    pub fn find(&self, name: &str) -> Option<u32> {
        self.index.get(name).copied()
    }

    /// The file of an internal module, relative to the project root (known
    /// when the graph was built, not read from json).
    pub fn file(&self, module: u32) -> Option<&str> {
        self.files.get(module as usize)?.as_deref()
    }

    /// The python path the module names are relative to ('' = the root).
    pub fn python_path(&self) -> &str {
        &self.python_path
    }

    /// `graph.json` text (compact, deterministic).
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(self.modules.len() * 32 + self.edges.len() * 12);
        out.push_str("{\"modules\":[");
        for (i, m) in self.modules.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('[');
            out.push_str(&serde_json::to_string(&m.name).expect("strings serialize"));
            out.push_str(if m.internal { ",true]" } else { ",false]" });
        }
        out.push_str("],\"edges\":[");
        for (i, (a, b)) in self.edges.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&format!("[{a},{b}]"));
        }
        out.push_str("]}");
        out
    }

    /// Parses `graph.json` text; `python_path` as given to the build.
    pub fn from_json(text: &str, python_path: &str) -> Result<Graph, String> {
        let raw: GraphJson = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let modules: Vec<Module> = raw
            .modules
            .into_iter()
            .map(|(name, internal)| Module { name, internal })
            .collect();
        if modules.windows(2).any(|w| w[0].name >= w[1].name) {
            return Err("modules are not sorted and unique".into());
        }
        let n = modules.len() as u32;
        if raw.edges.iter().any(|&(a, b)| a >= n || b >= n) {
            return Err("an edge points past the modules".into());
        }
        if raw.edges.windows(2).any(|w| w[0] >= w[1]) {
            return Err("edges are not sorted and unique".into());
        }
        let files = vec![None; modules.len()];
        Ok(Graph::new(
            modules,
            raw.edges,
            normalize_python_path(python_path),
            files,
            Vec::new(),
        ))
    }

    /// Writes `graph.json` atomically; an identical file is left untouched.
    pub fn write_json(&self, path: &Path) -> Result<(), GraphFileError> {
        let text = self.to_json();
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            // Swept even when nothing is written below.
            qik_core::fsutil::staging::sweep_writes(dir);
        }
        if fs::read(path).is_ok_and(|old| old == text.as_bytes()) {
            return Ok(());
        }
        qik_core::fsutil::write_atomic(path, text.as_bytes()).map_err(|source| {
            GraphFileError::Write {
                path: path.display().to_string(),
                source,
            }
        })
    }

    /// Reads `graph.json`.
    pub fn read_json(path: &Path, python_path: &str) -> Result<Graph, GraphFileError> {
        let text = fs::read_to_string(path).map_err(|source| GraphFileError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Graph::from_json(&text, python_path).map_err(|reason| GraphFileError::Invalid {
            path: path.display().to_string(),
            reason,
        })
    }

    /// The modules inside `module` (itself included): names are
    /// identifiers, whose bytes all sort after '.', so the ones starting with
    /// `name.` directly follow `name` in the sorted list.
    pub(crate) fn subtree(&self, module: u32) -> std::ops::Range<u32> {
        let prefix = format!("{}.", self.modules[module as usize].name);
        let mut end = module as usize + 1;
        while self
            .modules
            .get(end)
            .is_some_and(|m| m.name.starts_with(&prefix))
        {
            end += 1;
        }
        module..end as u32
    }
}

/// `"."`, `""`, `"./src/"` → `""`, `""`, `"src"`.
pub(crate) fn normalize_python_path(path: &str) -> String {
    let mut p = path.trim();
    while let Some(rest) = p.strip_prefix("./") {
        p = rest;
    }
    let p = p.trim_end_matches('/');
    if p == "." {
        String::new()
    } else {
        p.to_string()
    }
}
