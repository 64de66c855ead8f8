//! An action's input root: the files a job's hash covers, as the Merkle
//! tree of Directory messages REAPI expects (entries sorted by name, each
//! directory named by the digest of its encoding).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Read;
use std::path::Path;

use bazel_remote_apis::build::bazel::remote::execution::v2 as re;
use prost::Message;
use sha2::{Digest as _, Sha256};

use crate::action::{Dg, hex, plain_path};
use crate::mode::is_executable;
use crate::transfer::Source;

/// One directory while the tree is built.
#[derive(Default)]
struct Dir {
    files: BTreeMap<String, (Dg, bool)>,
    dirs: BTreeMap<String, Dir>,
}

/// The input root's digest and every blob it needs.
pub(crate) struct InputRoot {
    pub(crate) digest: Dg,
    pub(crate) blobs: BTreeMap<Dg, Source>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum TreeError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the input {0:?} is not a plain path inside the project")]
    Path(String),
    #[error("the input {0:?} is both a file and a directory")]
    Clash(String),
}

/// Builds the input root of `files` (paths relative to `root`). A listed
/// file that does not exist is left out: the hash saw it as absent too.
pub(crate) fn input_root(root: &Path, files: &[String]) -> Result<InputRoot, TreeError> {
    let mut top = Dir::default();
    let mut blobs = BTreeMap::new();
    for relative in files {
        if !plain_path(relative) {
            return Err(TreeError::Path(relative.clone()));
        }
        let path = root.join(relative);
        let read = |source| TreeError::Read {
            path: relative.clone(),
            source,
        };
        let meta = match fs::metadata(&path) {
            Ok(meta) if meta.is_file() => meta,
            Ok(_) => continue,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => return Err(read(err)),
        };
        let digest = sha256_file(&path).map_err(read)?;
        let mut parts: Vec<&str> = relative.split('/').collect();
        let name = parts.pop().unwrap_or_default();
        let mut dir = &mut top;
        for part in parts {
            if dir.files.contains_key(part) {
                return Err(TreeError::Clash(relative.clone()));
            }
            dir = dir.dirs.entry(part.to_string()).or_default();
        }
        if dir.dirs.contains_key(name) {
            return Err(TreeError::Clash(relative.clone()));
        }
        dir.files
            .insert(name.to_string(), (digest.clone(), is_executable(&meta)));
        blobs
            .entry(digest)
            .or_insert(Source::Disk { path, offset: 0 });
    }
    let digest = encode(&top, &mut blobs);
    Ok(InputRoot { digest, blobs })
}

/// Encodes a directory (children first) and returns its digest.
fn encode(dir: &Dir, blobs: &mut BTreeMap<Dg, Source>) -> Dg {
    // BTreeMap order is byte order of the UTF-8 names, as REAPI requires.
    let directories = dir
        .dirs
        .iter()
        .map(|(name, child)| re::DirectoryNode {
            name: name.clone(),
            digest: Some(encode(child, blobs).to_proto()),
        })
        .collect();
    let files = dir
        .files
        .iter()
        .map(|(name, (digest, executable))| re::FileNode {
            name: name.clone(),
            digest: Some(digest.to_proto()),
            is_executable: *executable,
            node_properties: None,
        })
        .collect();
    let message = re::Directory {
        files,
        directories,
        ..Default::default()
    };
    let bytes = message.encode_to_vec();
    let digest = Dg::of(&bytes);
    blobs.insert(digest.clone(), Source::Memory(bytes));
    digest
}

/// sha256 and size of a file, streamed.
pub(crate) fn sha256_file(path: &Path) -> std::io::Result<Dg> {
    let mut file = File::open(path)?;
    let mut sha = Sha256::new();
    let mut buffer = vec![0; 256 * 1024];
    let mut size = 0u64;
    loop {
        let read = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        sha.update(&buffer[..read]);
        size += read as u64;
    }
    Ok(Dg {
        hash: hex(&sha.finalize()),
        size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn directory(blobs: &BTreeMap<Dg, Source>, digest: &Dg) -> re::Directory {
        match &blobs[digest] {
            Source::Memory(bytes) => re::Directory::decode(bytes.as_slice()).unwrap(),
            Source::Disk { .. } => panic!("directories are in memory"),
        }
    }

    #[test]
    fn builds_a_sorted_merkle_tree_of_exactly_the_files() {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in [
            ("b.txt", "b"),
            ("src/z.py", "z"),
            ("src/a.py", "a"),
            ("x", "x"),
        ] {
            let path = dir.path().join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        let files = ["src/z.py", "b.txt", "src/a.py", "gone.txt"].map(String::from);
        let tree = input_root(dir.path(), &files).unwrap();
        let top = directory(&tree.blobs, &tree.digest);
        let names: Vec<&str> = top.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["b.txt"], "x is not an input; gone.txt is absent");
        assert_eq!(top.directories.len(), 1);
        let src = Dg::from_proto(top.directories[0].digest.as_ref().unwrap()).unwrap();
        let src = directory(&tree.blobs, &src);
        let names: Vec<&str> = src.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["a.py", "z.py"]);
        assert!(tree.blobs.contains_key(&Dg::of(b"z")));
        // The same files give the same digest whatever their order.
        let again = input_root(
            dir.path(),
            &["src/a.py", "b.txt", "src/z.py"].map(String::from),
        );
        assert_eq!(again.unwrap().digest, tree.digest);
    }

    #[test]
    fn refuses_paths_outside_the_project() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            input_root(dir.path(), &["../x".to_string()]),
            Err(TreeError::Path(_))
        ));
    }
}
