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

/// 100 MB of text that depends on `src/input.txt`: the same bytes in every
/// clone, far over the batch limit, so it goes up as a ByteStream upload that
/// takes a while.
const BIG: &str = "mkdir -p out && yes \\\"$(cat src/input.txt)\\\" | head -c 100000000 > out/big.txt && echo big";

fn big_config(endpoint: &str) -> String {
    format!(
        "[plugins]\nreapi = \"qik.reapi\"\n\n\
         [caches.remote]\ntype = \"reapi\"\nendpoint = \"{endpoint}\"\ntimeout = 5\n\n\
         [commands.make]\nexec = \"{BIG}\"\ndeps = [\"src/**\"]\n\
         artifacts = [\"out/big.txt\"]\ncache = \"remote\"\n"
    )
}

#[test]
fn a_server_killed_mid_upload_stores_nothing_partial_and_the_next_run_uploads_again() {
    let mut server = Bgd::start();
    let a = Project::with_files(&[
        ("qik.toml", &big_config(&server.endpoint())),
        ("src/input.txt", "one\n"),
    ]);
    let child = a.spawn_qik(&["make"], &[]);
    // Small blobs go up in one batch first, then the big one is streamed,
    // and the result last: kill the server once the batch has landed.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while server.blobs().is_empty() {
        assert!(std::time::Instant::now() < deadline, "nothing was uploaded");
        std::thread::sleep(Duration::from_millis(5));
    }
    server.kill();
    let run = child.wait_at_most(BOUND * 4).expect("qik does not hang");
    // The run is green, with its result kept locally, and says the upload
    // failed once.
    run.assert_ok();
    run.assert_ran("make");
    assert_one_warning(&run, "running without this cache");
    assert_eq!(local_entries(&a).len(), 1);
    assert!(local_leftovers(&a).is_empty(), "{:?}", local_leftovers(&a));
    let content = std::fs::read(a.root.join("out/big.txt")).unwrap();
    assert_eq!(content.len(), 100_000_000);

    // The server comes back over the same CAS. No blob of the entry is kept
    // cut short under its name, and the entry is not there: another clone
    // runs the command, and its run uploads the entry whole.
    server.restart();
    let big = server.blob_path(&sha256(&content));
    if let Ok(meta) = std::fs::metadata(&big) {
        assert_eq!(meta.len(), 100_000_000, "a partial blob under its name");
    }
    let b = a.clone_repo();
    // (The hash ignores cache settings: same entry, new port.)
    b.write("qik.toml", &big_config(&server.endpoint()));
    b.git_add();
    let rerun = b.qik(".", &["make"], &[]);
    rerun.assert_ok();
    rerun.assert_ran("make");
    assert_quiet(&rerun);
    assert!(big.is_file(), "the big blob was uploaded again");

    let mut c = b.clone_repo();
    let mut replay = c.qik(".", &["make"], &[]);
    replay.assert_ok();
    if replay.stderr.contains("does not match its digest") {
        // The server kept a torn copy of the big blob under its name (its
        // disk storage is not crash-safe when the kill lands mid-write), so
        // the upload above skipped it. qik refuses it on read, runs the
        // command, and uploads the blob whole despite FindMissingBlobs.
        replay.assert_ran("make");
        let d = c.clone_repo();
        replay = d.qik(".", &["make"], &[]);
        replay.assert_ok();
        c = d;
    }
    replay.assert_cached("make");
    assert_quiet(&replay);
    assert!(
        std::fs::read(c.root.join("out/big.txt")).unwrap() == content,
        "the artifact comes back whole"
    );
}
