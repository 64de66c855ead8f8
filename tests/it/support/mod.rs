//! The one harness of the end-to-end tests: temporary git projects, the
//! binaries under their real names, runs and what they printed, and the
//! tools some tests need (installed on first use, see [`tools`]).

pub(crate) mod bins;
pub(crate) mod certs;
pub(crate) mod cut_proxy;
pub(crate) mod server;
pub(crate) mod tools;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub(crate) use bins::{qik_bin, qikx_bin};

/// A temporary git repository holding a qik project.
pub(crate) struct Project {
    _dir: tempfile::TempDir,
    pub(crate) root: PathBuf,
}

impl Project {
    /// An empty git repository.
    pub(crate) fn new() -> Project {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().canonicalize().expect("canonical temp dir");
        git(&root, &["init", "-q"]);
        Project { _dir: dir, root }
    }

    /// A repository with `qik.toml` holding `config`.
    pub(crate) fn with_config(config: &str) -> Project {
        let project = Project::new();
        project.write("qik.toml", config);
        project
    }

    /// A repository with `files`, all added to the index.
    pub(crate) fn with_files(files: &[(&str, &str)]) -> Project {
        let project = Project::new();
        for (path, content) in files {
            project.write(path, content);
        }
        project.git_add();
        project
    }

    /// Another checkout of the same tracked files: no `._qik`, no outputs.
    pub(crate) fn clone_repo(&self) -> Project {
        let listed = self.git(&["ls-files", "-z"]);
        let files: Vec<(&str, String)> = listed
            .split('\0')
            .filter(|path| !path.is_empty())
            .map(|path| (path, self.read(path)))
            .collect();
        let pairs: Vec<(&str, &str)> = files
            .iter()
            .map(|(path, content)| (*path, content.as_str()))
            .collect();
        Project::with_files(&pairs)
    }

    /// A repository holding a copy of `source`.
    pub(crate) fn copy_of(source: &Path) -> Project {
        let project = Project::new();
        copy_dir(source, &project.root);
        project
    }

    pub(crate) fn write(&self, path: &str, content: &str) {
        let path = self.root.join(path);
        std::fs::create_dir_all(path.parent().expect("has parent")).expect("create dirs");
        std::fs::write(path, content).expect("write file");
    }

    /// Creates directories (relative to the root), such as those of modules.
    pub(crate) fn mkdirs(&self, paths: &[&str]) {
        for path in paths {
            std::fs::create_dir_all(self.root.join(path)).expect("create dirs");
        }
    }

    /// Runs `qik` in `cwd` (relative to the root) with a clean environment.
    #[track_caller]
    pub(crate) fn qik(&self, cwd: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
        let run = run_bin(qik_bin(), &self.root.join(cwd), args, env);
        self.check_schema(&run);
        run
    }

    #[track_caller]
    pub(crate) fn qikx(&self, cwd: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
        let run = run_bin(qikx_bin(), &self.root.join(cwd), args, env);
        self.check_schema(&run);
        run
    }

    /// A configuration qik ran with must pass the JSON Schema that editors
    /// check qik.toml with: the root file and every module's qik.toml.
    #[track_caller]
    fn check_schema(&self, run: &Run) {
        if run.code != 0 {
            return;
        }
        let Ok(config) = qik_core::config::load(&self.root) else {
            return;
        };
        let path = config.file.path();
        let text = std::fs::read_to_string(path).expect("read config");
        let mut table: toml::Table = toml::from_str(&text).expect("qik parsed it");
        if path.ends_with("pyproject.toml") {
            table = table["tool"]["qik"].as_table().expect("[tool.qik]").clone();
        }
        let mut files = vec![(path.display().to_string(), table)];
        for module in config.spaces.values().flat_map(|space| &space.modules) {
            let file = qik_core::config::module_config_path(&module.path);
            if let Ok(text) = std::fs::read_to_string(self.root.join(&file)) {
                files.push((file, toml::from_str(&text).expect("qik parsed it")));
            }
        }
        for (file, table) in files {
            let instance = serde_json::to_value(&table).expect("TOML is JSON");
            let errors: Vec<String> = schema()
                .iter_errors(&instance)
                .map(|err| format!("{}: {err}", err.instance_path()))
                .collect();
            assert!(
                errors.is_empty(),
                "qik accepted {file}, the JSON schema does not (update the config types' schema and run `cargo xtask schema`):\n{}\n{errors:#?}",
                toml::to_string(&table).unwrap_or_default()
            );
        }
    }

    /// `qik` at the root, started but not waited for (see [`Spawned::wait`]).
    pub(crate) fn spawn_qik(&self, args: &[&str], env: &[(&str, &str)]) -> Spawned {
        let mut command = self.qik_command(args, env);
        command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        Spawned(command.spawn().expect("binary starts"))
    }

    /// `qik` at the root with a clean environment plus `env`, to run as the
    /// caller likes.
    pub(crate) fn qik_command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        qik_command(qik_bin(), &self.root, args, env)
    }

    /// Runs git in the root; panics unless it succeeds. Returns its stdout.
    pub(crate) fn git(&self, args: &[&str]) -> String {
        let output = git_command(&self.root, args).output().expect("git runs");
        assert!(
            output.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Stages everything but qik's private directory.
    pub(crate) fn git_add(&self) {
        self.git(&["add", "-A", "--", ".", ":(exclude)._qik"]);
    }

    /// Stages everything but qik's private directory and commits it.
    pub(crate) fn commit_all(&self) {
        self.git_add();
        self.git(&["commit", "-q", "--allow-empty", "-m", "test"]);
    }

    pub(crate) fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.root.join(path)).expect("read file")
    }

    /// The content of a file, or "" when it does not exist.
    pub(crate) fn read_or_empty(&self, path: &str) -> String {
        std::fs::read_to_string(self.root.join(path)).unwrap_or_default()
    }

    pub(crate) fn remove(&self, path: &str) {
        std::fs::remove_file(self.root.join(path)).expect("remove file");
    }
}

/// `schema/qik.schema.json`, compiled once.
fn schema() -> &'static jsonschema::Validator {
    static SCHEMA: OnceLock<jsonschema::Validator> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let path = workspace_root().join("schema/qik.schema.json");
        let text = std::fs::read_to_string(path).expect("read the schema");
        let schema = serde_json::from_str(&text).expect("the schema is JSON");
        jsonschema::draft7::new(&schema).expect("a valid schema")
    })
}

/// A `qik` process running in the background.
pub(crate) struct Spawned(std::process::Child);

impl Spawned {
    pub(crate) fn id(&self) -> u32 {
        self.0.id()
    }

    /// Waits, but kills it after `limit`: `None` means it had to be killed
    /// (it hung). Its output must fit the pipes' buffers.
    pub(crate) fn wait_at_most(mut self, limit: Duration) -> Option<Run> {
        let deadline = Instant::now() + limit;
        while self.0.try_wait().expect("wait on qik").is_none() {
            if Instant::now() > deadline {
                let _ = self.0.kill();
                let _ = self.0.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(self.wait())
    }

    pub(crate) fn wait(self) -> Run {
        let started = Instant::now();
        let output = self.0.wait_with_output().expect("binary runs");
        Run::new(output, started)
    }
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            std::fs::create_dir_all(&target).expect("create dir");
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

fn git_command(cwd: &Path, args: &[&str]) -> Command {
    let mut command = Command::new("git");
    command
        .args([
            "-c",
            "user.name=qik tests",
            "-c",
            "user.email=tests@qik.invalid",
        ])
        .args(args)
        .current_dir(cwd)
        .env("GIT_CONFIG_NOSYSTEM", "1");
    command
}

pub(crate) fn git(cwd: &Path, args: &[&str]) {
    let status = git_command(cwd, args).status().expect("git runs");
    assert!(status.success(), "git {args:?} failed");
}

/// What a run of a binary printed.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    /// stdout exactly as printed (`stdout` is its lossy UTF-8 reading).
    pub(crate) stdout_bytes: Vec<u8>,
    /// From start (or from the wait, for a spawned process) to exit.
    pub(crate) elapsed: Duration,
}

impl Run {
    fn new(output: Output, started: Instant) -> Run {
        let Output {
            status,
            stdout,
            stderr,
        } = output;
        Run {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            stdout_bytes: stdout,
            elapsed: started.elapsed(),
        }
    }

    pub(crate) fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// stdout and stderr, for searching both.
    pub(crate) fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
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

    /// Asserts one of qik's own errors (bad arguments 2, qik could not use
    /// a file or process 74, configuration 78: never a runnable's 1) whose
    /// message has all of `parts`. `cli::exit_codes` pins which is which.
    #[track_caller]
    pub(crate) fn assert_error(&self, parts: &[&str]) {
        assert!(
            matches!(self.code, 2 | 74 | 78),
            "expected qik's own error (2, 74 or 78), got {self:#?}"
        );
        for part in parts {
            assert!(
                self.stderr.contains(part),
                "stderr lacks {part:?}:\n{}",
                self.stderr
            );
        }
    }
}

/// Runs `qik` in any directory (not necessarily a project).
pub(crate) fn run_in(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    run_bin(qik_bin(), cwd, args, env)
}

pub(crate) fn run_bin(bin: &Path, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let started = Instant::now();
    let output = qik_command(bin, cwd, args, env)
        .output()
        .expect("binary runs");
    Run::new(output, started)
}

/// A binary with a clean environment: PATH, HOME, `NO_COLOR=1`, and `env`.
/// The AWS credential chain finds nothing unless a test gives it something:
/// no shared config files of the machine's user, and no instance metadata
/// (whose address is not on loopback).
fn qik_command(bin: &Path, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(bin);
    command
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::var_os("HOME").unwrap_or_default())
        .env("NO_COLOR", "1")
        .env("AWS_CONFIG_FILE", "/nonexistent/qik-tests/aws-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/qik-tests/aws-credentials",
        )
        .env("AWS_EC2_METADATA_DISABLED", "true");
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

/// The repository this test suite belongs to.
pub(crate) fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is one level down")
}

/// A file of this crate (`tests/<path>`): fixtures and helper scripts.
pub(crate) fn tests_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
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
