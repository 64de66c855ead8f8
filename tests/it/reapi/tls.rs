//! `grpcs://` endpoints: the server's certificate is checked against the
//! system's roots plus `ca-file`; without the right authority the cache is
//! off for the run with one warning, and the run stays green.

use super::server::Tls;
use super::support::{Bgd, Project, assert_one_warning, assert_quiet, config, local_entries};
use crate::support::certs::{Certs, throwaway_ca};

/// The server's side of a throwaway CA's certificates.
fn server_tls(certs: &Certs) -> Tls {
    Tls {
        key: certs.key.clone(),
        cert: certs.cert.clone(),
    }
}

#[test]
fn grpcs_with_a_ca_file_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let certs = throwaway_ca(dir.path());
    let tls = server_tls(&certs);
    let server = Bgd::start_tls(&tls);
    let endpoint = format!("grpcs://127.0.0.1:{}", server.port);
    let ca = std::fs::read_to_string(&certs.ca).unwrap();
    let a = Project::with_files(&[
        ("qik.toml", &config(&endpoint, "ca-file = \"certs/ca.pem\"")),
        ("certs/ca.pem", &ca),
        ("src/a.txt", "one\n"),
        ("src/b.txt", "two\n"),
    ]);
    let run = a.qik(".", &["build"], &[]);
    run.assert_ok();
    run.assert_ran("build");
    assert_quiet(&run);
    assert!(!server.blobs().is_empty(), "uploaded over TLS");

    let b = a.clone_repo();
    let replay = b.qik(".", &["build"], &[]);
    replay.assert_cached("build");
    assert_quiet(&replay);
    assert_eq!(b.read("out/a.txt"), "one\n");

    // Without the CA the server is not trusted: one warning, still green.
    let c = a.clone_repo();
    c.write("qik.toml", &config(&endpoint, ""));
    c.git_add();
    let untrusted = c.qik(".", &["build"], &[]);
    untrusted.assert_ok();
    untrusted.assert_ran("build");
    assert_one_warning(&untrusted, "cannot reach grpcs://127.0.0.1:");
    assert!(local_entries(&c).len() == 1, "only its own run");
}
