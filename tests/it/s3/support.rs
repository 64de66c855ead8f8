//! What the s3 tests add to the shared harness: a qik.toml with an s3 cache,
//! the local cache's entries, and assertions on remote-cache warnings.

use std::path::PathBuf;

pub(crate) use super::proxy::{Fault, Proxy};
pub(crate) use super::server::{ACCESS_KEY, BUCKET, S3Server, SECRET_KEY};
use crate::support::walk;
pub(crate) use crate::support::{Project, Run};

/// The local (hot) cache of a project.
pub(crate) trait LocalCache {
    /// Entries in the local cache.
    fn local_entries(&self) -> Vec<PathBuf>;
    /// Anything left over in the local cache besides whole entries.
    fn local_leftovers(&self) -> Vec<PathBuf>;
}

impl LocalCache for Project {
    fn local_entries(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        walk(&self.root.join("._qik/cache"), &mut |path| {
            if path.file_name().is_some_and(|n| n == "manifest.json") {
                found.push(path.parent().expect("entry dir").to_path_buf());
            }
        });
        found
    }

    fn local_leftovers(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        walk(&self.root.join("._qik/cache"), &mut |path| {
            if path
                .components()
                .any(|c| c.as_os_str().to_string_lossy().starts_with(".tmp-"))
            {
                found.push(path.to_path_buf());
            }
        });
        found
    }
}

/// Assertions on what a run said about remote caches.
pub(crate) trait RemoteWarnings {
    /// Warning lines about remote caches.
    fn remote_warnings(&self) -> Vec<&str>;
    /// No warning about the remote cache at all.
    fn assert_quiet(&self);
    /// Exactly one warning about the remote cache, containing `part`.
    fn assert_one_warning(&self, part: &str);
    /// None of the secrets a test uses shows up anywhere.
    fn assert_no_secrets(&self, extra: &[&str]);
}

impl RemoteWarnings for Run {
    fn remote_warnings(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|line| line.starts_with("warning:") && line.contains("remote cache"))
            .collect()
    }

    #[track_caller]
    fn assert_quiet(&self) {
        assert!(
            self.remote_warnings().is_empty(),
            "unexpected warnings: {self:#?}"
        );
    }

    #[track_caller]
    fn assert_one_warning(&self, part: &str) {
        let warnings = self.remote_warnings();
        assert_eq!(warnings.len(), 1, "expected one warning: {self:#?}");
        assert!(
            warnings[0].contains(part),
            "warning lacks {part:?}: {self:#?}"
        );
    }

    #[track_caller]
    fn assert_no_secrets(&self, extra: &[&str]) {
        let all = self.all();
        for secret in [
            SECRET_KEY,
            "X-Amz-Signature",
            "X-Amz-Credential",
            "X-Amz-Security-Token",
        ]
        .iter()
        .chain(extra)
        {
            assert!(!all.contains(secret), "output shows {secret:?}: {all}");
        }
    }
}

/// An endpoint where nothing listens.
pub(crate) fn free_port_endpoint() -> String {
    format!("http://127.0.0.1:{}", crate::support::server::free_port())
}

/// The credentials of the test server, from the standard variables.
pub(crate) const AWS_ENV: &[(&str, &str)] = &[
    ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
    ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
];

/// A qik.toml with one s3 cache named `remote` at `endpoint`, `extra` lines
/// in its table, and the `build` command: it copies `src/input.txt` to the
/// artifact `out/result.txt` and prints it. `top` goes before every table
/// (`ctx = [...]`).
pub(crate) fn config_with(top: &str, endpoint: &str, extra: &str) -> String {
    format!(
        "{top}\n[plugins]\ns3 = \"qik.s3\"\n\n\
         [caches.remote]\ntype = \"s3\"\nbucket = \"{BUCKET}\"\nendpoint-url = \"{endpoint}\"\n\
         timeout = 1\n{extra}\n\n\
         [commands.build]\n\
         exec = \"mkdir -p out && cp src/input.txt out/result.txt && echo built $(cat src/input.txt)\"\n\
         deps = [\"src/**\"]\nartifacts = [\"out/result.txt\"]\ncache = \"remote\"\n"
    )
}

pub(crate) fn config(endpoint: &str, extra: &str) -> String {
    config_with("", endpoint, extra)
}

/// A project with the `build` command of [`config`].
pub(crate) fn build_project(endpoint: &str, extra: &str) -> Project {
    Project::with_files(&[
        ("qik.toml", &config(endpoint, extra)),
        ("src/input.txt", "one\n"),
    ])
}

/// Points a project's `remote` cache somewhere else (the hash ignores cache
/// settings, so entries stay the same).
pub(crate) fn retarget(project: &Project, endpoint: &str, extra: &str) {
    project.write("qik.toml", &config(endpoint, extra));
    project.git_add();
}
