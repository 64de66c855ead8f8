//! `cargo xtask release`: the release binaries, the wheel that carries
//! them, their checksums and the changelog section of a version.
//!
//! Steps: stamp the version into the workspace manifest and the pre-commit
//! package (`pyproject.toml`), build `qik` and `qikx` with the release
//! profile (LTO) through maturin, which packs them into a wheel
//! (`crates/qik-cli/pyproject.toml`: `bindings = "bin"`, tagged manylinux
//! or musllinux for the libc the binaries link, checked by maturin's
//! auditwheel), copy the binaries and the wheel into
//! `target/dist/qik-<version>-<target>/`, write `SHA256SUMS` beside them,
//! and write the changelog section (the commit subjects since the last
//! `v*` tag) to `target/dist/CHANGELOG-<version>.md` and the top of
//! `CHANGELOG.md`. `--dry-run` does all of it except changing tracked files
//! (manifest, pyproject.toml, CHANGELOG.md); it still builds, so a dry run
//! proves the release builds. maturin is `$MATURIN`, else `maturin` on PATH.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use sha2::{Digest, Sha256};

#[derive(clap::Args)]
pub(crate) struct Args {
    /// The version to release (X.Y.Z); by default the workspace's.
    #[arg(long)]
    version: Option<String>,
    /// Build everything but change no tracked file.
    #[arg(long)]
    dry_run: bool,
    /// The cargo profile of the binaries.
    #[arg(long, default_value = "release")]
    profile: String,
    /// cargo's target directory.
    #[arg(long, value_name = "DIR")]
    target_dir: Option<PathBuf>,
    /// Where the release goes (default: target/dist).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// What was produced, for callers (and the test).
#[derive(Debug)]
pub(crate) struct Release {
    pub(crate) version: String,
    pub(crate) dir: PathBuf,
    pub(crate) binaries: Vec<PathBuf>,
    pub(crate) wheel: PathBuf,
    pub(crate) sums: PathBuf,
    pub(crate) changelog: PathBuf,
}

struct Options {
    version: Option<String>,
    dry_run: bool,
    profile: String,
    target_dir: Option<PathBuf>,
    out: Option<PathBuf>,
    /// The maturin program.
    maturin: PathBuf,
    /// Extra arguments of `maturin build` (the test's: see there).
    build_args: Vec<String>,
}

pub(crate) fn main(args: &Args) -> Result<()> {
    let options = Options {
        version: args.version.clone(),
        dry_run: args.dry_run,
        profile: args.profile.clone(),
        target_dir: args.target_dir.clone(),
        out: args.out.clone(),
        maturin: std::env::var_os("MATURIN").map_or_else(|| "maturin".into(), PathBuf::from),
        build_args: Vec::new(),
    };
    let root = crate::workspace_root();
    let release = run(&root, &options)?;
    let action = if options.dry_run {
        "dry run of"
    } else {
        "released"
    };
    println!("{action} {}: {}", release.version, release.dir.display());
    for path in release
        .binaries
        .iter()
        .chain([&release.wheel, &release.sums, &release.changelog])
    {
        println!("  {}", path.display());
    }
    Ok(())
}

fn run(root: &Path, options: &Options) -> Result<Release> {
    // Before anything is stamped: a release without its wheel is no release.
    check_maturin(&options.maturin)?;
    let manifest_path = root.join("Cargo.toml");
    let manifest = std::fs::read_to_string(&manifest_path)?;
    let current = workspace_version(&manifest)?;
    let version = options.version.clone().unwrap_or_else(|| current.clone());
    ensure!(
        is_semver(&version),
        "`{version}` is not a version like 1.2.3 (or 1.2.3-rc.1)"
    );
    if version != current && !options.dry_run {
        let stamped = manifest.replacen(
            &format!("version = \"{current}\""),
            &format!("version = \"{version}\""),
            1,
        );
        std::fs::write(&manifest_path, stamped)?;
        let pyproject_path = root.join("pyproject.toml");
        let pyproject = std::fs::read_to_string(&pyproject_path)?;
        std::fs::write(
            &pyproject_path,
            stamp_pyproject(&pyproject, &current, &version)?,
        )?;
    }

    let target_dir = options
        .target_dir
        .clone()
        .unwrap_or_else(|| root.join("target"));
    let profile_dir = if options.profile == "dev" {
        "debug"
    } else {
        &options.profile
    };
    let target = host_target()?;
    let out = options
        .out
        .clone()
        .unwrap_or_else(|| target_dir.join("dist"));
    let dir = out.join(format!("qik-{version}-{target}"));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;

    // maturin runs the cargo build and packs its binaries into the wheel:
    // one build serves both the wheel and the plain binaries.
    let mut build = Command::new(&options.maturin);
    build
        .current_dir(root)
        .args([
            "build",
            "--locked",
            "--manifest-path",
            "crates/qik-cli/Cargo.toml",
        ])
        // A binary that needs a shared library outside the manylinux policy
        // fails the build instead of being bundled into the wheel.
        .args(["--auditwheel", "check", "--profile"])
        .arg(&options.profile)
        .arg("--target-dir")
        .arg(&target_dir)
        .arg("--out")
        .arg(&dir)
        .args(&options.build_args)
        // The binaries report the version being released, even in a dry run
        // that leaves the manifest alone.
        .env("QIK_RELEASE_VERSION", &version);
    // What cargo sets for the program it runs (this one, or the test) is not
    // the build's: build scripts that watch these variables (ring's does)
    // would rerun, and the next everyday build would run them again.
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
    let status = build.status().context("cannot run maturin")?;
    ensure!(status.success(), "the release build (maturin) failed");
    let wheel = built_wheel(&dir)?;
    if options.dry_run && version != current {
        eprintln!(
            "note: the wheel carries the manifest's version {current}: a dry run leaves Cargo.toml alone"
        );
    }

    let mut binaries = Vec::new();
    let mut sums = String::new();
    for name in ["qik", "qikx"] {
        let built = target_dir.join(profile_dir).join(name);
        let copy = dir.join(name);
        std::fs::copy(&built, &copy).with_context(|| format!("cannot copy {}", built.display()))?;
        binaries.push(copy);
    }
    for path in binaries.iter().chain([&wheel]) {
        let digest = Sha256::digest(std::fs::read(path)?);
        let name = path.file_name().expect("a file").to_string_lossy();
        writeln!(sums, "{}  {name}", hex(&digest))?;
    }
    let sums_path = dir.join("SHA256SUMS");
    std::fs::write(&sums_path, &sums)?;

    let section = changelog_section(root, &version)?;
    let changelog = out.join(format!("CHANGELOG-{version}.md"));
    std::fs::write(&changelog, &section)?;
    if !options.dry_run {
        let path = root.join("CHANGELOG.md");
        let existing = std::fs::read_to_string(&path).unwrap_or_else(|_| "# Changelog\n\n".into());
        let (head, rest) = existing
            .split_once("\n\n")
            .unwrap_or((existing.as_str(), ""));
        std::fs::write(&path, format!("{head}\n\n{section}\n{rest}"))?;
    }
    Ok(Release {
        version,
        dir,
        binaries,
        wheel,
        sums: sums_path,
        changelog,
    })
}

fn check_maturin(maturin: &Path) -> Result<()> {
    match Command::new(maturin).arg("--version").output() {
        Ok(output) if output.status.success() => Ok(()),
        Ok(output) => bail!(
            "`{} --version` failed: {}",
            maturin.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        ),
        Err(err) => bail!(
            "cannot run `{}` ({err}): the release is built with maturin\nhint: install it (`uv tool install maturin` or `pipx install maturin`), or set MATURIN to its path",
            maturin.display()
        ),
    }
}

/// The one wheel maturin wrote into `dir`, with a platform tag that
/// installers accept on other machines than this one.
fn built_wheel(dir: &Path) -> Result<PathBuf> {
    let wheels: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<std::io::Result<Vec<_>>>()?
        .into_iter()
        .filter(|path| path.extension().is_some_and(|ext| ext == "whl"))
        .collect();
    let [wheel] = wheels.as_slice() else {
        bail!(
            "maturin wrote {} wheels into {}, expected one",
            wheels.len(),
            dir.display()
        );
    };
    let name = wheel.file_name().expect("a file").to_string_lossy();
    // `<name>-<version>-<python tag>-<abi tag>-<platform tag>.whl`; a plain
    // `linux_*` platform tag installs nowhere but on this machine's kind.
    let platform = name
        .trim_end_matches(".whl")
        .rsplit('-')
        .next()
        .unwrap_or("");
    ensure!(
        !platform.starts_with("linux_"),
        "{name} is tagged for this machine only ({platform}): its binaries link to a library outside the manylinux policy"
    );
    Ok(wheel.clone())
}

/// The root `pyproject.toml` (the package of the pre-commit hooks) with its
/// version and the version of the qik wheel it installs set to `version`.
fn stamp_pyproject(pyproject: &str, current: &str, version: &str) -> Result<String> {
    let version_line = format!("version = \"{current}\"");
    let pin = format!("\"qik-cli=={current}\"");
    ensure!(
        pyproject.contains(&version_line) && pyproject.contains(&pin),
        "pyproject.toml does not hold `{version_line}` and `{pin}`: the pre-commit package must have the workspace's version"
    );
    Ok(pyproject
        .replacen(&version_line, &format!("version = \"{version}\""), 1)
        .replacen(&pin, &format!("\"qik-cli=={version}\""), 1))
}

/// `version = "..."` of `[workspace.package]`.
fn workspace_version(manifest: &str) -> Result<String> {
    let mut in_package = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[workspace.package]";
        } else if let (true, Some(value)) = (in_package, line.strip_prefix("version = ")) {
            return Ok(value.trim_matches('"').to_string());
        }
    }
    bail!("Cargo.toml has no version in [workspace.package]")
}

fn is_semver(version: &str) -> bool {
    let (core, pre) = version.split_once('-').unwrap_or((version, ""));
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && pre
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

fn host_target() -> Result<String> {
    let output = Command::new("rustc").arg("-vV").output()?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .context("rustc -vV names no host")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// `## <version> (<date>)` and the subjects of the commits since the last
/// `v*` tag (all commits when there is none).
fn changelog_section(root: &Path, version: &str) -> Result<String> {
    let last_tag = Command::new("git")
        .current_dir(root)
        .args(["describe", "--tags", "--abbrev=0", "--match", "v*"])
        .output()?;
    let range = if last_tag.status.success() {
        format!("{}..HEAD", String::from_utf8_lossy(&last_tag.stdout).trim())
    } else {
        "HEAD".to_string()
    };
    let log = Command::new("git")
        .current_dir(root)
        .args(["log", "--no-merges", "--format=%s", &range])
        .output()?;
    ensure!(log.status.success(), "git log failed");
    let date = Command::new("date").arg("+%Y-%m-%d").output()?;
    let mut section = format!(
        "## {version} ({})\n\n",
        String::from_utf8_lossy(&date.stdout).trim()
    );
    for subject in String::from_utf8_lossy(&log.stdout).lines() {
        writeln!(section, "- {subject}")?;
    }
    Ok(section)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_checked() {
        assert!(is_semver("1.2.3"));
        assert!(is_semver("0.1.0-rc.1"));
        assert!(!is_semver("1.2"));
        assert!(!is_semver("v1.2.3"));
        assert!(!is_semver("1.2.x"));
    }

    #[test]
    fn reads_the_workspace_version() {
        let manifest = "[workspace]\nmembers = []\n\n[workspace.package]\nedition = \"2024\"\nversion = \"3.4.5\"\n\n[dependencies]\nversion = \"9\"\n";
        assert_eq!(workspace_version(manifest).unwrap(), "3.4.5");
    }

    #[test]
    fn stamps_the_pre_commit_package() {
        let pyproject = "[project]\nname = \"qik-pre-commit\"\nversion = \"0.1.0\"\ndependencies = [\"qik-cli==0.1.0\"]\n";
        let stamped = stamp_pyproject(pyproject, "0.1.0", "0.2.0-rc.1").unwrap();
        assert_eq!(
            stamped,
            "[project]\nname = \"qik-pre-commit\"\nversion = \"0.2.0-rc.1\"\ndependencies = [\"qik-cli==0.2.0-rc.1\"]\n"
        );
        let err = stamp_pyproject(pyproject, "0.0.9", "0.2.0").unwrap_err();
        assert!(err.to_string().contains("version = \"0.0.9\""), "{err}");
    }

    /// The repository's pre-commit package installs the wheel of the
    /// workspace's version: a release stamps both, so they must agree now.
    #[test]
    fn the_pre_commit_package_has_the_workspace_version() {
        let root = crate::workspace_root();
        let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        let version = workspace_version(&manifest).unwrap();
        let pyproject = std::fs::read_to_string(root.join("pyproject.toml")).unwrap();
        stamp_pyproject(&pyproject, &version, &version).expect("pyproject.toml agrees");
    }

    /// maturin builds qik-cli alone; it reuses the test build (and the
    /// release reuses nothing twice) only while qik-cli alone resolves its
    /// dependencies' features as the whole workspace does.
    #[test]
    fn qik_cli_alone_resolves_features_as_the_workspace() {
        let root = crate::workspace_root();
        let tree = |args: &[&str]| -> std::collections::BTreeSet<String> {
            let output = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
                .current_dir(&root)
                .args(["tree", "--locked", "--prefix", "none", "--no-dedupe"])
                .args(["--format", "{p} [{f}]"])
                .args(args)
                .output()
                .expect("cargo runs");
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .map(str::to_string)
                .collect()
        };
        let alone = tree(&["-p", "qik-cli", "-e", "normal,build"]);
        let workspace = tree(&["--workspace", "-e", "normal,build,dev"]);
        let drift: Vec<&String> = alone.difference(&workspace).collect();
        assert!(
            drift.is_empty(),
            "qik-cli alone resolves these packages with other features than the workspace's test build:\n{}\n\
             hint: ask for the workspace's features in qik-cli's Cargo.toml (the unused dependencies there); \
             compare with `cargo tree --workspace -e features -i <package>`",
            drift
                .iter()
                .map(|line| format!("  {line}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    /// maturin as the tests install it: pinned, with pip, once per machine
    /// (beside the end-to-end tests' tools, which pin the same release).
    fn maturin() -> PathBuf {
        const MATURIN_VERSION: &str = "1.16.0";
        let tools = crate::tools::dir().unwrap();
        let root = tools.join(format!("maturin-{MATURIN_VERSION}"));
        if !root.exists() {
            let scratch = tempfile::Builder::new()
                .prefix(".installing-")
                .tempdir_in(&tools)
                .unwrap();
            let status = Command::new("python3")
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--target",
                ])
                .arg(scratch.path())
                .arg(format!("maturin=={MATURIN_VERSION}"))
                .status()
                .expect("python3 runs");
            assert!(
                status.success(),
                "pip install maturin=={MATURIN_VERSION} failed"
            );
            // Another test process may have won the race: its copy is as good.
            let staged = scratch.keep();
            if std::fs::rename(&staged, &root).is_err() {
                let _ = std::fs::remove_dir_all(&staged);
            }
        }
        let bin = root.join("bin/maturin");
        assert!(bin.is_file(), "no maturin in {}", root.display());
        bin
    }

    /// A dry run builds the binaries and the wheel, sums them and writes the
    /// changelog section without touching tracked files.
    ///
    /// It reuses the build the test run just made instead of compiling the
    /// workspace again: the workspace's target dir is its build dir
    /// (`build.build-dir`), and qik-cli resolves its dependencies' features
    /// as the workspace does (see its Cargo.toml), so every dependency is
    /// already compiled; the binaries land in a target dir of their own (the
    /// workspace's `qik` is not overwritten). qik-cli itself gets line
    /// tables only: that keys its units apart from the everyday ones, so the
    /// stamped version (an `option_env!`) does not make the next
    /// `cargo test` recompile qik-cli, nor this test the other way round.
    #[test]
    fn a_dry_run_builds_wheels_sums_and_changes_nothing_tracked() {
        let root = crate::workspace_root();
        let manifest_before = std::fs::read(root.join("Cargo.toml")).unwrap();
        let pyproject_before = std::fs::read(root.join("pyproject.toml")).unwrap();
        let changelog_before = std::fs::read(root.join("CHANGELOG.md")).ok();
        let version = workspace_version(&String::from_utf8_lossy(&manifest_before)).unwrap();
        // This test runs as `<target>/debug/deps/xtask-<hash>`.
        let exe = std::env::current_exe().unwrap();
        let target = exe.ancestors().nth(3).unwrap();
        let out = tempfile::tempdir().unwrap();
        let release = run(
            &root,
            &Options {
                version: None,
                dry_run: true,
                profile: "dev".into(),
                target_dir: Some(target.join("xtask-release-test")),
                out: Some(out.path().to_path_buf()),
                maturin: maturin(),
                build_args: vec![
                    "--config".into(),
                    format!("build.build-dir={:?}", target.display().to_string()),
                    "--config".into(),
                    "profile.dev.package.qik-cli.debug=\"line-tables-only\"".into(),
                ],
            },
        )
        .expect("dry run");
        assert_eq!(release.version, version);
        assert!(
            release
                .dir
                .ends_with(format!("qik-{version}-{}", host_target().unwrap()))
        );
        // The binaries run and report the stamped version.
        let reported = Command::new(&release.binaries[0])
            .arg("--version")
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&reported.stdout).trim(),
            format!("qik {version}")
        );
        // The wheel: this version, any Python 3, a manylinux or musllinux
        // platform, both binaries as scripts.
        let wheel_name = release.wheel.file_name().unwrap().to_string_lossy();
        let prefix = format!("qik_cli-{version}-py3-none-");
        assert!(wheel_name.starts_with(&prefix), "{wheel_name}");
        let platform = &wheel_name[prefix.len()..];
        assert!(
            platform.starts_with("manylinux_") || platform.starts_with("musllinux_"),
            "{wheel_name}"
        );
        let listing = Command::new("python3")
            .args(["-m", "zipfile", "-l"])
            .arg(&release.wheel)
            .output()
            .unwrap();
        let listing = String::from_utf8_lossy(&listing.stdout);
        for name in ["qik", "qikx"] {
            assert!(
                listing.contains(&format!("qik_cli-{version}.data/scripts/{name} ")),
                "{listing}"
            );
        }
        // Each sum matches its file.
        let sums = std::fs::read_to_string(&release.sums).unwrap();
        let summed: Vec<&PathBuf> = release.binaries.iter().chain([&release.wheel]).collect();
        assert_eq!(sums.lines().count(), summed.len(), "{sums}");
        for (file, line) in summed.into_iter().zip(sums.lines()) {
            let digest = hex(&Sha256::digest(std::fs::read(file).unwrap()));
            let name = file.file_name().unwrap().to_string_lossy();
            assert_eq!(line, format!("{digest}  {name}"));
        }
        let section = std::fs::read_to_string(&release.changelog).unwrap();
        assert!(section.starts_with(&format!("## {version} (")), "{section}");
        assert!(section.lines().any(|l| l.starts_with("- ")), "{section}");
        assert_eq!(
            std::fs::read(root.join("Cargo.toml")).unwrap(),
            manifest_before
        );
        assert_eq!(
            std::fs::read(root.join("pyproject.toml")).unwrap(),
            pyproject_before
        );
        assert_eq!(
            std::fs::read(root.join("CHANGELOG.md")).ok(),
            changelog_before
        );
    }

    /// Without maturin the release says what to install.
    #[test]
    fn a_missing_maturin_is_named_with_a_hint() {
        let root = crate::workspace_root();
        let out = tempfile::tempdir().unwrap();
        let err = run(
            &root,
            &Options {
                version: None,
                dry_run: true,
                profile: "dev".into(),
                target_dir: Some(out.path().join("target")),
                out: Some(out.path().join("dist")),
                maturin: out.path().join("no-such-maturin"),
                build_args: Vec::new(),
            },
        )
        .unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("no-such-maturin"), "{text}");
        assert!(text.contains("hint: install it"), "{text}");
    }
}
