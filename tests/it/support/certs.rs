//! A throwaway certificate authority for the TLS servers the tests start.

use std::path::{Path, PathBuf};
use std::process::Command;

/// What [`throwaway_ca`] writes.
pub(crate) struct Certs {
    /// The authority's certificate: what a client must be told to trust.
    pub(crate) ca: PathBuf,
    /// The server's certificate (for 127.0.0.1) and its key.
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
}

/// A CA and a server certificate it signed for 127.0.0.1, made in `dir` with
/// the `openssl` command; valid for two days.
pub(crate) fn throwaway_ca(dir: &Path) -> Certs {
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
    Certs {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    }
}
