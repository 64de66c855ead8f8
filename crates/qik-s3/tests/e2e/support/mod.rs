//! Test support: the `qik` binary, temporary git projects, a real
//! S3-compatible server and a fault-injecting proxy in front of it.

pub(crate) mod proxy;
pub(crate) mod server;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub(crate) use proxy::{Fault, Proxy};
pub(crate) use server::{ACCESS_KEY, BUCKET, S3Server, SECRET_KEY};

/// The workspace's target directory, where the binary and test tools live.
pub(crate) fn target_dir() -> PathBuf {
    // `CARGO_TARGET_TMPDIR` is `<target>/tmp` for integration tests.
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target/tmp has a parent")
        .to_path_buf()
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/qik-s3 is two levels down")
        .to_path_buf()
}

/// The `qik` binary with the s3 plugin, built once per test process.
///
/// `CARGO_BIN_EXE_qik` exists only in qik-cli's own tests, so this runs
/// `cargo build -p qik-cli --bin qik` (same profile and target directory as
/// this test, so it is a no-op after `cargo test --workspace`) and takes the
/// executable's path from cargo's JSON messages instead of guessing it.
pub(crate) fn qik_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        command
            .current_dir(workspace_root())
            .args(["build", "-p", "qik-cli", "--bin", "qik", "--features", "s3"])
            .args(["--message-format", "json-render-diagnostics"])
            .env("CARGO_TARGET_DIR", target_dir())
            .stderr(Stdio::inherit());
        if !cfg!(debug_assertions) {
            command.arg("--release");
        }
        let output = command.output().expect("cargo runs");
        assert!(output.status.success(), "building qik failed");
        let stdout = String::from_utf8_lossy(&output.stdout);
        stdout
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|message| message["reason"] == "compiler-artifact")
            .filter(|message| message["target"]["name"] == "qik")
            .find_map(|message| message["executable"].as_str().map(PathBuf::from))
            .expect("cargo reports the qik executable")
    })
}

/// What one run of `qik` did.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) elapsed: Duration,
}

impl Run {
    pub(crate) fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Warning lines about remote caches.
    pub(crate) fn remote_warnings(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|line| line.starts_with("warning:") && line.contains("remote cache"))
            .collect()
    }

    #[track_caller]
    pub(crate) fn assert_ok(&self) {
        assert_eq!(self.code, 0, "qik failed: {self:#?}");
    }

    /// The runnable ran its command (it was not replayed).
    #[track_caller]
    pub(crate) fn assert_ran(&self, name: &str) {
        assert!(
            self.stderr.contains(&format!("[run] {name} ")),
            "{name} did not run: {self:#?}"
        );
    }

    /// The runnable was replayed from a cache.
    #[track_caller]
    pub(crate) fn assert_cached(&self, name: &str) {
        assert!(
            self.stderr
                .lines()
                .any(|line| line == format!("[cached] {name}")),
            "{name} was not replayed: {self:#?}"
        );
    }

    /// No warning about the remote cache at all.
    #[track_caller]
    pub(crate) fn assert_quiet(&self) {
        assert!(
            self.remote_warnings().is_empty(),
            "unexpected warnings: {self:#?}"
        );
    }

    /// Exactly one warning about the remote cache, containing `part`.
    #[track_caller]
    pub(crate) fn assert_one_warning(&self, part: &str) {
        let warnings = self.remote_warnings();
        assert_eq!(warnings.len(), 1, "expected one warning: {self:#?}");
        assert!(
            warnings[0].contains(part),
            "warning lacks {part:?}: {self:#?}"
        );
    }

    /// None of the secrets a test uses shows up anywhere.
    #[track_caller]
    pub(crate) fn assert_no_secrets(&self, extra: &[&str]) {
        let all = self.all();
        for secret in [
            SECRET_KEY,
            "X-Amz-Signature",
            "X-Amz-Credential",
            "X-Amz-Security-Token",
        ]
        .iter()
        .chain(extra)
        {
            assert!(!all.contains(secret), "output shows {secret:?}: {all}");
        }
    }
}

/// A temporary git repository holding a qik project.
pub(crate) struct Project {
    _dir: tempfile::TempDir,
    pub(crate) root: PathBuf,
}

impl Project {
    /// A repository with `files`, all added to the index.
    pub(crate) fn new(files: &[(&str, &str)]) -> Project {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().canonicalize().expect("canonical temp dir");
        git(&root, &["init", "-q"]);
        let project = Project { _dir: dir, root };
        for (path, content) in files {
            project.write(path, content);
        }
        project.git_add();
        project
    }

    /// Another checkout of the same tracked files: no `._qik`, no outputs.
    pub(crate) fn clone_repo(&self) -> Project {
        let listed = Command::new("git")
            .args(["ls-files", "-z"])
            .current_dir(&self.root)
            .output()
            .expect("git runs");
        let files: Vec<(String, String)> = listed
            .stdout
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| {
                let path = String::from_utf8_lossy(p).into_owned();
                let content = self.read(&path);
                (path, content)
            })
            .collect();
        let pairs: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_str()))
            .collect();
        Project::new(&pairs)
    }

    pub(crate) fn write(&self, path: &str, content: &str) {
        let path = self.root.join(path);
        std::fs::create_dir_all(path.parent().expect("has parent")).expect("create dirs");
        std::fs::write(path, content).expect("write file");
    }

    pub(crate) fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.root.join(path)).expect("read file")
    }

    pub(crate) fn git_add(&self) {
        git(&self.root, &["add", "-A", "--", ".", ":(exclude)._qik"]);
    }

    /// Runs `qik` at the root with a clean environment plus `env`.
    pub(crate) fn qik(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let started = Instant::now();
        let output = self.qik_command(args, env).output().expect("qik runs");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            elapsed: started.elapsed(),
        }
    }

    pub(crate) fn qik_command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut command = Command::new(qik_bin());
        command
            .args(args)
            .current_dir(&self.root)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", std::env::var_os("HOME").unwrap_or_default())
            .env("NO_COLOR", "1");
        for (key, value) in env {
            command.env(key, value);
        }
        command
    }

    /// Entries in the local (hot) cache.
    pub(crate) fn local_entries(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        walk(&self.root.join("._qik/cache"), &mut |path| {
            if path.file_name().is_some_and(|n| n == "manifest.json") {
                found.push(path.parent().expect("entry dir").to_path_buf());
            }
        });
        found
    }

    /// Anything left over in the local cache besides whole entries.
    pub(crate) fn local_leftovers(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        walk(&self.root.join("._qik/cache"), &mut |path| {
            if path
                .components()
                .any(|c| c.as_os_str().to_string_lossy().starts_with(".tmp-"))
            {
                found.push(path.to_path_buf());
            }
        });
        found
    }
}

/// Calls `f` on every file below `dir`.
pub(crate) fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            walk(&path, f);
        } else {
            f(&path);
        }
    }
}

pub(crate) fn git(cwd: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args([
            "-c",
            "user.name=qik tests",
            "-c",
            "user.email=tests@qik.invalid",
        ])
        .args(args)
        .current_dir(cwd)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?} failed");
}

/// An endpoint where nothing listens.
pub(crate) fn free_port_endpoint() -> String {
    format!("http://127.0.0.1:{}", server::free_port())
}

/// The credentials of the test server, from the standard variables.
pub(crate) const AWS_ENV: &[(&str, &str)] = &[
    ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
    ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
];

/// A qik.toml with one s3 cache named `remote` at `endpoint`, `extra` lines
/// in its table, and the `build` command: it copies `src/input.txt` to the
/// artifact `out/result.txt` and prints it. `top` goes before every table
/// (`ctx = [...]`).
pub(crate) fn config_with(top: &str, endpoint: &str, extra: &str) -> String {
    format!(
        "{top}\n[plugins]\ns3 = \"qik.s3\"\n\n\
         [caches.remote]\ntype = \"s3\"\nbucket = \"{BUCKET}\"\nendpoint-url = \"{endpoint}\"\n\
         timeout = 1\n{extra}\n\n\
         [commands.build]\n\
         exec = \"mkdir -p out && cp src/input.txt out/result.txt && echo built $(cat src/input.txt)\"\n\
         deps = [\"src/**\"]\nartifacts = [\"out/result.txt\"]\ncache = \"remote\"\n"
    )
}

pub(crate) fn config(endpoint: &str, extra: &str) -> String {
    config_with("", endpoint, extra)
}

/// A project with the `build` command of [`config`].
pub(crate) fn build_project(endpoint: &str, extra: &str) -> Project {
    Project::new(&[
        ("qik.toml", &config(endpoint, extra)),
        ("src/input.txt", "one\n"),
    ])
}

/// Points a project's `remote` cache somewhere else (the hash ignores cache
/// settings, so entries stay the same).
pub(crate) fn retarget(project: &Project, endpoint: &str, extra: &str) {
    project.write("qik.toml", &config(endpoint, extra));
    project.git_add();
}
