//! ByteStream transfers over a connection that breaks half-way (a proxy
//! resets it after so many bytes): a read resumes where it stopped and a
//! write is sent again whole, so one cut costs a moment, never the cache;
//! a connection that keeps breaking costs one warning, never the build.

use std::time::Duration;

use super::support::{
    Bgd, Project, assert_one_warning, assert_quiet, local_entries, local_leftovers, sha256,
};
use crate::support::cut_proxy::{CutProxy, Way};

/// Where a connection is cut: inside the big blob, far from both ends.
const CUT_AT: u64 = 8 * 1024 * 1024;
/// A cut costs a reconnection and a few pauses, not a stuck run.
const BOUND: Duration = Duration::from_secs(60);

/// `make` writes `out/big.txt`: about 19 MB, far over the batch limit (so
/// it travels over ByteStream), the same in every clone, and with no period
/// (a resumed read at a wrong offset could not pass for the right bytes).
fn big_config(endpoint: &str) -> String {
    format!(
        "[plugins]\nreapi = \"qik.reapi\"\n\n\
         [caches.remote]\ntype = \"reapi\"\nendpoint = \"{endpoint}\"\ntimeout = 5\n\n\
         [commands.make]\n\
         exec = \"mkdir -p out && cat src/input.txt > out/big.txt && seq 1 2500000 >> out/big.txt && echo made\"\n\
         deps = [\"src/**\"]\nartifacts = [\"out/big.txt\"]\ncache = \"remote\"\n"
    )
}

fn big_project(endpoint: &str) -> Project {
    Project::with_files(&[
        ("qik.toml", &big_config(endpoint)),
        ("src/input.txt", "one\n"),
    ])
}

/// A clone of `a` whose cache is at `endpoint` (the hash ignores cache
/// settings: same entries).
fn clone_at(a: &Project, endpoint: &str) -> Project {
    let b = a.clone_repo();
    b.write("qik.toml", &big_config(endpoint));
    b.git_add();
    b
}

/// A server holding `make`'s entry, and the artifact's bytes.
fn seeded() -> (Bgd, Project, Vec<u8>) {
    let server = Bgd::start();
    let a = big_project(&server.endpoint());
    let run = a.qik(".", &["make"], &[]);
    run.assert_ok();
    assert_quiet(&run);
    let content = std::fs::read(a.root.join("out/big.txt")).unwrap();
    assert!(content.len() as u64 > 2 * CUT_AT, "{}", content.len());
    (server, a, content)
}

#[track_caller]
fn assert_artifact(p: &Project, content: &[u8]) {
    let restored = std::fs::read(p.root.join("out/big.txt")).unwrap();
    assert!(
        restored == content,
        "the artifact differs ({} bytes)",
        restored.len()
    );
    assert_eq!(local_entries(p).len(), 1);
    assert!(local_leftovers(p).is_empty(), "{:?}", local_leftovers(p));
}

#[test]
fn a_download_cut_half_way_resumes_where_it_stopped() {
    let (server, a, content) = seeded();
    let proxy = CutProxy::start(server.port);
    proxy.cut(Way::Down, CUT_AT, Some(1));
    let b = clone_at(&a, &proxy.endpoint());
    let run = b.qik(".", &["make"], &[]);
    run.assert_ok();
    run.assert_cached("make");
    assert!(run.stdout.contains("made"), "the log replays: {run:#?}");
    assert_quiet(&run);
    assert_eq!(proxy.cuts(), 1, "the connection was cut");
    assert_artifact(&b, &content);
    // Resumed, not started over: starting over costs the CUT_AT bytes
    // before the cut again; resuming costs only what was in flight and lost
    // with the connection (the HTTP/2 window, 2 MiB).
    let down = proxy.bytes(Way::Down);
    assert!(
        down < content.len() as u64 + CUT_AT * 3 / 4,
        "{down} bytes came down for {}",
        content.len()
    );
    assert!(run.elapsed < BOUND, "took {:?}", run.elapsed);
}

#[test]
fn an_upload_cut_half_way_is_sent_again_whole() {
    let server = Bgd::start();
    let proxy = CutProxy::start(server.port);
    proxy.cut(Way::Up, CUT_AT, Some(1));
    let a = big_project(&proxy.endpoint());
    let run = a.qik(".", &["make"], &[]);
    run.assert_ok();
    run.assert_ran("make");
    assert_quiet(&run);
    assert_eq!(proxy.cuts(), 1, "the connection was cut");
    let content = std::fs::read(a.root.join("out/big.txt")).unwrap();
    assert!(
        proxy.bytes(Way::Up) >= content.len() as u64 + CUT_AT,
        "sent again whole: {} bytes went up",
        proxy.bytes(Way::Up)
    );
    assert!(run.elapsed < BOUND, "took {:?}", run.elapsed);
    // The server holds it whole, and a clone replays it from there.
    let stored = std::fs::read(server.blob_path(&sha256(&content))).expect("the blob is stored");
    assert!(stored == content, "the stored blob differs");
    let b = clone_at(&a, &server.endpoint());
    let replay = b.qik(".", &["make"], &[]);
    replay.assert_ok();
    replay.assert_cached("make");
    assert_artifact(&b, &content);
}

#[test]
fn a_download_cut_every_time_costs_one_warning_and_the_command_runs() {
    let (server, a, content) = seeded();
    let proxy = CutProxy::start(server.port);
    // Every connection breaks after 1 MiB down: no number of resumes gets
    // the 19 MB through.
    proxy.cut(Way::Down, 1024 * 1024, None);
    let b = clone_at(&a, &proxy.endpoint());
    let run = b.qik(".", &["make"], &[]);
    run.assert_ok();
    run.assert_ran("make");
    assert_one_warning(&run, "ByteStream.Read");
    assert!(proxy.cuts() > 1, "it tried again before giving up");
    assert!(run.elapsed < BOUND, "took {:?}", run.elapsed);
    // The artifact is the command's own, whole, and the only entry is that
    // run's: nothing of the broken download is left.
    assert_artifact(&b, &content);
}
