//! One clone uploads, another replays: output, exit code and artifacts;
//! a change re-runs only what it touches.

use super::support::{
    Bgd, assert_quiet, config_with, local_entries, local_leftovers, project, retarget,
};

#[test]
fn two_clones_share_the_cache() {
    let server = Bgd::start();
    let a = project(&server.endpoint(), "");
    let first = a.qik(".", &["-n", "1"], &[]);
    first.assert_ok();
    first.assert_ran("build");
    first.assert_ran("other");
    assert_quiet(&first);
    assert!(!server.blobs().is_empty(), "uploaded");

    let b = a.clone_repo();
    // The server's entries make both warm before anything is downloaded.
    let warm = b.qik(".", &["--ls", "--cache-status", "warm"], &[]);
    assert_eq!(warm.lines(), ["build", "other"], "{warm:#?}");
    assert!(
        local_entries(&b).is_empty(),
        "--cache-status downloads nothing"
    );

    let replay = b.qik(".", &["-n", "1"], &[]);
    replay.assert_ok();
    replay.assert_cached("build");
    replay.assert_cached("other");
    assert_quiet(&replay);
    assert!(replay.stdout.contains("build one"), "{replay:#?}");
    assert!(replay.stdout.contains("other two"), "{replay:#?}");
    assert_eq!(b.read("out/a.txt"), "one\n");
    assert_eq!(b.read("out/b.txt"), "two\n");
    assert_eq!(
        local_entries(&b).len(),
        2,
        "downloaded into the local cache"
    );
    assert!(local_leftovers(&b).is_empty(), "{:?}", local_leftovers(&b));

    // Editing one input re-runs only its runnable; the other still replays.
    b.write("src/a.txt", "changed\n");
    b.git_add();
    let edited = b.qik(".", &["-n", "1"], &[]);
    edited.assert_ok();
    edited.assert_ran("build");
    edited.assert_cached("other");
    assert!(edited.stdout.contains("build changed"), "{edited:#?}");
    assert_eq!(b.read("out/a.txt"), "changed\n");

    // What b uploaded, a third clone with the same edit replays.
    let c = b.clone_repo();
    let third = c.qik(".", &["build"], &[]);
    third.assert_cached("build");
    assert_eq!(c.read("out/a.txt"), "changed\n");

    // The downloaded entries are whole local entries: no server needed now.
    drop(server);
    std::fs::remove_file(b.root.join("out/b.txt")).unwrap();
    let offline = b.qik(".", &["other"], &[]);
    offline.assert_ok();
    offline.assert_cached("other");
    assert_quiet(&offline);
    assert_eq!(b.read("out/b.txt"), "two\n");
}

#[test]
fn exit_codes_and_executable_bits_come_back() {
    use std::os::unix::fs::PermissionsExt;
    let server = Bgd::start();
    let a = project(&server.endpoint(), "");
    let config = a
        .read("qik.toml")
        .replace(
            "cache = \"remote\"",
            "cache = \"remote\"\ncache-when = \"finished\"",
        )
        .replace(
            "&& echo build $(cat src/a.txt)",
            "&& chmod +x out/a.txt && echo failing && exit 3",
        );
    a.write("qik.toml", &config);
    a.git_add();
    let first = a.qik(".", &["build"], &[]);
    assert_eq!(first.code, 3, "{first:#?}");

    let b = a.clone_repo();
    let replay = b.qik(".", &["build"], &[]);
    assert_eq!(replay.code, 3, "{replay:#?}");
    replay.assert_cached("build");
    assert!(replay.stdout.contains("failing"), "{replay:#?}");
    let mode = || {
        std::fs::metadata(b.root.join("out/a.txt"))
            .unwrap()
            .permissions()
            .mode()
    };
    assert_eq!(mode() & 0o111, 0o111, "executable: {:o}", mode());
    // The local copy the download left restores it executable too.
    std::fs::remove_file(b.root.join("out/a.txt")).unwrap();
    let local = b.qik(".", &["build"], &[]);
    assert_eq!(local.code, 3, "{local:#?}");
    local.assert_cached("build");
    assert_eq!(mode() & 0o111, 0o111, "executable: {:o}", mode());
}

#[test]
fn a_read_only_client_downloads_but_never_uploads() {
    let server = Bgd::start();
    let endpoint = server.endpoint();
    let pr = project(&endpoint, "upload = false");
    let run = pr.qik(".", &["build"], &[]);
    run.assert_ok();
    run.assert_ran("build");
    assert_quiet(&run);
    assert!(server.blobs().is_empty(), "{:?}", server.blobs());

    // `upload` can come from a context variable (true on main only).
    let top = "ctx = [{name = \"qik_upload\", type = \"bool\", default = false}]";
    let main = pr.clone_repo();
    main.write(
        "qik.toml",
        &config_with(top, &endpoint, "upload = \"{ctx.qik_upload}\""),
    );
    main.git_add();
    let quiet = main.qik(".", &["build"], &[]);
    quiet.assert_ran("build");
    assert!(server.blobs().is_empty(), "upload defaults to false here");
    let uploading = main.qik(".", &["build", "-f"], &[("QIK_UPLOAD", "true")]);
    uploading.assert_ok();
    assert_quiet(&uploading);
    assert!(!server.blobs().is_empty());

    // The read-only clone replays what main uploaded, and writes nothing.
    let pr2 = pr.clone_repo();
    retarget(&pr2, &endpoint, "upload = false");
    let before = server.blobs();
    let replay = pr2.qik(".", &["-n", "1"], &[]);
    replay.assert_cached("build");
    replay.assert_ran("other");
    assert_quiet(&replay);
    assert_eq!(pr2.read("out/a.txt"), "one\n");
    assert_eq!(server.blobs(), before, "a read-only client stores nothing");
}

#[test]
fn a_server_that_refuses_updates_is_read_quietly() {
    let server = Bgd::start_with(false);
    let a = project(&server.endpoint(), "");
    let run = a.qik(".", &["-n", "1"], &[]);
    run.assert_ok();
    run.assert_ran("build");
    run.assert_ran("other");
    // Its capabilities say so: no attempt, so no warning.
    assert_quiet(&run);
    assert!(server.blobs().is_empty(), "{:?}", server.blobs());
}

#[test]
fn parallel_workers_share_one_connection() {
    let server = Bgd::start();
    let mut text = format!(
        "[plugins]\nreapi = \"qik.reapi\"\n\n[caches.remote]\ntype = \"reapi\"\nendpoint = \"{}\"\n",
        server.endpoint()
    );
    let mut files = Vec::new();
    for i in 0..8 {
        text.push_str(&format!(
            "\n[commands.c{i}]\nexec = \"mkdir -p out && cp src/{i}.txt out/{i}.txt\"\n\
             deps = [\"src/{i}.txt\"]\nartifacts = [\"out/{i}.txt\"]\ncache = \"remote\"\n"
        ));
        files.push((format!("src/{i}.txt"), format!("content {i}\n")));
    }
    let mut all: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    all.push(("qik.toml", &text));
    let a = crate::support::Project::with_files(&all);
    let run = a.qik(".", &["-n", "4"], &[]);
    run.assert_ok();
    assert_quiet(&run);
    assert!(run.stderr.contains("8 ran"), "{run:#?}");

    let b = a.clone_repo();
    let replay = b.qik(".", &["-n", "4"], &[]);
    replay.assert_ok();
    assert_quiet(&replay);
    assert!(replay.stderr.contains("8 cached"), "{replay:#?}");
    for i in 0..8 {
        assert_eq!(b.read(&format!("out/{i}.txt")), format!("content {i}\n"));
    }
}
