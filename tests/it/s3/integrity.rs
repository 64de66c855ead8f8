//! A shared cache that cannot be poisoned: tampered objects, forged or
//! unsigned entries and hostile paths are misses, and nothing of them is
//! written.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::support::{
    ACCESS_KEY, AWS_ENV, Project, S3Server, SECRET_KEY, build_project, config_with,
};
use super::support::{LocalCache as _, RemoteWarnings as _};

/// The one entry in the bucket: its seal's path and content.
fn stored(server: &S3Server) -> (PathBuf, Value) {
    let seals = server.seals();
    assert_eq!(seals.len(), 1, "{:?}", server.objects());
    let seal: Value = serde_json::from_slice(&std::fs::read(&seals[0]).unwrap()).unwrap();
    (seals[0].clone(), seal)
}

/// Where the blob with `digest` of the entry sealed at `seal_path` lives.
fn blob_path(seal_path: &Path, digest: &str) -> PathBuf {
    seal_path.parent().unwrap().join("b").join(&digest[..32])
}

fn file_of<'a>(seal: &'a Value, path: &str) -> &'a Value {
    seal["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == path)
        .unwrap_or_else(|| panic!("{path} in {seal}"))
}

/// Stores `bytes` as a blob of the entry, as any writer of the bucket could.
fn put_blob(seal_path: &Path, bytes: &[u8]) -> Value {
    let digest = blake3::hash(bytes).to_hex().to_string();
    std::fs::write(blob_path(seal_path, &digest), bytes).unwrap();
    json!({"blake3": digest, "size": bytes.len()})
}

#[test]
fn a_tampered_object_is_a_miss_and_the_next_upload_heals_it() {
    let server = S3Server::start();
    let a = build_project(&server.endpoint(), "");
    a.qik(".", &["build"], AWS_ENV).assert_ok();
    let (seal_path, seal) = stored(&server);
    let artifact = file_of(&seal, "artifacts/out/result.txt");
    let blob = blob_path(&seal_path, artifact["blake3"].as_str().unwrap());
    assert_eq!(std::fs::read_to_string(&blob).unwrap(), "one\n");
    // Same size, other bytes: only the digest can tell.
    std::fs::write(&blob, "onE\n").unwrap();

    let b = a.clone_repo();
    let run = b.qik(".", &["build"], AWS_ENV);
    run.assert_ok();
    run.assert_ran("build");
    run.assert_one_warning("does not match its digest");
    assert_eq!(b.read("out/result.txt"), "one\n");
    assert!(b.local_leftovers().is_empty());
    // B's upload rewrote the blob it saw fail, although it was listed.
    assert_eq!(std::fs::read_to_string(&blob).unwrap(), "one\n");

    let c = a.clone_repo();
    let replay = c.qik(".", &["build"], AWS_ENV);
    replay.assert_cached("build");
    replay.assert_quiet();
    assert_eq!(c.read("out/result.txt"), "one\n");
}

#[test]
fn signed_caches_refuse_unsigned_forged_and_foreign_entries() {
    let server = S3Server::start();
    let endpoint = server.endpoint();
    let top = "ctx = [{name = \"qik_cache_key\", required = false}]";
    let signed = config_with(top, &endpoint, "signing-key = \"{ctx.qik_cache_key}\"");
    let key_one = "signing-key-one-0123456789";
    let key_two = "signing-key-two-0123456789";
    let env = |key: &'static str| {
        vec![
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
            ("QIK_CACHE_KEY", key),
        ]
    };
    let a = Project::with_files(&[("qik.toml", &signed), ("src/input.txt", "one\n")]);
    let run = a.qik(".", &["build"], &env(key_one));
    run.assert_quiet();
    run.assert_no_secrets(&[key_one]);
    let (seal_path, seal) = stored(&server);
    assert!(
        seal["signature"]
            .as_str()
            .is_some_and(|s| s.starts_with("hmac-sha256:"))
    );

    // The same key replays.
    let b = a.clone_repo();
    let replay = b.qik(".", &["build"], &env(key_one));
    replay.assert_cached("build");
    replay.assert_quiet();

    // A writer without the key swaps the log and fixes up the seal's digests:
    // a forged entry, refused.
    let (_, current) = stored(&server);
    let mut forged = current.clone();
    let fake_log = put_blob(&seal_path, b"built two\n");
    for file in forged["files"].as_array_mut().unwrap() {
        if file["path"] == "log" {
            file["blake3"] = fake_log["blake3"].clone();
            file["size"] = fake_log["size"].clone();
        }
    }
    std::fs::write(&seal_path, serde_json::to_vec(&forged).unwrap()).unwrap();
    let e = a.clone_repo();
    let run = e.qik(".", &["build"], &env(key_one));
    run.assert_ran("build");
    run.assert_one_warning("signature does not match");
    assert!(!run.stdout.contains("built two"), "{run:#?}");

    // The same entry without its signature: unsigned, refused.
    let (_, current) = stored(&server);
    let mut unsigned = current;
    unsigned.as_object_mut().unwrap().remove("signature");
    std::fs::write(&seal_path, serde_json::to_vec(&unsigned).unwrap()).unwrap();
    let f = a.clone_repo();
    let run = f.qik(".", &["build"], &env(key_one));
    run.assert_ran("build");
    run.assert_one_warning("not signed");
    // Its upload replaced the seal with a signed one again.
    let (_, healed) = stored(&server);
    assert!(healed["signature"].is_string());
    // Another key refuses.
    let c = a.clone_repo();
    let run = c.qik(".", &["build", "-v", "2"], &env(key_two));
    run.assert_ran("build");
    run.assert_one_warning("signature does not match");
    run.assert_no_secrets(&[key_one, key_two]);

    // A configured key that is missing turns the cache off, never the check.
    let d = a.clone_repo();
    let run = d.qik(".", &["build"], AWS_ENV);
    run.assert_ran("build");
    run.assert_one_warning("signing key is empty");
}

#[test]
fn hostile_paths_refuse_the_whole_entry_and_write_nothing() {
    let server = S3Server::start();
    let a = build_project(&server.endpoint(), "");
    a.qik(".", &["build"], AWS_ENV).assert_ok();
    let (seal_path, original) = stored(&server);
    let manifest_file = file_of(&original, "manifest.json");
    let manifest_bytes = std::fs::read(blob_path(
        &seal_path,
        manifest_file["blake3"].as_str().unwrap(),
    ))
    .unwrap();
    let outside = a.root.parent().unwrap().join("escape.txt");
    let absolute = a.root.parent().unwrap().join("absolute.txt");
    let absolute_text = absolute.to_string_lossy().into_owned();

    let cases: Vec<(&str, bool, &str)> = vec![
        ("../escape.txt", true, "not a plain path"),
        (&absolute_text, true, "not a plain path"),
        ("out/a/../../../escape.txt", true, "not a plain path"),
        ("out/odd\u{1b}[31mname", true, "not a plain path"),
        ("out\\..\\..\\escape.txt", true, "not a plain path"),
        // The seal looks fine; the manifest core would restore from does not.
        ("../escape.txt", false, "manifest names the artifact"),
        (&absolute_text, false, "manifest names the artifact"),
    ];
    for (bad, in_seal, warning) in cases {
        let payload = put_blob(&seal_path, b"evil\n");
        let mut manifest: Value = serde_json::from_slice(&manifest_bytes).unwrap();
        manifest["artifacts"].as_array_mut().unwrap().push(json!({
            "path": bad, "digest": payload["blake3"], "size": payload["size"],
        }));
        let new_manifest = put_blob(&seal_path, &serde_json::to_vec(&manifest).unwrap());
        let mut seal = original.clone();
        let files = seal["files"].as_array_mut().unwrap();
        for file in files.iter_mut() {
            if file["path"] == "manifest.json" {
                file["blake3"] = new_manifest["blake3"].clone();
                file["size"] = new_manifest["size"].clone();
            }
        }
        let sealed_path = if in_seal {
            format!("artifacts/{bad}")
        } else {
            "artifacts/out/other.txt".into()
        };
        files.push(json!({
            "path": sealed_path, "blake3": payload["blake3"], "size": payload["size"],
        }));
        std::fs::write(&seal_path, serde_json::to_vec(&seal).unwrap()).unwrap();

        let b = a.clone_repo();
        let run = b.qik(".", &["build"], AWS_ENV);
        run.assert_ok();
        run.assert_ran("build");
        run.assert_one_warning(warning);
        assert!(!outside.exists(), "{bad:?} escaped");
        assert!(!absolute.exists(), "{bad:?} escaped");
        assert!(!b.root.join("out/other.txt").exists());
        assert!(b.local_leftovers().is_empty(), "{:?}", b.local_leftovers());
        // The only entry is the one its own run wrote.
        let entries = b.local_entries();
        assert_eq!(entries.len(), 1, "{bad:?}");
        let local: Value =
            serde_json::from_slice(&std::fs::read(entries[0].join("manifest.json")).unwrap())
                .unwrap();
        assert_eq!(local["artifacts"].as_array().unwrap().len(), 1, "{bad:?}");
        let mut files = Vec::new();
        crate::support::walk(&entries[0], &mut |p| files.push(p.to_path_buf()));
        assert_eq!(files.len(), 3, "{bad:?}: {files:?}");
    }
}
