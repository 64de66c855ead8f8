//! A replay prints what the command printed, whatever was written since to
//! the latest output file (`._qik/out/<runnable>.out`, which users open in
//! editors and tools) or to the entry's log.

use std::path::PathBuf;
use std::time::Duration;

use crate::support::{Project, Run, walk};

const CONFIG: &str = "[commands.build]\nexec = \"echo original\"\ndeps = [\"src.txt\"]\n";

fn cached() -> Project {
    let p = Project::with_config(CONFIG);
    p.write("src.txt", "1\n");
    p.commit_all();
    let run = p.qik(".", &["build"], &[]);
    run.assert_ran("build");
    assert_eq!(run.stdout, "original\n");
    p
}

/// `._qik/out/build-<hash>.out`.
fn latest_output(p: &Project) -> PathBuf {
    std::fs::read_dir(p.root.join("._qik/out"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            name.starts_with("build-") && name.ends_with(".out")
        })
        .expect("the latest output")
}

fn entry_log(p: &Project) -> PathBuf {
    let mut logs = Vec::new();
    walk(&p.root.join("._qik/cache"), &mut |path| {
        if path.ends_with("log") {
            logs.push(path.to_path_buf());
        }
    });
    assert_eq!(logs.len(), 1, "{logs:?}");
    logs.pop().unwrap()
}

/// The tampered text is never replayed: the command runs again with a
/// warning naming the log, and its output is the original one.
#[track_caller]
fn runs_again_with_the_original_output(p: &Project) {
    let run = p.qik(".", &["build"], &[]);
    assert!(!run.all().contains("tampered"), "{run:#?}");
    run.assert_ran("build");
    assert!(
        run.stderr
            .contains("does not match the digest in its manifest"),
        "{run:#?}"
    );
    assert_eq!(run.stdout, "original\n");
    replays_the_original(p);
}

#[track_caller]
fn replays_the_original(p: &Project) -> Run {
    let run = p.qik(".", &["build"], &[]);
    run.assert_cached("build");
    assert_eq!(run.stdout, "original\n", "{run:#?}");
    assert!(!run.stderr.contains("warning"), "{run:#?}");
    assert_eq!(
        std::fs::read_to_string(latest_output(p)).unwrap(),
        "original\n"
    );
    run
}

#[test]
fn output_file_written_to_after_a_run_is_not_replayed() {
    let p = cached();
    std::fs::write(latest_output(&p), "tampered\n").unwrap();
    runs_again_with_the_original_output(&p);
}

/// The remembered fast path (two `stat`s, no read) sees the write too.
#[test]
fn output_file_written_to_after_a_remembered_replay_is_not_replayed() {
    let p = cached();
    // Stat data of the second the entry was written is not vouched for.
    std::thread::sleep(Duration::from_millis(2100));
    replays_the_original(&p);
    let remembered = std::fs::read_to_string(p.root.join("._qik/replays")).unwrap();
    let entry_dir = entry_log(&p)
        .parent()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        remembered
            .lines()
            .any(|line| line.starts_with(&format!("{entry_dir}\t"))),
        "the entry is remembered: {remembered}"
    );
    replays_the_original(&p);

    std::fs::write(latest_output(&p), "tampered\n").unwrap();
    runs_again_with_the_original_output(&p);
}

/// Replaced (a new file under the entry's log name), the log is caught by
/// its digest as well.
#[test]
fn an_entry_log_replaced_is_not_replayed() {
    let p = cached();
    let log = entry_log(&p);
    let swap = log.with_file_name("swap");
    std::fs::write(&swap, "tampered\n").unwrap();
    std::fs::rename(&swap, &log).unwrap();
    runs_again_with_the_original_output(&p);
}
