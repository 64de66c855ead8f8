//! The Python qik, installed from PyPI on first use into the test-tools
//! directory (`crate::tools`), where later runs find it. A lock file keeps two benchmarks from installing at once.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The `qik` executable of the Python qik `version` (with the pygraph extra
/// when asked), installing it if missing.
pub(crate) fn install(version: &str, pygraph: bool) -> Result<PathBuf> {
    let tools = crate::tools::dir()?;
    let venv = tools.join(format!("pyqik-{version}"));
    let qik = venv.join("bin/qik");
    let marker = venv.join(if pygraph {
        ".installed-pygraph"
    } else {
        ".installed"
    });
    let _lock = Lock::take(&tools.join(".pyqik.lock"))?;
    if marker.is_file() && qik.is_file() {
        return Ok(qik);
    }
    eprintln!(
        "installing the Python qik {version} into {} (first use only)",
        venv.display()
    );
    if !venv.join("bin/pip").is_file() {
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
    }
    let requirement = if pygraph {
        format!("qik[pygraph]=={version}")
    } else {
        format!("qik=={version}")
    };
    run(Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .arg(&requirement))?;
    if !qik.is_file() {
        bail!(
            "pip installed {requirement} but {} is missing",
            qik.display()
        );
    }
    fs::write(&marker, "")?;
    Ok(qik)
}

fn run(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot run {command:?}"))?;
    if !status.success() {
        bail!(
            "{command:?} failed; the benchmark compares against the Python qik (--no-python skips it)"
        );
    }
    Ok(())
}

/// An exclusive `flock` on a file, released when the file closes on drop.
struct Lock {
    _file: fs::File,
}

impl Lock {
    fn take(path: &Path) -> Result<Lock> {
        use std::os::fd::AsRawFd;
        let file = fs::File::create(path)?;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            bail!(
                "cannot lock {}: {}",
                path.display(),
                std::io::Error::last_os_error()
            );
        }
        Ok(Lock { _file: file })
    }
}
