//! What the reapi tests add to the shared harness: a qik.toml with a reapi
//! cache, the local cache's entries, and assertions on remote-cache
//! warnings.

use std::path::PathBuf;

pub(crate) use super::server::Bgd;
pub(crate) use crate::support::server::free_port;
use crate::support::walk;
pub(crate) use crate::support::{Project, Run};

/// The token the secrets tests send; nothing may ever print it.
pub(crate) const TOKEN: &str = "qik-test-token-5e1f0c9a7b";

/// sha256 of some bytes, as the CAS names blobs.
pub(crate) fn sha256(data: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Entries in the local (hot) cache of a project.
pub(crate) fn local_entries(project: &Project) -> Vec<PathBuf> {
    let mut found = Vec::new();
    walk(&project.root.join("._qik/cache"), &mut |path| {
        if path.file_name().is_some_and(|n| n == "manifest.json") {
            found.push(path.parent().expect("entry dir").to_path_buf());
        }
    });
    found
}

/// Anything in the local cache that is not part of a whole entry.
pub(crate) fn local_leftovers(project: &Project) -> Vec<PathBuf> {
    let mut found = Vec::new();
    walk(&project.root.join("._qik/cache"), &mut |path| {
        if path
            .components()
            .any(|c| c.as_os_str().to_string_lossy().starts_with(".tmp-"))
        {
            found.push(path.to_path_buf());
        }
    });
    found
}

/// Warning lines about remote caches.
pub(crate) fn remote_warnings(run: &Run) -> Vec<&str> {
    run.stderr
        .lines()
        .filter(|line| line.starts_with("warning:") && line.contains("remote cache"))
        .collect()
}

#[track_caller]
pub(crate) fn assert_quiet(run: &Run) {
    assert!(
        remote_warnings(run).is_empty(),
        "unexpected warnings: {run:#?}"
    );
}

/// Exactly one warning about the remote cache, containing `part`.
#[track_caller]
pub(crate) fn assert_one_warning(run: &Run, part: &str) {
    let warnings = remote_warnings(run);
    assert_eq!(warnings.len(), 1, "expected one warning: {run:#?}");
    assert!(
        warnings[0].contains(part),
        "warning lacks {part:?}: {run:#?}"
    );
}

/// A qik.toml with one reapi cache named `remote` at `endpoint`, `extra`
/// lines in its table, and two commands: `build` copies `src/a.txt` to the
/// artifact `out/a.txt` and prints it; `other` does the same for `b`. `top`
/// goes before every table (`ctx = [...]`).
pub(crate) fn config_with(top: &str, endpoint: &str, extra: &str) -> String {
    let mut text = format!(
        "{top}\n[plugins]\nreapi = \"qik.reapi\"\n\n\
         [caches.remote]\ntype = \"reapi\"\nendpoint = \"{endpoint}\"\ntimeout = 2\n{extra}\n"
    );
    for (name, file) in [("build", "a"), ("other", "b")] {
        text.push_str(&format!(
            "\n[commands.{name}]\n\
             exec = \"mkdir -p out && cp src/{file}.txt out/{file}.txt && echo {name} $(cat src/{file}.txt)\"\n\
             deps = [\"src/{file}.txt\"]\nartifacts = [\"out/{file}.txt\"]\ncache = \"remote\"\n"
        ));
    }
    text
}

pub(crate) fn config(endpoint: &str, extra: &str) -> String {
    config_with("", endpoint, extra)
}

/// A project with the commands of [`config`].
pub(crate) fn project(endpoint: &str, extra: &str) -> Project {
    Project::with_files(&[
        ("qik.toml", &config(endpoint, extra)),
        ("src/a.txt", "one\n"),
        ("src/b.txt", "two\n"),
    ])
}

/// Points a project's `remote` cache elsewhere (the hash ignores cache
/// settings, so entries stay the same).
pub(crate) fn retarget(project: &Project, endpoint: &str, extra: &str) {
    project.write("qik.toml", &config(endpoint, extra));
    project.git_add();
}

/// An endpoint where nothing listens.
pub(crate) fn dead_endpoint() -> String {
    format!("grpc://127.0.0.1:{}", free_port())
}
