//! Cached execution end to end: what runs, what is replayed, what lands on
//! disk, as a user of `qik` would check it.
//!
//! Commands leave a trace in untracked files at the project root (`echo x >>
//! ran-<name>`): untracked files are never part of a hash, so the trace counts
//! executions without changing what is hashed.

use std::path::{Path, PathBuf};

use crate::support::{Project, Run};

/// How many times a command appended a line to `file`.
fn times(project: &Project, file: &str) -> usize {
    project.read_or_empty(file).lines().count()
}

#[track_caller]
fn assert_code(run: &Run, code: i32) {
    assert_eq!(run.code, code, "exit code; got {run:#?}");
}

#[track_caller]
fn assert_stderr_has(run: &Run, parts: &[&str]) {
    for part in parts {
        assert!(
            run.stderr.contains(part),
            "stderr lacks {part:?}:\n{}",
            run.stderr
        );
    }
}

#[track_caller]
fn assert_stderr_lacks(run: &Run, parts: &[&str]) {
    for part in parts {
        assert!(
            !run.stderr.contains(part),
            "stderr has {part:?}:\n{}",
            run.stderr
        );
    }
}

/// Every file below `dir`, recursively.
fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_below(&path));
        } else {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// The manifests of the local cache entries of a command.
fn manifests(project: &Project, command: &str) -> Vec<PathBuf> {
    files_below(&project.root.join("._qik/cache"))
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "manifest.json"))
        .filter(|p| {
            p.strip_prefix(project.root.join("._qik/cache"))
                .ok()
                .and_then(|rel| rel.components().next())
                .is_some_and(|c| {
                    c.as_os_str()
                        .to_string_lossy()
                        .starts_with(&format!("{command}-"))
                })
        })
        .collect()
}

/// The one file of `._qik/out` whose name starts with the runnable's slug.
fn out_log(project: &Project, slug_start: &str) -> PathBuf {
    let found: Vec<PathBuf> = files_below(&project.root.join("._qik/out"))
        .into_iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&format!("{slug_start}-")))
        })
        .collect();
    assert_eq!(found.len(), 1, "one output log for {slug_start}: {found:?}");
    found.into_iter().next().expect("one log")
}

const HELLO: &str = r#"
[commands.hello]
exec = "echo x >> ran-hello; echo hello world; echo to stderr >&2"
deps = ["src.txt"]
"#;

#[test]
fn a_second_run_replays_from_the_cache_and_force_runs_again() {
    let p = Project::with_config(HELLO);
    p.write("src.txt", "one\n");
    p.commit_all();

    let first = p.qik(".", &["hello"], &[]);
    assert_code(&first, 0);
    assert_eq!(first.stdout, "hello world\nto stderr\n");
    assert_stderr_has(&first, &["[run] hello", "1 ran"]);
    assert_eq!(times(&p, "ran-hello"), 1);

    let second = p.qik(".", &["hello"], &[]);
    assert_code(&second, 0);
    assert_eq!(
        second.stdout, first.stdout,
        "the replay prints the same output"
    );
    assert_stderr_has(&second, &["[cached] hello", "1 cached"]);
    assert_stderr_lacks(&second, &["[run]"]);
    assert_eq!(
        times(&p, "ran-hello"),
        1,
        "a replay does not run the command"
    );

    let forced = p.qik(".", &["hello", "-f"], &[]);
    assert_code(&forced, 0);
    assert_eq!(forced.stdout, first.stdout);
    assert_stderr_has(&forced, &["[run] hello"]);
    assert_eq!(times(&p, "ran-hello"), 2, "-f runs again");

    // Without a name the same runnable is selected and still cached.
    let all = p.qik(".", &[], &[]);
    assert_code(&all, 0);
    assert_eq!(times(&p, "ran-hello"), 2);

    // qik's private directory never shows up in git.
    let status = p.git(&["status", "--porcelain", "--untracked-files=all"]);
    assert!(!status.contains("._qik"), "{status}");
}

const MODULAR: &str = r#"
[spaces.default]
modules = ["a", "b", "c"]

[commands.build]
exec = "echo {module.name} >> ran-build; echo built {module.name}"
deps = ["{module.dir}/**"]
"#;

fn modular_project() -> Project {
    let p = Project::with_config(MODULAR);
    for m in ["a", "b", "c"] {
        p.write(&format!("{m}/src.txt"), &format!("{m} v1\n"));
    }
    p.commit_all();
    p
}

fn ran_modules(p: &Project) -> Vec<String> {
    let mut ran: Vec<String> = p
        .read_or_empty("ran-build")
        .lines()
        .map(String::from)
        .collect();
    ran.sort();
    ran
}

#[test]
fn editing_a_dep_reruns_only_the_runnables_that_match_it_and_reverting_hits() {
    let p = modular_project();
    let run = p.qik(".", &[], &[]);
    assert_code(&run, 0);
    assert_eq!(ran_modules(&p), ["a", "b", "c"]);

    // A tracked file edited in the working tree (not staged) counts.
    p.write("b/src.txt", "b v2\n");
    let run = p.qik(".", &[], &[]);
    assert_code(&run, 0);
    assert_eq!(ran_modules(&p), ["a", "b", "b", "c"]);
    assert_stderr_has(&run, &["ok build#b", "cached build#a", "cached build#c"]);

    // Back to the committed content: an older entry is still there.
    p.write("b/src.txt", "b v1\n");
    let run = p.qik(".", &[], &[]);
    assert_code(&run, 0);
    assert_eq!(ran_modules(&p), ["a", "b", "b", "c"], "{}", run.stderr);
    assert_stderr_has(
        &run,
        &["cached build#a", "cached build#b", "cached build#c"],
    );

    // And the edited content once more: also kept.
    p.write("b/src.txt", "b v2\n");
    let run = p.qik(".", &["build", "-m", "b"], &[]);
    assert_code(&run, 0);
    assert_eq!(run.stdout, "built b\n");
    assert_stderr_has(&run, &["[cached] build#b"]);
    assert_eq!(ran_modules(&p), ["a", "b", "b", "c"]);
}

#[test]
fn untracked_files_are_ignored_until_added_with_intent_to_add() {
    let p = modular_project();
    assert_code(&p.qik(".", &[], &[]), 0);

    p.write("a/new.txt", "untracked\n");
    let run = p.qik(".", &[], &[]);
    assert_code(&run, 0);
    assert_eq!(
        ran_modules(&p),
        ["a", "b", "c"],
        "untracked files are not deps"
    );

    p.git(&["add", "-N", "a/new.txt"]);
    let run = p.qik(".", &[], &[]);
    assert_code(&run, 0);
    assert_eq!(
        ran_modules(&p),
        ["a", "a", "b", "c"],
        "git add -N makes it a dep"
    );
    assert_stderr_has(&run, &["ok build#a", "cached build#b"]);
}

#[test]
fn a_deleted_tracked_file_hashes_like_an_absent_one() {
    let p = modular_project();
    p.write("a/gone.txt", "soon deleted\n");
    p.commit_all();
    assert_code(&p.qik(".", &["build", "-m", "a"], &[]), 0);
    assert_eq!(ran_modules(&p), ["a"]);

    p.remove("a/gone.txt");
    let run = p.qik(".", &["build", "-m", "a"], &[]);
    assert_code(&run, 0);
    assert_stderr_has(&run, &["[run] build#a"]);
    assert_eq!(ran_modules(&p), ["a", "a"]);

    // Removing it from git as well changes nothing about the hash.
    p.git(&["rm", "-q", "--cached", "a/gone.txt"]);
    p.commit_all();
    let run = p.qik(".", &["build", "-m", "a"], &[]);
    assert_code(&run, 0);
    assert_stderr_has(&run, &["[cached] build#a"]);
    assert_eq!(ran_modules(&p), ["a", "a"]);
}

#[test]
fn deps_with_spaces_quotes_and_non_ascii_names() {
    let p = Project::with_config(
        r#"
[commands.odd]
exec = "echo x >> ran-odd; cat \"dir with space/it's \\\"q\\\".txt\" ünï/名前.txt"
deps = ["dir with space/**", "ünï/*.txt"]
"#,
    );
    p.write("dir with space/it's \"q\".txt", "spaced\n");
    p.write("ünï/名前.txt", "unicode\n");
    p.commit_all();

    let run = p.qik(".", &["odd"], &[]);
    assert_code(&run, 0);
    assert_eq!(run.stdout, "spaced\nunicode\n");
    assert_eq!(times(&p, "ran-odd"), 1);
    let run = p.qik(".", &["odd"], &[]);
    assert_stderr_has(&run, &["[cached] odd"]);
    assert_eq!(run.stdout, "spaced\nunicode\n");
    assert_eq!(times(&p, "ran-odd"), 1);

    let manifest = std::fs::read_to_string(&manifests(&p, "odd")[0]).expect("manifest");
    assert!(
        manifest.contains("dir with space/it's \\\"q\\\".txt"),
        "{manifest}"
    );
    assert!(manifest.contains("ünï/名前.txt"), "{manifest}");

    p.write("dir with space/it's \"q\".txt", "spaced 2\n");
    let run = p.qik(".", &["odd"], &[]);
    assert_eq!(run.stdout, "spaced 2\nunicode\n");
    assert_eq!(times(&p, "ran-odd"), 2);

    p.write("ünï/名前.txt", "unicode 2\n");
    let run = p.qik(".", &["odd"], &[]);
    assert_eq!(run.stdout, "spaced 2\nunicode 2\n");
    assert_eq!(times(&p, "ran-odd"), 3);
}

#[test]
fn a_failure_skips_its_dependents_and_is_not_cached_by_default() {
    let p = Project::with_config(
        r#"
[commands.broken]
exec = "echo x >> ran-broken; echo broken output; exit 3"
deps = ["src.txt"]

[commands.after]
exec = "echo x >> ran-after"
deps = ["src.txt", {type = "command", name = "broken"}]

[commands.fine]
exec = "echo x >> ran-fine"
deps = ["src.txt"]

[commands.worse]
exec = "echo x >> ran-worse; exit 5"
deps = ["src.txt"]
"#,
    );
    p.write("src.txt", "x\n");
    p.commit_all();

    let run = p.qik(".", &[], &[]);
    assert_code(&run, 5);
    assert_stderr_has(
        &run,
        &[
            "failed broken: exited 3",
            "failed worse: exited 5",
            "skipped after (upstream broken failed)",
            "ok fine",
        ],
    );
    // Failures' output is shown at the end.
    assert!(run.stdout.contains("broken output"), "{}", run.stdout);
    assert_eq!(times(&p, "ran-after"), 0);
    assert_eq!(times(&p, "ran-fine"), 1);

    let run = p.qik(".", &[], &[]);
    assert_code(&run, 5);
    assert_eq!(times(&p, "ran-broken"), 2, "failures are not cached");
    assert_eq!(times(&p, "ran-worse"), 2);
    assert_eq!(times(&p, "ran-fine"), 1, "successes are");
    assert_eq!(times(&p, "ran-after"), 0);
    assert!(manifests(&p, "broken").is_empty());
}

fn replays_failures(cache_when: &str) {
    let p = Project::with_config(&format!(
        r#"
[commands.broken]
exec = "echo x >> ran-broken; echo broken output; exit 3"
deps = ["src.txt"]
cache-when = "{cache_when}"
"#
    ));
    p.write("src.txt", "x\n");
    p.commit_all();

    let first = p.qik(".", &["broken"], &[]);
    assert_code(&first, 3);
    assert_eq!(first.stdout, "broken output\n");
    let second = p.qik(".", &["broken"], &[]);
    assert_code(&second, 3);
    assert_eq!(second.stdout, first.stdout);
    assert_stderr_has(
        &second,
        &["[cached] broken", "failed broken: exited 3 (cached)"],
    );
    assert_eq!(times(&p, "ran-broken"), 1, "cache-when = {cache_when}");
}

#[test]
fn cache_when_failed_or_finished_replays_the_failure() {
    replays_failures("failed");
    replays_failures("finished");

    // `failed` does not cache a success.
    let p = Project::with_config(
        r#"
[commands.fine]
exec = "echo x >> ran-fine"
deps = ["src.txt"]
cache-when = "failed"
"#,
    );
    p.write("src.txt", "x\n");
    p.commit_all();
    assert_code(&p.qik(".", &["fine"], &[]), 0);
    assert_code(&p.qik(".", &["fine"], &[]), 0);
    assert_eq!(times(&p, "ran-fine"), 2);
}

#[test]
fn a_missing_program_exits_127_and_says_not_found() {
    let p = Project::with_config(
        r#"
[commands.missing]
exec = "qik-no-such-program-here --flag"
"#,
    );
    let run = p.qik(".", &["missing"], &[]);
    assert_code(&run, 127);
    assert_stderr_has(&run, &["not found", "failed missing: exited 127"]);
    // The shell's own message is the command's output.
    assert!(
        run.stdout.contains("qik-no-such-program-here"),
        "{}",
        run.stdout
    );
    // The space has no venv and none is active: the hint says PATH alone was
    // searched and how to give the space one.
    assert_stderr_has(
        &run,
        &[
            "no venv is active",
            "space `default` has none and VIRTUAL_ENV is not set",
            "[spaces.default] venv",
        ],
    );
    // With a venv active, a missing program is only "not on PATH".
    let outside = tempfile::tempdir().expect("temp dir");
    let venv = fake_venv(outside.path(), "other-1.0.dist-info");
    let venv = venv.to_string_lossy().into_owned();
    let run = p.qik(".", &["missing"], &[("VIRTUAL_ENV", &venv)]);
    assert_code(&run, 127);
    assert_stderr_has(&run, &["command not found; is it installed and on PATH?"]);
    assert!(!run.stderr.contains("no venv"), "{run:#?}");
}

#[test]
fn a_corrupt_cache_entry_is_a_miss_with_a_warning_and_is_rewritten() {
    let p = Project::with_config(HELLO);
    p.write("src.txt", "one\n");
    p.commit_all();
    assert_code(&p.qik(".", &["hello"], &[]), 0);
    let manifest = manifests(&p, "hello").pop().expect("an entry");
    let good = std::fs::read(&manifest).expect("manifest");

    for damage in [&good[..good.len() / 2], b"\x00garbage\xff".as_slice(), b""] {
        std::fs::write(&manifest, damage).expect("damage the manifest");
        let ran = times(&p, "ran-hello");
        let run = p.qik(".", &["hello"], &[]);
        assert_code(&run, 0);
        assert_eq!(run.stdout, "hello world\nto stderr\n");
        assert_stderr_has(&run, &["warning", "damaged cache entry", "[run] hello"]);
        assert_eq!(times(&p, "ran-hello"), ran + 1, "a damaged entry is a miss");

        // The run replaced it with a good one.
        let run = p.qik(".", &["hello"], &[]);
        assert_code(&run, 0);
        assert_stderr_has(&run, &["[cached] hello"]);
        assert_stderr_lacks(&run, &["warning"]);
        assert_eq!(run.stdout, "hello world\nto stderr\n");
        assert_eq!(times(&p, "ran-hello"), ran + 1);
    }

    // A log that went missing is a miss too.
    let entry = manifest.parent().expect("entry dir");
    std::fs::remove_file(entry.join("log")).expect("remove the log");
    let run = p.qik(".", &["hello"], &[]);
    assert_code(&run, 0);
    assert_stderr_has(&run, &["warning", "[run] hello"]);
    let run = p.qik(".", &["hello"], &[]);
    assert_stderr_has(&run, &["[cached] hello"]);
    assert_eq!(run.stdout, "hello world\nto stderr\n");
}

#[test]
fn two_qik_processes_at_once_leave_a_valid_cache() {
    let p = modular_project();
    // Forced runs store every time: three chances for the two processes to
    // spoil each other's logs.
    for args in [&[][..], &["-f"], &["-f"]] {
        let first = p.spawn_qik(args, &[]);
        let second = p.spawn_qik(args, &[]);
        let (first, second) = (first.wait(), second.wait());
        assert_code(&first, 0);
        assert_code(&second, 0);
        assert_stderr_lacks(&first, &["warning"]);
        assert_stderr_lacks(&second, &["warning"]);

        let third = p.qik(".", &[], &[]);
        assert_code(&third, 0);
        assert_stderr_has(&third, &["3 cached"]);
        let ran = times(&p, "ran-build");
        for m in ["a", "b", "c"] {
            let run = p.qik(".", &["build", "-m", m], &[]);
            assert_eq!(run.stdout, format!("built {m}\n"), "the replay of {m}");
            assert_stderr_has(&run, &["[cached]"]);
        }
        assert_eq!(times(&p, "ran-build"), ran);
    }
    // Only the latest outputs are left in `._qik/out`.
    let left: Vec<PathBuf> = files_below(&p.root.join("._qik/out"));
    assert_eq!(left.len(), 3, "{left:?}");
    assert!(
        left.iter()
            .all(|f| f.extension().is_some_and(|e| e == "out"))
    );
}

#[test]
fn the_latest_output_can_be_read_while_the_command_runs() {
    let p = Project::with_config(
        r#"
[commands.watched]
exec = "echo early; sleep 0.3; head -n 1 ._qik/out/watched-*.out"
"#,
    );
    let run = p.qik(".", &["watched"], &[]);
    assert_code(&run, 0);
    assert_eq!(run.stdout, "early\nearly\n");
    assert_eq!(
        p.read_or_empty(&out_log_name(&p, "watched")),
        "early\nearly\n"
    );
}

fn out_log_name(p: &Project, slug_start: &str) -> String {
    out_log(p, slug_start)
        .strip_prefix(&p.root)
        .expect("inside")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn artifacts_are_restored_and_never_outside_the_project() {
    let p = Project::with_config(
        r#"
[commands.report]
exec = "echo x >> ran-report; mkdir -p out && echo report of $(cat src.txt) > out/report.txt"
deps = ["src.txt"]
artifacts = ["out/report.txt"]
"#,
    );
    p.write("src.txt", "one\n");
    p.commit_all();
    assert_code(&p.qik(".", &["report"], &[]), 0);
    assert_eq!(p.read("out/report.txt"), "report of one\n");

    p.remove("out/report.txt");
    let run = p.qik(".", &["report"], &[]);
    assert_code(&run, 0);
    assert_stderr_has(&run, &["[cached] report"]);
    assert_eq!(times(&p, "ran-report"), 1);
    assert_eq!(p.read("out/report.txt"), "report of one\n", "restored");

    // A manifest pointing outside the project is refused; the command runs.
    let escape = format!(
        "qik-escape-{}",
        p.root.file_name().expect("name").to_string_lossy()
    );
    let outside = p.root.parent().expect("parent").join(&escape);
    let manifest = manifests(&p, "report").pop().expect("an entry");
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    assert!(text.contains("\"out/report.txt\""), "{text}");
    let evil = text.replace("\"out/report.txt\"", &format!("\"../{escape}\""));
    std::fs::write(&manifest, evil).expect("edit the manifest");
    p.remove("out/report.txt");

    let run = p.qik(".", &["report"], &[]);
    assert_code(&run, 0);
    assert_stderr_has(&run, &["warning", "leaves the project", "[run] report"]);
    assert!(!outside.exists(), "nothing written outside the project");
    assert_eq!(times(&p, "ran-report"), 2);
    assert_eq!(p.read("out/report.txt"), "report of one\n");

    // The run wrote a good entry again.
    p.remove("out/report.txt");
    let run = p.qik(".", &["report"], &[]);
    assert_stderr_has(&run, &["[cached] report"]);
    assert_stderr_lacks(&run, &["warning"]);
    assert_eq!(times(&p, "ran-report"), 2);
    assert_eq!(p.read("out/report.txt"), "report of one\n");
}

const PACKED: &str = r#"
[commands.tools]
exec = "echo x >> ran-tools; mkdir -p out bin && echo report > out/report.txt && printf '#!/bin/sh\\necho hi\\n' > bin/tool && chmod 755 bin/tool"
deps = ["src.txt"]
artifacts = ["out/report.txt", "bin/tool"]
"#;

/// The mode a file gets when a command creates it with `mode` (the umask
/// of the tests applies).
fn created_mode(p: &Project, mode: u32) -> u32 {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let probe = p.root.join("probe");
    let _ = std::fs::remove_file(&probe);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&probe)
        .expect("probe");
    let made = std::fs::metadata(&probe)
        .expect("probe")
        .permissions()
        .mode()
        & 0o777;
    std::fs::remove_file(&probe).expect("probe");
    made
}

fn mode_of(p: &Project, path: &str) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p.root.join(path))
        .expect("restored")
        .permissions()
        .mode()
        & 0o777
}

/// The local cache keeps no modes in its pack: the manifest keeps the exec
/// bit, and a restore makes each file as the command did.
#[test]
fn restored_artifacts_keep_their_exec_bit() {
    let p = Project::with_config(PACKED);
    p.write("src.txt", "one\n");
    p.commit_all();
    assert_code(&p.qik(".", &["tools"], &[]), 0);
    p.remove("bin/tool");
    p.remove("out/report.txt");
    let run = p.qik(".", &["tools"], &[]);
    assert_code(&run, 0);
    assert_stderr_has(&run, &["[cached] tools"]);
    assert_eq!(times(&p, "ran-tools"), 1);
    assert_eq!(mode_of(&p, "bin/tool"), created_mode(&p, 0o755));
    assert_eq!(mode_of(&p, "out/report.txt"), created_mode(&p, 0o666));
    let ran = std::process::Command::new(p.root.join("bin/tool"))
        .output()
        .expect("the restored tool runs");
    assert_eq!(ran.stdout, b"hi\n");
}

/// The pack's length must be what the manifest adds up to, and its bytes
/// must match their digests: a pack cut short, grown, or altered is a miss
/// with one warning, the command runs again, and the next run replays the
/// entry it wrote.
#[test]
fn a_damaged_artifacts_pack_is_a_miss_and_the_command_reruns() {
    let p = Project::with_config(PACKED);
    p.write("src.txt", "one\n");
    p.commit_all();
    assert_code(&p.qik(".", &["tools"], &[]), 0);
    let entry = manifests(&p, "tools").pop().expect("an entry");
    let pack = entry.with_file_name("artifacts.pack");
    let good = std::fs::read(&pack).expect("a pack");
    // In the manifest's order (paths sorted), nothing else.
    assert_eq!(good, b"#!/bin/sh\necho hi\nreport\n");

    let mut altered = good.clone();
    // "report" becomes "rePort": the same length, other bytes.
    altered[good.len() - 5] ^= 0x20;
    let size = |n: usize| format!("artifacts.pack holds {n} bytes where its manifest lists 25");
    let cases = [
        (good[..good.len() - 1].to_vec(), size(24)),
        ([&good[..], b"!"].concat(), size(26)),
        (
            altered,
            "artifact out/report.txt in the cache does not match its digest".to_string(),
        ),
    ];
    for (run_count, (damaged, why)) in cases.into_iter().enumerate() {
        let why = why.as_str();
        let pack = manifests(&p, "tools")
            .pop()
            .expect("an entry")
            .with_file_name("artifacts.pack");
        std::fs::write(&pack, damaged).expect("damage the pack");
        p.remove("out/report.txt");
        p.remove("bin/tool");
        let run = p.qik(".", &["tools"], &[]);
        assert_code(&run, 0);
        assert_stderr_has(&run, &["warning", why, "[run] tools"]);
        assert_eq!(times(&p, "ran-tools"), run_count + 2, "{why}: a miss");
        assert_eq!(p.read("out/report.txt"), "report\n");
        assert_eq!(mode_of(&p, "bin/tool"), created_mode(&p, 0o755));

        // The run wrote a good entry in place of the damaged one.
        p.remove("out/report.txt");
        let run = p.qik(".", &["tools"], &[]);
        assert_stderr_has(&run, &["[cached] tools"]);
        assert_stderr_lacks(&run, &["warning"]);
        assert_eq!(times(&p, "ran-tools"), run_count + 2);
        assert_eq!(p.read("out/report.txt"), "report\n");
    }
}

/// Entries of manifest version 2 kept a file per artifact: another version's
/// entries, a miss with a warning (as version 1), then replaced.
#[test]
fn an_entry_of_version_2_is_a_miss_and_is_replaced() {
    let p = Project::with_config(PACKED);
    p.write("src.txt", "one\n");
    p.commit_all();
    assert_code(&p.qik(".", &["tools"], &[]), 0);
    let manifest = manifests(&p, "tools").pop().expect("an entry");
    let mut old: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest).expect("manifest")).expect("json");
    old["version"] = 2.into();
    std::fs::write(&manifest, serde_json::to_vec(&old).expect("json")).expect("write");
    p.remove("out/report.txt");
    let run = p.qik(".", &["tools"], &[]);
    assert_code(&run, 0);
    assert_stderr_has(
        &run,
        &[
            "warning",
            "belongs to another runnable or version",
            "[run] tools",
        ],
    );
    assert_eq!(times(&p, "ran-tools"), 2);
    let run = p.qik(".", &["tools"], &[]);
    assert_stderr_has(&run, &["[cached] tools"]);
    assert_stderr_lacks(&run, &["warning"]);
}

#[test]
fn non_utf8_output_is_replayed_byte_for_byte() {
    let p = Project::with_config(
        r#"
[commands.bytes]
exec = "printf 'a\\377\\376 caf\\351\\n\\001no newline at end\\200'"
deps = ["src.txt"]
"#,
    );
    p.write("src.txt", "x\n");
    p.commit_all();
    let printed: &[u8] = b"a\xff\xfe caf\xe9\n\x01no newline at end\x80";

    let run = p.qik(".", &["bytes"], &[]);
    assert_code(&run, 0);
    assert_eq!(run.stdout_bytes, [printed, b"\n"].concat());
    let log = out_log(&p, "bytes");
    assert_eq!(std::fs::read(&log).expect("log"), printed);

    std::fs::remove_file(&log).expect("remove the log");
    let replay = p.qik(".", &["bytes"], &[]);
    assert_stderr_has(&replay, &["[cached] bytes"]);
    assert_eq!(replay.stdout_bytes, run.stdout_bytes);
    assert_eq!(
        std::fs::read(out_log(&p, "bytes")).expect("log"),
        printed,
        "a replay is the latest output"
    );
}

#[test]
fn a_hundred_megabytes_of_output_stream_to_the_log() {
    let p = Project::with_config(
        r#"
[commands.big]
exec = "head -c 100000000 /dev/zero | tr '\\0' 'x' | fold -w 100"
"#,
    );
    let run = p.qik(".", &["big", "-v", "0"], &[]);
    assert_code(&run, 0);
    assert!(run.stdout.is_empty(), "-v 0 shows no output");
    let log = out_log(&p, "big");
    let size = std::fs::metadata(&log).expect("log").len();
    assert_eq!(size, 100_999_999);
}

#[test]
fn commands_get_qik_variables_and_run_in_the_project_root() {
    let p = Project::with_config(
        r#"
[spaces.default]
modules = ["a", "b", "c"]

[commands.env]
exec = "echo \"$QIK__CMD|$QIK__RUNNABLE|$QIK__WORKER|$(pwd)\" > env-{module.name}.txt"
"#,
    );
    p.mkdirs(&["a/deeper", "b", "c"]);
    let run = p.qik("a/deeper", &["-n", "3"], &[]);
    assert_code(&run, 0);
    for m in ["a", "b", "c"] {
        let line = p.read(&format!("env-{m}.txt"));
        let fields: Vec<&str> = line.trim_end().split('|').collect();
        assert_eq!(fields.len(), 4, "{line}");
        assert_eq!(fields[0], "env");
        assert_eq!(fields[1], format!("env#{m}"));
        let worker: usize = fields[2].parse().expect("a worker number");
        assert!((1..=3).contains(&worker), "worker {worker}");
        assert_eq!(Path::new(fields[3]), p.root, "runs in the project root");
    }
}

#[test]
fn commands_without_deps_are_never_cached() {
    let p = Project::with_config(
        r#"
[base]
deps = ["src.txt"]

[commands.plain]
exec = "echo x >> ran-plain"
"#,
    );
    p.write("src.txt", "x\n");
    p.commit_all();
    for expected in 1..=3 {
        let run = p.qik(".", &["plain"], &[]);
        assert_code(&run, 0);
        assert_stderr_has(&run, &["[run] plain"]);
        assert_eq!(times(&p, "ran-plain"), expected);
    }
    assert!(!p.root.join("._qik/cache").exists() || manifests(&p, "plain").is_empty());
}

#[test]
fn cache_status_and_cache_selection_and_the_repo_cache() {
    let p = Project::with_config(
        r#"
[commands.local-one]
exec = "echo x >> ran-local-one"
deps = ["src.txt"]

[commands.local-two]
exec = "echo x >> ran-local-two"
deps = ["src.txt"]

[commands.in-repo]
exec = "echo x >> ran-in-repo; echo from repo"
deps = ["src.txt"]
cache = "repo"
"#,
    );
    p.write("src.txt", "x\n");
    p.commit_all();
    let ls = |args: &[&str]| {
        let run = p.qik(".", args, &[]);
        assert_code(&run, 0);
        run.stdout
    };
    assert_eq!(ls(&["--ls", "--cache-status", "warm"]), "");
    assert_eq!(
        ls(&["--ls", "--cache-status", "cold"]),
        "in-repo\nlocal-one\nlocal-two\n"
    );
    assert_eq!(ls(&["--ls", "--cache", "repo"]), "in-repo\n");
    assert_eq!(ls(&["--ls", "--cache", "local"]), "local-one\nlocal-two\n");

    assert_code(&p.qik(".", &["local-one"], &[]), 0);
    assert_eq!(ls(&["--ls", "--cache-status", "warm"]), "local-one\n");
    assert_eq!(
        ls(&["--ls", "--cache-status", "cold"]),
        "in-repo\nlocal-two\n"
    );

    let run = p.qik(".", &["--cache", "repo"], &[]);
    assert_code(&run, 0);
    assert_eq!(times(&p, "ran-in-repo"), 1);
    assert_eq!(
        times(&p, "ran-local-two"),
        0,
        "--cache repo runs the repo one only"
    );
    let entries = files_below(&p.root.join(".qik/cache"));
    assert!(
        entries.iter().any(|f| f.ends_with("manifest.json")),
        "{entries:?}"
    );
    let status = p.git(&["status", "--porcelain", "--untracked-files=no"]);
    assert!(
        status
            .lines()
            .any(|l| l.starts_with(" A .qik/cache/") && l.ends_with("manifest.json")),
        "repo cache entries are added with -N:\n{status}"
    );
    let attributes = p.read(".gitattributes");
    assert!(
        attributes.lines().any(|l| l.starts_with(".qik/**")),
        "{attributes}"
    );
    let driver = p.git(&["config", "--local", "--get", "merge.qik.driver"]);
    assert!(!driver.trim().is_empty());
    assert_eq!(
        ls(&["--ls", "--cache-status", "warm"]),
        "in-repo\nlocal-one\n"
    );

    // The entry replays, from the repo cache only.
    std::fs::remove_dir_all(p.root.join("._qik")).expect("drop the local cache");
    let run = p.qik(".", &["in-repo"], &[]);
    assert_code(&run, 0);
    assert_stderr_has(&run, &["[cached] in-repo"]);
    assert_eq!(run.stdout, "from repo\n");
    assert_eq!(times(&p, "ran-in-repo"), 1);
    // Running again does not write a second attributes line.
    assert_eq!(p.read(".gitattributes"), attributes);
}

#[test]
fn fail_exits_1_without_running_and_one_worker_streams_everything() {
    let p = Project::with_config(
        r#"
[commands.first]
exec = "echo x >> ran-first; echo first out"

[commands.second]
exec = "echo x >> ran-second; echo second out"
"#,
    );
    let run = p.qik(".", &["--fail"], &[]);
    assert_code(&run, 1);
    assert_eq!(times(&p, "ran-first") + times(&p, "ran-second"), 0);

    for (args, env) in [
        (vec!["-n", "1"], vec![]),
        (vec![], vec![("QIK__WORKERS", "1")]),
    ] {
        let run = p.qik(".", &args, &env);
        assert_code(&run, 0);
        assert_eq!(run.stdout, "first out\nsecond out\n");
        assert_stderr_has(
            &run,
            &[
                "[run] first $ echo x >> ran-first",
                "[run] second $ echo x >> ran-second",
            ],
        );
    }
    assert_eq!(times(&p, "ran-first"), 2);
}

#[test]
fn ls_into_a_closed_pipe_is_quiet() {
    let modules: Vec<String> = (0..3000)
        .map(|i| format!("\"module-number-{i:05}\""))
        .collect();
    let p = Project::with_config(&format!(
        r#"
[spaces.default]
modules = [{}]

[commands.a-long-command-name-to-fill-the-pipe]
exec = "true {{module.dir}}"
"#,
        modules.join(", ")
    ));
    for i in 0..3000 {
        p.mkdirs(&[&format!("module-number-{i:05}")]);
    }
    let script = format!("'{}' --ls | head -1", crate::support::qik_bin().display());
    let output = std::process::Command::new("sh")
        .args(["-c", &script])
        .current_dir(&p.root)
        .env("NO_COLOR", "1")
        .output()
        .expect("sh runs");
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "a-long-command-name-to-fill-the-pipe#module-number-00000\n"
    );
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}

fn fake_venv(dir: &Path, dist_info: &str) -> PathBuf {
    let site = dir.join("venv/lib/python3.11/site-packages");
    std::fs::create_dir_all(site.join(dist_info)).expect("dist-info");
    dir.join("venv")
}

#[test]
fn pydist_deps_follow_the_installed_version() {
    let p = Project::with_config(
        r#"
[commands.uses-foo]
exec = "echo x >> ran-foo"
deps = [{type = "pydist", name = "foo"}]
"#,
    );
    let outside = tempfile::tempdir().expect("temp dir");
    let venv = fake_venv(outside.path(), "foo-1.0.dist-info");
    let venv_str = venv.to_string_lossy().into_owned();
    let env = [("VIRTUAL_ENV", venv_str.as_str())];
    assert_code(&p.qik(".", &["uses-foo"], &env), 0);
    let run = p.qik(".", &["uses-foo"], &env);
    assert_code(&run, 0);
    assert_stderr_has(&run, &["[cached] uses-foo"]);
    assert_eq!(times(&p, "ran-foo"), 1);

    let site = venv.join("lib/python3.11/site-packages");
    std::fs::rename(
        site.join("foo-1.0.dist-info"),
        site.join("foo-2.0.dist-info"),
    )
    .expect("upgrade foo");
    let run = p.qik(".", &["uses-foo"], &env);
    assert_code(&run, 0);
    assert_stderr_has(&run, &["[run] uses-foo"]);
    assert_eq!(times(&p, "ran-foo"), 2);
}

#[test]
fn a_missing_pydist_is_an_error_unless_versioned_or_ignored() {
    let outside = tempfile::tempdir().expect("temp dir");
    let venv = fake_venv(outside.path(), "other-1.0.dist-info");
    let venv_str = venv.to_string_lossy().into_owned();
    let env = [("VIRTUAL_ENV", venv_str.as_str())];
    let command = r#"
[commands.uses-bar]
exec = "echo x >> ran-bar"
deps = [{type = "pydist", name = "bar"}]
"#;

    let p = Project::with_config(command);
    let run = p.qik(".", &["uses-bar"], &env);
    assert_code(&run, 1);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(all.contains("dep0"), "{all}");
    assert!(all.contains("\"bar\""), "{all}");
    assert!(!all.contains("no venv"), "a venv is active: {all}");
    assert_eq!(times(&p, "ran-bar"), 0);

    // No space venv and no VIRTUAL_ENV: the error says no venv is active,
    // and the hint how to give the space one.
    let run = p.qik(".", &["uses-bar"], &[]);
    assert_code(&run, 1);
    let all = format!("{}{}", run.stdout, run.stderr);
    for part in [
        "dep0",
        "distribution \"bar\" not found, and no venv is active",
        "space `default` has no venv and VIRTUAL_ENV is not set",
        "[spaces.default] venv",
    ] {
        assert!(all.contains(part), "lacks {part:?}: {all}");
    }
    assert_eq!(times(&p, "ran-bar"), 0);

    for extra in [
        "[pydist.versions]\nbar = \"1.2\"\n",
        "[pydist]\nignore-missing = true\n",
    ] {
        let p = Project::with_config(&format!("{command}\n{extra}"));
        let run = p.qik(".", &["uses-bar"], &env);
        assert_code(&run, 0);
        let run = p.qik(".", &["uses-bar"], &env);
        assert_stderr_has(&run, &["[cached] uses-bar"]);
        assert_eq!(times(&p, "ran-bar"), 1, "{extra}");
    }
}

/// `{type = "load"}` takes its globs from a JSON file another command writes
/// (as pygraph's lock does), and its `default` globs until the file exists.
#[test]
fn load_deps_follow_the_globs_in_their_file() {
    let project = Project::with_config(
        "[commands.check]\nexec = \"echo x >> ran-check\"\n\
         deps = [{type = \"load\", path = \"deps.json\", default = [\"a.py\"]}]\n",
    );
    project.write("a.py", "a = 1\n");
    project.write("b.py", "b = 1\n");
    project.commit_all();
    assert_code(&project.qik(".", &[], &[]), 0);
    // Only the default globs count while deps.json is absent.
    project.write("b.py", "b = 2\n");
    assert_code(&project.qik(".", &[], &[]), 0);
    assert_eq!(times(&project, "ran-check"), 1);
    project.write("a.py", "a = 2\n");
    assert_code(&project.qik(".", &[], &[]), 0);
    assert_eq!(times(&project, "ran-check"), 2);
    // Now the file names b.py: editing b.py re-runs, a.py no longer matters.
    project.write("deps.json", "{\"globs\": [\"b.py\"], \"pydists\": []}");
    assert_code(&project.qik(".", &[], &[]), 0);
    assert_eq!(times(&project, "ran-check"), 3);
    project.write("a.py", "a = 3\n");
    assert_code(&project.qik(".", &[], &[]), 0);
    assert_eq!(times(&project, "ran-check"), 3);
    project.write("b.py", "b = 3\n");
    assert_code(&project.qik(".", &[], &[]), 0);
    assert_eq!(times(&project, "ran-check"), 4);
    // A damaged deps file fails the runnable with a clear message.
    project.write("deps.json", "{not json");
    let run = project.qik(".", &["-n", "1"], &[]);
    assert_code(&run, 1);
    assert!(
        run.stdout.contains("deps.json is not a deps file"),
        "{run:?}"
    );
}

/// A runnable hashes the same whether or not its upstream is in the run:
/// `--isolated` (or a tag filter) must still replay it.
#[test]
fn upstream_artifacts_count_even_when_the_upstream_is_not_selected() {
    let project = Project::with_config(
        "[commands.build]\nexec = \"echo x >> ran-build && mkdir -p out && echo built > out/lib.txt\"\n\
         deps = [\"src.txt\"]\nartifacts = [\"out/lib.txt\"]\n\n\
         [commands.test]\nexec = \"echo x >> ran-test\"\n\
         deps = [\"t.txt\", {type = \"command\", name = \"build\"}]\n",
    );
    project.write("src.txt", "1");
    project.write("t.txt", "1");
    project.commit_all();
    assert_code(&project.qik(".", &[], &[]), 0);
    assert_code(&project.qik(".", &["test", "--isolated"], &[]), 0);
    assert_eq!(times(&project, "ran-test"), 1, "an isolated run replays");
}

/// In a GitHub Actions job, each runnable's output is a fold of the job log
/// and each failure an error annotation (the runner reads both from stdout).
#[test]
fn under_github_actions_output_is_folded_and_failures_are_annotated() {
    let p = Project::with_config("[commands]\nok = \"echo fine\"\nbad = \"echo broken; exit 3\"\n");
    p.commit_all();
    let run = p.qik(".", &["-n", "2"], &[("GITHUB_ACTIONS", "true")]);
    assert_eq!(run.code, 3, "{run:#?}");
    let out = run.lines();
    assert!(out.contains(&"::error title=bad::bad exited 3"), "{run:#?}");
    let group = out.iter().position(|l| *l == "::group::bad (exited 3)");
    let group = group.unwrap_or_else(|| panic!("no fold for bad: {run:#?}"));
    assert_eq!(out[group + 1..group + 3], ["broken", "::endgroup::"]);
    // Outside GitHub Actions: no workflow commands.
    let run = p.qik(".", &["-n", "2"], &[("GITHUB_ACTIONS", "false")]);
    assert!(!run.stdout.contains("::"), "{run:#?}");
}

/// A tracked file that an upstream command rewrites counts with what the
/// command wrote: the git index is read ahead of the run (while the
/// configuration is loaded), but a file's stat is taken at its first use.
#[test]
fn a_tracked_file_rewritten_upstream_counts_as_written() {
    let project = Project::with_config(
        // The pause puts the write well after anything read ahead.
        "[commands.generate]\nexec = \"sleep 0.5; cat src.txt > generated.txt\"\ndeps = [\"src.txt\"]\n\n\
         [commands.use]\nexec = \"echo x >> ran-use\"\n\
         deps = [\"generated.txt\", {type = \"command\", name = \"generate\"}]\n",
    );
    project.write("src.txt", "1");
    project.write("generated.txt", "1");
    project.commit_all();
    assert_code(&project.qik(".", &[], &[]), 0);
    assert_eq!(times(&project, "ran-use"), 1);
    // The index vouches for generated.txt as `generate` left it (refreshed
    // a second after that write, so not racily clean): a stat of it taken
    // before `generate` runs again would give the old content's id (shown
    // failing with stats taken ahead on the prefetch thread and trusted
    // after a command ran).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    project.git(&["update-index", "--refresh"]);
    project.write("src.txt", "2");
    assert_code(&project.qik(".", &["-n", "1"], &[]), 0);
    assert_eq!(
        times(&project, "ran-use"),
        2,
        "generated.txt changed under `use` before it was hashed"
    );
    assert_code(&project.qik(".", &["-n", "1"], &[]), 0);
    assert_eq!(times(&project, "ran-use"), 2, "nothing changed since");
}
