//! Faults never break a build and never replay a wrong result: the command
//! runs as if uncached, with at most one warning per cache per run, in
//! bounded time.

use std::net::{Ipv4Addr, TcpListener};
use std::time::Duration;

use super::support::{
    Bgd, Project, Run, assert_one_warning, assert_quiet, config, dead_endpoint, local_entries,
    local_leftovers, project, sha256,
};

/// Far above one `timeout = 2`, far below "hung".
const BOUND: Duration = Duration::from_secs(15);

/// A server holding the entries of both commands, and a clone that has not
/// run them.
fn seeded() -> (Bgd, Project) {
    let server = Bgd::start();
    let a = project(&server.endpoint(), "");
    let run = a.qik(".", &["-n", "1"], &[]);
    run.assert_ok();
    assert_quiet(&run);
    (server, a.clone_repo())
}

/// The clone ran `build` itself and has its true output and artifact.
#[track_caller]
fn assert_ran_for_real(run: &Run, b: &Project) {
    run.assert_ok();
    run.assert_ran("build");
    assert!(run.stdout.contains("build one"), "{run:#?}");
    assert_eq!(b.read("out/a.txt"), "one\n");
    assert!(run.elapsed < BOUND, "took {:?}", run.elapsed);
    assert!(local_leftovers(b).is_empty(), "{:?}", local_leftovers(b));
}

#[test]
fn a_server_down_at_start_warns_once_and_the_run_is_green() {
    let mut text = config(&dead_endpoint(), "");
    for name in ["lint", "test"] {
        text.push_str(&format!(
            "\n[commands.{name}]\nexec = \"echo {name} ran\"\ndeps = [\"src/a.txt\"]\ncache = \"remote\"\n"
        ));
    }
    let p = Project::with_files(&[
        ("qik.toml", &text),
        ("src/a.txt", "one\n"),
        ("src/b.txt", "two\n"),
    ]);
    // Two workers ask at once; still one warning.
    let run = p.qik(".", &["-n", "2"], &[]);
    run.assert_ok();
    for name in ["build", "other", "lint", "test"] {
        assert!(
            run.stderr
                .lines()
                .any(|l| l.starts_with(&format!("ok {name} "))),
            "{name} did not run: {run:#?}"
        );
    }
    assert_one_warning(&run, "cannot reach grpc://127.0.0.1:");
    assert!(
        super::support::remote_warnings(&run)[0].contains("running without this cache"),
        "{run:#?}"
    );
    assert!(run.elapsed < BOUND, "took {:?}", run.elapsed);
    // The results are still cached locally.
    let again = p.qik(".", &["build"], &[]);
    again.assert_cached("build");
}

#[test]
fn a_server_that_never_answers_costs_one_timeout() {
    // Accepts connections (the kernel's backlog) and says nothing.
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let endpoint = format!("grpc://{}", listener.local_addr().unwrap());
    let p = project(&endpoint, "");
    let run = p.qik(".", &["-n", "1"], &[]);
    run.assert_ok();
    run.assert_ran("build");
    run.assert_ran("other");
    assert_one_warning(&run, "running without this cache");
    assert!(run.elapsed < BOUND, "took {:?}", run.elapsed);
    drop(listener);
}

#[test]
fn a_deleted_blob_is_a_miss_never_a_partial_restore() {
    let (server, b) = seeded();
    let blob = server.blob_path(&sha256(b"one\n"));
    std::fs::remove_file(&blob).expect("the artifact's blob is in the CAS");
    let run = b.qik(".", &["-n", "1"], &[]);
    assert_ran_for_real(&run, &b);
    // The other entry is whole and still replays.
    run.assert_cached("other");
    assert_eq!(b.read("out/b.txt"), "two\n");
    // The run stored its result again, so the next clone replays it.
    assert!(blob.is_file(), "re-uploaded");
    let c = b.clone_repo();
    let replay = c.qik(".", &["build"], &[]);
    replay.assert_cached("build");
    assert_eq!(c.read("out/a.txt"), "one\n");
}

#[test]
fn a_tampered_blob_is_a_miss_never_a_wrong_replay() {
    let (server, b) = seeded();
    // Same size, other bytes: only the digest tells.
    let blob = server.blob_path(&sha256(b"one\n"));
    std::fs::write(&blob, "eno\n").expect("the artifact's blob is in the CAS");
    let run = b.qik(".", &["build"], &[]);
    assert_ran_for_real(&run, &b);
    assert_one_warning(&run, "does not match its digest");
    assert_eq!(local_entries(&b).len(), 1, "only the entry of the real run");

    // The log's blob too.
    let (server, b) = seeded();
    let log = server.blob_path(&sha256(b"build one\n"));
    std::fs::write(&log, "build two\n").expect("the log's blob is in the CAS");
    let run = b.qik(".", &["build"], &[]);
    assert_ran_for_real(&run, &b);
    assert!(!run.stdout.contains("build two"), "{run:#?}");
    assert_one_warning(&run, "does not match its digest");
}
