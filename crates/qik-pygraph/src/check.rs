//! `pygraph.check`: imports that leave a space's fence.

use std::fmt;

use crate::graph::Graph;

/// One import statement that leaves the fence.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Violation {
    pub importer: String,
    pub imported: String,
    /// The importer's file, relative to the project root.
    pub path: String,
    pub line: u32,
    /// The imported module is external (not provided by the space's venv).
    pub external: bool,
}

impl fmt::Display for Violation {
    /// `importer imports imported (path:line)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} imports {} ({}:{})",
            self.importer, self.imported, self.path, self.line
        )
    }
}

/// The module prefixes a fence of paths (relative to the project root, as
/// in `fence = [...]`) covers: `pkg/sub`, `pkg/sub/` and `pkg/sub.py` all
/// give `pkg.sub`. Paths outside the python path cover no module.
pub fn fence_modules(python_path: &str, paths: &[String]) -> Vec<String> {
    let python_path = crate::graph::normalize_python_path(python_path);
    let mut out: Vec<String> = paths
        .iter()
        .filter_map(|p| {
            let p = crate::graph::normalize_python_path(p);
            let rel = if python_path.is_empty() {
                p.as_str()
            } else if p == python_path {
                ""
            } else {
                p.strip_prefix(&python_path)?.strip_prefix('/')?
            };
            let rel = rel.strip_suffix(".py").unwrap_or(rel);
            let rel = rel.strip_suffix("/__init__").unwrap_or(rel);
            Some(rel.replace('/', "."))
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Every import statement of a module inside the fence (a module named by
/// `fence` or below one; `""` fences the whole python path) that reaches an
/// internal module outside the fence, or an external module for which
/// `allowed_external` is false. Sorted by importer, imported, line.
///
/// Needs a graph from `build` (a graph read from json has no import sites).
pub fn check(
    graph: &Graph,
    fence: &[String],
    allowed_external: &dyn Fn(&str) -> bool,
) -> Vec<Violation> {
    let inside = |name: &str| {
        fence.iter().any(|f| {
            f.is_empty()
                || name == f
                || (name.starts_with(f.as_str()) && name.as_bytes().get(f.len()) == Some(&b'.'))
        })
    };
    let fenced: Vec<bool> = graph
        .modules
        .iter()
        .map(|m| m.internal && inside(&m.name))
        .collect();
    let mut out = Vec::new();
    for site in &graph.sites {
        if !fenced[site.importer as usize] {
            continue;
        }
        let target = &graph.modules[site.imported as usize];
        let leaves = if target.internal {
            !fenced[site.imported as usize]
        } else {
            !allowed_external(&target.name)
        };
        if leaves {
            out.push(Violation {
                importer: graph.modules[site.importer as usize].name.clone(),
                imported: target.name.clone(),
                path: graph.file(site.importer).unwrap_or_default().to_string(),
                line: site.line,
                external: !target.internal,
            });
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The one-line all-clear of a space with no violations.
pub fn all_clear(space: &str, graph: &Graph, fence: &[String]) -> String {
    let fenced = graph
        .modules
        .iter()
        .filter(|m| {
            m.internal
                && fence
                    .iter()
                    .any(|f| f.is_empty() || m.name == *f || m.name.starts_with(&format!("{f}.")))
        })
        .count();
    let imports = graph
        .sites
        .iter()
        .filter(|s| {
            let name = &graph.modules[s.importer as usize].name;
            fence
                .iter()
                .any(|f| f.is_empty() || name == f || name.starts_with(&format!("{f}.")))
        })
        .count();
    format!(
        "No import violations found across {imports} imports of {fenced} modules in \"{space}\" space"
    )
}
