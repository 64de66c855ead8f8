//! `grpcs://` endpoints: the server's certificate is checked against the
//! system's roots plus `ca-file`; without the right authority the cache is
//! off for the run with one warning, and the run stays green.

use std::path::Path;
use std::process::Command;

use super::server::Tls;
use super::support::{Bgd, Project, assert_one_warning, assert_quiet, config, local_entries};

/// A throwaway CA and a server certificate it signed for 127.0.0.1, made
/// with the `openssl` command.
fn certificates(dir: &Path) -> Tls {
    let script = r#"set -e
cd "$1"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 \
  -subj "/CN=qik test CA" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr \
  -subj "/CN=127.0.0.1" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > ext.cnf
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
  -out server.pem -days 2 -extfile ext.cnf 2>/dev/null
"#;
    let status = Command::new("sh")
        .args(["-c", script, "sh"])
        .arg(dir)
        .status()
        .expect("sh runs");
    assert!(
        status.success(),
        "openssl could not make the test certificates"
    );
    Tls {
        key: dir.join("server.key"),
        cert: dir.join("server.pem"),
    }
}

#[test]
fn grpcs_with_a_ca_file_round_trips() {
    let certs = tempfile::tempdir().unwrap();
    let tls = certificates(certs.path());
    let server = Bgd::start_tls(&tls);
    let endpoint = format!("grpcs://127.0.0.1:{}", server.port);
    let ca = std::fs::read_to_string(certs.path().join("ca.pem")).unwrap();
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
