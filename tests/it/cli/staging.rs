//! What a killed qik leaves behind (half-built cache entries, half-restored
//! artifacts, live logs) is removed by a later run, once nothing alive can
//! own it: a running qik's staging is never touched, however old.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use crate::support::{Project, Spawned, walk};

const CONFIG: &str = "[commands.build]\nexec = \"echo built; mkdir -p out; echo x > out/a.txt\"\ndeps = [\"src.txt\"]\nartifacts = [\"out/a.txt\"]\n\n[commands.slow]\nexec = \"echo $$ > slow.pid; echo started; exec sleep 60\"\ndeps = [\"qik.toml\"]\n\n[commands.quick]\nexec = \"echo quick\"\ndeps = [\"src.txt\"]\n";

fn project() -> Project {
    let p = Project::with_config(CONFIG);
    p.write("src.txt", "1\n");
    p.commit_all();
    p
}

/// Sets a path's modification time `by` into the past, as if it had been
/// left there that long ago.
fn age(path: &Path, by: Duration) {
    let file = std::fs::File::open(path).expect("open to set its time");
    file.set_modified(SystemTime::now() - by)
        .expect("set mtime");
}

const AN_HOUR: Duration = Duration::from_secs(3600);

/// A staging directory as a killed store leaves it: a log and a large
/// pack of artifacts, no manifest.
fn plant_dir(path: &Path) {
    std::fs::create_dir_all(path).unwrap();
    std::fs::write(path.join("log"), "built\n").unwrap();
    std::fs::write(path.join("artifacts.pack"), vec![b'x'; 1 << 20]).unwrap();
}

/// The directory holding `build`'s cache entries.
fn runnable_dir(p: &Project) -> PathBuf {
    let mut manifests = Vec::new();
    walk(&p.root.join("._qik/cache"), &mut |path| {
        if path.ends_with("manifest.json") {
            manifests.push(path.to_path_buf());
        }
    });
    let manifest = manifests.pop().expect("an entry");
    manifest.parent().unwrap().parent().unwrap().to_path_buf()
}

fn live_logs(p: &Project) -> Vec<PathBuf> {
    std::fs::read_dir(p.root.join("._qik/out"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|path| path.to_string_lossy().ends_with(".live"))
        .collect()
}

/// Starts `qik slow` and waits until its command runs. Returns qik, the
/// command's pid and its live log.
fn start_slow(p: &Project) -> (Spawned, u32, PathBuf) {
    let _ = std::fs::remove_file(p.root.join("slow.pid"));
    let before = live_logs(p);
    let child = p.spawn_qik(&["slow", "-n", "1"], &[]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pid = p.read_or_empty("slow.pid");
        let new = live_logs(p).into_iter().find(|log| !before.contains(log));
        if let (Some(log), true) = (new, pid.ends_with('\n')) {
            let pid = pid.trim().parse().expect("a pid");
            return (child, pid, log);
        }
        assert!(Instant::now() < deadline, "the command never started");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn kill(signal: &str, pid: u32) {
    let sent = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
}

#[test]
fn a_killed_store_or_restore_is_cleaned_up_by_the_next_run_that_works_there() {
    let p = project();
    p.qik(".", &["build"], &[]).assert_ok();
    let entries = runnable_dir(&p);
    // Left by killed runs an hour ago: an entry half built, one half
    // downloaded, one half deleted, an artifact half restored.
    let stale = [
        entries.join(".tmp-killed"),
        entries.join(".tmp-remote-killed"),
        entries.join(".damaged-killed"),
    ];
    for dir in &stale {
        plant_dir(dir);
        age(dir, AN_HOUR);
    }
    let stale_restore = p.root.join("out/.qik-restore-killed");
    std::fs::write(&stale_restore, "x").unwrap();
    age(&stale_restore, AN_HOUR);
    // Made a moment ago: maybe by a qik that has not claimed it yet.
    let fresh = entries.join(".tmp-just-made");
    plant_dir(&fresh);
    let fresh_restore = p.root.join("out/.qik-restore-just-made");
    std::fs::write(&fresh_restore, "x").unwrap();
    // Not staging, however old.
    let bystander = p.root.join("out/.tmp-users-own");
    std::fs::write(&bystander, "mine").unwrap();
    age(&bystander, AN_HOUR);

    // A replay that restores nothing and stores nothing touches nothing.
    let run = p.qik(".", &["build"], &[]);
    run.assert_cached("build");
    assert!(stale.iter().all(|dir| dir.exists()));

    // A new entry is stored in that directory: what was abandoned there goes.
    p.write("src.txt", "2\n");
    let run = p.qik(".", &["build"], &[]);
    run.assert_ran("build");
    for dir in &stale {
        assert!(!dir.exists(), "{} was left behind", dir.display());
    }
    assert!(
        fresh.join("log").exists(),
        "a fresh staging dir was removed"
    );

    // An artifact is restored into `out/`: the abandoned copy there goes.
    p.write("src.txt", "1\n");
    p.remove("out/a.txt");
    let run = p.qik(".", &["build"], &[]);
    run.assert_cached("build");
    assert_eq!(p.read("out/a.txt"), "x\n");
    assert!(!stale_restore.exists(), "the abandoned restore was left");
    assert!(fresh_restore.exists(), "a fresh restore was removed");
    assert_eq!(p.read("out/.tmp-users-own"), "mine");
}

#[test]
fn a_killed_runs_live_log_goes_once_it_is_old_and_a_live_one_stays() {
    let p = project();
    // qik killed outright while its command runs: its live log stays.
    let (child, command, leftover) = start_slow(&p);
    kill("-KILL", child.id());
    kill("-KILL", command);
    let _ = child.wait();
    assert!(leftover.exists());

    // Just now: it could still be claimed by its creator, so it stays.
    p.qik(".", &["quick"], &[]).assert_ok();
    assert!(leftover.exists());

    // Another qik is running `slow` and has printed nothing for an hour.
    let (running, command, live) = start_slow(&p);
    age(&live, AN_HOUR);
    age(&leftover, AN_HOUR);

    p.write("src.txt", "2\n");
    let run = p.qik(".", &["quick"], &[]);
    run.assert_ran("quick");
    assert!(!leftover.exists(), "the killed run's live log was left");
    assert!(live.exists(), "a running qik's live log was removed");

    // The running qik is unharmed: stopped, it ends as any interrupted run.
    kill("-INT", running.id());
    let stopped = running
        .wait_at_most(Duration::from_secs(30))
        .expect("qik stops");
    assert_eq!(stopped.code, 130, "{stopped:#?}");
    let _ = Command::new("kill")
        .args(["-KILL", &command.to_string()])
        .status();
}

/// Atomic writes into `._qik` that were cut short.
#[test]
fn an_abandoned_atomic_write_in_the_private_dir_goes() {
    let p = project();
    p.qik(".", &["quick"], &[]).assert_ok();
    let stale = p.root.join("._qik/.qik-write-killed");
    std::fs::write(&stale, "half").unwrap();
    age(&stale, AN_HOUR);
    p.write("src.txt", "2\n");
    p.qik(".", &["quick"], &[]).assert_ran("quick");
    assert!(!stale.exists());
}

/// Records of runs that were not kept (`._qik/runs`, for `--explain`) are
/// written atomically too; a killed writer's temp file goes with the next
/// record, and a fresh one stays.
#[test]
fn an_abandoned_record_of_a_run_not_kept_goes() {
    let p = Project::with_config(
        "[commands.flaky]\nexec = \"echo try; exit 1\"\ndeps = [\"src.txt\"]\n",
    );
    p.write("src.txt", "1\n");
    p.commit_all();
    assert_eq!(p.qik(".", &["flaky"], &[]).code, 1);
    let runs = p.root.join("._qik/runs");
    assert!(runs.is_dir(), "a failed run is recorded");
    let stale = runs.join(".qik-write-killed");
    std::fs::write(&stale, "half").unwrap();
    age(&stale, AN_HOUR);
    let fresh = runs.join(".qik-write-just-made");
    std::fs::write(&fresh, "half").unwrap();
    p.write("src.txt", "2\n");
    assert_eq!(p.qik(".", &["flaky"], &[]).code, 1);
    assert!(!stale.exists(), "the abandoned record was left");
    assert!(fresh.exists(), "a fresh write was removed");
}
