//! Building the graph: which files are modules, their raw imports (cached or
//! parsed on all cores), and the resolution of every import against the
//! project's modules.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use rayon::prelude::*;

use crate::cache::{Digest, ImportCache, Stat};
use crate::graph::{Graph, ImportSite, Module, normalize_python_path};
use crate::parse::{self, RawImport};
use crate::stdlib::is_stdlib;

/// What the build leaves out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BuildOptions {
    /// Leave out imports under `if TYPE_CHECKING:`.
    pub ignore_type_checking: bool,
    /// Leave out external modules (and, like grimp, the imports that only
    /// resolve through the external rule).
    pub ignore_pydists: bool,
}

/// A built graph and what the build noticed on the way.
#[derive(Debug)]
pub struct Build {
    pub graph: Graph,
    /// Problems that did not stop the build, each naming a file (and line).
    pub warnings: Vec<String>,
    /// Module files read and parsed because the cache did not know them.
    pub parsed: usize,
    /// Module files in the graph.
    pub files: usize,
}

/// A file that is not valid Python source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadSource {
    /// Relative to the project root.
    pub path: String,
    pub line: u32,
    pub col: u32,
    pub message: String,
}

impl fmt::Display for BadSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.path, self.line, self.col, self.message
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Every bad file, sorted by path; no graph was built.
    #[error("{}", bad_sources(.0))]
    BadSources(Vec<BadSource>),
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the threads that parse Python files: {0}")]
    Threads(String),
}

impl BuildError {
    /// What the user can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            BuildError::BadSources(_) => {
                "fix the files above (the graph is only written when every module parses), or stop tracking them in git"
            }
            BuildError::Read { .. } => {
                "check that the file exists and is readable (a symlink loop also ends here)"
            }
            BuildError::Threads(_) => "the machine is out of threads or memory; try again",
        }
    }
}

fn bad_sources(bad: &[BadSource]) -> String {
    let mut out = format!(
        "cannot build the import graph: {} file{} not valid Python",
        bad.len(),
        if bad.len() == 1 { " is" } else { "s are" }
    );
    for b in bad {
        out.push_str(&format!("\n  {b}"));
    }
    out
}

/// A module's file.
#[derive(Clone, Debug)]
struct ModuleFile {
    name: String,
    /// Relative to the project root.
    path: String,
    is_package: bool,
}

/// Builds the import graph of the `*.py` files in `files` (paths relative to
/// `root`, '/'-separated, e.g. the git-tracked ones), with module names
/// relative to `python_path` (relative to `root`; "." for the root). Raw
/// imports are cached in `cache_dir` when given.
pub fn build(
    root: &Path,
    python_path: &str,
    files: &[String],
    cache_dir: Option<&Path>,
    options: &BuildOptions,
) -> Result<Build, BuildError> {
    let started = SystemTime::now();
    let python_path = normalize_python_path(python_path);
    let mut cache = ImportCache::load(cache_dir);
    // A listed file that does not exist (deleted but still in git's index,
    // or a dangling symlink) is absent: the modules are discovered again
    // without it.
    let mut absent: HashSet<&str> = HashSet::new();
    let (modules, got, mut warnings) = loop {
        let present: Vec<String>;
        let listed = if absent.is_empty() {
            files
        } else {
            present = files
                .iter()
                .filter(|f| !absent.contains(f.as_str()))
                .cloned()
                .collect();
            &present
        };
        let (modules, warnings) = discover(&python_path, listed);
        let got = read_modules(root, &modules, &cache)?;
        let before = absent.len();
        for (m, g) in modules.iter().zip(&got) {
            if matches!(g, Got::Unreadable(e) if e.kind() == std::io::ErrorKind::NotFound) {
                if let Some(f) = files.iter().find(|f| **f == m.path) {
                    absent.insert(f.as_str());
                }
            }
        }
        if absent.len() == before {
            break (modules, got, warnings);
        }
    };
    warnings.extend(cache.corrupt.clone());

    let mut bad = Vec::new();
    let mut parsed = 0;
    let mut keep = Vec::with_capacity(got.len());
    let mut imports: Vec<Arc<Vec<RawImport>>> = Vec::with_capacity(got.len());
    for (m, g) in modules.iter().zip(got) {
        match g {
            Got::Known(stat, digest, imps) => {
                keep.push((m.path.clone(), stat, digest, Arc::clone(&imps)));
                imports.push(imps);
            }
            Got::Parsed(stat, digest, imps) => {
                parsed += 1;
                keep.push((m.path.clone(), stat, digest, Arc::clone(&imps)));
                imports.push(imps);
            }
            Got::Bad(b) => bad.push(b),
            Got::Unreadable(source) => {
                return Err(BuildError::Read {
                    path: m.path.clone(),
                    source,
                });
            }
        }
    }
    // Keep what parsed even when the build fails: fixing one file then
    // re-parses only that file.
    if let Err(e) = cache.save(keep, started) {
        warnings.push(format!("cannot write the import cache: {e}"));
    }
    if !bad.is_empty() {
        bad.sort_by(|a, b| a.path.cmp(&b.path));
        return Err(BuildError::BadSources(bad));
    }
    let graph = resolve(&modules, &imports, python_path, options, &mut warnings);
    Ok(Build {
        files: modules.len(),
        graph,
        warnings,
        parsed,
    })
}

/// One module file's raw imports, or why there are none.
enum Got {
    /// From the cache (by stat data or by digest).
    Known(Stat, Digest, Arc<Vec<RawImport>>),
    Parsed(Stat, Digest, Arc<Vec<RawImport>>),
    Bad(BadSource),
    Unreadable(std::io::Error),
}

/// The stack of the threads that parse. The syntax check's parser recurses
/// once or more per level of nesting; the scanner refuses what nests deeper
/// than CPython allows (`scan::MAX_*`), and at those limits the parser needs
/// about 6 MiB in a debug build and 3 MiB optimized (measured on unary
/// chains inside brackets, its deepest recursion per level). Only the pages
/// a parse touches are ever committed.
const PARSE_STACK: usize = 32 << 20;

/// Reads and parses what the cache does not know, on all cores.
fn read_modules(
    root: &Path,
    modules: &[ModuleFile],
    cache: &ImportCache,
) -> Result<Vec<Got>, BuildError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .stack_size(PARSE_STACK)
        .thread_name(|i| format!("qik-pygraph-parse-{i}"))
        .build()
        .map_err(|err| BuildError::Threads(err.to_string()))?;
    Ok(pool.install(|| read_modules_here(root, modules, cache)))
}

fn read_modules_here(root: &Path, modules: &[ModuleFile], cache: &ImportCache) -> Vec<Got> {
    modules
        .par_iter()
        .map_init(parse::new_parser, |parser, m| {
            let full = root.join(&m.path);
            let meta = match std::fs::metadata(&full) {
                Ok(meta) => meta,
                Err(e) => return Got::Unreadable(e),
            };
            let stat = Stat::of(&meta);
            if let Some(digest) = cache.vouched(&m.path, &stat) {
                if let Some(imports) = cache.get(&digest) {
                    return Got::Known(stat, digest, imports);
                }
            }
            let bytes = match std::fs::read(&full) {
                Ok(bytes) => bytes,
                Err(e) => return Got::Unreadable(e),
            };
            let digest: Digest = *blake3::hash(&bytes).as_bytes();
            if let Some(imports) = cache.get(&digest) {
                return Got::Known(stat, digest, imports);
            }
            match parse::imports(parser, &bytes) {
                Ok(imports) => Got::Parsed(stat, digest, Arc::new(imports)),
                Err(e) => Got::Bad(BadSource {
                    path: m.path.clone(),
                    line: e.line,
                    col: e.col,
                    message: e.message,
                }),
            }
        })
        .collect()
}

/// Which of `files` are modules, and their names (semantics: only `*.py`;
/// no dot-files or dotted names; directories must be identifiers; a
/// package's subdirectory without `__init__.py` is not walked; top-level
/// files are modules; standard-library names are left out).
fn discover(python_path: &str, files: &[String]) -> (Vec<ModuleFile>, Vec<String>) {
    let mut warnings = Vec::new();
    let mut candidates = Vec::new();
    let mut packages = HashSet::new();
    for path in files {
        let rel = if python_path.is_empty() {
            path.as_str()
        } else {
            match path
                .strip_prefix(python_path)
                .and_then(|r| r.strip_prefix('/'))
            {
                Some(rel) => rel,
                None => continue,
            }
        };
        let Some(stem_path) = rel.strip_suffix(".py") else {
            continue;
        };
        let (dirs, stem) = match stem_path.rsplit_once('/') {
            Some((dirs, stem)) => (dirs, stem),
            None => ("", stem_path),
        };
        if stem.starts_with('.') || stem.is_empty() {
            continue;
        }
        if stem.contains('.') {
            warnings.push(format!(
                "{path}: skipped: a module name cannot contain a dot"
            ));
            continue;
        }
        if !dirs.is_empty() && !dirs.split('/').all(is_identifier) {
            continue;
        }
        if stem == "__init__" {
            if dirs.is_empty() {
                continue;
            }
            packages.insert(dirs.to_string());
        } else if dirs.is_empty() && !is_identifier(stem) {
            continue;
        }
        candidates.push((path, dirs, stem));
    }
    let mut by_name: BTreeMap<String, ModuleFile> = BTreeMap::new();
    for (path, dirs, stem) in candidates {
        // Every directory from the top-level one down must be a package.
        if !dirs.is_empty() {
            let mut end = 0;
            let regular = dirs.split('/').all(|part| {
                end += part.len() + usize::from(end > 0);
                packages.contains(&dirs[..end])
            });
            if !regular {
                continue;
            }
        }
        let top = dirs
            .split('/')
            .next()
            .filter(|t| !t.is_empty())
            .unwrap_or(stem);
        if is_stdlib(top) {
            continue;
        }
        let is_package = stem == "__init__";
        let name = if is_package {
            dirs.replace('/', ".")
        } else if dirs.is_empty() {
            stem.to_string()
        } else {
            format!("{}.{stem}", dirs.replace('/', "."))
        };
        let file = ModuleFile {
            name: name.clone(),
            path: path.clone(),
            is_package,
        };
        // `a/__init__.py` wins over `a.py`, as in Python.
        match by_name.get(&name) {
            Some(existing) if existing.is_package => {}
            _ => {
                by_name.insert(name, file);
            }
        }
    }
    (by_name.into_values().collect(), warnings)
}

/// Python's `str.isidentifier`, close enough for file names.
pub(crate) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
}

/// Resolution of one raw import.
enum Target {
    /// Index into the modules.
    Internal(usize),
    External(String),
    Dropped,
}

fn resolve(
    modules: &[ModuleFile],
    imports: &[Arc<Vec<RawImport>>],
    python_path: String,
    options: &BuildOptions,
    warnings: &mut Vec<String>,
) -> Graph {
    let internal: HashMap<&str, usize> = modules
        .iter()
        .enumerate()
        .map(|(i, m)| (m.name.as_str(), i))
        .collect();
    // (importer module index, target, line)
    let mut raw_sites: Vec<(usize, Target, u32)> = Vec::new();
    let mut externals = BTreeSet::new();
    for (i, (m, imps)) in modules.iter().zip(imports).enumerate() {
        for imp in imps.iter() {
            if options.ignore_type_checking && imp.type_checking {
                continue;
            }
            let candidate = match absolute(&m.name, m.is_package, imp) {
                Some(name) => name,
                None => {
                    warnings.push(format!(
                        "{}:{}: relative import climbs past the top-level package; ignored",
                        m.path, imp.line
                    ));
                    continue;
                }
            };
            let target = target(&candidate, &internal, options);
            if let Target::External(name) = &target {
                externals.insert(name.clone());
            }
            if !matches!(target, Target::Dropped) {
                raw_sites.push((i, target, imp.line));
            }
        }
    }
    // Final nodes: internal modules and external names, sorted together.
    let mut nodes: Vec<(String, bool, Option<String>)> = modules
        .iter()
        .map(|m| (m.name.clone(), true, Some(m.path.clone())))
        .chain(externals.into_iter().map(|e| (e, false, None)))
        .collect();
    nodes.sort_by(|a, b| a.0.cmp(&b.0));
    let index: HashMap<&str, u32> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.0.as_str(), i as u32))
        .collect();
    let module_node: Vec<u32> = modules.iter().map(|m| index[m.name.as_str()]).collect();
    let mut sites: Vec<ImportSite> = raw_sites
        .iter()
        .map(|(i, target, line)| ImportSite {
            importer: module_node[*i],
            imported: match target {
                Target::Internal(m) => module_node[*m],
                Target::External(name) => index[name.as_str()],
                Target::Dropped => unreachable!("dropped above"),
            },
            line: *line,
        })
        .collect();
    sites.sort();
    sites.dedup();
    let mut edges: Vec<(u32, u32)> = sites.iter().map(|s| (s.importer, s.imported)).collect();
    edges.dedup();
    let files = nodes.iter().map(|n| n.2.clone()).collect();
    let modules = nodes
        .into_iter()
        .map(|(name, internal, _)| Module { name, internal })
        .collect();
    Graph::new(modules, edges, python_path, files, sites)
}

/// The absolute candidate name of an import in module `importer`; None for
/// a relative import that climbs past the top level.
fn absolute<'a>(importer: &str, is_package: bool, imp: &'a RawImport) -> Option<Cow<'a, str>> {
    if imp.level == 0 {
        return Some(Cow::Borrowed(&imp.name));
    }
    let parts: Vec<&str> = importer.split('.').collect();
    // In a package's `__init__`, one dot is the package itself.
    let drop = imp.level as usize - usize::from(is_package);
    if drop >= parts.len() {
        return None;
    }
    let base = parts[..parts.len() - drop].join(".");
    Some(Cow::Owned(if imp.name.is_empty() {
        base
    } else {
        format!("{base}.{}", imp.name)
    }))
}

/// Grimp's rules: the module itself, else its parent, else (externals on)
/// the top-level name — internal or external — unless it is stdlib.
fn target(candidate: &str, internal: &HashMap<&str, usize>, options: &BuildOptions) -> Target {
    if let Some(&i) = internal.get(candidate) {
        return Target::Internal(i);
    }
    if let Some((parent, _)) = candidate.rsplit_once('.') {
        if let Some(&i) = internal.get(parent) {
            return Target::Internal(i);
        }
    }
    if options.ignore_pydists {
        return Target::Dropped;
    }
    let top = candidate.split('.').next().unwrap_or(candidate);
    if top.is_empty() || top == "*" || is_stdlib(top) {
        return Target::Dropped;
    }
    match internal.get(top) {
        Some(&i) => Target::Internal(i),
        None => Target::External(top.to_string()),
    }
}

/// The `*.py` files below `dir` (relative to `root`), relative to `root`
/// and sorted, following symlinks; a symlink loop or unreadable entry is
/// skipped with a warning.
pub fn python_files(root: &Path, dir: &str) -> (Vec<String>, Vec<String>) {
    let mut files = Vec::new();
    let mut warnings = Vec::new();
    let start = root.join(dir);
    for entry in walkdir::WalkDir::new(&start).follow_links(true) {
        match entry {
            Ok(entry) => {
                if entry.file_type().is_file()
                    && entry.path().extension().is_some_and(|e| e == "py")
                {
                    if let Ok(rel) = entry.path().strip_prefix(root) {
                        let rel: Vec<String> = rel
                            .components()
                            .map(|c| c.as_os_str().to_string_lossy().into_owned())
                            .collect();
                        files.push(rel.join("/"));
                    }
                }
            }
            Err(e) => {
                let path = e
                    .path()
                    .and_then(|p| p.strip_prefix(root).ok())
                    .map_or_else(|| start.display().to_string(), |p| p.display().to_string());
                if e.loop_ancestor().is_some() {
                    warnings.push(format!("{path}: skipped: symlink loop"));
                } else {
                    warnings.push(format!("{path}: skipped: {e}"));
                }
            }
        }
    }
    files.sort();
    (files, warnings)
}
