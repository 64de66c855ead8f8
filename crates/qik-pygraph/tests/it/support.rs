//! Fixture projects written into temporary directories.

use std::path::{Path, PathBuf};

use qik_pygraph::{Build, BuildError, BuildOptions, Graph, build, python_files};

pub(crate) struct Fixture {
    dir: tempfile::TempDir,
    pub(crate) python_path: String,
    pub(crate) options: BuildOptions,
}

impl Fixture {
    /// A project with these files (paths relative to the root).
    pub(crate) fn new(files: &[(&str, &str)]) -> Fixture {
        let fixture = Fixture {
            dir: tempfile::tempdir().expect("temp dir"),
            python_path: ".".into(),
            options: BuildOptions::default(),
        };
        for (path, text) in files {
            fixture.write(path, text.as_bytes());
        }
        fixture
    }

    pub(crate) fn root(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn cache_dir(&self) -> PathBuf {
        self.root().join("._qik/pygraph")
    }

    pub(crate) fn write(&self, path: &str, bytes: &[u8]) {
        let full = self.root().join(path);
        std::fs::create_dir_all(full.parent().expect("a parent")).expect("mkdir");
        std::fs::write(full, bytes).expect("write");
    }

    pub(crate) fn remove(&self, path: &str) {
        std::fs::remove_file(self.root().join(path)).expect("remove");
    }

    /// The fixture's files as git tracks them, after `git add` of all.
    pub(crate) fn tracked(&self) -> qik_core::hashing::TrackedFiles {
        for args in [&["init", "-q"][..], &["add", "."]] {
            let status = std::process::Command::new("git")
                .args(args)
                .current_dir(self.root())
                .status()
                .expect("git runs");
            assert!(status.success(), "git {args:?}");
        }
        qik_core::hashing::TrackedFiles::read(self.root(), self.root().join("._qik/stat-cache"))
            .expect("the git index reads")
    }

    /// Builds from every `*.py` file under the root, with the cache.
    pub(crate) fn try_build(&self) -> Result<Build, BuildError> {
        let (files, _) = python_files(self.root(), ".");
        let files: Vec<String> = files
            .into_iter()
            .filter(|f| !f.starts_with("._qik"))
            .collect();
        build(
            self.root(),
            &self.python_path,
            &files,
            Some(&self.cache_dir()),
            &self.options,
        )
    }

    pub(crate) fn build(&self) -> Build {
        self.try_build().unwrap_or_else(|e| panic!("{e}"))
    }

    pub(crate) fn graph(&self) -> Graph {
        self.build().graph
    }
}

/// A graph's modules, externals marked with `!` as in the semantics doc.
pub(crate) fn modules(graph: &Graph) -> Vec<String> {
    graph
        .modules()
        .iter()
        .map(|m| {
            if m.internal {
                m.name.clone()
            } else {
                format!("!{}", m.name)
            }
        })
        .collect()
}

/// A graph's edges as `a -> b` (`!` for externals).
pub(crate) fn edges(graph: &Graph) -> Vec<String> {
    let names = modules(graph);
    graph
        .edges()
        .iter()
        .map(|&(a, b)| format!("{} -> {}", names[a as usize], names[b as usize]))
        .collect()
}

/// The edges out of `importer`.
pub(crate) fn edges_of(graph: &Graph, importer: &str) -> Vec<String> {
    let prefix = format!("{importer} -> ");
    edges(graph)
        .into_iter()
        .filter(|e| e.starts_with(&prefix))
        .collect()
}

/// `a -> b` strings.
pub(crate) fn arrows(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}
