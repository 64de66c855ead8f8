//! The plugin end to end: the real `qik-dir` binary on real git repositories.
//! Two clones of one repository share a `dir` cache; the second replays what
//! the first ran.

use std::path::{Path, PathBuf};
use std::process::Command;

const CONFIG: &str = r#"[plugins.dir]
pyimport = "example.dir"
keep = 1

[caches.shared]
type = "dir"
path = "../shared"

[commands.build]
exec = "mkdir -p out && echo \"target=$PYTHON_TARGET $(cat src/app.txt)\" > out/result.txt && echo ran >> ran.log && echo building"
deps = ["src/**", {type = "env", name = "PYTHON_TARGET"}]
artifacts = ["out/result.txt"]
cache = "shared"
"#;

/// A directory holding `origin` (a repository), clones next to it, and the
/// shared cache directory `shared` they all reach as `../shared`.
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new(config: &str) -> Site {
        let dir = tempfile::tempdir().expect("temp dir");
        let origin = dir.path().join("origin");
        std::fs::create_dir_all(origin.join("src")).unwrap();
        std::fs::write(origin.join("qik.toml"), config).unwrap();
        std::fs::write(origin.join("src/app.txt"), "v1\n").unwrap();
        std::fs::write(origin.join(".gitignore"), "._qik/\nout/\nran.log\n").unwrap();
        git(&origin, &["init", "-q"]);
        git(&origin, &["add", "-A"]);
        git(&origin, &["commit", "-q", "-m", "init"]);
        Site { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A fresh clone of the origin, as another machine would have it.
    fn clone(&self, name: &str) -> PathBuf {
        git(self.dir.path(), &["clone", "-q", "origin", name]);
        self.path(name)
    }
}

fn git(cwd: &Path, args: &[&str]) {
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

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    #[track_caller]
    fn assert_ok(&self) {
        assert_eq!(
            self.code, 0,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
    }
}

fn run(bin: &str, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(bin);
    command
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::var_os("HOME").unwrap_or_default())
        .env("NO_COLOR", "1");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("binary runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn qik(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    run(env!("CARGO_BIN_EXE_qik-dir"), cwd, args, env)
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// Entry directories (`<command>/<runnable>/<hash>`) in a `dir` cache.
fn shared_entries(dir: &Path) -> Vec<PathBuf> {
    let mut entries = Vec::new();
    let Ok(commands) = std::fs::read_dir(dir) else {
        return entries;
    };
    for command in commands {
        for runnable in std::fs::read_dir(command.unwrap().path()).unwrap() {
            for entry in std::fs::read_dir(runnable.unwrap().path()).unwrap() {
                let path = entry.unwrap().path();
                if path.join("manifest.json").is_file() {
                    entries.push(path);
                }
            }
        }
    }
    entries
}

#[test]
fn a_second_clone_replays_what_the_first_shared() {
    let site = Site::new(CONFIG);
    let env = [("PYTHON_TARGET", "3.12")];

    let first = site.clone("first");
    let run1 = qik(&first, &["build"], &env);
    run1.assert_ok();
    assert!(run1.stdout.contains("building"), "{}", run1.stdout);
    assert_eq!(read(first.join("ran.log")), "ran\n");
    assert_eq!(
        shared_entries(&site.path("shared")).len(),
        1,
        "uploaded once"
    );

    // Another checkout, nothing local: the result comes from the shared dir.
    let second = site.clone("second");
    let run2 = qik(&second, &["build"], &env);
    run2.assert_ok();
    assert!(run2.stderr.contains("[cached] build"), "{}", run2.stderr);
    assert!(
        run2.stdout.contains("building"),
        "the log is replayed: {}",
        run2.stdout
    );
    assert!(!second.join("ran.log").exists(), "the command did not run");
    assert_eq!(read(second.join("out/result.txt")), "target=3.12 v1\n");
    // Hot storage: the download landed in the second clone's local cache.
    assert!(second.join("._qik/cache").is_dir());
}

#[test]
fn the_env_dep_makes_a_different_value_a_different_result() {
    let site = Site::new(CONFIG);
    let first = site.clone("first");
    qik(&first, &["build"], &[("PYTHON_TARGET", "3.12")]).assert_ok();

    let second = site.clone("second");
    let other = qik(&second, &["build"], &[("PYTHON_TARGET", "3.13")]);
    other.assert_ok();
    assert!(!other.stderr.contains("[cached]"), "{}", other.stderr);
    assert_eq!(read(second.join("out/result.txt")), "target=3.13 v1\n");

    // Unset is a value of its own, and the value itself is never written
    // to the shared cache (only its digest).
    let unset = qik(&second, &["build"], &[]);
    unset.assert_ok();
    assert!(!unset.stderr.contains("[cached]"), "{}", unset.stderr);
    for entry in shared_entries(&site.path("shared")) {
        let manifest = read(entry.join("manifest.json"));
        assert!(manifest.contains("env:PYTHON_TARGET="), "{manifest}");
        assert!(!manifest.contains("3.13"), "{manifest}");
    }
    assert_eq!(shared_entries(&site.path("shared")).len(), 3);

    // Back to 3.12: a replay.
    let again = qik(&second, &["build"], &[("PYTHON_TARGET", "3.12")]);
    assert!(again.stderr.contains("[cached] build"), "{}", again.stderr);
}

#[test]
fn prune_keeps_the_newest_entries_per_runnable() {
    let site = Site::new(CONFIG);
    let clone = site.clone("first");
    qik(&clone, &["build"], &[("PYTHON_TARGET", "a")]).assert_ok();
    // Manifests record whole seconds; let the second entry be newer.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    qik(&clone, &["build"], &[("PYTHON_TARGET", "b")]).assert_ok();
    assert_eq!(shared_entries(&site.path("shared")).len(), 2);

    let listed = qik(&clone, &["--ls"], &[]);
    listed.assert_ok();
    assert!(listed.stdout.contains("dir.prune"), "{}", listed.stdout);

    let pruned = qik(&clone, &["dir.prune"], &[]);
    pruned.assert_ok();
    assert!(
        pruned.stdout.contains("shared: kept 1 entries, removed 1"),
        "{}",
        pruned.stdout
    );
    assert_eq!(shared_entries(&site.path("shared")).len(), 1);

    // The newest (b) survived: another clone replays it.
    let other = site.clone("second");
    let replay = qik(&other, &["build"], &[("PYTHON_TARGET", "b")]);
    assert!(
        replay.stderr.contains("[cached] build"),
        "{}",
        replay.stderr
    );
}

#[test]
fn a_missing_shared_directory_degrades_to_running_uncached_with_one_warning() {
    let config = CONFIG.replace("../shared", "/proc/qik-no-such-dir/cache");
    let site = Site::new(&config);
    let clone = site.clone("first");
    let run = qik(&clone, &["build"], &[]);
    run.assert_ok();
    assert!(run.stdout.contains("building"), "{}", run.stdout);
    assert_eq!(
        run.stderr.matches("running without this cache").count(),
        1,
        "{}",
        run.stderr
    );
}

#[test]
fn bad_plugin_config_points_at_the_line() {
    for (config, expected) in [
        (
            CONFIG.replace("keep = 1", "keep = 0"),
            ["qik.toml:3", "`keep` must be at least 1", "hint:"],
        ),
        (
            CONFIG.replace("path = \"../shared\"", "path = \"../shared\"\nsize = 3"),
            ["qik.toml:8", "size", "hint:"],
        ),
        (
            CONFIG.replace("name = \"PYTHON_TARGET\"", "name = \"A=B\""),
            ["qik.toml:11", "not an environment variable name", "hint:"],
        ),
    ] {
        let site = Site::new(&config);
        let run = qik(&site.path("origin"), &["--ls"], &[]);
        // 78: a configuration error (docs/cli.md).
        assert_eq!(run.code, 78, "{}", run.stderr);
        for part in expected {
            assert!(run.stderr.contains(part), "lacks {part:?}:\n{}", run.stderr);
        }
    }
}

#[test]
fn the_env_type_needs_the_plugin_enabled() {
    let config = CONFIG.replace("[plugins.dir]\npyimport = \"example.dir\"\nkeep = 1\n", "");
    let site = Site::new(&config);
    let run = qik(&site.path("origin"), &["--ls"], &[]);
    assert_eq!(run.code, 78);
    assert!(
        run.stderr.contains("needs the plugin \"example.dir\""),
        "{}",
        run.stderr
    );
}

#[test]
fn a_second_plugin_claiming_the_env_type_stops_the_binary_naming_both() {
    let site = Site::new(CONFIG);
    let run = run(
        env!("CARGO_BIN_EXE_qik-dir-conflict"),
        &site.path("origin"),
        &["--ls"],
        &[],
    );
    // 74: qik cannot work (`general`), not the project's configuration.
    assert_eq!(run.code, 74, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("dep type `env` is registered by both `acme.env` and `example.dir`"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("hint:"), "{}", run.stderr);
}

/// The `sandbox` executor runs a command on a copy of exactly the files its
/// hash covers and brings back its declared artifacts; qik caches the result
/// as if it had run locally.
#[test]
fn the_sandbox_executor_ships_exactly_the_inputs_and_fetches_the_artifacts() {
    let site = Site::new(
        r#"[plugins.dir]
pyimport = "example.dir"

[executors.box]
type = "sandbox"

[commands.build]
exec = "cat src/app.txt > result.txt && test ! -e notes.txt && echo built in a box"
deps = ["src/**"]
artifacts = ["result.txt"]
executor = "box"

[commands.peek]
exec = "cat notes.txt"
deps = ["src/**"]
executor = "box"
"#,
    );
    let clone = site.clone("first");
    std::fs::write(clone.join("notes.txt"), "not an input\n").unwrap();
    git(&clone, &["add", "notes.txt"]);

    let run1 = qik(&clone, &["build"], &[]);
    run1.assert_ok();
    assert!(run1.stdout.contains("built in a box"), "{}", run1.stdout);
    assert_eq!(read(clone.join("result.txt")), "v1\n");

    std::fs::remove_file(clone.join("result.txt")).unwrap();
    let run2 = qik(&clone, &["build"], &[]);
    run2.assert_ok();
    assert!(run2.stderr.contains("[cached] build"), "{}", run2.stderr);
    assert_eq!(
        read(clone.join("result.txt")),
        "v1\n",
        "restored from the cache"
    );

    // A file outside the command's deps is not there to read.
    let peek = qik(&clone, &["peek"], &[]);
    assert_ne!(peek.code, 0, "{}\n{}", peek.stdout, peek.stderr);
    assert!(peek.stdout.contains("notes.txt"), "{}", peek.stdout);
}

#[test]
fn an_unknown_executor_points_at_the_command() {
    let site =
        Site::new("[commands.build]\nexec = \"true\"\ndeps = [\"src/**\"]\nexecutor = \"farm\"\n");
    let clone = site.clone("first");
    let run = qik(&clone, &["build"], &[]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("[exec1]"), "{}", run.stderr);
    assert!(run.stderr.contains("qik.toml:4:"), "{}", run.stderr);
    assert!(run.stderr.contains("[executors.farm]"), "{}", run.stderr);
}
