//! How a qik cache entry maps onto REAPI messages.
//!
//! The entry of a runnable at a hash is the ActionResult of an Action that
//! stands for qik's key: its Command names the runnable (arguments) and the
//! command and hash (environment), its input root holds one file with the
//! whole key, and its salt names qik and this format. So no other client's
//! action can collide with qik's, and a change of format is a new key.
//!
//! The ActionResult carries the exit code, the log as the stdout digest, and
//! every artifact as an output file at its path in the project; qik's own
//! manifest rides along as one more output file, so a download rebuilds the
//! local entry byte for byte.

use std::collections::BTreeMap;
use std::fmt;

use bazel_remote_apis::build::bazel::remote::execution::v2 as re;
use prost::Message;
use qik_core::cache::EntryKey;
use sha2::{Digest as _, Sha256};

/// Keeps qik's actions apart from every other client's, and this format
/// from later ones.
pub(crate) const SALT: &[u8] =
    b"qik.reapi cache entry, format 1: key = command, runnable name, blake3 runnable hash";
/// Where the manifest rides in the ActionResult. An artifact at this path
/// cannot be stored (the upload says so).
pub(crate) const MANIFEST_PATH: &str = "._qik/reapi/manifest.json";
/// The input root's one file.
const KEY_FILE: &str = "qik-cache-key";

/// A blob's identity in the CAS: sha256 in lowercase hex and its size.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Dg {
    pub(crate) hash: String,
    pub(crate) size: u64,
}

impl Dg {
    pub(crate) fn of(data: &[u8]) -> Dg {
        Dg {
            hash: hex(&Sha256::digest(data)),
            size: data.len() as u64,
        }
    }

    pub(crate) fn to_proto(&self) -> re::Digest {
        re::Digest {
            hash: self.hash.clone(),
            size_bytes: i64::try_from(self.size).unwrap_or(i64::MAX),
        }
    }

    /// A digest from the server, checked: 64 lowercase hex digits and a size.
    pub(crate) fn from_proto(digest: &re::Digest) -> Option<Dg> {
        let hash_ok = digest.hash.len() == 64
            && digest
                .hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        let size = u64::try_from(digest.size_bytes).ok()?;
        hash_ok.then(|| Dg {
            hash: digest.hash.clone(),
            size,
        })
    }
}

impl fmt::Display for Dg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.hash, self.size)
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    out
}

/// The Action standing for a key, and the blobs that describe it (Action,
/// Command, input root and its key file), uploaded with each entry so the
/// server holds a complete action.
pub(crate) struct KeyAction {
    pub(crate) digest: Dg,
    pub(crate) blobs: Vec<(Dg, Vec<u8>)>,
}

pub(crate) fn key_action(key: EntryKey<'_>) -> KeyAction {
    // Length-prefixed, so no two keys encode alike.
    let mut key_text = String::from("qik cache key 1\n");
    for part in [key.command, key.runnable, key.hash] {
        key_text.push_str(&format!("{}:{part}\n", part.len()));
    }
    let key_blob = key_text.into_bytes();
    let key_digest = Dg::of(&key_blob);
    let root = re::Directory {
        files: vec![re::FileNode {
            name: KEY_FILE.to_string(),
            digest: Some(key_digest.to_proto()),
            is_executable: false,
            node_properties: None,
        }],
        ..Default::default()
    };
    let root_blob = root.encode_to_vec();
    let root_digest = Dg::of(&root_blob);
    // REAPI wants environment variables sorted by name.
    let env = [
        ("QIK__CMD", key.command),
        ("QIK__HASH", key.hash),
        ("QIK__RUNNABLE", key.runnable),
    ];
    let command = re::Command {
        arguments: vec!["qik".to_string(), key.runnable.to_string()],
        environment_variables: env
            .iter()
            .map(|(name, value)| re::command::EnvironmentVariable {
                name: (*name).to_string(),
                value: (*value).to_string(),
            })
            .collect(),
        ..Default::default()
    };
    let command_blob = command.encode_to_vec();
    let command_digest = Dg::of(&command_blob);
    let action = re::Action {
        command_digest: Some(command_digest.to_proto()),
        input_root_digest: Some(root_digest.to_proto()),
        salt: SALT.to_vec(),
        ..Default::default()
    };
    let action_blob = action.encode_to_vec();
    let digest = Dg::of(&action_blob);
    KeyAction {
        digest: digest.clone(),
        blobs: vec![
            (digest, action_blob),
            (command_digest, command_blob),
            (root_digest, root_blob),
            (key_digest, key_blob),
        ],
    }
}

/// One output file of an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OutFile {
    pub(crate) path: String,
    pub(crate) digest: Dg,
    pub(crate) executable: bool,
}

/// What an ActionResult says an entry holds, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EntryPlan {
    pub(crate) code: i32,
    pub(crate) log: Dg,
    pub(crate) manifest: Dg,
    /// Sorted by path.
    pub(crate) artifacts: Vec<OutFile>,
}

impl EntryPlan {
    /// Every blob the entry needs, once each.
    pub(crate) fn digests(&self) -> Vec<Dg> {
        let mut all: Vec<Dg> = [&self.log, &self.manifest]
            .into_iter()
            .chain(self.artifacts.iter().map(|a| &a.digest))
            .cloned()
            .collect();
        all.sort();
        all.dedup();
        all
    }

    pub(crate) fn to_result(&self) -> re::ActionResult {
        let mut output_files = vec![re::OutputFile {
            path: MANIFEST_PATH.to_string(),
            digest: Some(self.manifest.to_proto()),
            ..Default::default()
        }];
        output_files.extend(self.artifacts.iter().map(|a| re::OutputFile {
            path: a.path.clone(),
            digest: Some(a.digest.to_proto()),
            is_executable: a.executable,
            ..Default::default()
        }));
        // REAPI asks for output files sorted by path.
        output_files.sort_by(|a, b| a.path.cmp(&b.path));
        re::ActionResult {
            output_files,
            exit_code: self.code,
            stdout_digest: Some(self.log.to_proto()),
            ..Default::default()
        }
    }

    /// Reads an ActionResult as qik wrote it; anything else is refused.
    pub(crate) fn from_result(result: &re::ActionResult) -> Result<EntryPlan, String> {
        // Older servers still fill the deprecated symlink lists.
        #[allow(deprecated)]
        let links =
            !result.output_file_symlinks.is_empty() || !result.output_directory_symlinks.is_empty();
        if links || !result.output_directories.is_empty() || !result.output_symlinks.is_empty() {
            return Err("it has directories or symlinks, which qik never stores".into());
        }
        let log = result
            .stdout_digest
            .as_ref()
            .and_then(Dg::from_proto)
            .ok_or("it has no log (stdout digest)")?;
        let mut manifest = None;
        let mut artifacts = BTreeMap::new();
        for file in &result.output_files {
            let digest = file
                .digest
                .as_ref()
                .and_then(Dg::from_proto)
                .ok_or_else(|| format!("{:?} has a malformed digest", file.path))?;
            if file.path == MANIFEST_PATH {
                if manifest.replace(digest).is_some() {
                    return Err("it lists the manifest twice".into());
                }
                continue;
            }
            if !plain_path(&file.path) {
                return Err(format!(
                    "it names the file {:?}, which is not a plain path inside the project",
                    file.path
                ));
            }
            let out = OutFile {
                path: file.path.clone(),
                digest,
                executable: file.is_executable,
            };
            if artifacts.insert(file.path.clone(), out).is_some() {
                return Err(format!("it lists {:?} twice", file.path));
            }
        }
        let manifest = manifest.ok_or("it has no qik manifest, so it was not written by qik")?;
        // A file that is also a directory of another cannot be restored.
        for path in artifacts.keys() {
            let mut parents = path.match_indices('/').map(|(at, _)| &path[..at]);
            if let Some(parent) = parents.find(|p| artifacts.contains_key(*p)) {
                return Err(format!("it names {parent:?} as both file and directory"));
            }
        }
        Ok(EntryPlan {
            code: result.exit_code,
            log,
            manifest,
            artifacts: artifacts.into_values().collect(),
        })
    }
}

/// A relative path of plain segments: no leading `/`, no `.`/`..`/empty
/// segments, no control characters or backslashes.
pub(crate) fn plain_path(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= 4096
        && !path.starts_with('/')
        && !path.chars().any(|c| c.is_control() || c == '\\')
        && path
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: EntryKey<'static> = EntryKey {
        command: "build",
        runnable: "build#a",
        hash: "h1",
    };

    #[test]
    fn digests_are_sha256() {
        let empty = Dg::of(b"");
        assert_eq!(
            empty.hash,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(Dg::from_proto(&empty.to_proto()), Some(empty));
        let bad = re::Digest {
            hash: "E3B0".into(),
            size_bytes: 0,
        };
        assert_eq!(Dg::from_proto(&bad), None);
        let negative = re::Digest {
            hash: "0".repeat(64),
            size_bytes: -1,
        };
        assert_eq!(Dg::from_proto(&negative), None);
    }

    #[test]
    fn each_key_has_its_own_stable_action() {
        let a = key_action(KEY);
        assert_eq!(a.digest.hash, key_action(KEY).digest.hash, "stable");
        let other = |command, runnable, hash| {
            key_action(EntryKey {
                command,
                runnable,
                hash,
            })
            .digest
        };
        assert_ne!(a.digest, other("build", "build#a", "h2"));
        assert_ne!(a.digest, other("build", "build#b", "h1"));
        assert_ne!(a.digest, other("buil", "dbuild#a", "h1"));
        // The blobs are what the digests say, and the action names the others.
        for (digest, blob) in &a.blobs {
            assert_eq!(&Dg::of(blob), digest);
        }
        let action = re::Action::decode(a.blobs[0].1.as_slice()).unwrap();
        assert_eq!(action.salt, SALT);
        assert_eq!(action.command_digest, Some(a.blobs[1].0.to_proto()));
        assert_eq!(action.input_root_digest, Some(a.blobs[2].0.to_proto()));
        let command = re::Command::decode(a.blobs[1].1.as_slice()).unwrap();
        assert_eq!(command.arguments, ["qik", "build#a"]);
        let names: Vec<&str> = command
            .environment_variables
            .iter()
            .map(|v| v.name.as_str())
            .collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        assert_eq!(
            String::from_utf8(a.blobs[3].1.clone()).unwrap(),
            "qik cache key 1\n5:build\n7:build#a\n2:h1\n"
        );
    }

    fn plan() -> EntryPlan {
        EntryPlan {
            code: 3,
            log: Dg::of(b"log"),
            manifest: Dg::of(b"{}"),
            artifacts: vec![
                OutFile {
                    path: "bin/tool".into(),
                    digest: Dg::of(b"x"),
                    executable: true,
                },
                OutFile {
                    path: "out/a.txt".into(),
                    digest: Dg::of(b"x"),
                    executable: false,
                },
            ],
        }
    }

    #[test]
    fn results_round_trip() {
        let plan = plan();
        let result = plan.to_result();
        assert_eq!(result.exit_code, 3);
        let paths: Vec<&str> = result
            .output_files
            .iter()
            .map(|f| f.path.as_str())
            .collect();
        assert_eq!(
            paths,
            ["._qik/reapi/manifest.json", "bin/tool", "out/a.txt"]
        );
        assert_eq!(EntryPlan::from_result(&result).unwrap(), plan);
        // One blob per content: the two artifacts share theirs.
        assert_eq!(plan.digests().len(), 3);
    }

    #[test]
    fn foreign_or_hostile_results_are_refused() {
        let good = plan().to_result();
        let mut no_manifest = good.clone();
        no_manifest.output_files.retain(|f| f.path != MANIFEST_PATH);
        let mut no_log = good.clone();
        no_log.stdout_digest = None;
        let mut with_dir = good.clone();
        with_dir
            .output_directories
            .push(re::OutputDirectory::default());
        let mut bad_digest = good.clone();
        bad_digest.output_files[1].digest = Some(re::Digest {
            hash: "zz".into(),
            size_bytes: 1,
        });
        let mut twice = good.clone();
        twice.output_files.push(good.output_files[1].clone());
        let mut nested = good.clone();
        let mut inner = good.output_files[1].clone();
        inner.path = "bin/tool/x/y".into();
        let mut sibling = good.output_files[1].clone();
        sibling.path = "bin/tool-2".into();
        nested.output_files.push(sibling);
        nested.output_files.push(inner);
        for (result, expect) in [
            (no_manifest, "no qik manifest"),
            (no_log, "no log"),
            (with_dir, "directories"),
            (bad_digest, "malformed digest"),
            (twice, "twice"),
            (nested, "both file and directory"),
        ] {
            let err = EntryPlan::from_result(&result).unwrap_err();
            assert!(err.contains(expect), "{expect}: {err}");
        }
        for bad in [
            "../x",
            "/etc/passwd",
            "a/./b",
            "a//b",
            "a\\b",
            "a\u{0}b",
            "",
        ] {
            let mut result = good.clone();
            result.output_files[1].path = bad.into();
            let err = EntryPlan::from_result(&result).unwrap_err();
            assert!(err.contains("not a plain path"), "{bad:?}: {err}");
        }
    }
}
