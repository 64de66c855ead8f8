//! `cargo xtask release`: the release binaries, their checksums and the
//! changelog section of a version.
//!
//! Steps: stamp the version into the workspace manifest, build `qik` and
//! `qikx` with the release profile (LTO), copy them into
//! `target/dist/qik-<version>-<target>/`, write `SHA256SUMS` beside them,
//! and write the changelog section (the commit subjects since the last
//! `v*` tag) to `target/dist/CHANGELOG-<version>.md` and the top of
//! `CHANGELOG.md`. `--dry-run` does all of it except changing tracked files
//! (manifest, CHANGELOG.md); it still builds, so a dry run proves the
//! release builds.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use sha2::{Digest, Sha256};

const USAGE: &str = "usage: cargo xtask release [--version X.Y.Z] [--dry-run] [--profile NAME] [--target-dir DIR] [--out DIR]";

/// What was produced, for callers (and the test).
#[derive(Debug)]
pub(crate) struct Release {
    pub(crate) version: String,
    pub(crate) dir: PathBuf,
    pub(crate) binaries: Vec<PathBuf>,
    pub(crate) sums: PathBuf,
    pub(crate) changelog: PathBuf,
}

struct Options {
    version: Option<String>,
    dry_run: bool,
    profile: String,
    target_dir: Option<PathBuf>,
    out: Option<PathBuf>,
    /// Extra arguments of the build (the test's: see there).
    cargo_args: Vec<String>,
}

pub(crate) fn main(args: &[String]) -> Result<()> {
    let mut options = Options {
        version: None,
        dry_run: false,
        profile: "release".to_string(),
        target_dir: None,
        out: None,
        cargo_args: Vec::new(),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .cloned()
                .with_context(|| format!("{name} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--version" => options.version = Some(value("--version")?),
            "--dry-run" => options.dry_run = true,
            "--profile" => options.profile = value("--profile")?,
            "--target-dir" => options.target_dir = Some(value("--target-dir")?.into()),
            "--out" => options.out = Some(value("--out")?.into()),
            other => bail!("unknown argument `{other}`\n{USAGE}"),
        }
    }
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
        .chain([&release.sums, &release.changelog])
    {
        println!("  {}", path.display());
    }
    Ok(())
}

fn run(root: &Path, options: &Options) -> Result<Release> {
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
    }

    let target_dir = options
        .target_dir
        .clone()
        .unwrap_or_else(|| root.join("target"));
    let mut build = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    build
        .current_dir(root)
        .args(["build", "--locked", "-p", "qik-cli", "--bins", "--profile"])
        .arg(&options.profile)
        .arg("--target-dir")
        .arg(&target_dir)
        .args(&options.cargo_args)
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
    let status = build.status().context("cannot run cargo")?;
    ensure!(status.success(), "the release build failed");

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
    let mut binaries = Vec::new();
    let mut sums = String::new();
    for name in ["qik", "qikx"] {
        let built = target_dir.join(profile_dir).join(name);
        let copy = dir.join(name);
        std::fs::copy(&built, &copy).with_context(|| format!("cannot copy {}", built.display()))?;
        let digest = Sha256::digest(std::fs::read(&copy)?);
        writeln!(sums, "{}  {name}", hex(&digest))?;
        binaries.push(copy);
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
        sums: sums_path,
        changelog,
    })
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

    /// A dry run builds the binaries, sums them and writes the changelog
    /// section without touching tracked files.
    ///
    /// It reuses the build the test run just made instead of compiling the
    /// workspace again: the workspace's target dir is its build dir
    /// (`build.build-dir`), and xtask is built along (`-p xtask`) so that
    /// cargo unifies features as for the workspace, so every dependency is
    /// already compiled; the binaries land in a target dir of their own (the
    /// workspace's `qik` is not overwritten). qik-cli itself gets line
    /// tables only: that keys its units apart from the everyday ones, so the
    /// stamped version (an `option_env!`) does not make the next
    /// `cargo test` recompile qik-cli, nor this test the other way round.
    #[test]
    fn a_dry_run_builds_sums_and_changes_nothing_tracked() {
        let root = crate::workspace_root();
        let manifest_before = std::fs::read(root.join("Cargo.toml")).unwrap();
        let changelog_before = std::fs::read(root.join("CHANGELOG.md")).ok();
        // This test runs as `<target>/debug/deps/xtask-<hash>`.
        let exe = std::env::current_exe().unwrap();
        let target = exe.ancestors().nth(3).unwrap();
        let out = tempfile::tempdir().unwrap();
        let release = run(
            &root,
            &Options {
                version: Some("9.8.7-rc.1".into()),
                dry_run: true,
                profile: "dev".into(),
                target_dir: Some(target.join("xtask-release-test")),
                out: Some(out.path().to_path_buf()),
                cargo_args: vec![
                    "-p".into(),
                    "xtask".into(),
                    "--config".into(),
                    format!("build.build-dir={:?}", target.display().to_string()),
                    "--config".into(),
                    "profile.dev.package.qik-cli.debug=\"line-tables-only\"".into(),
                ],
            },
        )
        .expect("dry run");
        assert_eq!(release.version, "9.8.7-rc.1");
        assert!(
            release
                .dir
                .ends_with(format!("qik-9.8.7-rc.1-{}", host_target().unwrap()))
        );
        // The binaries run and report the stamped version.
        let version = Command::new(&release.binaries[0])
            .arg("--version")
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&version.stdout).trim(),
            "qik 9.8.7-rc.1"
        );
        // Each sum matches its file.
        let sums = std::fs::read_to_string(&release.sums).unwrap();
        for (binary, line) in release.binaries.iter().zip(sums.lines()) {
            let digest = hex(&Sha256::digest(std::fs::read(binary).unwrap()));
            let name = binary.file_name().unwrap().to_string_lossy();
            assert_eq!(line, format!("{digest}  {name}"));
        }
        let section = std::fs::read_to_string(&release.changelog).unwrap();
        assert!(section.starts_with("## 9.8.7-rc.1 ("), "{section}");
        assert!(section.lines().any(|l| l.starts_with("- ")), "{section}");
        assert_eq!(
            std::fs::read(root.join("Cargo.toml")).unwrap(),
            manifest_before
        );
        assert_eq!(
            std::fs::read(root.join("CHANGELOG.md")).ok(),
            changelog_before
        );
    }
}
