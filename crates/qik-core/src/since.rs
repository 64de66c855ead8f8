//! `--since REF`: the runnables whose inputs differ between a git revision and
//! the working tree.
//!
//! The changed files are what `git diff --name-only --no-renames REF` lists:
//! committed, staged and unstaged changes of tracked files (new files once
//! added, `git add -N` included), deletions, and both sides of a rename.
//! Untracked files are not inputs of any runnable, so they change nothing.
//! Files are matched with [`changes::affected`], like hashing matches them.
//!
//! A change to a configuration file (the root `qik.toml`, or a module's) is
//! judged by its effect: the configuration at `REF` is loaded from git and
//! every runnable whose definition differs (or that is new) is selected. When
//! the configuration at `REF` cannot be loaded, every runnable defined in a
//! changed file is selected (all of them when the root file changed).
//!
//! A runnable that reads only part of a shared input file says so with a
//! [`crate::ext::ChangeCheck`]: it is shown the file at `REF` and now, and a
//! change it finds irrelevant (another uv project's share of `uv.lock`) does
//! not select it, nor, through it, what depends on it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use crate::changes::{self, Changes, ProjectPaths, config_files};
use crate::config::{self, Config};
use crate::diagnostic::{Code, Diagnostic};
use crate::graph::Graph;
use crate::model::Project;
use crate::source::SourceFile;

/// What `--since` found.
#[derive(Debug, Default)]
pub struct SinceReport {
    /// The runnables whose inputs changed, before neighbours join.
    pub affected: BTreeSet<String>,
    /// Things the user should know (a configuration at `REF` that does not
    /// load, dependencies `--since` cannot see).
    pub warnings: Vec<Diagnostic>,
}

/// Narrows `graph` to the runnables whose inputs changed since `reference`,
/// with their neighbours ([`Graph::retain_affected`]). `build` turns the
/// configuration at `reference` into a project the way the current one was
/// built (same context), to compare definitions.
pub fn select(
    project: &Project,
    graph: &mut Graph,
    reference: &str,
    build: &dyn Fn(Config) -> Result<Project, Diagnostic>,
) -> Result<SinceReport, Diagnostic> {
    let report = affected(project, graph, reference, build)?;
    graph.retain_affected(&report.affected);
    Ok(report)
}

/// The runnables of `graph` whose inputs changed since `reference`.
pub fn affected(
    project: &Project,
    graph: &Graph,
    reference: &str,
    build: &dyn Fn(Config) -> Result<Project, Diagnostic>,
) -> Result<SinceReport, Diagnostic> {
    let root = &project.config.root;
    let paths = ProjectPaths::discover(root)?;
    let tree = resolve(root, reference)?;
    let files = changed_files(root, &tree)?;
    let mut report = SinceReport::default();

    let config_files = config_files(project);
    let changed_configs: BTreeSet<&String> = config_files
        .iter()
        .filter(|file| files.contains(&paths.repo_relative(file)))
        .collect();
    let mut definitions = BTreeSet::new();
    if !changed_configs.is_empty() {
        let old = config_at(project, &paths, &tree, reference).and_then(build);
        match old {
            Ok(old) => definitions = changes::changed_definitions(&old, project, graph),
            Err(err) => {
                report.warnings.push(
                    Diagnostic::warning(format!(
                        "the configuration at `{reference}` does not load ({}); \
                         every runnable defined in a changed configuration file counts as changed",
                        err.message
                    ))
                    .with_hint("compare against a revision whose qik.toml this qik reads"),
                );
                let root_file = &config_files[0];
                let all = changed_configs.contains(root_file);
                for runnable in graph.runnables() {
                    let defined_in = project
                        .config
                        .commands
                        .get(&runnable.command)
                        .and_then(|conf| conf.file().path().strip_prefix(root).ok())
                        .map(|p| p.to_string_lossy().replace(std::path::MAIN_SEPARATOR, "/"));
                    if all || defined_in.is_some_and(|file| changed_configs.contains(&file)) {
                        definitions.insert(runnable.name.clone());
                    }
                }
            }
        }
    }

    let dismissed = dismissed(project, graph, &paths, &tree, &files)?;
    let changes = Changes {
        files,
        pydists: BTreeSet::new(),
        definitions,
        dismissed,
    };
    report.affected = changes::affected(project, graph, paths.prefix(), &changes)?;
    if let Some(warning) = unseen_pydists(project, graph) {
        report.warnings.push(warning);
    }
    Ok(report)
}

/// Per runnable with a [`crate::ext::ChangeCheck`], the changed files it
/// judged and found to leave it as it was (repository-relative, as `files`).
/// Each file is read once at the reference (one `git cat-file`) and once in
/// the working tree, however many runnables judge it.
fn dismissed(
    project: &Project,
    graph: &Graph,
    paths: &ProjectPaths,
    tree: &str,
    files: &BTreeSet<Vec<u8>>,
) -> Result<BTreeMap<String, BTreeSet<Vec<u8>>>, Diagnostic> {
    let mut judged: Vec<(&str, &dyn crate::ext::ChangeCheck, String)> = Vec::new();
    for runnable in graph.runnables() {
        let Some(check) = &runnable.change_check else {
            continue;
        };
        for file in check.files() {
            if files.contains(&paths.repo_relative(&file)) {
                judged.push((&runnable.name, check.as_ref(), file));
            }
        }
    }
    let mut out: BTreeMap<String, BTreeSet<Vec<u8>>> = BTreeMap::new();
    if judged.is_empty() {
        return Ok(out);
    }
    let mut wanted: Vec<String> = judged.iter().map(|(_, _, file)| file.clone()).collect();
    wanted.sort();
    wanted.dedup();
    let old = show_files(&project.config.root, tree, paths, &wanted)?;
    let mut new: HashMap<String, Option<Vec<u8>>> = HashMap::new();
    for file in &wanted {
        let path = project.config.root.join(file);
        let content = match std::fs::read(&path) {
            Ok(bytes) => Some(bytes),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
            Err(err) => {
                return Err(Diagnostic::error(
                    Code::General,
                    format!("--since: cannot read {}: {err}", path.display()),
                ));
            }
        };
        new.insert(file.clone(), content);
    }
    for (name, check, file) in judged {
        let before = old.get(&file).map(Vec::as_slice);
        let now = new.get(&file).and_then(Option::as_deref);
        if !check.changes(&file, before, now) {
            out.entry(name.to_string())
                .or_default()
                .insert(paths.repo_relative(&file));
        }
    }
    Ok(out)
}

/// A warning when runnables depend on distributions whose space names no
/// requirements or lock file: git cannot tell when their versions change.
fn unseen_pydists(project: &Project, graph: &Graph) -> Option<Diagnostic> {
    let unseen: Vec<&str> = graph
        .runnables()
        .filter(|r| !r.deps.pydists.is_empty())
        .filter(|r| match project.venv_of(&r.space) {
            Ok(Some((venv, owner))) => {
                let cx = crate::ext::VenvCx {
                    project,
                    space: owner,
                };
                venv.spec.inputs(&cx).is_ok_and(|inputs| inputs.is_empty())
            }
            Ok(None) => true,
            Err(_) => false,
        })
        .map(|r| r.name.as_str())
        .collect();
    let first = unseen.first()?;
    let more = match unseen.len() {
        1 => String::new(),
        n => format!(" and {} more", n - 1),
    };
    Some(
        Diagnostic::warning(format!(
            "--since cannot see changes of the Python distributions that {first}{more} depend on"
        ))
        .with_hint(
            "give the space a requirements or lock file (e.g. [spaces.default] venv = \"requirements.txt\"); \
             a change to it selects the space's runnables",
        ),
    )
}

/// Runs git in `dir`; its stdout, or a diagnostic with its stderr.
fn git(dir: &Path, args: &[&str]) -> Result<std::process::Output, Diagnostic> {
    Command::new("git")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|err| {
            Diagnostic::error(Code::General, format!("cannot run git: {err}"))
                .with_hint("--since compares revisions with git; install git and put it on PATH")
        })
}

fn git_failed(what: &str, output: &std::process::Output) -> Diagnostic {
    Diagnostic::error(
        Code::General,
        format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ),
    )
}

/// The tree id of `reference`, or a clear error when git does not know it.
pub fn resolve(dir: &Path, reference: &str) -> Result<String, Diagnostic> {
    let unknown = || {
        Diagnostic::error(
            Code::UnknownReference,
            format!("--since: unknown git reference `{reference}`"),
        )
        .with_hint(
            "use a branch, tag or commit of this repository; in a shallow CI clone, \
             fetch it first (e.g. `git fetch origin main` for --since origin/main)",
        )
    };
    if reference.is_empty() || reference.starts_with('-') {
        return Err(unknown());
    }
    let spec = format!("{reference}^{{tree}}");
    let output = git(dir, &["rev-parse", "--verify", "--quiet", &spec])?;
    if output.status.success() {
        let tree = String::from_utf8_lossy(&output.stdout).trim().to_string();
        if !tree.is_empty() {
            return Ok(tree);
        }
    }
    // Tell "not a repository" from "unknown revision".
    let check = git(dir, &["rev-parse", "--git-dir"])?;
    if !check.status.success() {
        return Err(git_failed("git rev-parse", &check)
            .with_hint("qik selects by change through git; run it inside a git work tree"));
    }
    Err(unknown())
}

/// Work-tree-relative paths that differ between `tree` and the working tree.
pub fn changed_files(dir: &Path, tree: &str) -> Result<BTreeSet<Vec<u8>>, Diagnostic> {
    let output = git(
        dir,
        &[
            "diff",
            "--name-only",
            "-z",
            "--no-renames",
            "--no-relative",
            "--no-ext-diff",
            tree,
            "--",
        ],
    )?;
    if !output.status.success() {
        return Err(git_failed("git diff", &output));
    }
    Ok(output
        .stdout
        .split(|b| *b == 0)
        .filter(|path| !path.is_empty())
        .map(<[u8]>::to_vec)
        .collect())
}

/// The project's configuration as it is in `tree` (loaded from git, not the
/// disk). Module files are looked for where the current configuration has
/// modules: a module that exists only at `tree` has no runnables in the
/// current graph to compare. Messages name files as `REF:path`.
pub fn config_at(
    project: &Project,
    paths: &ProjectPaths,
    tree: &str,
    reference: &str,
) -> Result<Config, Diagnostic> {
    let root = &project.config.root;
    let mut wanted = config_files(project);
    wanted.extend(["qik.toml".to_string(), "pyproject.toml".to_string()]);
    wanted.sort();
    wanted.dedup();
    let texts = show_files(root, tree, paths, &wanted)?;
    let read = |relative: &str| -> Result<Option<Arc<SourceFile>>, Diagnostic> {
        let Some(text) = texts.get(relative) else {
            return Ok(None);
        };
        SourceFile::parse(
            root.join(relative),
            format!("{reference}:{relative}"),
            String::from_utf8_lossy(text).into_owned(),
        )
        .map(Some)
    };
    config::load_with(root, &read)
}

/// The content of the files (project-relative) that exist in `tree`, read
/// with one `git cat-file --batch`.
fn show_files(
    dir: &Path,
    tree: &str,
    paths: &ProjectPaths,
    files: &[String],
) -> Result<HashMap<String, Vec<u8>>, Diagnostic> {
    let files: Vec<&String> = files.iter().filter(|f| !f.contains('\n')).collect();
    let mut request = Vec::new();
    for file in &files {
        request.extend_from_slice(tree.as_bytes());
        request.push(b':');
        request.extend_from_slice(&paths.repo_relative(file));
        request.push(b'\n');
    }
    let cannot = |err: std::io::Error| {
        Diagnostic::error(Code::General, format!("cannot run git cat-file: {err}"))
    };
    let mut child = Command::new("git")
        .args(["cat-file", "--batch"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(cannot)?;
    let mut stdin = child.stdin.take().expect("piped");
    // Written from another thread: git answers while it reads, and a full
    // stdout pipe would otherwise stall both sides.
    let writer = std::thread::spawn(move || stdin.write_all(&request));
    let mut out = Vec::new();
    let read = child.stdout.take().expect("piped").read_to_end(&mut out);
    let written = writer.join().unwrap_or(Ok(()));
    let status = child.wait().map_err(cannot)?;
    read.map_err(cannot)?;
    written.map_err(cannot)?;
    if !status.success() {
        return Err(Diagnostic::error(
            Code::General,
            "git cat-file failed to read the configuration at the reference",
        ));
    }
    // Per request: `<id> <type> <size>\n<content>\n`, or `<request> missing\n`.
    let mut texts = HashMap::new();
    let mut at = 0;
    for file in files {
        let Some(end) = out[at..].iter().position(|b| *b == b'\n') else {
            break;
        };
        let header = String::from_utf8_lossy(&out[at..at + end]).into_owned();
        at += end + 1;
        let fields: Vec<&str> = header.rsplitn(3, ' ').collect();
        let [size, kind, _] = fields.as_slice() else {
            continue;
        };
        let Ok(size) = size.parse::<usize>() else {
            // `missing` or `ambiguous`: no content follows.
            continue;
        };
        let body = out
            .get(at..at + size)
            .ok_or_else(|| Diagnostic::error(Code::General, "git cat-file: short output"))?;
        at += size + 1;
        if *kind == "blob" {
            texts.insert(file.clone(), body.to_vec());
        }
    }
    Ok(texts)
}
