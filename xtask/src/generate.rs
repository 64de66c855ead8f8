//! Deterministic monorepos for the benchmark: the same sizes give the same
//! bytes, so qik and the Python qik get identical copies.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{Result, bail};

pub(crate) const FILES_PER_MODULE: usize = 10;

/// What to generate.
pub(crate) struct Shape {
    /// `pkgs/m0` ... `pkgs/m<modules-1>`, each a Python package.
    pub(crate) modules: usize,
    /// Every module's `test` command also depends on the module's import
    /// graph (`{type = "pygraph"}`), and each module imports the previous one.
    pub(crate) pygraph: bool,
}

impl Shape {
    /// A `lint` and a `test` per module, and `check`.
    pub(crate) fn runnables(&self) -> usize {
        2 * self.modules + 1
    }

    /// The shell command of every runnable, as qik runs them.
    pub(crate) fn execs(&self) -> Vec<String> {
        let mut execs = vec!["true".to_owned()];
        for m in 0..self.modules {
            execs.push(format!("true pkgs/m{m}"));
            execs.push(format!("true pkgs/m{m}"));
        }
        execs
    }

    fn config(&self) -> String {
        let mut config = String::new();
        if self.pygraph {
            config.push_str("[plugins]\npygraph = \"qik.pygraph\"\n\n");
        }
        config.push_str("[spaces.default]\nmodules = [\n");
        for m in 0..self.modules {
            let _ = writeln!(config, "  \"pkgs/m{m}\",");
        }
        config.push_str("]\n\n");
        config.push_str(
            "[commands.lint]\nexec = \"true {module.dir}\"\ndeps = [\"{module.dir}/**.py\"]\n\n",
        );
        let graph = if self.pygraph {
            "{type = \"pygraph\", pyimport = \"{module.pyimport}\"}, "
        } else {
            ""
        };
        let _ = writeln!(
            config,
            "[commands.test]\nexec = \"true {{module.dir}}\"\n\
             deps = [\"{{module.dir}}/**.py\", {graph}{{type = \"command\", name = \"lint\"}}]\n"
        );
        config.push_str("[commands.check]\nexec = \"true\"\ndeps = [\"qik.toml\"]\n");
        config
    }

    fn file(&self, m: usize, f: usize) -> String {
        let mut text = format!("# module {m} file {f}\n");
        if self.pygraph && m > 0 {
            let _ = writeln!(text, "from pkgs.m{} import f{f}", m - 1);
        }
        let _ = writeln!(text, "VALUE = {}", m * 100 + f);
        text
    }
}

/// Writes the repository at `repo` and commits it.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Where to write the repository; it must not exist yet.
    dir: std::path::PathBuf,
    /// Modules of ten files each.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..))]
    modules: u32,
    /// The import-graph shape: each module's test depends on its imports.
    #[arg(long)]
    pygraph: bool,
}

/// The bench's repo of the given shape, kept for `perf`, `strace` or
/// callgrind by hand (the bench deletes its own).
pub(crate) fn main(args: &Args) -> Result<()> {
    if args.dir.exists() {
        bail!("{} exists; give a new directory", args.dir.display());
    }
    let shape = Shape {
        modules: args.modules as usize,
        pygraph: args.pygraph,
    };
    repo(&args.dir, &shape)?;
    println!(
        "wrote {} ({} runnables); run `qik` in it once to fill the cache",
        args.dir.display(),
        shape.runnables()
    );
    Ok(())
}

pub(crate) fn repo(repo: &Path, shape: &Shape) -> Result<()> {
    fs::create_dir_all(repo.join("pkgs"))?;
    // Packages only where imports must resolve: the plain shape keeps
    // exactly ten files per module.
    if shape.pygraph {
        fs::write(repo.join("pkgs/__init__.py"), "")?;
    }
    for m in 0..shape.modules {
        let dir = repo.join(format!("pkgs/m{m}"));
        fs::create_dir_all(&dir)?;
        if shape.pygraph {
            fs::write(dir.join("__init__.py"), "")?;
        }
        for f in 0..FILES_PER_MODULE {
            fs::write(dir.join(format!("f{f}.py")), shape.file(m, f))?;
        }
    }
    fs::write(repo.join("qik.toml"), shape.config())?;
    // Staged a second after the files were written, as in a repository
    // whose files were not all edited just now: an index written in the
    // same second as its files holds them racily clean (git, and qik, must
    // then distrust their stat data), until some later `git status`
    // rewrites it.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    for args in [
        &["init", "-q"][..],
        &["add", "."],
        &[
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@invalid",
            "commit",
            "-qm",
            "init",
        ],
    ] {
        let status = Command::new("git").args(args).current_dir(repo).status()?;
        if !status.success() {
            bail!("git {args:?} failed in {}", repo.display());
        }
    }
    Ok(())
}
