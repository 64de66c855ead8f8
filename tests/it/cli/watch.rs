//! `qik --watch` on real git repositories: real file edits, and which
//! runnables ran again (counted through lines their commands append to
//! untracked files). Deadlines are generous: these check behaviour, not speed.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::Project;

const DEADLINE: Duration = Duration::from_secs(20);
/// How long to wait before saying "nothing else happened".
const SETTLE: Duration = Duration::from_millis(1500);
const WATCHING: &str = "watching for changes";

/// A `qik --watch` running in the background; killed if a test fails.
struct Watching {
    child: Option<Child>,
    stderr: PathBuf,
    _logs: tempfile::TempDir,
}

impl Watching {
    fn start(p: &Project, args: &[&str], env: &[(&str, &str)]) -> Watching {
        let watching = Watching::spawn(p, args, env);
        watching.wait_watching(1);
        watching
    }

    /// Started, without waiting for the first run to finish.
    fn spawn(p: &Project, args: &[&str], env: &[(&str, &str)]) -> Watching {
        let logs = tempfile::tempdir().expect("temp dir");
        let stderr = logs.path().join("stderr");
        let mut command = Command::new(crate::support::qik_bin());
        command
            .arg("--watch")
            .args(args)
            .current_dir(&p.root)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", std::env::var_os("HOME").unwrap_or_default())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(
                File::create(logs.path().join("stdout")).expect("log"),
            ))
            .stderr(Stdio::from(File::create(&stderr).expect("log")));
        for (key, value) in env {
            command.env(key, value);
        }
        Watching {
            child: Some(command.spawn().expect("qik starts")),
            stderr,
            _logs: logs,
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// How many times qik said it is watching: once after each run.
    fn rounds(&self) -> usize {
        self.stderr().matches(WATCHING).count()
    }

    #[track_caller]
    fn wait_until(&self, what: &str, done: impl Fn() -> bool) {
        let start = Instant::now();
        while !done() {
            assert!(
                start.elapsed() < DEADLINE,
                "timed out waiting for {what}; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    #[track_caller]
    fn wait_watching(&self, rounds: usize) {
        self.wait_until(&format!("watching round {rounds}"), || {
            self.rounds() >= rounds
        });
    }

    /// Ctrl-C; returns the exit code and stderr.
    fn stop(mut self) -> (i32, String) {
        let mut child = self.child.take().expect("running");
        interrupt(&child);
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return (status.code().unwrap_or(-1), self.stderr());
            }
            if start.elapsed() > DEADLINE {
                let _ = child.kill();
                panic!("qik did not stop on SIGINT; stderr:\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn interrupt(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

fn times(p: &Project, file: &str) -> usize {
    p.read_or_empty(file).lines().count()
}

#[track_caller]
fn assert_times(p: &Project, expected: &[(&str, usize)]) {
    let got: Vec<(&str, usize)> = expected.iter().map(|(f, _)| (*f, times(p, f))).collect();
    assert_eq!(got, expected);
}

#[track_caller]
fn assert_stopped(w: Watching) {
    let (code, stderr) = w.stop();
    assert_eq!(code, 130, "Ctrl-C exits 130; stderr:\n{stderr}");
}

const CHAIN: &str = r#"
[commands.a]
exec = "echo x >> ran-a"
deps = ["src/a.txt"]

[commands.b]
exec = "echo x >> ran-b"
deps = ["src/b.txt"]

[commands.strict]
exec = "echo x >> ran-strict"
deps = ["strict.txt", {type = "command", name = "a", strict = true}]

[commands.loose]
exec = "echo x >> ran-loose"
deps = ["loose.txt", {type = "command", name = "a"}]
"#;

fn chain() -> Project {
    let p = Project::with_config(CHAIN);
    for file in ["src/a.txt", "src/b.txt", "strict.txt", "loose.txt"] {
        p.write(file, "v1\n");
    }
    p.commit_all();
    p
}

const ALL: [&str; 4] = ["ran-a", "ran-b", "ran-strict", "ran-loose"];

fn counts(p: &Project) -> Vec<(&'static str, usize)> {
    ALL.iter().map(|f| (*f, times(p, f))).collect()
}

#[test]
fn reruns_what_a_change_affects_with_its_strict_downstream() {
    let p = chain();
    // -f: every selected runnable really runs, so the files count selections.
    let w = Watching::start(&p, &["-f", "-n", "1"], &[]);
    assert_eq!(
        counts(&p),
        [
            ("ran-a", 1),
            ("ran-b", 1),
            ("ran-strict", 1),
            ("ran-loose", 1)
        ]
    );

    p.write("src/a.txt", "v2\n");
    w.wait_watching(2);
    assert_eq!(
        counts(&p),
        [
            ("ran-a", 2),
            ("ran-b", 1),
            ("ran-strict", 2),
            ("ran-loose", 1)
        ]
    );
    assert!(w.stderr().contains("changed: src/a.txt"), "{}", w.stderr());

    p.write("loose.txt", "v2\n");
    w.wait_watching(3);
    // The upstream `a` is up to date: only `loose` runs.
    assert_eq!(
        counts(&p),
        [
            ("ran-a", 2),
            ("ran-b", 1),
            ("ran-strict", 2),
            ("ran-loose", 2)
        ]
    );

    // An untracked file changes nothing.
    p.write("src/untracked.txt", "v1\n");
    p.write("src/b.txt", "v2\n");
    w.wait_watching(4);
    assert_eq!(
        counts(&p),
        [
            ("ran-a", 2),
            ("ran-b", 2),
            ("ran-strict", 2),
            ("ran-loose", 2)
        ]
    );
    assert_stopped(w);
}

#[test]
fn a_save_storm_runs_each_affected_runnable_once() {
    let p = chain();
    let w = Watching::start(&p, &["-f", "-n", "1"], &[]);
    for i in 0..40 {
        p.write("src/a.txt", &format!("v{i}\n"));
        p.write("src/b.txt", &format!("v{i}\n"));
    }
    w.wait_until("a and b to run again", || {
        times(&p, "ran-a") == 2 && times(&p, "ran-b") == 2
    });
    w.wait_watching(2);
    std::thread::sleep(SETTLE);
    assert_eq!(w.rounds(), 2, "{}", w.stderr());
    assert_times(&p, &[("ran-a", 2), ("ran-b", 2), ("ran-strict", 2)]);
    assert_stopped(w);
}

#[test]
fn files_joining_and_leaving_the_index_and_the_tree() {
    let p = Project::with_config(
        "[commands.src]\nexec = \"echo x >> ran-src\"\ndeps = [\"src\"]\n\n\
         [commands.other]\nexec = \"echo x >> ran-other\"\ndeps = [\"other.txt\"]\n",
    );
    p.write("src/one.txt", "v1\n");
    p.write("other.txt", "v1\n");
    p.commit_all();
    let w = Watching::start(&p, &["-f", "-n", "1"], &[]);
    assert_times(&p, &[("ran-src", 1), ("ran-other", 1)]);

    // A new file counts once git knows it.
    p.write("src/new.txt", "v1\n");
    std::thread::sleep(SETTLE);
    assert_eq!(
        w.rounds(),
        1,
        "an untracked file runs nothing:\n{}",
        w.stderr()
    );
    p.git(&["add", "src/new.txt"]);
    w.wait_watching(2);
    assert_times(&p, &[("ran-src", 2), ("ran-other", 1)]);

    // In a directory git did not know before.
    p.write("src/deeper/new.txt", "v1\n");
    p.git(&["add", "-N", "src/deeper/new.txt"]);
    w.wait_watching(3);
    assert_times(&p, &[("ran-src", 3), ("ran-other", 1)]);
    // That directory is watched now.
    p.write("src/deeper/new.txt", "v2\n");
    w.wait_watching(4);
    assert_times(&p, &[("ran-src", 4), ("ran-other", 1)]);

    // A deleted file.
    p.remove("src/one.txt");
    w.wait_watching(5);
    assert_times(&p, &[("ran-src", 5), ("ran-other", 1)]);

    // A directory moved away: its files are gone without events of their own.
    std::fs::rename(p.root.join("src"), p.root.join("moved")).expect("rename");
    w.wait_watching(6);
    assert_times(&p, &[("ran-src", 6), ("ran-other", 1)]);
    // ...and back.
    std::fs::rename(p.root.join("moved"), p.root.join("src")).expect("rename");
    w.wait_watching(7);
    assert_times(&p, &[("ran-src", 7), ("ran-other", 1)]);
    p.write("src/new.txt", "v2\n");
    w.wait_watching(8);
    assert_times(&p, &[("ran-src", 8), ("ran-other", 1)]);
    assert_stopped(w);
}

#[test]
fn editing_the_configuration_reloads_it_and_a_broken_one_is_reported() {
    let p = chain();
    let w = Watching::start(&p, &["-n", "1"], &[]);
    assert_eq!(
        counts(&p),
        [
            ("ran-a", 1),
            ("ran-b", 1),
            ("ran-strict", 1),
            ("ran-loose", 1)
        ]
    );

    // A new exec for b: b runs (not cached: its definition changed).
    p.write(
        "qik.toml",
        &CHAIN.replace("echo x >> ran-b", "echo y >> ran-b"),
    );
    w.wait_watching(2);
    assert_eq!(p.read("ran-b"), "x\ny\n");
    assert_eq!(
        counts(&p),
        [
            ("ran-a", 1),
            ("ran-b", 2),
            ("ran-strict", 1),
            ("ran-loose", 1)
        ]
    );

    // A broken file: reported, and the previous configuration stays.
    p.write("qik.toml", "[commands.a\nexec = ");
    w.wait_until("the error", || w.stderr().contains("still watching"));
    assert!(w.stderr().contains("invalid TOML"), "{}", w.stderr());
    p.write("src/a.txt", "v2\n");
    w.wait_watching(3);
    // `strict` is selected too, and replayed: its own inputs did not change.
    assert_eq!(
        counts(&p),
        [
            ("ran-a", 2),
            ("ran-b", 2),
            ("ran-strict", 1),
            ("ran-loose", 1)
        ]
    );

    // Fixed, with a new command: it runs.
    p.write(
        "qik.toml",
        &format!(
            "{}\n[commands.new]\nexec = \"echo x >> ran-new\"\ndeps = [\"src/a.txt\"]\n",
            CHAIN.replace("echo x >> ran-b", "echo y >> ran-b")
        ),
    );
    w.wait_watching(4);
    assert_times(&p, &[("ran-new", 1), ("ran-a", 2), ("ran-b", 2)]);
    // And it is watched like the others.
    p.write("src/a.txt", "v3\n");
    w.wait_watching(5);
    assert_times(&p, &[("ran-new", 2), ("ran-a", 3), ("ran-b", 2)]);
    assert_stopped(w);
}

#[test]
fn a_distribution_changing_in_site_packages_reruns_its_dependents() {
    let venv = tempfile::tempdir().expect("temp dir");
    let site = venv.path().join("lib/python3.11/site-packages");
    std::fs::create_dir_all(site.join("foo_lib-1.0.dist-info")).expect("dist-info");
    let p = Project::with_config(
        "[commands.lint]\nexec = \"echo x >> ran-lint\"\ndeps = [{type = \"pydist\", name = \"foo-lib\"}]\n\n\
         [commands.other]\nexec = \"echo x >> ran-other\"\ndeps = [\"other.txt\"]\n",
    );
    p.write("other.txt", "v1\n");
    p.commit_all();
    let venv_path = venv.path().to_string_lossy().into_owned();
    let w = Watching::start(&p, &["-n", "1"], &[("VIRTUAL_ENV", &venv_path)]);
    assert_times(&p, &[("ran-lint", 1), ("ran-other", 1)]);

    // An upgrade: the old dist-info goes, a new one comes.
    std::fs::rename(
        site.join("foo_lib-1.0.dist-info"),
        site.join("foo_lib-1.1.dist-info"),
    )
    .expect("rename");
    w.wait_watching(2);
    assert_times(&p, &[("ran-lint", 2), ("ran-other", 1)]);
    assert!(
        w.stderr().contains("distribution foo-lib"),
        "{}",
        w.stderr()
    );

    // Another distribution nobody depends on.
    std::fs::create_dir_all(site.join("bar-2.0.dist-info")).expect("dist-info");
    std::fs::create_dir_all(site.join("foo_lib-1.1.dist-info/sub")).expect("inside");
    std::thread::sleep(SETTLE);
    assert_eq!(w.rounds(), 2, "{}", w.stderr());
    assert_stopped(w);
}

#[test]
fn ctrl_c_while_a_command_runs_exits_130() {
    let p = Project::with_config(
        "[commands.slow]\nexec = \"echo started >> ran-slow; if [ -f go-slow ]; then sleep 30; fi\"\n\
         deps = [\"a.txt\"]\n",
    );
    p.write("a.txt", "v1\n");
    p.commit_all();
    let w = Watching::start(&p, &[], &[]);
    p.write("go-slow", "");
    p.write("a.txt", "v2\n");
    w.wait_until("the command to start again", || times(&p, "ran-slow") == 2);
    let (code, stderr) = w.stop();
    assert_eq!(code, 130, "{stderr}");
}

#[test]
fn an_edit_made_during_the_first_run_is_not_lost() {
    let p = Project::with_config(
        "[commands.slow]\nexec = \"echo x >> ran-slow; sleep 2\"\ndeps = [\"slow.txt\"]\n\n\
         [commands.fast]\nexec = \"echo x >> ran-fast\"\ndeps = [\"fast.txt\"]\n",
    );
    p.write("slow.txt", "v1\n");
    p.write("fast.txt", "v1\n");
    p.commit_all();
    let w = Watching::spawn(&p, &["-n", "2"], &[]);
    w.wait_until("the first run to be under way", || {
        times(&p, "ran-slow") == 1 && times(&p, "ran-fast") == 1
    });
    assert_eq!(w.rounds(), 0, "still in the first run");
    p.write("fast.txt", "v2\n");
    w.wait_watching(2);
    assert_times(&p, &[("ran-slow", 1), ("ran-fast", 2)]);
    assert_stopped(w);
}

#[test]
fn since_narrows_the_first_run_only() {
    let p = chain();
    p.write("src/b.txt", "v2\n");
    let w = Watching::start(&p, &["--since", "HEAD", "-n", "1"], &[]);
    assert_eq!(
        counts(&p),
        [
            ("ran-a", 0),
            ("ran-b", 1),
            ("ran-strict", 0),
            ("ran-loose", 0)
        ]
    );
    // Afterwards, every runnable of the selection is watched. `loose` brings
    // its upstream `a`, which has not run in this session (and `a` what is
    // strict on it).
    p.write("loose.txt", "v2\n");
    w.wait_watching(2);
    assert_eq!(
        counts(&p),
        [
            ("ran-a", 1),
            ("ran-b", 1),
            ("ran-strict", 1),
            ("ran-loose", 1)
        ]
    );
    // Now `a` is up to date: `loose` runs alone.
    p.write("loose.txt", "v3\n");
    w.wait_watching(3);
    assert_eq!(
        counts(&p),
        [
            ("ran-a", 1),
            ("ran-b", 1),
            ("ran-strict", 1),
            ("ran-loose", 2)
        ]
    );
    assert_stopped(w);
}
