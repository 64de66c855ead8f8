//! Many small artifacts (batched requests) and one of 100 MB, far larger
//! than a batch may be (ByteStream), both ways.

use std::time::Instant;

use super::support::{Bgd, Project, assert_quiet, sha256};

fn project(endpoint: &str, exec: &str, artifacts: &str) -> Project {
    let config = format!(
        "[plugins]\nreapi = \"qik.reapi\"\n\n\
         [caches.remote]\ntype = \"reapi\"\nendpoint = \"{endpoint}\"\n\n\
         [commands.make]\nexec = \"{exec}\"\ndeps = [\"src/**\"]\n\
         artifacts = [\"{artifacts}\"]\ncache = \"remote\"\n"
    );
    Project::with_files(&[("qik.toml", &config), ("src/input.txt", "one\n")])
}

#[test]
fn a_thousand_small_artifacts_round_trip() {
    let server = Bgd::start();
    let exec = "mkdir -p out/many && for i in $(seq 1 1000); do echo $i > out/many/f$i.txt; done && echo made";
    let a = project(&server.endpoint(), exec, "out/many");
    let started = Instant::now();
    let run = a.qik(".", &["make"], &[]);
    run.assert_ok();
    assert_quiet(&run);
    let upload = started.elapsed();
    // 1,000 artifacts, the log, the manifest, the action's four blobs and
    // the stored result.
    assert!(server.blobs().len() >= 1006, "{}", server.blobs().len());

    let b = a.clone_repo();
    let started = Instant::now();
    let replay = b.qik(".", &["make"], &[]);
    replay.assert_ok();
    replay.assert_cached("make");
    assert_quiet(&replay);
    let download = started.elapsed();
    for i in [1, 500, 1000] {
        assert_eq!(b.read(&format!("out/many/f{i}.txt")), format!("{i}\n"));
    }
    assert_eq!(
        std::fs::read_dir(b.root.join("out/many")).unwrap().count(),
        1000
    );
    eprintln!("1000 artifacts: upload {upload:?}, download {download:?}");
}

#[test]
fn a_100_mb_artifact_is_streamed_both_ways() {
    let server = Bgd::start();
    // Far over BuildGrid's 4 MB batch limit: ByteStream both ways.
    let exec = "mkdir -p out && head -c 100000000 /dev/urandom > out/big.bin && echo big";
    let a = project(&server.endpoint(), exec, "out/big.bin");
    let started = Instant::now();
    let run = a.qik(".", &["make"], &[]);
    run.assert_ok();
    assert_quiet(&run);
    let upload = started.elapsed();
    let content = std::fs::read(a.root.join("out/big.bin")).unwrap();
    assert_eq!(content.len(), 100_000_000);
    assert!(
        server.blob_path(&sha256(&content)).is_file(),
        "the big blob is in the CAS"
    );

    let b = a.clone_repo();
    let started = Instant::now();
    let replay = b.qik(".", &["make"], &[]);
    replay.assert_ok();
    replay.assert_cached("make");
    assert_quiet(&replay);
    let download = started.elapsed();
    let restored = std::fs::read(b.root.join("out/big.bin")).unwrap();
    assert!(restored == content, "the artifact comes back whole");
    eprintln!("100 MB artifact: run and upload {upload:?}, download {download:?}");
}
