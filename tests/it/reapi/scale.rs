//! Many small artifacts (batched requests) and one larger than a batch may
//! be (ByteStream), both ways.

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
fn an_artifact_over_the_batch_limit_is_streamed_both_ways() {
    let server = Bgd::start();
    // 10 MB: over BuildGrid's 4 MB batch limit.
    let exec = "mkdir -p out && head -c 10000000 /dev/urandom > out/big.bin && echo big";
    let a = project(&server.endpoint(), exec, "out/big.bin");
    let run = a.qik(".", &["make"], &[]);
    run.assert_ok();
    assert_quiet(&run);
    let content = std::fs::read(a.root.join("out/big.bin")).unwrap();
    assert!(
        server.blob_path(&sha256(&content)).is_file(),
        "the big blob is in the CAS"
    );

    let b = a.clone_repo();
    let replay = b.qik(".", &["make"], &[]);
    replay.assert_ok();
    replay.assert_cached("make");
    assert_quiet(&replay);
    let restored = std::fs::read(b.root.join("out/big.bin")).unwrap();
    assert!(restored == content, "the artifact comes back whole");
}
