//! The `uv` venv type: where a space's venv and lock file live, and how its
//! commands see it.

use std::any::Any;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use linkme::distributed_slice;
use qik_core::diagnostic::{Code, Diagnostic};
use qik_core::ext::{
    Args, CommandDep, ProjectView, ReqsShorthand, SPACE_ARG, SpaceVenv, VENV_TYPES, VenvCx,
    VenvSpec, VenvType, schema_of,
};
use qik_core::hashing::venv_site_packages;
use qik_core::source::{Node, OneOrMany, SourceFile};
use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

use crate::config::{Constraint, UvConfig};
use crate::lockfile::{Pick, member_resolution, requirements_versions};
use crate::{ID, INSTALL, LOCK};

/// A virtualenv that uv locks and installs (`uv.lock`, `uv.install`): from
/// requirement files (`reqs`), or from a uv project or workspace member and
/// its `uv.lock` (`project`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[schemars(extend("oneOf" = [{"required": ["reqs"]}, {"required": ["project"]}]))]
pub struct UvVenv {
    /// Requirement files, compiled into the lock.
    #[serde(default)]
    reqs: OneOrMany,
    /// A uv project or workspace member: its directory (holding its
    /// `pyproject.toml`), relative to the project root. It is installed
    /// (editable) with its dependencies from the `uv.lock` of its workspace
    /// by `uv sync --frozen`.
    project: Option<String>,
    /// Dependency groups of `project` to install. Only these: uv's default
    /// groups are not implied.
    #[serde(default)]
    groups: Vec<String>,
    /// Install every dependency group of `project`.
    #[serde(default)]
    all_groups: bool,
    /// Extras (optional dependencies) of `project` to install.
    #[serde(default)]
    extras: Vec<String>,
    /// Install every extra of `project`.
    #[serde(default)]
    all_extras: bool,
    /// The lock file of requirement files (default:
    /// `artifacts/<plugin>.lock/requirements-<space>-lock.txt` under `.qik/`
    /// when the lock cache is `repo`, else under `._qik/`).
    lock: Option<String>,
    /// Python version for `uv venv --python` (default: `[plugins.uv]`'s).
    #[schemars(with = "Option<String>")]
    python: Option<Spanned<String>>,
    /// A constraint file, or `{type = "space", name = "..."}` for that
    /// space's constraint (default: `[plugins.uv]`'s).
    constraint: Option<Constraint>,
    #[serde(skip)]
    file: Option<Arc<SourceFile>>,
    /// Where the project and its lock are, found on first use.
    #[serde(skip)]
    #[schemars(skip)]
    layout: OnceLock<Result<ProjectLayout, Diagnostic>>,
}

/// A project-backed venv's files, relative to the project root.
#[derive(Clone, Debug)]
pub(crate) struct ProjectLayout {
    /// The project's directory (`.` for the root).
    pub(crate) member: String,
    /// The directory of the `uv.lock` it is installed from: the nearest one
    /// at or above the project, within the qik project (the project's own
    /// while there is none yet).
    pub(crate) workspace: String,
    /// The project's directory relative to `workspace`, as uv.lock names it.
    pub(crate) member_in_workspace: String,
}

impl ProjectLayout {
    pub(crate) fn lock_file(&self) -> String {
        join(&self.workspace, "uv.lock")
    }

    pub(crate) fn pyproject(&self) -> String {
        join(&self.member, "pyproject.toml")
    }

    /// The workspace root's `pyproject.toml` (its members and sources).
    pub(crate) fn workspace_pyproject(&self) -> String {
        join(&self.workspace, "pyproject.toml")
    }

    fn find(root: &Path, member: String) -> ProjectLayout {
        let mut dir = member.as_str();
        let workspace = loop {
            if root.join(dir).join("uv.lock").is_file() {
                break dir.to_string();
            }
            match dir.rsplit_once('/') {
                Some((parent, _)) => dir = parent,
                None if dir != "." => dir = ".",
                None => break member.clone(),
            }
        };
        let member_in_workspace = if workspace == "." {
            member.clone()
        } else if workspace == member {
            ".".to_string()
        } else {
            member[workspace.len() + 1..].to_string()
        };
        ProjectLayout {
            member,
            workspace,
            member_in_workspace,
        }
    }
}

/// `dir/file`, where `.` is the root.
pub(crate) fn join(dir: &str, file: &str) -> String {
    if dir == "." {
        file.to_string()
    } else {
        format!("{dir}/{file}")
    }
}

/// A relative directory without `.` parts or a trailing slash (`.` for the
/// root), or `None` when it leaves the project.
fn normalize_dir(dir: &str) -> Option<String> {
    if dir.starts_with('/') {
        return None;
    }
    let mut parts = Vec::new();
    for part in dir.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            part => parts.push(part),
        }
    }
    Some(if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    })
}

impl UvVenv {
    fn from_reqs(reqs: Vec<String>) -> UvVenv {
        UvVenv {
            reqs: OneOrMany(reqs),
            project: None,
            groups: Vec::new(),
            all_groups: false,
            extras: Vec::new(),
            all_extras: false,
            lock: None,
            python: None,
            constraint: None,
            file: None,
            layout: OnceLock::new(),
        }
    }

    /// Where the project of a project-backed venv is; `None` for requirement
    /// files.
    pub(crate) fn layout(
        &self,
        project: &dyn ProjectView,
        space: &str,
    ) -> Result<Option<&ProjectLayout>, Diagnostic> {
        let Some(member) = &self.project else {
            return Ok(None);
        };
        self.layout
            .get_or_init(|| {
                let rendered = VenvCx { project, space }.render(member)?;
                let member = normalize_dir(&rendered).ok_or_else(|| {
                    Diagnostic::error(
                        Code::ConfigParse,
                        format!(
                            "the uv project `{rendered}` of space `{space}` is outside the project"
                        ),
                    )
                    .with_hint(
                        "write the project's directory relative to the directory of qik.toml",
                    )
                })?;
                Ok(ProjectLayout::find(project.root(), member))
            })
            .as_ref()
            .map(Some)
            .map_err(Clone::clone)
    }

    /// The groups to install.
    pub(crate) fn groups(&self) -> Pick {
        pick(self.all_groups, &self.groups)
    }

    /// The extras to install.
    pub(crate) fn extras(&self) -> Pick {
        pick(self.all_extras, &self.extras)
    }

    /// The uv venv that `space` uses, with the space that defines it.
    pub(crate) fn of<'a>(
        project: &'a dyn ProjectView,
        space: &str,
    ) -> Result<Option<(&'a UvVenv, String)>, Diagnostic> {
        let Some(SpaceVenv { spec, owner, .. }) = project.venv_of(space)? else {
            return Ok(None);
        };
        let spec: &dyn Any = spec;
        Ok(spec
            .downcast_ref::<UvVenv>()
            .map(|venv| (venv, owner.to_string())))
    }

    /// The requirement files, `{ctx...}` placeholders filled.
    pub(crate) fn rendered_reqs(
        &self,
        project: &dyn ProjectView,
        space: &str,
    ) -> Result<Vec<String>, Diagnostic> {
        let cx = VenvCx { project, space };
        self.reqs.0.iter().map(|req| cx.render(req)).collect()
    }

    /// The Python version asked for, by the venv or else by `[plugins.uv]`.
    pub(crate) fn python(
        &self,
        project: &dyn ProjectView,
        config: &UvConfig,
    ) -> Result<Option<String>, Diagnostic> {
        let scope_ctx = project.ctx();
        match (&self.python, &self.file, &config.python) {
            (Some(python), Some(file), _) => qik_core::template::render_at(
                python.get_ref(),
                qik_core::template::Scope {
                    module: None,
                    ctx: scope_ctx,
                },
                file,
                python.span(),
            )
            .map(Some),
            (Some(python), None, _) => Ok(Some(python.get_ref().clone())),
            (None, _, Some(python)) => config.render(scope_ctx, python).map(Some),
            (None, _, None) => Ok(None),
        }
    }

    /// The constraint file: the venv's own, else `[plugins.uv]`'s. A
    /// `{type = "space", name}` constraint is the constraint of that space's
    /// uv venv (its own setting), followed until a file is found.
    pub(crate) fn constraint(
        &self,
        project: &dyn ProjectView,
        config: &UvConfig,
        space: &str,
    ) -> Result<Option<String>, Diagnostic> {
        let mut visited: Vec<String> = vec![space.to_string()];
        let mut current = self.constraint.as_ref();
        loop {
            match current {
                Some(Constraint::File(file)) => {
                    return VenvCx { project, space }.render(file).map(Some);
                }
                Some(Constraint::Space(target)) => {
                    let name = &target.name;
                    if visited.contains(name) {
                        visited.push(name.clone());
                        return Err(Diagnostic::error(
                            Code::CircularVenv,
                            format!("circular uv constraint: {}", visited.join(" -> ")),
                        )
                        .with_hint(
                            "one space in the circle must name a constraint file instead of a space",
                        ));
                    }
                    if !project.has_space(name) {
                        return Err(Diagnostic::error(
                            Code::SpaceNotFound,
                            format!("uv constraint names unknown space `{name}`"),
                        )
                        .with_hint(qik_core::diagnostic::choices_hint(
                            name,
                            project.space_names(),
                        )));
                    }
                    visited.push(name.clone());
                    current = match UvVenv::of(project, name)? {
                        Some((venv, _)) => venv.constraint.as_ref(),
                        // Not a uv venv: it has no constraint of its own.
                        None => None,
                    };
                }
                None => break,
            }
        }
        match &config.constraint {
            Some(Constraint::File(file)) => VenvCx { project, space }.render(file).map(Some),
            Some(Constraint::Space(target)) if !visited.contains(&target.name) => {
                match UvVenv::of(project, &target.name)? {
                    Some((venv, owner)) if venv.constraint.is_some() => {
                        venv.constraint(project, &UvConfig::default(), &owner)
                    }
                    _ => Ok(None),
                }
            }
            _ => Ok(None),
        }
    }

    /// The lock file, relative to the project root.
    pub(crate) fn lock_path(
        &self,
        project: &dyn ProjectView,
        space: &str,
    ) -> Result<String, Diagnostic> {
        if let Some(lock) = &self.lock {
            return VenvCx { project, space }.render(lock);
        }
        let cache = lock_cache(project)?;
        let work_dir = if cache == "repo" { ".qik" } else { "._qik" };
        let plugin = plugin_name(project);
        Ok(format!(
            "{work_dir}/artifacts/{plugin}.lock/requirements-{space}-lock.txt"
        ))
    }
}

fn pick(all: bool, names: &[String]) -> Pick {
    if all {
        Pick::All
    } else {
        Pick::Only(names.to_vec())
    }
}

/// The cache of lock files: `[plugins.uv] cache`, else `[defaults] cache`,
/// else `repo`.
pub(crate) fn lock_cache(project: &dyn ProjectView) -> Result<String, Diagnostic> {
    let config = plugin_config(project)?;
    match &config.cache {
        Some(cache) => config.render(project.ctx(), cache),
        None => Ok(project
            .default_cache()?
            .unwrap_or_else(|| "repo".to_string())),
    }
}

/// The directory of a space's venv, relative to the project root.
pub(crate) fn venv_dir(space: &str) -> String {
    format!("._qik/venv/{space}")
}

/// Whether a venv directory looks usable: a config file, an interpreter that
/// still resolves, and site-packages. A deleted or half-removed venv is
/// rebuilt even when its install is cached.
pub(crate) fn venv_is_intact(root: &Path, space: &str) -> bool {
    let dir = root.join(venv_dir(space));
    dir.join("pyvenv.cfg").is_file()
        && dir.join("bin/python").exists()
        && !venv_site_packages(&dir).is_empty()
}

pub(crate) fn plugin_config(project: &dyn ProjectView) -> Result<&UvConfig, Diagnostic> {
    project.config::<UvConfig>(ID)
}

/// The name the project gives the plugin (`uv` for `uv = "qik.uv"`).
pub(crate) fn plugin_name(project: &dyn ProjectView) -> &str {
    project.plugin_name(ID).unwrap_or("uv")
}

fn plugin_dep(cx: &VenvCx<'_>, command: &str) -> CommandDep {
    CommandDep {
        name: format!("{}.{command}", plugin_name(cx.project)),
        args: Args::from([(SPACE_ARG.to_string(), cx.space.to_string())]),
        strict: true,
        isolated: None,
        origin: None,
    }
}

/// Where `uv.lock` of a project-backed space writes the project's share of
/// the workspace lock (see [`crate::lockfile`]), relative to the root.
pub(crate) fn resolution_path(project: &dyn ProjectView, space: &str) -> String {
    format!(
        "._qik/artifacts/{}.lock/{space}-resolution.toml",
        plugin_name(project)
    )
}

/// The deps file (read by a `load` dep) listing the `pyproject.toml` of every
/// local project in a space's resolution.
pub(crate) fn local_projects_path(project: &dyn ProjectView, space: &str) -> String {
    format!(
        "._qik/artifacts/{}.lock/{space}-projects.json",
        plugin_name(project)
    )
}

impl VenvSpec for UvVenv {
    fn environ(&self, cx: &VenvCx<'_>) -> Vec<(OsString, OsString)> {
        let dir = cx.project.root().join(venv_dir(cx.space));
        let mut path = OsString::from(dir.join("bin"));
        if let Some(inherited) = std::env::var_os("PATH").filter(|p| !p.is_empty()) {
            path.push(":");
            path.push(inherited);
        }
        vec![
            (OsString::from("VIRTUAL_ENV"), dir.into_os_string()),
            (OsString::from("PATH"), path),
        ]
    }

    fn reqs(&self) -> &[String] {
        &self.reqs.0
    }

    fn lock(&self, cx: &VenvCx<'_>) -> Option<String> {
        // An unrenderable cache name is reported when the lock runnable is built.
        match self.layout(cx.project, cx.space) {
            Ok(Some(layout)) => Some(layout.lock_file()),
            Ok(None) => self.lock_path(cx.project, cx.space).ok(),
            Err(_) => None,
        }
    }

    fn inputs(&self, cx: &VenvCx<'_>) -> Result<Vec<String>, Diagnostic> {
        // A project's share of uv.lock reaches its commands as an artifact
        // of `uv.lock`, their upstream; the whole lock is not theirs.
        if let Some(layout) = self.layout(cx.project, cx.space)? {
            return Ok(vec![layout.pyproject()]);
        }
        // The lock file is an artifact of `uv.lock`, an upstream of the
        // commands: hashed by content whether or not git tracks it yet.
        let mut inputs = self.rendered_reqs(cx.project, cx.space)?;
        inputs.extend(self.constraint(cx.project, plugin_config(cx.project)?, cx.space)?);
        Ok(inputs)
    }

    fn runnable_deps(&self, cx: &VenvCx<'_>) -> Vec<CommandDep> {
        vec![plugin_dep(cx, INSTALL), plugin_dep(cx, LOCK)]
    }

    fn site_packages(&self, cx: &VenvCx<'_>) -> Option<Vec<PathBuf>> {
        Some(venv_site_packages(
            &cx.project.root().join(venv_dir(cx.space)),
        ))
    }

    fn locked_versions(
        &self,
        cx: &VenvCx<'_>,
    ) -> Result<Option<BTreeMap<String, String>>, Diagnostic> {
        let root = cx.project.root();
        let (path, layout) = match self.layout(cx.project, cx.space)? {
            Some(layout) => (layout.lock_file(), Some(layout)),
            None => (self.lock_path(cx.project, cx.space)?, None),
        };
        let text = match std::fs::read_to_string(root.join(&path)) {
            Ok(text) => text,
            // Not locked yet: its `uv.lock` runnable says so.
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => {
                return Err(Diagnostic::error(
                    Code::General,
                    format!("cannot read {path}: {err}"),
                ));
            }
        };
        let Some(layout) = layout else {
            return Ok(Some(requirements_versions(&text)));
        };
        member_resolution(
            &text,
            &layout.member_in_workspace,
            &self.groups(),
            &self.extras(),
        )
        .map(|resolution| Some(resolution.versions))
        .map_err(|err| {
            Diagnostic::error(Code::General, format!("{path}: {err}"))
                .with_hint("run `uv lock`, then qik again")
        })
    }

    fn install_command(&self, cx: &VenvCx<'_>) -> Option<CommandDep> {
        Some(plugin_dep(cx, INSTALL))
    }
}

/// An error at `key` of a venv table.
fn key_error(node: &Node<'_>, key: &str, message: &str, hint: &str) -> Diagnostic {
    let at = node.get(key).unwrap_or(*node);
    at.error(Code::ConfigParse, message, "here").with_hint(hint)
}

fn parse(node: Node<'_>) -> Result<Box<dyn VenvSpec>, Diagnostic> {
    let venv = UvVenv {
        file: Some(Arc::clone(node.file())),
        ..node.deserialize_without::<UvVenv>("type")?
    };
    match (&venv.project, venv.reqs.0.is_empty()) {
        (None, true) => {
            return Err(node
                .error(
                    Code::ConfigParse,
                    "a uv venv needs requirement files or a uv project",
                    "no `reqs` and no `project`",
                )
                .with_hint(
                    "write reqs = \"requirements.txt\" (or a list of files), or project = \"path/to/project\" for a uv project or workspace member",
                ));
        }
        (Some(_), false) => {
            return Err(key_error(
                &node,
                "project",
                "a uv venv has requirement files or a uv project, not both",
                "remove `reqs`: a project's dependencies are in its pyproject.toml and uv.lock",
            ));
        }
        (Some(_), true) => {
            for key in ["lock", "constraint"] {
                if node.get(key).is_some() {
                    return Err(key_error(
                        &node,
                        key,
                        &format!("`{key}` applies to requirement files, not to a uv project"),
                        "a project is installed from the uv.lock of its workspace; remove this key",
                    ));
                }
            }
        }
        (None, false) => {
            for key in ["groups", "all-groups", "extras", "all-extras"] {
                if node.get(key).is_some() {
                    return Err(key_error(
                        &node,
                        key,
                        &format!("`{key}` applies to a uv project, not to requirement files"),
                        "set `project` to the project's directory instead of `reqs`, or remove this key",
                    ));
                }
            }
        }
    }
    for (all, list) in [("all-groups", &venv.groups), ("all-extras", &venv.extras)] {
        let all_set = node.get(all).and_then(|n| n.as_bool()) == Some(true);
        if all_set && !list.is_empty() {
            return Err(key_error(
                &node,
                all,
                &format!("`{all}` and a list of names exclude each other"),
                "keep one of them",
            ));
        }
    }
    if let Some(project) = &venv.project {
        if !project.contains('{') && normalize_dir(project).is_none() {
            return Err(key_error(
                &node,
                "project",
                "a uv project must be a directory inside the qik project",
                "write its path relative to the directory of qik.toml, without `..`",
            ));
        }
    }
    Ok(Box::new(venv))
}

#[distributed_slice(VENV_TYPES)]
static UV: VenvType = VenvType {
    tag: "uv",
    plugin: ID,
    parse,
    reqs_shorthand: ReqsShorthand::Default(|reqs| Box::new(UvVenv::from_reqs(reqs))),
    schema: Some(schema_of::<UvVenv>),
};
