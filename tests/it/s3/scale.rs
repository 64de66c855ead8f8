//! Many keys, big artifacts and concurrent writers.

use std::time::Instant;

use super::support::RemoteWarnings as _;
use super::support::{AWS_ENV, BUCKET, Project, Proxy, S3Server};

fn project(endpoint: &str, exec: &str, artifacts: &str) -> Project {
    let config = format!(
        "[plugins]\ns3 = \"qik.s3\"\n\n\
         [caches.remote]\ntype = \"s3\"\nbucket = \"{BUCKET}\"\nendpoint-url = \"{endpoint}\"\n\
         prefix = \"many\"\n\n\
         [commands.make]\nexec = \"{exec}\"\ndeps = [\"src/**\"]\n\
         artifacts = [\"{artifacts}\"]\ncache = \"remote\"\n"
    );
    Project::with_files(&[("qik.toml", &config), ("src/input.txt", "one\n")])
}

fn count(requests: &[String], prefix: &str) -> usize {
    requests.iter().filter(|r| r.starts_with(prefix)).count()
}

#[test]
fn an_entry_of_1100_artifacts_round_trips_with_paged_listings() {
    let server = S3Server::start();
    let proxy = Proxy::start(server.port);
    let exec = "mkdir -p out/many && for i in $(seq 1 1100); do echo $i > out/many/f$i.txt; done && echo made";
    let a = project(&proxy.endpoint(), exec, "out/many");
    let started = Instant::now();
    let run = a.qik(".", &["make"], AWS_ENV);
    run.assert_ok();
    run.assert_quiet();
    let upload = started.elapsed();
    // 1100 artifacts, the log and the manifest, then the seal.
    assert_eq!(
        count(&proxy.requests(), "PUT "),
        1103,
        "{:?}",
        proxy.requests().len()
    );

    // A forced rerun lists the 1102 blobs (two pages) and sends only the seal.
    proxy.clear_log();
    let again = a.qik(".", &["make", "-f"], AWS_ENV);
    again.assert_ok();
    again.assert_quiet();
    let requests = proxy.requests();
    let lists = requests.iter().filter(|r| r.contains("list-type")).count();
    assert_eq!(lists, 2, "{requests:?}");
    assert!(
        requests.iter().any(|r| r.contains("continuation-token")),
        "{requests:?}"
    );
    // The manifest changed (its timestamp), the artifacts did not.
    assert!(count(&requests, "PUT ") <= 2, "{requests:?}");

    let b = a.clone_repo();
    let started = Instant::now();
    let replay = b.qik(".", &["make"], AWS_ENV);
    replay.assert_ok();
    replay.assert_cached("make");
    replay.assert_quiet();
    let download = started.elapsed();
    for i in [1, 500, 1000, 1100] {
        assert_eq!(b.read(&format!("out/many/f{i}.txt")), format!("{i}\n"));
    }
    assert_eq!(
        std::fs::read_dir(b.root.join("out/many")).unwrap().count(),
        1100
    );
    eprintln!("1100 artifacts: upload {upload:?}, download {download:?}");
}

#[test]
fn a_60_mb_artifact_goes_up_in_parts_and_comes_back_whole() {
    let server = S3Server::start();
    let proxy = Proxy::start(server.port);
    let exec = "mkdir -p out && head -c 60000000 /dev/urandom > out/big.bin && echo big";
    let a = project(&proxy.endpoint(), exec, "out/big.bin");
    let started = Instant::now();
    let run = a.qik(".", &["make"], AWS_ENV);
    run.assert_ok();
    run.assert_quiet();
    let upload = started.elapsed();
    let requests = proxy.requests();
    assert_eq!(
        count(&requests, "POST "),
        2,
        "create + complete: {requests:?}"
    );
    assert!(
        count(&requests, "PUT ") >= 4 && requests.iter().any(|r| r.contains("partNumber")),
        "{requests:?}"
    );
    let digest = blake3::hash(&std::fs::read(a.root.join("out/big.bin")).unwrap());

    let b = a.clone_repo();
    let started = Instant::now();
    let replay = b.qik(".", &["make"], AWS_ENV);
    replay.assert_ok();
    replay.assert_cached("make");
    let download = started.elapsed();
    let restored = blake3::hash(&std::fs::read(b.root.join("out/big.bin")).unwrap());
    assert_eq!(digest, restored);
    eprintln!("60 MB artifact: upload {upload:?}, download {download:?}");
}

#[test]
fn concurrent_writers_of_one_key_leave_a_consistent_entry() {
    let server = S3Server::start();
    // Each writer's result differs (time, randomness): the entry must be one
    // writer's whole result, never a mix.
    let exec = "mkdir -p out && v=$(date +%s%N)-$$ && echo $v > out/value.txt && head -c 3000000 /dev/urandom >> out/value.txt && echo value $v";
    let a = project(&server.endpoint(), exec, "out/value.txt");
    for round in 0..3 {
        a.write("src/input.txt", &format!("round {round}\n"));
        a.git_add();
        let writers: Vec<Project> = (0..3).map(|_| a.clone_repo()).collect();
        let spawned: Vec<_> = writers
            .iter()
            .map(|w| {
                w.qik_command(&["make", "-f"], AWS_ENV)
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("qik starts")
            })
            .collect();
        for child in spawned {
            let output = child.wait_with_output().expect("qik runs");
            assert!(output.status.success(), "{output:?}");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(!stderr.contains("warning"), "{stderr}");
        }
        let reader = a.clone_repo();
        let replay = reader.qik(".", &["make"], AWS_ENV);
        replay.assert_ok();
        replay.assert_cached("make");
        replay.assert_quiet();
        let logged = replay
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("value "))
            .expect("the replayed log")
            .to_string();
        let artifact = std::fs::read(reader.root.join("out/value.txt")).unwrap();
        let first_line = artifact.split(|b| *b == b'\n').next().unwrap();
        assert_eq!(String::from_utf8_lossy(first_line), logged, "round {round}");
    }
}
