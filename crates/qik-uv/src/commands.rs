//! The hidden commands `uv.lock` and `uv.install`, one runnable per space.

use std::path::Path;
use std::sync::Arc;

use qik_core::cache::CacheWhen;
use qik_core::diagnostic::{Code, Diagnostic};
use qik_core::ext::{
    ActionCx, Args, CacheRef, ChangeCheck, CommandDep, CommandFactory, FactoryCx, Instances,
    LoadDep, NativeAction, ReplayCheck, Runnable, SPACE_ARG, native,
};

use crate::config::UvConfig;
use crate::lockfile::{LockError, Pick, member_resolution};
use crate::venv::{
    ProjectLayout, UvVenv, join, local_projects_path, lock_cache, plugin_name, resolution_path,
    venv_dir, venv_is_intact,
};
use crate::{INSTALL, LOCK};

pub(crate) static FACTORIES: [CommandFactory; 2] = [
    CommandFactory {
        name: LOCK,
        hidden: true,
        instances: Instances::PerArgs(lock),
    },
    CommandFactory {
        name: INSTALL,
        hidden: true,
        instances: Instances::PerArgs(install),
    },
];

/// Fails the runnable with instructions when uv is not installed, rather
/// than with the shell's bare "not found".
const REQUIRE_UV: &str = "command -v uv >/dev/null 2>&1 || { echo 'qik.uv: the uv executable is not on PATH; install it with `pip install uv` or see https://docs.astral.sh/uv/getting-started/installation/' >&2; exit 127; }";

/// Quotes a word for `sh -c` when it needs it.
fn sh_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:@+,".contains(&b));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The space a runnable is for, and its uv venv.
fn space_venv<'a>(cx: &FactoryCx<'a>, args: &Args) -> Result<(String, &'a UvVenv), Diagnostic> {
    let space = args.get(SPACE_ARG).ok_or_else(|| {
        Diagnostic::error(
            Code::General,
            format!("`{}` needs the argument `space`", cx.command),
        )
        .with_hint(format!(
            "it runs as a dependency of the commands of uv spaces; run `qik {}` to run it for all of them",
            cx.command
        ))
    })?;
    match UvVenv::of(cx.project, space)? {
        Some((venv, owner)) if owner == *space => Ok((owner, venv)),
        _ => Err(Diagnostic::error(
            Code::General,
            format!("space `{space}` does not define a uv venv"),
        )),
    }
}

/// `uv pip compile --universal` of the space's requirements into its lock
/// file; for a uv project, its share of the workspace's `uv.lock`.
fn lock(cx: &FactoryCx<'_>, args: &Args) -> Result<Runnable, Diagnostic> {
    let (space, venv) = space_venv(cx, args)?;
    let config: &UvConfig = cx.config()?;
    let project = cx.project;
    if let Some(layout) = venv.layout(project, &space)? {
        return lock_project(cx, args, &space, venv, layout.clone());
    }
    let lock = venv.lock_path(project, &space)?;
    let constraint = venv.constraint(project, config, &space)?;

    let mut compile = String::from("uv pip compile --universal --quiet");
    let reqs = venv.rendered_reqs(project, &space)?;
    for req in &reqs {
        compile.push(' ');
        compile.push_str(&sh_quote(req));
    }
    compile.push_str(" -o ");
    compile.push_str(&sh_quote(&lock));
    if let Some(constraint) = &constraint {
        compile.push_str(" --constraint ");
        compile.push_str(&sh_quote(constraint));
    }
    let parent = lock.rsplit_once('/').map_or(".", |(dir, _)| dir);

    let mut runnable = cx.runnable(&space, args);
    runnable.exec = format!("{REQUIRE_UV}; mkdir -p {} && {compile}", sh_quote(parent));
    runnable.in_space_env = false;
    runnable.deps.globs.extend(reqs);
    runnable.deps.globs.extend(constraint);
    runnable.artifacts = vec![lock.clone()];
    runnable.cache = CacheRef::from_name(lock_cache(project)?);
    runnable.cache_when = CacheWhen::Success;
    // The repo cache keeps no copy of artifacts (the others restore theirs):
    // its entry replays only while the lock file is there, so a clone of a
    // repository that never committed it locks again.
    if runnable.cache == CacheRef::Named("repo".to_string()) {
        runnable.replay_check = Some(Arc::new(FileExists(lock.clone())));
    }
    runnable.env = index_env(cx, config)?;
    add_base_deps(cx, &space, &mut runnable)?;
    Ok(runnable)
}

/// `uv venv` for the space, then `uv pip sync` of its lock file; for a uv
/// project, `uv sync --frozen`.
fn install(cx: &FactoryCx<'_>, args: &Args) -> Result<Runnable, Diagnostic> {
    let (space, venv) = space_venv(cx, args)?;
    let config: &UvConfig = cx.config()?;
    let project = cx.project;
    if let Some(layout) = venv.layout(project, &space)? {
        return install_project(cx, args, &space, venv, layout.clone());
    }
    let lock = venv.lock_path(project, &space)?;
    let python = venv.python(project, config)?;
    let dir = venv_dir(&space);

    let mut create = format!("uv venv --clear --quiet {}", sh_quote(&dir));
    if let Some(python) = &python {
        create.push_str(" --python ");
        create.push_str(&sh_quote(python));
    }
    // The venv keeps a copy of the lock it was synced to: a cached install
    // only counts while the venv still matches the current lock.
    let sync = format!(
        "uv pip sync --quiet --python {} {lock} && cp {lock} {}",
        sh_quote(&format!("{dir}/bin/python")),
        sh_quote(&format!("{dir}/{INSTALLED_LOCK}")),
        lock = sh_quote(&lock),
    );
    let lock_for_check = lock.clone();

    let mut runnable = cx.runnable(&space, args);
    runnable.exec = format!("{REQUIRE_UV}; {create} && {sync}");
    runnable.in_space_env = false;
    // The lock may be untracked (it is an output), so the files it is made
    // from are inputs too: a changed requirement always re-installs.
    runnable
        .deps
        .globs
        .extend(venv.rendered_reqs(project, &space)?);
    runnable
        .deps
        .globs
        .extend(venv.constraint(project, config, &space)?);
    runnable.deps.globs.insert(lock);
    runnable
        .deps
        .consts
        .insert(format!("python={}", python.as_deref().unwrap_or("")));
    runnable.deps.commands.push(CommandDep {
        name: format!("{}.{LOCK}", plugin_name(cx.project)),
        args: args.clone(),
        strict: true,
        isolated: None,
        origin: None,
    });
    runnable.cache = CacheRef::Named("local".to_string());
    runnable.cache_when = CacheWhen::Success;
    runnable.replay_check = Some(Arc::new(VenvMatchesLock {
        space: space.clone(),
        lock: lock_for_check,
    }));
    runnable.env = index_env(cx, config)?;
    add_base_deps(cx, &space, &mut runnable)?;
    Ok(runnable)
}

/// A uv project's `uv.lock`: a native runnable that writes the project's
/// share of the workspace lock, the input its install and commands hash
/// instead of the whole lock.
fn lock_project(
    cx: &FactoryCx<'_>,
    args: &Args,
    space: &str,
    venv: &UvVenv,
    layout: ProjectLayout,
) -> Result<Runnable, Diagnostic> {
    let project = cx.project;
    let resolution = resolution_path(project, space);
    let local_projects = local_projects_path(project, space);
    let mut runnable = cx.runnable(space, args);
    runnable.exec = format!(
        "qik.uv: the resolution of {} in {}",
        layout.member,
        layout.lock_file()
    );
    runnable.in_space_env = false;
    runnable.deps.globs.insert(layout.lock_file());
    runnable.deps.consts.extend([
        format!("uv-project={}", layout.member),
        format!("uv-groups={}", pick_text(&venv.groups())),
        format!("uv-extras={}", pick_text(&venv.extras())),
    ]);
    runnable.artifacts = vec![resolution.clone(), local_projects.clone()];
    runnable.cache = CacheRef::Named("local".to_string());
    runnable.cache_when = CacheWhen::Success;
    runnable.change_check = Some(Arc::new(ShareChanged {
        lock_file: layout.lock_file(),
        member: layout.member_in_workspace.clone(),
        groups: venv.groups(),
        extras: venv.extras(),
    }));
    runnable.native = native(ResolveProject {
        layout,
        groups: venv.groups(),
        extras: venv.extras(),
        resolution,
        local_projects,
    });
    add_base_deps(cx, space, &mut runnable)?;
    Ok(runnable)
}

fn pick_text(pick: &Pick) -> String {
    match pick {
        Pick::All => "*".to_string(),
        Pick::Only(names) => names.join(","),
    }
}

/// Under `--since`, a change to `uv.lock` changes a project's `uv.lock`
/// runnable (and so its space) only when the project's share of it changed:
/// that share is all the runnable writes, so all its dependents see.
#[derive(Debug)]
struct ShareChanged {
    lock_file: String,
    member: String,
    groups: Pick,
    extras: Pick,
}

impl ChangeCheck for ShareChanged {
    fn files(&self) -> Vec<String> {
        vec![self.lock_file.clone()]
    }

    fn changes(&self, _path: &str, old: Option<&[u8]>, new: Option<&[u8]>) -> bool {
        let share = |lock: Option<&[u8]>| {
            let text = std::str::from_utf8(lock?).ok()?;
            member_resolution(text, &self.member, &self.groups, &self.extras)
                .ok()
                .map(|resolution| resolution.text)
        };
        // A lock that does not read on either side: the run says why.
        match (share(old), share(new)) {
            (Some(before), Some(now)) => before != now,
            _ => true,
        }
    }
}

/// Writes a uv project's share of its workspace's `uv.lock`.
#[derive(Debug)]
struct ResolveProject {
    layout: ProjectLayout,
    groups: Pick,
    extras: Pick,
    resolution: String,
    local_projects: String,
}

impl NativeAction for ResolveProject {
    fn run(&self, cx: &mut ActionCx<'_>) -> Result<i32, Diagnostic> {
        let root = cx.project.root();
        let lock_file = self.layout.lock_file();
        let text = match std::fs::read_to_string(root.join(&lock_file)) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(Diagnostic::error(
                    Code::General,
                    format!(
                        "the uv project `{}` has no uv.lock (looked in {} and the directories above it)",
                        self.layout.member, self.layout.member
                    ),
                )
                .with_hint(format!(
                    "qik installs uv projects from their lock and never locks them itself: run `uv lock` in {} and commit uv.lock",
                    self.layout.workspace
                )));
            }
            Err(err) => {
                return Err(Diagnostic::error(
                    Code::General,
                    format!("cannot read {lock_file}: {err}"),
                ));
            }
        };
        let resolution = member_resolution(
            &text,
            &self.layout.member_in_workspace,
            &self.groups,
            &self.extras,
        )
        .map_err(|err| {
            let hint = match err {
                LockError::Malformed(_) => "restore it from git, or run `uv lock` to write it again",
                LockError::NoMember(_) => {
                    "check the venv's `project`; if it is a new workspace member, run `uv lock` and commit uv.lock"
                }
                LockError::Unknown { .. } => {
                    "check the venv's `groups`/`extras` against the project's pyproject.toml; if you just added it, run `uv lock`"
                }
            };
            Diagnostic::error(Code::General, format!("{lock_file}: {err}")).with_hint(hint)
        })?;
        let pyprojects: Vec<String> = resolution
            .local_projects
            .iter()
            .map(|dir| join(&join(&self.layout.workspace, dir), "pyproject.toml"))
            .collect();
        let deps = serde_json::json!({ "globs": pyprojects }).to_string();
        for (path, body) in [
            (&self.resolution, resolution.text.as_bytes()),
            (&self.local_projects, deps.as_bytes()),
        ] {
            write_file(&root.join(path), body).map_err(|err| {
                Diagnostic::error(Code::General, format!("cannot write {path}: {err}"))
            })?;
        }
        cx.line(format!(
            "{}: {} packages from {lock_file}",
            self.layout.member, resolution.packages
        ));
        Ok(0)
    }
}

/// Writes a file in one rename, so a reader never sees half of it.
fn write_file(path: &Path, body: &[u8]) -> std::io::Result<()> {
    qik_core::fsutil::write_atomic(path, body)
}

/// A uv project's `uv.install`: `uv lock --check`, so a stale lock fails
/// with the command that fixes it, then `uv sync --frozen` of the project
/// (installed editable, as uv does), its groups and extras into the space's
/// venv.
fn install_project(
    cx: &FactoryCx<'_>,
    args: &Args,
    space: &str,
    venv: &UvVenv,
    layout: ProjectLayout,
) -> Result<Runnable, Diagnostic> {
    let config: &UvConfig = cx.config()?;
    let project = cx.project;
    let python = venv.python(project, config)?;
    let dir = venv_dir(space);
    let resolution = resolution_path(project, space);
    let member = sh_quote(&layout.member);
    let python_arg = python
        .as_ref()
        .map(|python| format!(" --python {}", sh_quote(python)))
        .unwrap_or_default();

    let check = format!(
        "uv lock --check --quiet --project {member}{python_arg} || {{ echo {} >&2; exit 1; }}",
        sh_quote(&format!(
            "qik.uv: {} is out of date for the uv project {}; qik never re-locks it: run `uv lock` and commit {}",
            layout.lock_file(),
            layout.member,
            layout.lock_file(),
        ))
    );
    let mut sync =
        format!("uv sync --frozen --quiet --project {member}{python_arg} --no-default-groups");
    match venv.groups() {
        Pick::All => sync.push_str(" --all-groups"),
        Pick::Only(groups) => {
            for group in groups {
                sync.push_str(" --group ");
                sync.push_str(&sh_quote(&group));
            }
        }
    }
    match venv.extras() {
        Pick::All => sync.push_str(" --all-extras"),
        Pick::Only(extras) => {
            for extra in extras {
                sync.push_str(" --extra ");
                sync.push_str(&sh_quote(&extra));
            }
        }
    }
    // `$PWD` (the project root) rather than an absolute path in the text:
    // the definition, so the cache key, stays the same in every clone.
    let exec = format!(
        "{REQUIRE_UV}; {check}; UV_PROJECT_ENVIRONMENT=\"$PWD\"/{venv} {sync} && cp {resolution} {installed}",
        venv = sh_quote(&dir),
        resolution = sh_quote(&resolution),
        installed = sh_quote(&format!("{dir}/{INSTALLED_LOCK}")),
    );

    let mut runnable = cx.runnable(space, args);
    runnable.exec = exec;
    runnable.in_space_env = false;
    runnable.deps.globs.insert(layout.pyproject());
    runnable.deps.globs.insert(layout.workspace_pyproject());
    // Every local project the resolution holds: a changed pyproject.toml
    // there makes the lock stale, which the check reports.
    runnable.deps.loads.insert(LoadDep {
        path: local_projects_path(project, space),
        default: vec![layout.pyproject()],
    });
    runnable
        .deps
        .consts
        .insert(format!("python={}", python.as_deref().unwrap_or("")));
    runnable.deps.commands.push(CommandDep {
        name: format!("{}.{LOCK}", plugin_name(project)),
        args: args.clone(),
        strict: true,
        isolated: None,
        origin: None,
    });
    runnable.cache = CacheRef::Named("local".to_string());
    runnable.cache_when = CacheWhen::Success;
    runnable.replay_check = Some(Arc::new(VenvMatchesLock {
        space: space.to_string(),
        lock: resolution,
    }));
    runnable.env = index_env(cx, config)?;
    add_base_deps(cx, space, &mut runnable)?;
    Ok(runnable)
}

/// A cached lock holds while its file is there.
#[derive(Debug)]
struct FileExists(String);

impl ReplayCheck for FileExists {
    fn holds(&self, root: &Path) -> bool {
        root.join(&self.0).is_file()
    }
}

/// The copy of the lock file a venv was last synced to.
const INSTALLED_LOCK: &str = "qik-installed-lock.txt";

/// A cached `uv.install` holds while the venv is intact and was synced to
/// the lock file as it is now. A deleted venv, or one synced to another lock
/// (after switching requirements back and forth), is installed again.
#[derive(Debug)]
struct VenvMatchesLock {
    space: String,
    lock: String,
}

impl ReplayCheck for VenvMatchesLock {
    fn holds(&self, root: &Path) -> bool {
        if !venv_is_intact(root, &self.space) {
            return false;
        }
        let installed = root.join(venv_dir(&self.space)).join(INSTALLED_LOCK);
        match (
            std::fs::read(installed),
            std::fs::read(root.join(&self.lock)),
        ) {
            (Ok(installed), Ok(current)) => installed == current,
            _ => false,
        }
    }
}

/// `index-url` / `extra-index-url` of `[plugins.uv]`, as uv's variables.
fn index_env(cx: &FactoryCx<'_>, config: &UvConfig) -> Result<Vec<(String, String)>, Diagnostic> {
    let mut env = Vec::new();
    for (var, value) in [
        ("UV_INDEX_URL", &config.index_url),
        ("UV_EXTRA_INDEX_URL", &config.extra_index_url),
    ] {
        if let Some(value) = value {
            env.push((var.to_string(), config.render(cx.project.ctx(), value)?));
        }
    }
    Ok(env)
}

/// `[base] deps` apply to every runnable, plugin ones included.
fn add_base_deps(
    cx: &FactoryCx<'_>,
    space: &str,
    runnable: &mut Runnable,
) -> Result<(), Diagnostic> {
    runnable.deps.extend(cx.project.base_deps(space)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::sh_quote;

    #[test]
    fn quotes_only_what_the_shell_would_split() {
        assert_eq!(sh_quote("requirements.txt"), "requirements.txt");
        assert_eq!(sh_quote("a b.txt"), "'a b.txt'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        assert_eq!(sh_quote(""), "''");
    }
}
