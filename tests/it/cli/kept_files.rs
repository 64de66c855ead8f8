//! qik reads its own files (`._qik`, `.qik`) only when they are regular
//! files of a sane size. Whatever else stands in their place (a FIFO, a
//! device, a symlink to `/dev/zero`) is a miss, never a hang or an abort.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::{Project, Run, walk};

const CONFIG: &str = "[commands.build]\nexec = \"echo built; mkdir -p out; echo x > out/a.txt\"\ndeps = [\"src.txt\"]\nartifacts = [\"out/a.txt\"]\n";

/// A project whose `build` ran once and is cached.
fn cached() -> Project {
    let p = Project::with_config(CONFIG);
    p.write("src.txt", "1\n");
    p.commit_all();
    p.qik(".", &["-n", "2"], &[]).assert_ok();
    p
}

/// The file of the cached entry whose path ends with `suffix`.
fn entry_file(p: &Project, suffix: &str) -> PathBuf {
    let mut found = Vec::new();
    walk(&p.root.join("._qik/cache"), &mut |path| {
        if path.to_string_lossy().ends_with(suffix) {
            found.push(path.to_path_buf());
        }
    });
    assert_eq!(found.len(), 1, "{found:?}");
    found.pop().unwrap()
}

fn make_fifo(path: &Path) {
    std::fs::remove_file(path).unwrap();
    let made = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
}

fn link_to_dev_zero(path: &Path) {
    std::fs::remove_file(path).unwrap();
    std::os::unix::fs::symlink("/dev/zero", path).unwrap();
}

/// qik, which must end by itself well within the limit.
#[track_caller]
fn qik_in_time(p: &Project) -> Run {
    p.spawn_qik(&["-n", "2"], &[])
        .wait_at_most(Duration::from_secs(30))
        .expect("qik hung on a file that is not a regular one")
}

/// The entry cannot be trusted: the command runs again, with one warning
/// that says why, and the next run replays the fresh entry.
#[track_caller]
fn reruns_with_a_warning(p: &Project, why: &str) {
    let run = qik_in_time(p);
    run.assert_ok();
    assert!(run.stderr.contains("[run] build"), "it ran again: {run:#?}");
    assert!(run.stderr.contains(why), "{run:#?}");
    assert_eq!(p.read("out/a.txt"), "x\n");
    let again = qik_in_time(p);
    assert!(again.stderr.contains("[cached] build"), "{again:#?}");
}

#[test]
fn a_fifo_in_place_of_a_manifest_is_a_miss() {
    let p = cached();
    make_fifo(&entry_file(&p, "manifest.json"));
    reruns_with_a_warning(&p, "not a regular file");
}

#[test]
fn dev_zero_in_place_of_a_manifest_is_a_miss() {
    let p = cached();
    link_to_dev_zero(&entry_file(&p, "manifest.json"));
    reruns_with_a_warning(&p, "not a regular file");
}

#[test]
fn a_fifo_or_dev_zero_in_place_of_the_artifacts_pack_is_a_miss() {
    let p = cached();
    p.remove("out/a.txt");
    make_fifo(&entry_file(&p, "artifacts.pack"));
    reruns_with_a_warning(&p, "not a regular file");

    p.remove("out/a.txt");
    link_to_dev_zero(&entry_file(&p, "artifacts.pack"));
    reruns_with_a_warning(&p, "not a regular file");
}

#[test]
fn a_fifo_or_dev_zero_in_place_of_a_log_is_a_miss() {
    let p = cached();
    make_fifo(&entry_file(&p, "/log"));
    reruns_with_a_warning(&p, "no log");

    link_to_dev_zero(&entry_file(&p, "/log"));
    reruns_with_a_warning(&p, "no log");
}

/// The stat cache and remembered replays only save time: in place of them,
/// anything else costs a re-hash, and the answer is the same. qik says so
/// once, naming the file and why, and writes a good one.
#[test]
fn a_fifo_or_dev_zero_in_place_of_a_speed_up_changes_nothing() {
    let p = cached();
    for file in ["._qik/stat-cache", "._qik/replays"] {
        let path = p.root.join(file);
        if path.exists() {
            make_fifo(&path);
        } else {
            Command::new("mkfifo").arg(&path).status().unwrap();
        }
        falls_back_once(&p, file, "not a regular file");
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
        falls_back_once(&p, file, "not a regular file");
    }
}

/// Garbage, or a file of another version, in place of a speed-up.
#[test]
fn a_damaged_speed_up_is_a_warning_once() {
    let p = cached();
    for (file, why) in [
        ("._qik/stat-cache", "does not start with its header"),
        ("._qik/replays", "damaged or of another version"),
    ] {
        std::fs::write(p.root.join(file), "\u{0}garbage\n").unwrap();
        falls_back_once(&p, file, why);
    }
    std::fs::write(
        p.root.join("._qik/stat-cache"),
        "qik-stat-cache 1 5\nnot\ta line\n",
    )
    .unwrap();
    falls_back_once(&p, "._qik/stat-cache", "line 2 is damaged");
}

/// Listing with what a run would do (`--ls --json`, `--ls --explain`) and
/// `--cache-status` hash too, through the same stat cache: a damaged one is
/// the same single warning there, on stderr, and the answer is the same.
#[test]
fn listing_and_cache_status_warn_of_a_damaged_stat_cache_as_a_run_does() {
    let p = cached();
    let path = p.root.join("._qik/stat-cache");
    let said = |run: &Run| {
        run.stderr
            .lines()
            .filter(|line| line.contains(&format!("not using {}", path.display())))
            .count()
    };
    for args in [
        &["--ls", "--json"][..],
        &["--ls", "--explain"],
        &["--ls", "--cache-status", "warm"],
    ] {
        std::fs::write(&path, "\u{0}garbage\n").unwrap();
        let run = p.qik(".", args, &[]);
        run.assert_ok();
        assert_eq!(said(&run), 1, "{args:?}: {run:#?}");
        assert!(
            run.stderr.contains("does not start with its header"),
            "{args:?}: {run:#?}"
        );
        assert!(run.stdout.contains("build"), "{args:?}: {run:#?}");
        if args[1] == "--json" {
            assert!(run.stdout.contains("\"warm\""), "{run:#?}");
        }
        // A good one was written: the next listing says nothing.
        let again = p.qik(".", args, &[]);
        again.assert_ok();
        assert_eq!(said(&again), 0, "{args:?}: {again:#?}");
    }
}

/// A directory cannot be replaced by the good file: every run says why,
/// and every run is still right.
#[test]
fn a_directory_in_place_of_a_speed_up_is_named_every_time() {
    let p = cached();
    for file in ["._qik/stat-cache", "._qik/replays"] {
        let path = p.root.join(file);
        let _ = std::fs::remove_file(&path);
        std::fs::create_dir(&path).unwrap();
        for _ in 0..2 {
            let run = qik_in_time(&p);
            assert!(run.stderr.contains("[cached] build"), "{file}: {run:#?}");
            assert!(
                run.stderr
                    .contains(&format!("not using {}", path.display())),
                "{file}: {run:#?}"
            );
        }
        std::fs::remove_dir(&path).unwrap();
    }
}

/// The run is right, with one warning naming `file` and `why`; the next
/// run finds a good file and says nothing.
#[track_caller]
fn falls_back_once(p: &Project, file: &str, why: &str) {
    let path = p.root.join(file);
    let run = qik_in_time(p);
    assert!(run.stderr.contains("[cached] build"), "{file}: {run:#?}");
    let warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|line| line.contains(&format!("not using {}", path.display())))
        .collect();
    assert_eq!(warnings.len(), 1, "{file}: {run:#?}");
    assert!(warnings[0].contains(why), "{file}: {run:#?}");
    let again = qik_in_time(p);
    assert!(again.stderr.contains("[cached] build"), "{again:#?}");
    assert!(!again.stderr.contains("not using"), "{file}: {again:#?}");
    assert!(std::fs::symlink_metadata(&path).unwrap().is_file());
}
