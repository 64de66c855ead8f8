//! Faults never break a build: the command runs as if uncached, with one
//! warning per cache per run, in bounded time.

use std::time::Duration;

use super::support::{
    AWS_ENV, BUCKET, Fault, Project, Proxy, S3Server, build_project, free_port_endpoint, retarget,
};
use super::support::{LocalCache as _, RemoteWarnings as _};

/// Far above one `timeout = 1` (plus the retry), far below "hung".
const BOUND: Duration = Duration::from_secs(12);

/// A server holding the entry of `build`, and a clone that has not run it.
fn seeded() -> (S3Server, Project) {
    let server = S3Server::start();
    let a = build_project(&server.endpoint(), "");
    let run = a.qik(".", &["build"], AWS_ENV);
    run.assert_ok();
    run.assert_quiet();
    assert_eq!(server.seals().len(), 1);
    let b = a.clone_repo();
    (server, b)
}

/// The clone ran the command itself, warned once, and did not take long.
#[track_caller]
fn assert_degraded(run: &super::support::Run, b: &Project, warning: &str) {
    run.assert_ok();
    run.assert_ran("build");
    run.assert_one_warning(warning);
    run.assert_no_secrets(&[]);
    assert!(run.stdout.contains("built one"), "{run:#?}");
    assert_eq!(b.read("out/result.txt"), "one\n");
    assert!(run.elapsed < BOUND, "took {:?}", run.elapsed);
    assert!(b.local_leftovers().is_empty(), "{:?}", b.local_leftovers());
}

/// A clone reading through a proxy that breaks GETs with `fault`.
fn read_through(fault: Fault) -> (S3Server, Proxy, Project) {
    let (server, b) = seeded();
    let proxy = Proxy::start(server.port);
    proxy.set_rule(fault, Some("GET"), None);
    retarget(&b, &proxy.endpoint(), "");
    (server, proxy, b)
}

#[test]
fn an_unreachable_server_warns_once_for_the_whole_run() {
    let endpoint = free_port_endpoint();
    let mut config = super::support::config(&endpoint, "");
    for name in ["lint", "test", "docs"] {
        config.push_str(&format!(
            "\n[commands.{name}]\nexec = \"echo {name} ran\"\ndeps = [\"src/**\"]\ncache = \"remote\"\n"
        ));
    }
    let p = Project::with_files(&[("qik.toml", &config), ("src/input.txt", "one\n")]);
    let run = p.qik(".", &["-n", "1"], AWS_ENV);
    run.assert_ok();
    for name in ["build", "lint", "test", "docs"] {
        run.assert_ran(name);
    }
    run.assert_one_warning("cannot connect");
    assert!(
        run.remote_warnings()[0].contains("running without this cache"),
        "{run:#?}"
    );
    assert!(run.elapsed < BOUND, "took {:?}", run.elapsed);
    // The results are still cached locally.
    let again = p.qik(".", &["build"], AWS_ENV);
    again.assert_cached("build");
}

#[test]
fn a_hanging_server_costs_one_timeout() {
    let (_server, _proxy, b) = read_through(Fault::Hang);
    let run = b.qik(".", &["build"], AWS_ENV);
    assert_degraded(&run, &b, "did not answer in time");
}

#[test]
fn a_slow_server_is_abandoned() {
    let (_server, _proxy, b) = read_through(Fault::Slow);
    let run = b.qik(".", &["build"], AWS_ENV);
    assert_degraded(&run, &b, "too slow");
}

#[test]
fn server_errors_are_retried_once_then_skipped() {
    let (_server, proxy, b) = read_through(Fault::Status(500));
    let run = b.qik(".", &["build"], AWS_ENV);
    assert_degraded(&run, &b, "HTTP 500 InternalError");
    let gets = proxy
        .requests()
        .iter()
        .filter(|r| r.starts_with("GET ") && r.contains("entry.json"))
        .count();
    assert_eq!(gets, 2, "one retry: {:?}", proxy.requests());
}

#[test]
fn a_transient_503_is_retried_and_hits() {
    let (_server, proxy, b) = read_through(Fault::Pass);
    proxy.set_rule(Fault::Status(503), Some("GET"), Some(1));
    let run = b.qik(".", &["build"], AWS_ENV);
    run.assert_ok();
    run.assert_cached("build");
    run.assert_quiet();
    assert_eq!(b.read("out/result.txt"), "one\n");
}

#[test]
fn a_reset_connection_is_a_fault() {
    let (_server, _proxy, b) = read_through(Fault::Reset);
    let run = b.qik(".", &["build"], AWS_ENV);
    assert_degraded(&run, &b, "broke");
}

#[test]
fn a_truncated_body_is_never_restored() {
    let (_server, _proxy, b) = read_through(Fault::Truncate);
    let run = b.qik(".", &["build"], AWS_ENV);
    assert_degraded(&run, &b, "remote cache");
    assert!(b.local_entries().len() == 1, "only its own entry");
}

#[test]
fn a_corrupted_body_is_never_restored() {
    let (_server, _proxy, b) = read_through(Fault::Corrupt);
    let run = b.qik(".", &["build"], AWS_ENV);
    assert_degraded(&run, &b, "remote cache");
    // Its own run's entry, with the right bytes.
    let entries = b.local_entries();
    assert_eq!(entries.len(), 1);
    assert_eq!(
        std::fs::read_to_string(entries[0].join("artifacts.pack")).unwrap(),
        "one\n"
    );
}

#[test]
fn a_failed_upload_warns_and_keeps_the_local_result() {
    for fault in [Fault::Status(500), Fault::Hang, Fault::Reset] {
        let server = S3Server::start();
        let proxy = Proxy::start(server.port);
        proxy.set_rule(fault, Some("PUT"), None);
        let a = build_project(&proxy.endpoint(), "");
        let run = a.qik(".", &["build"], AWS_ENV);
        run.assert_ok();
        run.assert_ran("build");
        run.assert_one_warning("PUT");
        assert!(run.elapsed < BOUND, "{fault:?} took {:?}", run.elapsed);
        assert!(
            server.seals().is_empty(),
            "{fault:?}: no seal without its blobs"
        );
        proxy.set(Fault::Pass);
        let again = a.qik(".", &["build"], AWS_ENV);
        again.assert_cached("build");
        again.assert_quiet();
    }
}

#[test]
fn wrong_credentials_are_a_clear_warning_without_secrets() {
    let (server, b) = seeded();
    let token = "IQoJb3JpZ2luX2VjEXAMPLETOKEN";
    let wrong = "wrong-secret-0123456789abcdef";
    let env = [
        ("AWS_ACCESS_KEY_ID", super::support::ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", wrong),
        ("AWS_SESSION_TOKEN", token),
    ];
    for verbosity in ["1", "2"] {
        let run = b.qik(".", &["build", "-f", "-v", verbosity], &env);
        run.assert_ok();
        run.assert_ran("build");
        run.assert_one_warning("credentials were refused");
        run.assert_no_secrets(&[token, wrong]);
        assert!(run.elapsed < BOUND, "took {:?}", run.elapsed);
    }
    std::fs::remove_dir_all(b.root.join("._qik")).unwrap();
    let run = b.qik(".", &["build"], &env[..2]);
    run.assert_ok();
    run.assert_ran("build");
    run.assert_one_warning("credentials were refused");
    // A missing bucket is a fault too, not a silent miss.
    retarget(&b, &server.endpoint(), "");
    let missing = b.read("qik.toml").replace(
        &format!("bucket = \"{BUCKET}\""),
        "bucket = \"no-such-bucket\"",
    );
    b.write("qik.toml", &missing);
    std::fs::remove_dir_all(b.root.join("._qik")).unwrap();
    let run = b.qik(".", &["build"], AWS_ENV);
    run.assert_ran("build");
    run.assert_one_warning("bucket does not exist");
}
