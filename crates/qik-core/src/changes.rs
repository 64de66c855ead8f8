//! Which runnables a change affects: the matching shared by `--since` and
//! `--watch`.
//!
//! A runnable is affected when a changed file is one of its inputs, with the
//! same rules hashing uses: its glob deps (plus the globs its `load` deps read,
//! the `load` files themselves, and the artifacts of its upstream runnables,
//! which hashing adds too) matched as git pathspecs relative to the project
//! root, against paths below the project root only. Its space's dotenv and
//! venv files are among its globs already (see `Project::add_space_inputs`).
//! A runnable is also affected when an installed distribution it depends on
//! changed, or when its definition changed (see [`changed_definitions`]).
//!
//! qik's own directories (`._qik/`, and `.qik/` where the repo cache writes)
//! never affect anything: they are where results go, not inputs.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use crate::config::module_config_path;
use crate::diagnostic::{Code, Diagnostic};
use crate::git::{PathspecSet, Repo};
use crate::graph::Graph;
use crate::hashing::{self, normalize_pydist};
use crate::model::{Project, Runnable};

/// What changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Changed files, relative to the git work tree (`/`-separated, as git
    /// prints them). Files outside the project root are ignored.
    pub files: BTreeSet<Vec<u8>>,
    /// Normalised names of distributions whose installed version changed.
    pub pydists: BTreeSet<String>,
    /// Runnables whose definition changed.
    pub definitions: BTreeSet<String>,
    /// Per runnable, changed files that its [`crate::ext::ChangeCheck`]
    /// found to leave it as it was: they do not select it.
    pub dismissed: BTreeMap<String, BTreeSet<Vec<u8>>>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.pydists.is_empty() && self.definitions.is_empty()
    }
}

/// Where a project sits in its git work tree.
#[derive(Clone, Debug)]
pub struct ProjectPaths {
    repo: Repo,
    /// The project root relative to the work tree, without a trailing `/`
    /// (empty at the top).
    prefix: Vec<u8>,
}

impl ProjectPaths {
    /// Finds the repository holding the project at `root`.
    pub fn discover(root: &Path) -> Result<ProjectPaths, Diagnostic> {
        let repo = Repo::discover(root).map_err(|err| {
            Diagnostic::error(
                Code::General,
                format!("cannot read the git repository: {err}"),
            )
            .with_hint("qik selects by change through git; run it inside a git work tree")
        })?;
        let prefix = repo.relative_path(root).unwrap_or_default();
        Ok(ProjectPaths { repo, prefix })
    }

    pub fn repo(&self) -> &Repo {
        &self.repo
    }

    /// The project root relative to the work tree (`""` at the top).
    pub fn prefix(&self) -> &[u8] {
        &self.prefix
    }

    /// A work-tree-relative path made relative to the project root; `None`
    /// when it is outside the project.
    pub fn project_relative<'p>(&self, path: &'p [u8]) -> Option<&'p [u8]> {
        project_relative(&self.prefix, path)
    }

    /// A work-tree-relative path for a project-relative one.
    pub fn repo_relative(&self, path: &str) -> Vec<u8> {
        if self.prefix.is_empty() {
            return path.as_bytes().to_vec();
        }
        let mut out = self.prefix.clone();
        out.push(b'/');
        out.extend_from_slice(path.as_bytes());
        out
    }
}

/// `path` (relative to the work tree) relative to `prefix` (the project root
/// relative to the work tree, without a trailing `/`); `None` outside it.
pub fn project_relative<'p>(prefix: &[u8], path: &'p [u8]) -> Option<&'p [u8]> {
    if prefix.is_empty() {
        return Some(path);
    }
    path.strip_prefix(prefix)?.strip_prefix(b"/")
}

/// The configuration files of a project, relative to its root: the root file
/// first, then each module's `qik.toml`.
pub fn config_files(project: &Project) -> Vec<String> {
    let root = &project.config.root;
    let root_file = project
        .config
        .file
        .path()
        .strip_prefix(root)
        .map(|p| p.to_string_lossy().replace(std::path::MAIN_SEPARATOR, "/"))
        .unwrap_or_else(|_| "qik.toml".to_string());
    let mut files = vec![root_file];
    files.extend(project.modules().map(|m| module_config_path(&m.path)));
    files
}

/// Whether a project-relative path is in one of qik's own directories.
pub fn is_qik_private(path: &[u8]) -> bool {
    [&b"._qik"[..], b".qik"].iter().any(|dir| {
        path.strip_prefix(*dir)
            .is_some_and(|rest| rest.is_empty() || rest[0] == b'/')
    })
}

/// The runnables of `graph` that `changes` affect (not yet their neighbours).
/// `prefix` is the project root relative to the work tree
/// ([`ProjectPaths::prefix`]).
pub fn affected(
    project: &Project,
    graph: &Graph,
    prefix: &[u8],
    changes: &Changes,
) -> Result<BTreeSet<String>, Diagnostic> {
    let files: Vec<&[u8]> = changes
        .files
        .iter()
        .filter(|path| project_relative(prefix, path).is_some_and(|p| !is_qik_private(p)))
        .map(Vec::as_slice)
        .collect();
    let mut matched: HashMap<Vec<String>, bool> = HashMap::new();
    let mut out = BTreeSet::new();
    for runnable in graph.runnables() {
        if changes.definitions.contains(&runnable.name) {
            out.insert(runnable.name.clone());
            continue;
        }
        let Ok(loaded) = hashing::loaded_deps(project, runnable) else {
            // An unreadable deps file fails the runnable when it runs; running
            // it is how the user gets to see why.
            out.insert(runnable.name.clone());
            continue;
        };
        if !changes.pydists.is_empty()
            && runnable
                .deps
                .pydists
                .iter()
                .chain(&loaded.pydists)
                .any(|name| changes.pydists.contains(&normalize_pydist(name)))
        {
            out.insert(runnable.name.clone());
            continue;
        }
        if files.is_empty() {
            continue;
        }
        let patterns = input_globs(project, runnable, loaded.globs);
        if patterns.is_empty() {
            continue;
        }
        let pathspecs = |patterns: &[String]| {
            PathspecSet::new(patterns.iter().map(String::as_bytes), prefix).map_err(|err| {
                Diagnostic::error(Code::ConfigParse, format!("invalid glob: {err}"))
                    .with_hint("globs follow git's pathspec syntax")
            })
        };
        let hit = match (
            changes.dismissed.get(&runnable.name),
            matched.get(&patterns),
        ) {
            // Its own view of the files: not shared with other runnables.
            (Some(dismissed), _) => {
                let set = pathspecs(&patterns)?;
                files
                    .iter()
                    .filter(|file| !dismissed.contains(**file))
                    .any(|file| set.matches(file))
            }
            (None, Some(hit)) => *hit,
            (None, None) => {
                let set = pathspecs(&patterns)?;
                let hit = files.iter().any(|file| set.matches(file));
                matched.insert(patterns, hit);
                hit
            }
        };
        if hit {
            out.insert(runnable.name.clone());
        }
    }
    Ok(out)
}

/// Every glob whose files are inputs of `runnable`, sorted and unique.
fn input_globs(project: &Project, runnable: &Runnable, loaded: Vec<String>) -> Vec<String> {
    let mut globs: BTreeSet<String> = runnable.deps.globs.clone();
    globs.extend(loaded);
    // The deps file itself: a new version may name other files.
    globs.extend(runnable.deps.loads.iter().map(|load| load.path.clone()));
    // As in hashing: upstream artifacts by definition, whatever is selected.
    globs.extend(project.upstream_artifacts(runnable).unwrap_or_default());
    globs.into_iter().collect()
}

/// The runnables of `graph` (built from `new`) whose definition differs in
/// `old`, or that `old` does not have. A definition is what hashing digests
/// (exec, deps, consts, space, artifacts, ...; not cache settings or tags),
/// plus the artifacts of its upstream runnables, which are among its inputs.
pub fn changed_definitions(old: &Project, new: &Project, graph: &Graph) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for runnable in graph.runnables() {
        let before = old
            .command_name(&runnable.command)
            .and_then(|command| old.runnables_of(command).ok())
            .and_then(|runnables| {
                runnables
                    .iter()
                    .find(|r| r.name == runnable.name)
                    .and_then(|r| definition(old, r))
            });
        if before.is_none() || before != definition(new, runnable) {
            out.insert(runnable.name.clone());
        }
    }
    out
}

/// What decides whether a runnable's definition changed.
#[derive(PartialEq, Eq)]
struct Definition {
    digest: String,
    upstream_artifacts: BTreeSet<String>,
    /// `[pydist] versions` pins of its distributions: hashing uses them when
    /// a distribution is not installed.
    pinned: BTreeMap<String, String>,
}

fn definition(project: &Project, runnable: &Runnable) -> Option<Definition> {
    let upstream_artifacts = project
        .upstream_artifacts(runnable)
        .ok()?
        .into_iter()
        .collect();
    let wanted: BTreeSet<String> = runnable
        .deps
        .pydists
        .iter()
        .map(|name| normalize_pydist(name))
        .collect();
    let pinned = project
        .config
        .pydist
        .versions
        .iter()
        .map(|(name, version)| (normalize_pydist(name), version.clone()))
        .filter(|(name, _)| wanted.contains(name))
        .collect();
    Some(Definition {
        digest: hashing::definition_digest(runnable),
        upstream_artifacts,
        pinned,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctx::Ctx;
    use crate::graph::Selection;

    fn project(root: &Path, toml: &str) -> Project {
        let config = crate::config::parse_str(root, toml).expect("config parses");
        let ctx = Ctx::resolve(&config.ctx_vars, |_| None, Default::default()).expect("ctx");
        Project::new(config, ctx).expect("project")
    }

    fn files(list: &[&str]) -> Changes {
        Changes {
            files: list.iter().map(|f| f.as_bytes().to_vec()).collect(),
            ..Changes::default()
        }
    }

    const CONFIG: &str = r#"
[spaces.default]
dotenv = ["default.env"]

[spaces.api]
root = "api"
dotenv = ["api.env"]
venv = "api/requirements.txt"

[commands.py]
exec = "true"
deps = ["*.py"]

[commands.docs]
exec = "true"
deps = [":(glob)docs/*.md"]

[commands.src]
exec = "true"
deps = ["src"]

[commands.noglob]
exec = "true"
deps = [{type = "const", val = "x"}]

[commands.lib]
exec = "true"
deps = [{type = "pydist", name = "Ruff_Lint"}]

[commands.in-api]
exec = "true"
space = "api"
deps = ["api/app.txt"]

[commands.build]
exec = "true"
deps = ["build.cfg"]
artifacts = ["out/bundle.js"]

[commands.ship]
exec = "true"
deps = [{type = "command", name = "build"}]

[commands.loader]
exec = "true"
deps = [{type = "load", path = "deps.json", default = ["fallback/**"]}]
"#;

    fn affected_by(prefix: &str, changes: &Changes) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let project = project(dir.path(), CONFIG);
        let graph = Graph::select(&project, &Selection::default()).unwrap();
        affected(&project, &graph, prefix.as_bytes(), changes)
            .unwrap()
            .into_iter()
            .collect()
    }

    #[test]
    fn globs_match_with_pathspec_semantics() {
        // `*` crosses directories, as in `git ls-files -- '*.py'`.
        assert_eq!(affected_by("", &files(&["a/b/c.py"])), ["py@default"]);
        // `:(glob)` stops `*` at `/`.
        assert_eq!(affected_by("", &files(&["docs/x.md"])), ["docs@default"]);
        assert!(affected_by("", &files(&["docs/deep/x.md"])).is_empty());
        // A directory matches everything below it, and nothing else.
        assert_eq!(affected_by("", &files(&["src/a/b.txt"])), ["src@default"]);
        assert!(affected_by("", &files(&["srcs/x"])).is_empty());
    }

    #[test]
    fn a_dismissed_file_does_not_select_its_runnable_only() {
        let mut changes = files(&["a/b/c.py", "src/a/b.txt"]);
        changes.dismissed.insert(
            "py@default".to_string(),
            BTreeSet::from([b"a/b/c.py".to_vec()]),
        );
        assert_eq!(affected_by("", &changes), ["src@default"]);
        // Another changed file it reads still selects it.
        changes.files.insert(b"d.py".to_vec());
        assert_eq!(affected_by("", &changes), ["py@default", "src@default"]);
    }

    #[test]
    fn paths_are_relative_to_the_project_root() {
        assert_eq!(affected_by("proj", &files(&["proj/a.py"])), ["py@default"]);
        // Outside the project, even where a pattern would match the name.
        assert!(affected_by("proj", &files(&["other/a.py", "a.py", "projx/a.py"])).is_empty());
    }

    #[test]
    fn qik_directories_are_never_inputs() {
        assert!(affected_by("", &files(&["._qik/cache/x.py", ".qik/cache/a.py"])).is_empty());
        assert_eq!(affected_by("", &files(&[".qikx/a.py"])), ["py@default"]);
    }

    #[test]
    fn space_files_affect_the_space() {
        assert_eq!(
            affected_by("", &files(&["api/requirements.txt"])),
            ["in-api@api"]
        );
        assert_eq!(affected_by("", &files(&["api.env"])), ["in-api@api"]);
        let mut default: Vec<String> = affected_by("", &files(&["default.env"]));
        default.sort();
        assert!(default.contains(&"py@default".to_string()), "{default:?}");
        assert!(!default.contains(&"in-api@api".to_string()), "{default:?}");
    }

    #[test]
    fn upstream_artifacts_and_load_files_are_inputs() {
        assert_eq!(
            affected_by("", &files(&["out/bundle.js"])),
            ["ship@default"]
        );
        // No deps file yet: its default globs, and the file itself.
        assert_eq!(
            affected_by("", &files(&["fallback/a/b"])),
            ["loader@default"]
        );
        assert_eq!(affected_by("", &files(&["deps.json"])), ["loader@default"]);
    }

    #[test]
    fn distributions_match_by_normalised_name() {
        let changes = Changes {
            pydists: BTreeSet::from(["ruff-lint".to_string()]),
            ..Changes::default()
        };
        assert_eq!(affected_by("", &changes), ["lib@default"]);
    }

    #[test]
    fn definitions_select_directly() {
        let changes = Changes {
            definitions: BTreeSet::from(["noglob@default".to_string(), "gone".to_string()]),
            ..Changes::default()
        };
        assert_eq!(affected_by("", &changes), ["noglob@default"]);
    }

    #[test]
    fn changed_definitions_compare_what_hashing_digests() {
        let dir = tempfile::tempdir().unwrap();
        let before = project(
            dir.path(),
            r#"
[commands.same]
exec = "echo same"
deps = ["a"]
[commands.exec]
exec = "echo one"
[commands.const]
exec = "true"
deps = [{type = "const", val = "1"}]
[commands.tagged]
exec = "true"
deps = ["a"]
[commands.up]
exec = "true"
deps = ["a"]
[commands.down]
exec = "true"
deps = [{type = "command", name = "up"}]
[commands.pinned]
exec = "true"
deps = [{type = "pydist", name = "Ruff"}]
[pydist.versions]
ruff = "0.1"
other = "1"
"#,
        );
        let after = project(
            dir.path(),
            r#"
[commands.same]
exec = "echo same"
deps = ["a"]
[commands.exec]
exec = "echo two"
[commands.const]
exec = "true"
deps = [{type = "const", val = "2"}]
[commands.tagged]
exec = "true"
deps = ["a"]
tags = ["new-tag"]
cache = "repo"
[commands.up]
exec = "true"
deps = ["a"]
artifacts = ["dist/*"]
[commands.down]
exec = "true"
deps = [{type = "command", name = "up"}]
[commands.new]
exec = "true"
[commands.pinned]
exec = "true"
deps = [{type = "pydist", name = "Ruff"}]
[pydist.versions]
ruff = "0.2"
other = "2"
"#,
        );
        let graph = Graph::select(&after, &Selection::default()).unwrap();
        let changed: Vec<String> = changed_definitions(&before, &after, &graph)
            .into_iter()
            .collect();
        assert_eq!(changed, ["const", "down", "exec", "new", "pinned", "up"]);
    }

    #[test]
    fn private_directories() {
        assert!(is_qik_private(b"._qik"));
        assert!(is_qik_private(b"._qik/out/x"));
        assert!(is_qik_private(b".qik/cache/x"));
        assert!(!is_qik_private(b".qikrc"));
        assert!(!is_qik_private(b"a/.qik/x"));
    }
}
