//! One clone uploads, another replays: output, exit code and artifacts.

use super::support::{
    ACCESS_KEY, AWS_ENV, S3Server, SECRET_KEY, build_project, config_with, retarget,
};
use super::support::{LocalCache as _, RemoteWarnings as _};

#[test]
fn an_entry_uploaded_by_one_clone_is_replayed_by_another() {
    let server = S3Server::start();
    // Credentials through `{ctx...}` placeholders, as a CI config would.
    let top = "ctx = [\"s3_key_id\", \"s3_secret\"]";
    let extra = "aws-access-key-id = \"{ctx.s3_key_id}\"\n\
                 aws-secret-access-key = \"{ctx.s3_secret}\"\nprefix = \"team/ci/\"";
    let env = [("S3_KEY_ID", ACCESS_KEY), ("S3_SECRET", SECRET_KEY)];
    let a = build_project(&server.endpoint(), "");
    a.write("qik.toml", &config_with(top, &server.endpoint(), extra));
    a.git_add();

    let first = a.qik(".", &["build"], &env);
    first.assert_ok();
    first.assert_ran("build");
    first.assert_quiet();
    first.assert_no_secrets(&[]);
    let seals = server.seals();
    assert_eq!(seals.len(), 1, "one entry uploaded: {:?}", server.objects());
    assert!(
        seals[0].starts_with(server.bucket_dir().join("team/ci")),
        "{seals:?}"
    );

    let b = a.clone_repo();
    // The remote entry makes the runnable warm before anything is downloaded.
    let warm = b.qik(".", &["--ls", "--cache-status", "warm"], &env);
    assert_eq!(warm.stdout.trim(), "build", "{warm:#?}");
    let cold = b.qik(".", &["--ls", "--cache-status", "cold"], &env);
    assert_eq!(cold.stdout.trim(), "", "{cold:#?}");
    let selected = b.qik(".", &["--ls", "--cache", "remote"], &env);
    assert_eq!(selected.stdout.trim(), "build", "{selected:#?}");
    assert!(
        b.local_entries().is_empty(),
        "--cache-status downloads nothing"
    );

    let replay = b.qik(".", &["build", "--report", "report.json"], &env);
    replay.assert_ok();
    replay.assert_cached("build");
    replay.assert_quiet();
    assert!(replay.stdout.contains("built one"), "{replay:#?}");
    assert_eq!(report_cache(&b), "remote", "--report names the source");
    assert_eq!(b.read("out/result.txt"), "one\n");
    assert_eq!(
        b.local_entries().len(),
        1,
        "downloaded into the local cache"
    );
    assert!(b.local_leftovers().is_empty(), "{:?}", b.local_leftovers());

    // The local cache is hot storage: no server needed any more.
    drop(server);
    std::fs::remove_file(b.root.join("out/result.txt")).unwrap();
    let offline = b.qik(".", &["build", "--report", "report.json"], &env);
    offline.assert_ok();
    offline.assert_cached("build");
    offline.assert_quiet();
    assert_eq!(b.read("out/result.txt"), "one\n");
    assert_eq!(report_cache(&b), "local", "from the local copy this time");
}

/// A seal carries no modes; the manifest carries each artifact's exec bit,
/// so an executable stays executable through the bucket, and through the
/// local copy the download left.
#[test]
fn executable_artifacts_stay_executable() {
    use std::os::unix::fs::PermissionsExt;
    let server = S3Server::start();
    let a = build_project(&server.endpoint(), "");
    let config = a
        .read("qik.toml")
        .replace(
            "cp src/input.txt out/result.txt &&",
            "cp src/input.txt out/result.txt && cp src/input.txt out/tool && chmod 755 out/tool &&",
        )
        .replace(
            "artifacts = [\"out/result.txt\"]",
            "artifacts = [\"out/result.txt\", \"out/tool\"]",
        );
    a.write("qik.toml", &config);
    a.git_add();
    let first = a.qik(".", &["build"], AWS_ENV);
    first.assert_ok();
    first.assert_quiet();

    let b = a.clone_repo();
    let mode = |path: &str| {
        std::fs::metadata(b.root.join(path))
            .unwrap()
            .permissions()
            .mode()
    };
    for source in ["remote", "local"] {
        let _ = std::fs::remove_file(b.root.join("out/tool"));
        let _ = std::fs::remove_file(b.root.join("out/result.txt"));
        let replay = b.qik(".", &["build"], AWS_ENV);
        replay.assert_ok();
        replay.assert_cached("build");
        replay.assert_quiet();
        assert_eq!(b.read("out/tool"), "one\n");
        assert_eq!(
            mode("out/tool") & 0o111,
            0o111,
            "{source}: {:o}",
            mode("out/tool")
        );
        assert_eq!(mode("out/result.txt") & 0o111, 0, "{source}");
    }
}

/// The `cache` of the one runnable of `report.json` (docs/cli.md).
fn report_cache(p: &crate::support::Project) -> String {
    let report: serde_json::Value = serde_json::from_str(&p.read("report.json")).unwrap();
    report["runnables"][0]["cache"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_failed_command_is_stored_with_its_exit_code() {
    let server = S3Server::start();
    let a = build_project(&server.endpoint(), "");
    let config = a.read("qik.toml").replace(
        "cache = \"remote\"",
        "cache = \"remote\"\ncache-when = \"finished\"",
    );
    a.write(
        "qik.toml",
        &config.replace("&& echo built", "&& echo failing && exit 3 && echo"),
    );
    a.git_add();
    let first = a.qik(".", &["build"], AWS_ENV);
    assert_eq!(first.code, 3, "{first:#?}");
    let b = a.clone_repo();
    let replay = b.qik(".", &["build"], AWS_ENV);
    assert_eq!(replay.code, 3, "{replay:#?}");
    replay.assert_cached("build");
    assert!(replay.stdout.contains("failing"), "{replay:#?}");
}

#[test]
fn a_read_only_cache_downloads_but_never_uploads() {
    let server = S3Server::start();
    let endpoint = server.endpoint();
    let pr = build_project(&endpoint, "upload = false");
    let run = pr.qik(".", &["build"], AWS_ENV);
    run.assert_ok();
    run.assert_ran("build");
    run.assert_quiet();
    assert!(server.objects().is_empty(), "{:?}", server.objects());

    // `upload` can come from a context variable (true on main, false on PRs).
    let top = "ctx = [{name = \"qik_upload\", type = \"bool\", default = false}]";
    let extra = "upload = \"{ctx.qik_upload}\"";
    let main = pr.clone_repo();
    main.write("qik.toml", &config_with(top, &endpoint, extra));
    main.git_add();
    let quiet = main.qik(".", &["build"], AWS_ENV);
    quiet.assert_ran("build");
    assert!(server.objects().is_empty(), "upload defaults to false here");
    let mut env = AWS_ENV.to_vec();
    env.push(("QIK_UPLOAD", "true"));
    let uploading = main.qik(".", &["build", "-f"], &env);
    uploading.assert_ok();
    uploading.assert_quiet();
    assert_eq!(server.seals().len(), 1);

    // The read-only clone replays what main uploaded.
    let pr2 = pr.clone_repo();
    retarget(&pr2, &endpoint, "upload = false");
    let replay = pr2.qik(".", &["build"], AWS_ENV);
    replay.assert_cached("build");
    assert_eq!(pr2.read("out/result.txt"), "one\n");
}
