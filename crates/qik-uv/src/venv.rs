//! The `uv` venv type: where a space's venv and lock file live, and how its
//! commands see it.

use std::any::Any;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
use crate::{ID, INSTALL};

/// A virtualenv that uv locks and installs (`uv.lock`, `uv.install`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UvVenv {
    /// Requirement files, compiled into the lock.
    reqs: OneOrMany,
    /// The lock file (default under `.qik/artifacts/uv.lock/`).
    lock: Option<String>,
    /// Python version for `uv venv --python` (default: `[plugins.uv]`'s).
    #[schemars(with = "Option<String>")]
    python: Option<Spanned<String>>,
    /// A constraint file, or `{type = "space", name = "..."}` for that
    /// space's constraint (default: `[plugins.uv]`'s).
    constraint: Option<Constraint>,
    #[serde(skip)]
    file: Option<Arc<SourceFile>>,
}

impl UvVenv {
    fn from_reqs(reqs: Vec<String>) -> UvVenv {
        UvVenv {
            reqs: OneOrMany(reqs),
            lock: None,
            python: None,
            constraint: None,
            file: None,
        }
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

fn install_dep(cx: &VenvCx<'_>) -> CommandDep {
    CommandDep {
        name: format!("{}.{INSTALL}", plugin_name(cx.project)),
        args: Args::from([(SPACE_ARG.to_string(), cx.space.to_string())]),
        strict: true,
        isolated: None,
        origin: None,
    }
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
        self.lock_path(cx.project, cx.space).ok()
    }

    fn inputs(&self, cx: &VenvCx<'_>) -> Result<Vec<String>, Diagnostic> {
        let mut inputs = self.rendered_reqs(cx.project, cx.space)?;
        inputs.push(self.lock_path(cx.project, cx.space)?);
        inputs.extend(self.constraint(cx.project, plugin_config(cx.project)?, cx.space)?);
        Ok(inputs)
    }

    fn runnable_deps(&self, cx: &VenvCx<'_>) -> Vec<CommandDep> {
        vec![install_dep(cx)]
    }

    fn site_packages(&self, cx: &VenvCx<'_>) -> Option<Vec<PathBuf>> {
        Some(venv_site_packages(
            &cx.project.root().join(venv_dir(cx.space)),
        ))
    }

    fn install_command(&self, cx: &VenvCx<'_>) -> Option<CommandDep> {
        Some(install_dep(cx))
    }
}

fn parse(node: Node<'_>) -> Result<Box<dyn VenvSpec>, Diagnostic> {
    let venv = UvVenv {
        file: Some(Arc::clone(node.file())),
        ..node.deserialize_without::<UvVenv>("type")?
    };
    if venv.reqs.0.is_empty() {
        return Err(node
            .error(
                Code::ConfigParse,
                "a uv venv needs requirement files",
                "no `reqs`",
            )
            .with_hint("write reqs = \"requirements.txt\" (or a list of files)"));
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
