//! `--report FILE`: the JSON record of a run that CI keeps (docs/cli.md).

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Project, Run};

const CONFIG: &str = r#"
[commands.lint]
exec = "echo lint >> ran-lint"
deps = ["src.txt"]

[commands.test]
exec = "echo failing; exit 3"
deps = ["src.txt"]

[commands.deploy]
exec = "echo deploy"
deps = [{type = "command", name = "test"}]

[commands.plain]
exec = "echo plain"

[commands.shared]
exec = "echo shared"
deps = ["src.txt"]
cache = "repo"
"#;

fn project() -> Project {
    let p = Project::with_config(CONFIG);
    p.write("src.txt", "x\n");
    p.commit_all();
    p
}

/// Runs qik with `--report report.json`; the run and the report's runnables
/// by name.
#[track_caller]
fn reported(p: &Project, args: &[&str]) -> (Run, Value, serde_json::Map<String, Value>) {
    let mut all = args.to_vec();
    all.extend(["--report", "report.json"]);
    let run = p.qik(".", &all, &[]);
    let text = p.read("report.json");
    let report: Value = serde_json::from_str(&text).expect("the report is JSON");
    let by_name = report["runnables"]
        .as_array()
        .expect("runnables")
        .iter()
        .map(|r| (r["name"].as_str().expect("name").to_string(), r.clone()))
        .collect();
    (run, report, by_name)
}

/// The hash `--ls --json` gives a runnable.
fn listed_hash(p: &Project, name: &str) -> Value {
    let run = p.qik(".", &["--ls", "--json", name], &[]);
    let doc: Value = serde_json::from_str(&run.stdout).expect("JSON");
    let runnables = doc["runnables"].as_array().expect("runnables");
    let entry = runnables
        .iter()
        .find(|r| r["name"] == name)
        .expect("listed");
    entry["hash"].clone()
}

#[test]
fn each_runnable_has_its_status_duration_cache_source_and_hash() {
    let p = project();
    let (run, report, first) = reported(&p, &["-n", "2"]);
    assert_eq!(run.code, 3, "the highest exit code: {run:#?}");
    assert_eq!(report["version"], 1);
    assert_eq!(report["exit_code"], 3);
    assert_eq!(report["interrupted"], false);
    assert_eq!(
        report["summary"],
        serde_json::json!({"ran": 3, "cached": 0, "failed": 1, "skipped": 1, "stopped": 0})
    );
    let names: Vec<&String> = first.keys().collect();
    assert_eq!(names, ["deploy", "lint", "plain", "shared", "test"]);

    let lint = &first["lint"];
    assert_eq!(lint["status"], "ran");
    assert_eq!(lint["cache"], "ran");
    assert_eq!(lint["exit_code"], 0);
    assert!(
        lint["duration_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
        "{lint}"
    );
    assert_eq!(lint["hash"], listed_hash(&p, "lint"));
    assert_eq!(lint["hash"].as_str().map(str::len), Some(64));

    let test = &first["test"];
    assert_eq!(test["status"], "failed");
    assert_eq!(test["exit_code"], 3);
    let deploy = &first["deploy"];
    assert_eq!(deploy["status"], "skipped");
    assert_eq!(deploy["reason"], "upstream failed");
    assert_eq!(deploy["upstream"], "test");
    assert!(deploy.get("hash").is_none() && deploy.get("cache").is_none());
    // A command without deps is never cached: it has no hash.
    assert_eq!(first["plain"]["status"], "ran");
    assert!(first["plain"].get("hash").is_none(), "{}", first["plain"]);

    // Replays name the cache they came from, with the same hash.
    let (_, _, second) = reported(&p, &["-n", "2"]);
    assert_eq!(second["lint"]["status"], "cached");
    assert_eq!(second["lint"]["cache"], "local");
    assert_eq!(second["lint"]["hash"], lint["hash"]);
    assert_eq!(second["shared"]["status"], "cached");
    assert_eq!(second["shared"]["cache"], "repo");
    assert_eq!(p.read("ran-lint").lines().count(), 1);

    // A clone with the committed repo cache replays from it.
    p.commit_all();
    let clone = p.clone_repo();
    let (_, _, cloned) = reported(&clone, &["shared"]);
    assert_eq!(cloned["shared"]["status"], "cached");
    assert_eq!(cloned["shared"]["cache"], "repo");
}

#[test]
fn a_replayed_failure_is_failed_with_its_cache() {
    let p = Project::with_config(
        "[commands.test]\nexec = \"exit 4\"\ndeps = [\"qik.toml\"]\ncache-when = \"failed\"\n",
    );
    p.commit_all();
    let (run, _, first) = reported(&p, &[]);
    assert_eq!(run.code, 4);
    assert_eq!(first["test"]["cache"], "ran");
    let (run, _, second) = reported(&p, &[]);
    assert_eq!(run.code, 4);
    assert_eq!(second["test"]["status"], "failed");
    assert_eq!(second["test"]["cache"], "local");
    assert_eq!(second["test"]["exit_code"], 4);
}

#[test]
fn a_report_path_that_cannot_be_written_fails_before_anything_runs() {
    let p = project();
    std::fs::create_dir(p.root.join("a-dir")).unwrap();
    for path in ["no/such/dir/report.json", "a-dir"] {
        let run = p.qik(".", &["lint", "--report", path], &[]);
        assert_eq!(run.code, 2, "a usage error: {run:#?}");
        assert!(
            run.stderr.contains("cannot write the report to"),
            "{run:#?}"
        );
        assert!(run.stderr.contains("hint:"), "{run:#?}");
        assert!(!p.root.join("ran-lint").exists(), "lint ran: {run:#?}");
    }
    // A report of a run that does not run is refused, not skipped silently.
    for other in ["--ls", "--watch", "--fail"] {
        let run = p.qik(".", &["lint", "--report", "r.json", other], &[]);
        assert_eq!(run.code, 2, "{other}: {run:#?}");
    }
    // Nothing is left beside the report's place either.
    let leftovers: Vec<_> = std::fs::read_dir(&p.root)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".qik-report"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn after_ctrl_c_the_running_one_is_stopped_and_the_rest_skipped() {
    let p = Project::with_config(
        r#"
[commands.slow]
exec = "echo started; sleep 30; echo finished"
deps = ["qik.toml"]

[commands.after]
exec = "echo after"
deps = [{type = "command", name = "slow"}]
"#,
    );
    let child = p.spawn_qik(&["-n", "1", "--report", "report.json"], &[]);
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(20);
    // Running once its live log has its first line.
    let started = || {
        std::fs::read_dir(p.root.join("._qik/out"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains("started")))
    };
    while !started() {
        assert!(Instant::now() < deadline, "the command never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let sent = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let run = child.wait();
    assert_eq!(run.code, 130, "{run:#?}");
    // qik stopped it: no "exited 130" as if the command had failed.
    assert!(!run.stderr.contains("exited 130"), "{run:#?}");
    assert!(!run.stderr.contains("failed"), "{run:#?}");
    assert!(
        run.stderr.contains("stopped slow (interrupted after"),
        "{run:#?}"
    );
    let tail: Vec<&str> = run.stderr.lines().rev().take(2).collect();
    assert_eq!(tail, ["skipped: after", "stopped: slow"], "{run:#?}");
    let report: Value = serde_json::from_str(&p.read("report.json")).expect("JSON");
    assert_eq!(report["interrupted"], true);
    assert_eq!(report["exit_code"], 130);
    let runnables = report["runnables"].as_array().unwrap();
    assert_eq!(runnables[0]["name"], "after");
    assert_eq!(runnables[0]["status"], "skipped");
    assert_eq!(runnables[0]["reason"], "interrupted");
    assert_eq!(runnables[1]["name"], "slow");
    assert_eq!(runnables[1]["status"], "stopped");
    assert!(runnables[1].get("exit_code").is_none());
}
