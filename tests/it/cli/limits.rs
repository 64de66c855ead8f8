//! Interruption and resource limits of a run.

use std::time::{Duration, Instant};

use crate::support::Project;

/// Output far larger than the address space qik may use: it must stream to
/// disk (live and on replay), never accumulate.
#[test]
fn huge_output_runs_and_replays_within_a_small_memory_limit() {
    let project = Project::with_config(
        "[commands]\nbig = {exec = \"head -c 300000000 /dev/zero | tr '\\\\0' x | fold -w 100\", deps = [\"qik.toml\"]}\n",
    );
    let qik = crate::support::qik_bin().display();
    // 250 MB of address space for qik itself; its output is 303 MB.
    let script = format!("ulimit -v 250000 && exec {qik} -v 2 -n 2 big > /dev/null");
    for round in ["runs", "replays"] {
        let status = std::process::Command::new("sh")
            .args(["-c", &script])
            .current_dir(&project.root)
            .env("NO_COLOR", "1")
            .status()
            .unwrap();
        assert!(status.success(), "qik {round} within the limit");
    }
    let out = std::fs::read_dir(project.root.join("._qik/out"))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("big"))
        .expect("the latest output is kept");
    assert_eq!(std::fs::metadata(out.path()).unwrap().len(), 302_999_999);
}

#[test]
fn ctrl_c_stops_children_stores_nothing_and_exits_130() {
    let project = Project::with_config(
        "[commands]\nslow = {exec = \"echo started; sleep 30; echo finished\", deps = [\"qik.toml\"]}\n",
    );
    let child = project.spawn_qik(&["slow", "-n", "1"], &[]);
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(20);
    // Wait until the command is running (its live log has its first line).
    loop {
        let started = std::fs::read_dir(project.root.join("._qik/out"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains("started")));
        if started {
            break;
        }
        assert!(Instant::now() < deadline, "the command never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let sent = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let started = Instant::now();
    let run = child.wait();
    assert_eq!(run.code, 130, "{run:?}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "qik stopped promptly"
    );
    assert!(!run.stdout.contains("finished"));
    // No `sleep 30` survives, and no entry was written for the interrupted run.
    let ps = std::process::Command::new("ps")
        .args(["-eo", "args"])
        .output()
        .unwrap();
    let survivors = String::from_utf8_lossy(&ps.stdout)
        .lines()
        .filter(|l| l.trim() == "sleep 30")
        .count();
    assert_eq!(survivors, 0, "the command's process group was signalled");
    let cache = project.root.join("._qik/cache");
    let entries = walk_files(&cache);
    assert!(
        !entries.iter().any(|p| p.ends_with("manifest.json")),
        "{entries:?}"
    );
    // The next run really runs it.
    let run = project.qik(".", &["--ls", "--cache-status", "cold"], &[]);
    assert_eq!(run.lines(), ["slow"]);
}

#[test]
fn a_glob_matching_nothing_still_caches_on_the_definition() {
    let project = Project::with_config(
        "[commands]\nnone = {exec = \"echo ran >> count.txt\", deps = [\"no/such/dir/**\"]}\n",
    );
    assert_eq!(project.qik(".", &[], &[]).code, 0);
    assert_eq!(project.qik(".", &[], &[]).code, 0);
    assert_eq!(project.read("count.txt"), "ran\n");
}

fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk_files(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// A chain of 20,000 command deps: `c19999` needs `c19998`, ... down to `c0`.
fn chain(links: usize, closed: bool) -> String {
    let mut config = String::from("[commands]\n");
    let first = if closed {
        format!(
            "c0 = {{exec = \"true\", deps = [{{type = \"command\", name = \"c{}\"}}]}}\n",
            links - 1
        )
    } else {
        "c0 = \"true\"\n".to_string()
    };
    config.push_str(&first);
    for i in 1..links {
        config.push_str(&format!(
            "c{i} = {{exec = \"true\", deps = [{{type = \"command\", name = \"c{}\"}}]}}\n",
            i - 1
        ));
    }
    config
}

#[test]
fn a_dependency_chain_of_twenty_thousand_commands_is_walked_not_recursed() {
    let p = Project::with_config(&chain(20_000, false));
    p.commit_all();
    let run = p.qik(".", &["--ls", "c19999"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.lines().len(), 20_000);

    // Closed into a cycle, it is an error whose message stays readable.
    p.write("qik.toml", &chain(20_000, true));
    let run = p.qik(".", &["--ls", "c19999"], &[]);
    run.assert_error(&["error[conf7]", "dependency cycle: c19999 -> c19998"]);
    assert!(run.stderr.contains("(19993 more)"), "{}", run.stderr);
    assert!(run.stderr.len() < 4_000, "{}", run.stderr);
}
