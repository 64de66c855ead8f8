//! The seal of a remote entry: `entry.json`, uploaded after every file it
//! names, so an entry without one (a crashed or half-finished upload) is a
//! miss.
//!
//! The seal binds the entry to its command, runnable and hash and pins the
//! blake3 digest and size of every file. With a signing key it carries an
//! HMAC-SHA256 over all of that, so a writer without the key can neither forge
//! an entry nor move a signed one to another key.

use std::collections::BTreeSet;
use std::path::PathBuf;

use hmac::{Hmac, KeyInit, Mac};
use qik_core::cache::EntryKey;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::keys::{entry_relative, is_digest};

/// The only format this version reads and writes.
pub(crate) const FORMAT: u32 = 1;
/// Files of an entry besides its artifacts.
pub(crate) const MANIFEST: &str = "manifest.json";
pub(crate) const LOG: &str = "log";
pub(crate) const ARTIFACTS: &str = "artifacts";
/// Domain separation: an HMAC made for anything else never verifies here.
const SIGNING_CONTEXT: &[u8] = b"qik.s3 entry seal v1\n";
const SIGNATURE_SCHEME: &str = "hmac-sha256:";

/// One file of an entry, stored as the blob named by its digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SealedFile {
    /// `manifest.json`, `log` or `artifacts/<path in the project>`.
    pub(crate) path: String,
    pub(crate) blake3: String,
    pub(crate) size: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Seal {
    pub(crate) format: u32,
    pub(crate) command: String,
    pub(crate) runnable: String,
    pub(crate) hash: String,
    pub(crate) files: Vec<SealedFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) signature: Option<String>,
}

/// Why a remote entry was not trusted.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refusal {
    #[error("its seal is not valid JSON of format {FORMAT}")]
    Malformed,
    #[error("its seal belongs to another runnable or hash")]
    Foreign,
    #[error("it is not signed, and this cache requires signed entries")]
    Unsigned,
    #[error("its signature does not match (signed with another key, or altered)")]
    BadSignature,
    #[error("it names the file {0:?}, which is not a plain path inside the entry")]
    UnsafePath(String),
    #[error("it names {0:?} twice, or as both a file and a directory")]
    Overlap(String),
    #[error("it lacks a manifest or a log")]
    Incomplete,
    #[error("{0:?} has a malformed digest")]
    BadDigest(String),
}

/// The key material of `signing-key`. Its `Debug` never shows it.
#[derive(Clone)]
pub(crate) struct SigningKey(Vec<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

impl SigningKey {
    pub(crate) fn new(text: &str) -> SigningKey {
        SigningKey(text.as_bytes().to_vec())
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes keys of any length; this cannot fail.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .expect("HMAC accepts keys of any length");
        mac.update(SIGNING_CONTEXT);
        mac
    }
}

/// An entry's files, checked: what a download writes where.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) manifest: SealedFile,
    pub(crate) log: SealedFile,
    /// Artifacts by their path in the project.
    pub(crate) artifacts: Vec<(PathBuf, SealedFile)>,
}

impl Seal {
    /// The bytes the signature covers: the seal without its signature, in
    /// serde_json's encoding of this struct (field order is fixed, so parsing
    /// and re-encoding a seal gives the same bytes).
    fn payload(&self) -> Vec<u8> {
        let unsigned = Seal {
            signature: None,
            ..self.clone()
        };
        serde_json::to_vec(&unsigned).expect("a seal always encodes")
    }

    pub(crate) fn sign(&mut self, key: &SigningKey) {
        let mut mac = key.mac();
        mac.update(&self.payload());
        let tag = mac.finalize().into_bytes();
        self.signature = Some(format!("{SIGNATURE_SCHEME}{}", hex(&tag)));
    }

    /// With a key, the seal must carry a matching signature; without one,
    /// signatures are not checked (nothing to check them with).
    pub(crate) fn verify(&self, key: Option<&SigningKey>) -> Result<(), Refusal> {
        let Some(key) = key else {
            return Ok(());
        };
        let Some(signature) = &self.signature else {
            return Err(Refusal::Unsigned);
        };
        let tag = signature
            .strip_prefix(SIGNATURE_SCHEME)
            .and_then(unhex)
            .ok_or(Refusal::BadSignature)?;
        let mut mac = key.mac();
        mac.update(&self.payload());
        // `verify_slice` compares in constant time.
        mac.verify_slice(&tag).map_err(|_| Refusal::BadSignature)
    }

    pub(crate) fn parse(bytes: &[u8]) -> Result<Seal, Refusal> {
        let seal: Seal = serde_json::from_slice(bytes).map_err(|_| Refusal::Malformed)?;
        if seal.format != FORMAT {
            return Err(Refusal::Malformed);
        }
        Ok(seal)
    }

    /// Checks that the seal is for `key` and that every path is safe, and
    /// sorts its files into a plan.
    pub(crate) fn plan(&self, key: EntryKey<'_>) -> Result<Plan, Refusal> {
        if self.command != key.command || self.runnable != key.runnable || self.hash != key.hash {
            return Err(Refusal::Foreign);
        }
        let mut manifest = None;
        let mut log = None;
        let mut artifacts = Vec::new();
        let mut seen = BTreeSet::new();
        for file in &self.files {
            if !is_digest(&file.blake3) {
                return Err(Refusal::BadDigest(file.path.clone()));
            }
            if !seen.insert(file.path.as_str()) {
                return Err(Refusal::Overlap(file.path.clone()));
            }
            match file.path.as_str() {
                MANIFEST => manifest = Some(file.clone()),
                LOG => log = Some(file.clone()),
                other => {
                    let relative = other
                        .strip_prefix("artifacts/")
                        .and_then(entry_relative)
                        .ok_or_else(|| Refusal::UnsafePath(other.to_string()))?;
                    artifacts.push((relative, file.clone()));
                }
            }
        }
        // `a` and `a/b` cannot both be files; sorted, a directory's name is
        // directly followed by its first child.
        let mut paths: Vec<&PathBuf> = artifacts.iter().map(|(path, _)| path).collect();
        paths.sort();
        for pair in paths.windows(2) {
            if pair[1].starts_with(pair[0]) {
                return Err(Refusal::Overlap(pair[0].display().to_string()));
            }
        }
        match (manifest, log) {
            (Some(manifest), Some(log)) => Ok(Plan {
                manifest,
                log,
                artifacts,
            }),
            _ => Err(Refusal::Incomplete),
        }
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 0xf)] as char);
    }
    out
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str) -> SealedFile {
        SealedFile {
            path: path.into(),
            blake3: "ab".repeat(32),
            size: 3,
        }
    }

    fn seal(files: &[&str]) -> Seal {
        Seal {
            format: FORMAT,
            command: "build".into(),
            runnable: "build#a".into(),
            hash: "h1".into(),
            files: files.iter().map(|p| file(p)).collect(),
            signature: None,
        }
    }

    const KEY: EntryKey<'static> = EntryKey {
        command: "build",
        runnable: "build#a",
        hash: "h1",
    };

    #[test]
    fn signatures_bind_content_and_key() {
        let key = SigningKey::new("a long enough signing key");
        let mut signed = seal(&["manifest.json", "log", "artifacts/out/x"]);
        signed.sign(&key);
        assert!(signed.verify(Some(&key)).is_ok());
        assert!(signed.verify(None).is_ok());

        let text = serde_json::to_vec(&signed).unwrap();
        let reparsed = Seal::parse(&text).unwrap();
        assert!(reparsed.verify(Some(&key)).is_ok());

        let other = SigningKey::new("another signing key!!");
        assert!(matches!(
            signed.verify(Some(&other)),
            Err(Refusal::BadSignature)
        ));
        let mut moved = signed.clone();
        moved.hash = "h2".into();
        assert!(matches!(
            moved.verify(Some(&key)),
            Err(Refusal::BadSignature)
        ));
        let mut altered = signed.clone();
        altered.files[2].size = 4;
        assert!(altered.verify(Some(&key)).is_err());
        let unsigned = seal(&["manifest.json", "log"]);
        assert!(matches!(
            unsigned.verify(Some(&key)),
            Err(Refusal::Unsigned)
        ));
        let mut garbage = signed.clone();
        garbage.signature = Some("hmac-sha256:zz".into());
        assert!(garbage.verify(Some(&key)).is_err());
        assert!(!format!("{key:?}").contains("long enough"));
    }

    #[test]
    fn plans_refuse_unsafe_or_incomplete_entries() {
        let plan = seal(&["manifest.json", "log", "artifacts/out/x", "artifacts/y"])
            .plan(KEY)
            .unwrap();
        assert_eq!(plan.artifacts.len(), 2);

        for bad in [
            "artifacts/../x",
            "artifacts//etc/passwd",
            "artifacts/a\u{7}b",
            "../manifest.json",
            "artifacts",
            "other",
        ] {
            let result = seal(&["manifest.json", "log", bad]).plan(KEY);
            assert!(
                matches!(result, Err(Refusal::UnsafePath(_))),
                "{bad:?}: {result:?}"
            );
        }
        assert!(matches!(
            seal(&["manifest.json", "log", "log"]).plan(KEY),
            Err(Refusal::Overlap(_))
        ));
        assert!(matches!(
            seal(&["manifest.json", "log", "artifacts/a", "artifacts/a/b"]).plan(KEY),
            Err(Refusal::Overlap(_))
        ));
        assert!(matches!(
            seal(&["manifest.json"]).plan(KEY),
            Err(Refusal::Incomplete)
        ));
        let mut foreign = seal(&["manifest.json", "log"]);
        foreign.runnable = "build#b".into();
        assert!(matches!(foreign.plan(KEY), Err(Refusal::Foreign)));
        let mut bad_digest = seal(&["manifest.json", "log"]);
        bad_digest.files[0].blake3 = "../../x".into();
        assert!(matches!(bad_digest.plan(KEY), Err(Refusal::BadDigest(_))));
    }

    #[test]
    fn unknown_fields_and_formats_are_malformed() {
        assert!(Seal::parse(b"{\"format\": 2}").is_err());
        let mut text = serde_json::to_value(seal(&["log"])).unwrap();
        text["extra"] = 1.into();
        assert!(Seal::parse(text.to_string().as_bytes()).is_err());
        let mut future = seal(&["log"]);
        future.format = 2;
        assert!(Seal::parse(&serde_json::to_vec(&future).unwrap()).is_err());
    }

    #[test]
    fn hex_round_trips() {
        assert_eq!(hex(&[0, 15, 255]), "000fff");
        assert_eq!(unhex("000fff").unwrap(), vec![0, 15, 255]);
        assert_eq!(unhex("0"), None);
        assert_eq!(unhex("zz"), None);
    }
}
