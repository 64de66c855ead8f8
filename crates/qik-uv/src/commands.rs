//! The hidden commands `uv.lock` and `uv.install`, one runnable per space.

use std::path::Path;
use std::sync::Arc;

use qik_core::cache::CacheWhen;
use qik_core::diagnostic::{Code, Diagnostic};
use qik_core::ext::{
    Args, CacheRef, CommandDep, CommandFactory, FactoryCx, Instances, ReplayCheck, Runnable,
    SPACE_ARG,
};

use crate::config::UvConfig;
use crate::venv::{UvVenv, lock_cache, plugin_name, venv_dir, venv_is_intact};
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

/// `uv pip compile --universal` of the space's requirements into its lock file.
fn lock(cx: &FactoryCx<'_>, args: &Args) -> Result<Runnable, Diagnostic> {
    let (space, venv) = space_venv(cx, args)?;
    let config: &UvConfig = cx.config()?;
    let project = cx.project;
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
    runnable.artifacts = vec![lock];
    runnable.cache = CacheRef::from_name(lock_cache(project)?);
    runnable.cache_when = CacheWhen::Success;
    runnable.env = index_env(cx, config)?;
    add_base_deps(cx, &space, &mut runnable)?;
    Ok(runnable)
}

/// `uv venv` for the space, then `uv pip sync` of its lock file.
fn install(cx: &FactoryCx<'_>, args: &Args) -> Result<Runnable, Diagnostic> {
    let (space, venv) = space_venv(cx, args)?;
    let config: &UvConfig = cx.config()?;
    let project = cx.project;
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
