//! The `reapi` executor against buildbox-casd: commands run remotely on
//! exactly their hashed inputs, and come back as local runs do.

use super::casd::Casd;
use super::support::{Project, Run, TOKEN, dead_endpoint, local_entries};

/// A qik.toml with an executor `farm` at `endpoint` (`extra` lines in its
/// table; `top` before every table) and these commands, all on `farm`:
/// - `build` reads `src/*.txt`, writes `out/ab.txt` and `out/sub/n.txt`;
/// - `peek` says whether `secret.txt` (not a dep) is visible;
/// - `fail` prints and exits 3;
/// - `cached` is `build`'s twin that stores in a `reapi` cache `shared` on
///   `cache_endpoint`, when given.
fn config(top: &str, endpoint: &str, extra: &str, cache_endpoint: Option<&str>) -> String {
    let mut text = format!(
        "{top}\n[plugins]\nreapi = \"qik.reapi\"\n\n\
         [executors.farm]\ntype = \"reapi\"\nendpoint = \"{endpoint}\"\ntimeout = 5\n{extra}\n\n\
         [commands.build]\n\
         exec = \"mkdir -p out/sub && cat src/a.txt src/b.txt > out/ab.txt && echo 7 > out/sub/n.txt && echo skipped > out/no.log && echo built $(cat src/a.txt) && echo to-stderr >&2\"\n\
         deps = [\"src/*.txt\"]\nartifacts = [\"out/*.txt\"]\nexecutor = \"farm\"\n\n\
         [commands.peek]\n\
         exec = \"if test -e secret.txt; then echo visible; else echo invisible; fi; find src -type f | sort\"\n\
         deps = [\"src/a.txt\"]\nexecutor = \"farm\"\n\n\
         [commands.fail]\nexec = \"echo about to fail; exit 3\"\ndeps = [\"src/a.txt\"]\nexecutor = \"farm\"\n"
    );
    if let Some(cache) = cache_endpoint {
        text.push_str(&format!(
            "\n[caches.shared]\ntype = \"reapi\"\nendpoint = \"{cache}\"\ntimeout = 5\n\n\
             [commands.cached]\n\
             exec = \"mkdir -p gen && cat src/b.txt > gen/b.txt && echo cached-run $(cat src/b.txt)\"\n\
             deps = [\"src/b.txt\"]\nartifacts = [\"gen/b.txt\"]\nexecutor = \"farm\"\ncache = \"shared\"\n"
        ));
    }
    text
}

fn project(text: &str) -> Project {
    Project::with_files(&[
        ("qik.toml", text),
        ("src/a.txt", "one\n"),
        ("src/b.txt", "two\n"),
        ("secret.txt", "not a dep\n"),
    ])
}

/// Warning lines.
fn warnings(run: &Run) -> Vec<&str> {
    run.stderr
        .lines()
        .filter(|line| line.starts_with("warning:"))
        .collect()
}

#[test]
fn a_command_runs_remotely_and_comes_back_like_a_local_run() {
    let casd = Casd::start();
    let p = project(&config("", &casd.endpoint(), "", None));
    let run = p.qik(".", &["build"], &[]);
    run.assert_ok();
    run.assert_ran("build");
    assert!(warnings(&run).is_empty(), "{run:#?}");
    assert!(run.stdout.contains("built one"), "{run:#?}");
    // stderr is merged into the one log, as locally.
    assert!(run.stdout.contains("to-stderr"), "{run:#?}");
    assert_eq!(p.read("out/ab.txt"), "one\ntwo\n");
    assert_eq!(p.read("out/sub/n.txt"), "7\n");
    // Outputs are filtered by the globs: out/no.log came back to no one.
    assert!(!p.root.join("out/no.log").exists(), "not an artifact");
    assert_eq!(local_entries(&p).len(), 1, "stored like a local run");

    // A second run is a local hit: nothing is sent.
    std::fs::remove_dir_all(p.root.join("out")).unwrap();
    let again = p.qik(".", &["build"], &[]);
    again.assert_ok();
    again.assert_cached("build");
    assert!(again.stdout.contains("built one"), "{again:#?}");
    assert_eq!(p.read("out/ab.txt"), "one\ntwo\n");

    // A changed input runs remotely again, with the new content.
    p.write("src/a.txt", "uno\n");
    p.git_add();
    let edited = p.qik(".", &["build"], &[]);
    edited.assert_ran("build");
    assert_eq!(p.read("out/ab.txt"), "uno\ntwo\n");
}

#[test]
fn only_the_hashed_inputs_are_visible_remotely() {
    let casd = Casd::start();
    let p = project(&config("", &casd.endpoint(), "", None));
    let run = p.qik(".", &["peek"], &[]);
    run.assert_ok();
    assert!(run.stdout.contains("invisible"), "{run:#?}");
    assert!(run.stdout.contains("src/a.txt"), "{run:#?}");
    assert!(!run.stdout.contains("src/b.txt"), "not an input: {run:#?}");
}

#[test]
fn a_failing_command_returns_its_exit_code_and_log() {
    let casd = Casd::start();
    let p = project(&config("", &casd.endpoint(), "", None));
    let run = p.qik(".", &["fail"], &[]);
    assert_eq!(run.code, 3, "{run:#?}");
    assert!(run.all().contains("about to fail"), "{run:#?}");
    // The log is where a local run leaves it: `._qik/out/<slug>.out`.
    let mut logs = Vec::new();
    crate::support::walk(&p.root.join("._qik/out"), &mut |path| {
        logs.push(path.to_path_buf())
    });
    assert_eq!(logs.len(), 1, "{logs:?}");
    let log = std::fs::read_to_string(&logs[0]).unwrap();
    assert!(log.contains("about to fail"), "{log}");
}

#[test]
fn a_clone_with_a_shared_cache_replays_remote_runs() {
    let casd = Casd::start();
    let p = project(&config("", &casd.endpoint(), "", Some(&casd.endpoint())));
    let run = p.qik(".", &["cached"], &[]);
    run.assert_ok();
    run.assert_ran("cached");
    assert!(warnings(&run).is_empty(), "{run:#?}");
    let clone = p.clone_repo();
    let replay = clone.qik(".", &["cached"], &[]);
    replay.assert_ok();
    replay.assert_cached("cached");
    assert!(replay.stdout.contains("cached-run two"), "{replay:#?}");
    assert_eq!(clone.read("gen/b.txt"), "two\n");
}

#[test]
fn an_unreachable_executor_fails_naming_the_endpoint() {
    let endpoint = dead_endpoint();
    let p = project(&config("", &endpoint, "", None));
    let run = p.qik(".", &["build"], &[]);
    assert_ne!(run.code, 0, "{run:#?}");
    assert!(run.all().contains(&endpoint), "{run:#?}");
    assert!(run.all().contains("local-fallback"), "the hint: {run:#?}");
    assert!(!p.root.join("out/ab.txt").exists());
}

#[test]
fn local_fallback_runs_locally_with_one_warning() {
    let endpoint = dead_endpoint();
    let p = project(&config("", &endpoint, "local-fallback = true", None));
    let run = p.qik(".", &["build", "peek", "-n", "1"], &[]);
    run.assert_ok();
    run.assert_ran("build");
    run.assert_ran("peek");
    let warned = warnings(&run);
    assert_eq!(warned.len(), 1, "{run:#?}");
    assert!(warned[0].contains(&endpoint), "{run:#?}");
    assert!(warned[0].contains("locally"), "{run:#?}");
    assert_eq!(p.read("out/ab.txt"), "one\ntwo\n");
    // Locally, the undeclared file is there.
    assert!(run.stdout.contains("visible"), "{run:#?}");
}

#[test]
fn a_token_never_appears() {
    let top = "ctx = [{name = \"reapi_token\", required = false}]";
    let headers = "headers = {authorization = \"Bearer {ctx.reapi_token}\"}";
    let env = [("REAPI_TOKEN", TOKEN)];
    let casd = Casd::start();
    let p = project(&config(top, &casd.endpoint(), headers, None));
    let run = p.qik(".", &["build", "-v", "2"], &env);
    run.assert_ok();
    assert!(!run.all().contains(TOKEN), "{run:#?}");
    for args in [&["--ls", "--json"][..], &["build", "-f", "--explain"]] {
        let run = p.qik(".", args, &env);
        assert!(!run.all().contains(TOKEN), "{run:#?}");
    }
    let down = project(&config(top, &dead_endpoint(), headers, None));
    let run = down.qik(".", &["build"], &env);
    assert_ne!(run.code, 0);
    assert!(!run.all().contains(TOKEN), "{run:#?}");
}

#[test]
fn config_mistakes_point_at_the_line_with_a_hint() {
    for (endpoint, extra, expect) in [
        (
            "grpc://127.0.0.1:1",
            "endpont = \"x\"",
            "unknown key `endpont`",
        ),
        ("http://127.0.0.1:1", "", "is an HTTP URL"),
        (
            "grpc://127.0.0.1:1",
            "max-in-flight = 0",
            "max-in-flight must be",
        ),
        (
            "grpc://127.0.0.1:1",
            "action-timeout = -1",
            "action-timeout must be",
        ),
    ] {
        let run = project(&config("", endpoint, extra, None)).qik(".", &["build"], &[]);
        run.assert_error(&[expect, "qik.toml:", "hint:"]);
    }
}

/// Waits until a process with this command line runs (an action's command
/// on the server, seen in `ps`; tests pick lines no other test uses).
fn wait_for_process(line: &str) {
    use std::time::{Duration, Instant};
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ps = std::process::Command::new("ps")
            .args(["-eo", "args"])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&ps.stdout)
            .lines()
            .any(|l| l.trim() == line)
        {
            return;
        }
        assert!(Instant::now() < deadline, "`{line}` never started");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn ctrl_c_stops_waiting_and_stores_nothing() {
    use std::time::{Duration, Instant};
    let casd = Casd::start();
    let text = config("", &casd.endpoint(), "", None).replace(
        "exec = \"echo about to fail; exit 3\"",
        "exec = \"sleep 37; echo finished\"",
    );
    let p = project(&text);
    let child = p.spawn_qik(&["fail", "-n", "1"], &[]);
    wait_for_process("sleep 37");
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let stopped = Instant::now();
    let run = child.wait();
    assert_eq!(run.code, 130, "{run:#?}");
    assert!(
        stopped.elapsed() < Duration::from_secs(10),
        "stopped promptly"
    );
    assert!(!run.stdout.contains("finished"), "{run:#?}");
    assert!(
        local_entries(&p).is_empty(),
        "an interrupted run is not stored"
    );
}

#[test]
fn upstream_artifacts_are_inputs_of_a_remote_command() {
    let casd = Casd::start();
    // `gen` runs remotely and writes gen/x.txt; `use` runs remotely too and
    // sees that artifact (the hash covers an upstream artifact named by its
    // path), though no glob of its own selects it.
    let text = format!(
        "{}\n[commands.gen]\nexec = \"mkdir -p gen && echo generated > gen/x.txt\"\n\
         deps = [\"src/a.txt\"]\nartifacts = [\"gen/x.txt\"]\nexecutor = \"farm\"\n\n\
         [commands.use]\nexec = \"tr a-z A-Z < gen/x.txt\"\n\
         deps = [{{type = \"command\", name = \"gen\"}}]\nexecutor = \"farm\"\n",
        config("", &casd.endpoint(), "", None)
    );
    let p = project(&text);
    let run = p.qik(".", &["use", "-n", "1", "-v", "2"], &[]);
    run.assert_ok();
    run.assert_ran("gen");
    run.assert_ran("use");
    assert!(run.stdout.contains("GENERATED"), "{run:#?}");
}

#[test]
fn an_uncached_command_gets_its_inputs_too() {
    let casd = Casd::start();
    // Not cached, so not hashed before it runs: the executor asks anyway.
    let text = format!(
        "{}\n[commands.plain]\nexec = \"cat src/a.txt\"\ndeps = [\"src/a.txt\"]\n\
         executor = \"farm\"\ncache = \"none\"\n",
        config("", &casd.endpoint(), "", None)
    );
    let p = project(&text);
    let run = p.qik(".", &["plain", "-v", "2"], &[]);
    run.assert_ok();
    assert!(run.stdout.contains("one"), "{run:#?}");
    assert!(local_entries(&p).is_empty(), "not cached");
}

#[test]
fn an_action_over_its_timeout_fails_naming_the_runnable_and_the_timeout() {
    let casd = Casd::start();
    let text = format!(
        "[plugins]\nreapi = \"qik.reapi\"\n\n\
         [executors.farm]\ntype = \"reapi\"\nendpoint = \"{}\"\ntimeout = 5\naction-timeout = 2\n\n\
         [commands.slow]\nexec = \"echo started; sleep 30; echo never\"\ndeps = [\"src/a.txt\"]\nexecutor = \"farm\"\n",
        casd.endpoint()
    );
    let p = project(&text);
    let run = p.qik(".", &["slow"], &[]);
    assert_ne!(run.code, 0, "{run:#?}");
    assert!(
        run.elapsed < std::time::Duration::from_secs(20),
        "stopped near its timeout, not after the command: {:?}",
        run.elapsed
    );
    let all = run.all();
    assert!(all.contains("slow"), "{run:#?}");
    assert!(all.contains("action-timeout"), "{run:#?}");
    assert!(all.contains("2s"), "{run:#?}");
    // (stderr echoes the command; stdout has the log and the error.)
    assert!(!run.stdout.contains("never"), "{run:#?}");
    assert!(
        local_entries(&p).is_empty(),
        "a timed-out action is not stored"
    );
}

/// `gen` writes `gen/<name>.txt` files (its artifacts are a pattern); `use`
/// depends on `gen` only and prints them all, both on `farm`.
fn globbed_upstream(endpoint: &str) -> String {
    format!(
        "{}\n[commands.gen]\nexec = \"mkdir -p gen/deep && cat src/a.txt > gen/x.txt && echo deeper > gen/deep/y.txt\"\n\
         deps = [\"src/a.txt\"]\nartifacts = [\"gen/**.txt\"]\nexecutor = \"farm\"\n\n\
         [commands.use]\nexec = \"cat gen/x.txt gen/deep/y.txt | tr a-z A-Z\"\n\
         deps = [{{type = \"command\", name = \"gen\"}}]\nexecutor = \"farm\"\n",
        config("", endpoint, "", None)
    )
}

#[test]
fn upstream_artifacts_named_by_a_pattern_are_inputs_of_a_remote_command() {
    let casd = Casd::start();
    let p = project(&globbed_upstream(&casd.endpoint()));
    let run = p.qik(".", &["use", "-n", "1"], &[]);
    run.assert_ok();
    run.assert_ran("gen");
    run.assert_ran("use");
    // Both files the pattern matched were in `use`'s input root.
    assert!(run.stdout.contains("ONE\nDEEPER"), "{run:#?}");
    assert!(warnings(&run).is_empty(), "{run:#?}");
}

#[test]
fn a_changed_upstream_artifact_named_by_a_pattern_changes_the_downstream_hash() {
    let casd = Casd::start();
    let p = project(&globbed_upstream(&casd.endpoint()));
    p.qik(".", &["use", "-n", "1"], &[]).assert_ok();
    let again = p.qik(".", &["use", "-n", "1"], &[]);
    again.assert_cached("gen");
    again.assert_cached("use");
    // The artifact changes by hand: `use`'s hash follows its content.
    p.write("gen/deep/y.txt", "edited\n");
    let hash_of_use = |p: &Project| -> String {
        let run = p.qik(".", &["use", "--ls", "--json"], &[]);
        run.assert_ok();
        let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
        let runnables = doc["runnables"].as_array().expect("runnables");
        let found = runnables
            .iter()
            .find(|r| r["command"] == "use")
            .unwrap_or_else(|| panic!("no `use` in {run:#?}"));
        found["hash"].as_str().expect("a hash").to_string()
    };
    let edited = hash_of_use(&p);
    std::fs::write(p.root.join("gen/deep/y.txt"), "deeper\n").unwrap();
    let restored = hash_of_use(&p);
    assert_ne!(
        edited, restored,
        "the artifact's content is in `use`'s hash"
    );
    p.write("gen/new.txt", "a new match\n");
    assert_ne!(
        hash_of_use(&p),
        restored,
        "a new file the pattern matches is in `use`'s hash"
    );
    std::fs::remove_file(p.root.join("gen/new.txt")).unwrap();
    assert_eq!(hash_of_use(&p), restored, "and gone again");
    // Through the command's inputs: `gen` writes new content, `use` re-runs
    // remotely and sees it.
    p.write("src/a.txt", "uno\n");
    p.git_add();
    let changed = p.qik(".", &["use", "-n", "1"], &[]);
    changed.assert_ran("gen");
    changed.assert_ran("use");
    assert!(changed.stdout.contains("UNO\nDEEPER"), "{changed:#?}");
}

#[test]
fn outputs_staged_by_a_killed_qik_are_swept_by_the_next_remote_run() {
    use std::time::{Duration, SystemTime};
    let casd = Casd::start();
    let p = project(&config("", &casd.endpoint(), "", None));
    // What a qik killed while placing `out/ab.txt` leaves beside it: its
    // staging copy, unclaimed (the lock died with the process), an hour old.
    let abandoned = p.root.join("out/.qik-restore-killed");
    p.write("out/.qik-restore-killed", "half an artifact");
    std::fs::File::options()
        .write(true)
        .open(&abandoned)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
    // One made a moment ago may still be claimed by a live qik: it stays.
    p.write("out/sub/.qik-restore-fresh", "in progress");
    let run = p.qik(".", &["build"], &[]);
    run.assert_ok();
    run.assert_ran("build");
    assert_eq!(p.read("out/ab.txt"), "one\ntwo\n");
    assert!(!abandoned.exists(), "the abandoned staging is removed");
    assert!(p.root.join("out/sub/.qik-restore-fresh").exists());
    let mut staged = Vec::new();
    crate::support::walk(&p.root.join("out"), &mut |path| {
        if path.to_string_lossy().contains(".qik-") && !path.ends_with(".qik-restore-fresh") {
            staged.push(path.to_path_buf());
        }
    });
    assert!(staged.is_empty(), "the run leaves no staging: {staged:?}");
}

/// A REAPI `Platform.Property` as protobuf encodes it inside a `Platform`
/// (its field 1): `name` (field 1), then `value` (field 2), short strings.
fn encoded_property(name: &str, value: &str) -> Vec<u8> {
    let mut property = vec![0x0a, u8::try_from(name.len()).unwrap()];
    property.extend_from_slice(name.as_bytes());
    property.extend_from_slice(&[0x12, u8::try_from(value.len()).unwrap()]);
    property.extend_from_slice(value.as_bytes());
    let mut bytes = vec![0x0a, u8::try_from(property.len()).unwrap()];
    bytes.extend(property);
    bytes
}

/// How many blobs in the server's CAS hold `needle`.
fn blobs_holding(casd: &Casd, needle: &[u8]) -> usize {
    let mut count = 0;
    crate::support::walk(casd.storage(), &mut |path| {
        let bytes = std::fs::read(path).unwrap_or_default();
        if bytes.windows(needle.len()).any(|w| w == needle) {
            count += 1;
        }
    });
    count
}

#[test]
fn platform_properties_reach_the_server_with_the_action() {
    let casd = Casd::start();
    let platform = "platform = {OSFamily = \"linux\", qik-test-pool = \"pool-4711\"}";
    let p = project(&config("", &casd.endpoint(), platform, None));
    let run = p.qik(".", &["build"], &[]);
    run.assert_ok();
    run.assert_ran("build");
    // The Action (API 2.2 and later) and the Command (older servers) both
    // carry them, sorted by name as REAPI asks.
    let mut both = encoded_property("OSFamily", "linux");
    both.extend(encoded_property("qik-test-pool", "pool-4711"));
    assert_eq!(blobs_holding(&casd, &both), 2, "{run:#?}");

    // Other properties make another action: not a hit of the first.
    let other = project(&config(
        "",
        &casd.endpoint(),
        "platform = {OSFamily = \"linux\", qik-test-pool = \"pool-2\"}",
        None,
    ));
    let run = other.qik(".", &["build"], &[]);
    run.assert_ok();
    assert_eq!(
        blobs_holding(&casd, &encoded_property("qik-test-pool", "pool-2")),
        2,
        "{run:#?}"
    );
}

/// What a server killed under a running action costs: the run ends, in far
/// less than the wait allows (`action-timeout` plus its margin, 2 minutes).
const NO_HANG: std::time::Duration = std::time::Duration::from_secs(40);

/// About six seconds, written as no other run on this machine writes it
/// (the test process's id, then `tag`), so `ps` finds this test's action
/// and no one else's, nor an orphan of an earlier run.
fn unique_secs(tag: u32) -> String {
    format!("6.{}{tag}", std::process::id())
}

/// A project whose `slow` command runs `sleep <secs>` on `farm` (`extra`
/// in its table), then says where it ran.
fn slow_project(endpoint: &str, secs: &str, extra: &str) -> Project {
    let text = format!(
        "[plugins]\nreapi = \"qik.reapi\"\n\n\
         [executors.farm]\ntype = \"reapi\"\nendpoint = \"{endpoint}\"\ntimeout = 5\naction-timeout = 60\n{extra}\n\n\
         [commands.slow]\nexec = \"sleep {secs}; if test -e secret.txt; then echo slept here; else echo slept remotely; fi\"\n\
         deps = [\"src/a.txt\"]\nexecutor = \"farm\"\n"
    );
    project(&text)
}

/// Runs `slow`, and kills the server once its action runs; `restart`
/// brings the server back on its port. Returns the run and the time from
/// the kill to its end.
fn kill_mid_action(
    casd: &mut Casd,
    p: &Project,
    secs: &str,
    restart: bool,
) -> (Run, std::time::Duration) {
    let child = p.spawn_qik(&["slow"], &[]);
    wait_for_process(&format!("sleep {secs}"));
    let killed = std::time::Instant::now();
    if restart {
        casd.restart();
    } else {
        casd.kill();
    }
    let run = child.wait_at_most(NO_HANG * 3).expect("qik does not hang");
    (run, killed.elapsed())
}

#[test]
fn an_executor_killed_mid_action_fails_naming_the_endpoint() {
    let mut casd = Casd::start();
    let endpoint = casd.endpoint();
    let secs = unique_secs(1);
    let p = slow_project(&endpoint, &secs, "");
    let (run, waited) = kill_mid_action(&mut casd, &p, &secs, false);
    assert_ne!(run.code, 0, "{run:#?}");
    let all = run.all();
    assert!(all.contains("executor `farm` cannot run slow"), "{run:#?}");
    assert!(all.contains(&endpoint), "{run:#?}");
    // (stderr echoes the command; stdout has the log and the error.)
    assert!(!run.stdout.contains("slept"), "{run:#?}");
    assert!(waited < NO_HANG, "ended {waited:?} after the kill");
    assert!(local_entries(&p).is_empty(), "nothing is stored");
}

#[test]
fn an_executor_killed_mid_action_falls_back_to_a_local_run() {
    let mut casd = Casd::start();
    let endpoint = casd.endpoint();
    let secs = unique_secs(2);
    let p = slow_project(&endpoint, &secs, "local-fallback = true");
    let (run, waited) = kill_mid_action(&mut casd, &p, &secs, false);
    run.assert_ok();
    run.assert_ran("slow");
    assert!(run.stdout.contains("slept here"), "{run:#?}");
    let warned = warnings(&run);
    assert_eq!(warned.len(), 1, "{run:#?}");
    assert!(warned[0].contains(&endpoint), "{run:#?}");
    assert!(warned[0].contains("locally"), "{run:#?}");
    assert!(waited < NO_HANG, "ended {waited:?} after the kill");
}

#[test]
fn an_executor_restarted_mid_action_fails_naming_the_endpoint() {
    let mut casd = Casd::start();
    let endpoint = casd.endpoint();
    let secs = unique_secs(3);
    let p = slow_project(&endpoint, &secs, "local-fallback = true");
    let (run, waited) = kill_mid_action(&mut casd, &p, &secs, true);
    assert_eq!(casd.endpoint(), endpoint, "back on its port");
    // The server answers again but forgot the operation: that is no
    // outage, so no fallback; the user is told to run again.
    assert_ne!(run.code, 0, "{run:#?}");
    let all = run.all();
    assert!(all.contains("executor `farm` cannot run slow"), "{run:#?}");
    assert!(all.contains(&endpoint), "{run:#?}");
    assert!(all.contains("no longer knows its operation"), "{run:#?}");
    assert!(all.contains("hint: run again"), "{run:#?}");
    assert!(!all.contains("worker image"), "{run:#?}");
    assert!(waited < NO_HANG, "ended {waited:?} after the kill");
}
