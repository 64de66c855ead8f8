//! `qik --explain`: one scenario per reason a runnable runs, each checking
//! that the explanation names the right path, value or field and nothing
//! else; and that hits name the entry they replay.

use std::path::{Path, PathBuf};

use crate::support::{Project, Run};

/// The explanation of `name` in a run's stderr: its first line (after
/// `[explain] <name>: `) and its detail lines.
#[track_caller]
fn explained(run: &Run, name: &str) -> Vec<String> {
    let head = format!("[explain] {name}: ");
    let mut lines = run.stderr.lines();
    let Some(first) = lines.by_ref().find_map(|l| l.strip_prefix(&head)) else {
        panic!("no explanation of {name}:\n{}", run.stderr)
    };
    let mut block = vec![first.to_string()];
    block.extend(
        lines
            .map_while(|l| l.strip_prefix("    "))
            .map(str::to_string),
    );
    block
}

/// Runs `qik <args> --explain` and returns the explanation of `name`.
#[track_caller]
fn explain(p: &Project, args: &[&str], name: &str, env: &[(&str, &str)]) -> Vec<String> {
    let mut all = args.to_vec();
    all.push("--explain");
    let run = p.qik(".", &all, env);
    explained(&run, name)
}

/// Asserts the first line says it runs because its inputs differ from an
/// entry, and returns the detail lines.
#[track_caller]
fn differences(block: &[String]) -> Vec<&str> {
    assert!(
        block[0].starts_with("runs: inputs differ from entry "),
        "{block:#?}"
    );
    block[1..].iter().map(String::as_str).collect()
}

const HELLO: &str = r#"
[commands.hello]
exec = "cat src.txt"
deps = ["src.txt", "lib/**", {type = "const", val = "1"}]
"#;

fn hello() -> Project {
    let p = Project::with_config(HELLO);
    p.write("src.txt", "one\n");
    p.write("lib/a.txt", "a\n");
    p.write("lib/b.txt", "b\n");
    p.commit_all();
    p
}

#[test]
fn the_first_run_has_no_earlier_entry() {
    let p = hello();
    assert_eq!(
        explain(&p, &["hello"], "hello", &[]),
        ["runs: no earlier entry in its cache"]
    );
}

#[test]
fn without_explain_nothing_is_explained() {
    let p = hello();
    let run = p.qik(".", &["hello"], &[]);
    assert!(!run.stderr.contains("[explain]"), "{}", run.stderr);
}

#[test]
fn a_hit_names_the_entry_it_replays() {
    let p = hello();
    assert_eq!(p.qik(".", &["hello"], &[]).code, 0);
    let block = explain(&p, &["hello"], "hello", &[]);
    assert_eq!(block.len(), 1, "{block:#?}");
    let line = &block[0];
    let rest = line.strip_prefix("replays entry ").expect(line);
    let (hash, rest) = rest.split_once(' ').expect(line);
    assert_eq!(hash.len(), 12);
    assert!(hash.chars().all(|c| c.is_ascii_hexdigit()), "{line}");
    assert!(rest.starts_with("of cache `local`, written 20"), "{line}");
    assert!(rest.ends_with(" UTC (exit code 0)"), "{line}");
    // The entry named is the one on disk.
    let entries = entry_dirs(&p);
    assert_eq!(entries.len(), 1);
    let dir_name = entries[0].file_name().expect("name").to_string_lossy();
    assert!(dir_name.starts_with(hash), "{dir_name} vs {hash}");
}

#[test]
fn a_remembered_replay_is_explained_too() {
    let p = hello();
    assert_eq!(p.qik(".", &["hello"], &[]).code, 0);
    // The first replay reads the entry and remembers it (once its manifest
    // is older than a timestamp tick); later ones take the fast path of
    // `._qik/replays`, which reads nothing but stat data.
    for _ in 0..5 {
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert_eq!(p.qik(".", &["hello"], &[]).code, 0);
        if p.root.join("._qik/replays").exists() {
            break;
        }
    }
    assert!(p.root.join("._qik/replays").exists(), "never remembered");
    for _ in 0..2 {
        let run = p.qik(".", &["hello", "--explain"], &[]);
        let block = explained(&run, "hello");
        assert!(block[0].starts_with("replays entry "), "{block:#?}");
        assert_eq!(run.stdout, "one\n", "the output is still replayed");
    }
}

#[test]
fn forced_runs_say_so() {
    let p = hello();
    assert_eq!(p.qik(".", &["hello"], &[]).code, 0);
    assert_eq!(
        explain(&p, &["hello", "-f"], "hello", &[]),
        ["runs: forced (-f)"]
    );
}

#[test]
fn commands_without_deps_are_never_cached() {
    let p = Project::with_config("[commands]\nplain = \"echo hi\"\n");
    p.commit_all();
    assert_eq!(
        explain(&p, &["plain"], "plain", &[]),
        ["runs: never cached (cache `none`, or no deps of its own)"]
    );
}

#[test]
fn a_failure_that_cache_when_did_not_keep() {
    let p = Project::with_config(
        "[commands.flaky]\nexec = \"exit 3\"\ndeps = [\"src.txt\"]\n\n\
         [commands.kept]\nexec = \"exit 4\"\ndeps = [\"src.txt\"]\ncache-when = \"finished\"\n",
    );
    p.write("src.txt", "x\n");
    p.commit_all();
    assert_eq!(p.qik(".", &["flaky", "kept"], &[]).code, 4);
    let run = p.qik(".", &["flaky", "kept", "--explain"], &[]);
    assert_eq!(
        explained(&run, "flaky"),
        [
            "runs: the last run with these inputs exited with code 3, and cache-when = \"success\" did not keep it"
        ]
    );
    // A kept failure replays.
    assert!(explained(&run, "kept")[0].ends_with("(exit code 4)"));
}

#[test]
fn a_changed_file_is_named_alone() {
    let p = hello();
    assert_eq!(p.qik(".", &["hello"], &[]).code, 0);
    p.write("lib/b.txt", "bee\n");
    let block = explain(&p, &["hello"], "hello", &[]);
    assert_eq!(differences(&block), ["changed  lib/b.txt"]);
}

#[test]
fn added_and_removed_files_are_named() {
    let p = hello();
    assert_eq!(p.qik(".", &["hello"], &[]).code, 0);
    p.write("lib/c.txt", "c\n");
    p.git(&["add", "lib/c.txt"]);
    p.git(&["rm", "-q", "lib/a.txt"]);
    let block = explain(&p, &["hello"], "hello", &[]);
    assert_eq!(
        differences(&block),
        ["removed  lib/a.txt", "added    lib/c.txt"]
    );
}

#[test]
fn untracked_files_are_not_inputs() {
    let p = hello();
    assert_eq!(p.qik(".", &["hello"], &[]).code, 0);
    p.write("lib/untracked.txt", "u\n");
    let block = explain(&p, &["hello"], "hello", &[]);
    assert!(block[0].starts_with("replays entry"), "{block:#?}");
}

#[test]
fn a_changed_const_shows_old_and_new_values() {
    let p = hello();
    assert_eq!(p.qik(".", &["hello"], &[]).code, 0);
    p.write("qik.toml", &HELLO.replace("val = \"1\"", "val = \"2\""));
    let block = explain(&p, &["hello"], "hello", &[]);
    assert_eq!(differences(&block), ["const    \"1\" → \"2\""]);
}

#[test]
fn a_changed_exec_names_the_exec_field() {
    let p = hello();
    assert_eq!(p.qik(".", &["hello"], &[]).code, 0);
    p.write(
        "qik.toml",
        &HELLO.replace("cat src.txt", "cat src.txt lib/a.txt"),
    );
    let block = explain(&p, &["hello"], "hello", &[]);
    assert_eq!(differences(&block), ["definition: exec changed"]);
}

#[test]
fn changed_artifacts_name_the_artifacts_field() {
    let p = hello();
    assert_eq!(p.qik(".", &["hello"], &[]).code, 0);
    p.write("qik.toml", &format!("{HELLO}artifacts = [\"out/*.txt\"]\n"));
    let block = explain(&p, &["hello"], "hello", &[]);
    assert_eq!(differences(&block), ["definition: artifacts changed"]);
}

#[test]
fn a_new_glob_names_the_deps_field_and_the_files_it_adds() {
    let p = hello();
    p.write("extra.txt", "e\n");
    p.commit_all();
    assert_eq!(p.qik(".", &["hello"], &[]).code, 0);
    p.write(
        "qik.toml",
        &HELLO.replace("\"lib/**\",", "\"lib/**\", \"extra.txt\","),
    );
    let block = explain(&p, &["hello"], "hello", &[]);
    assert_eq!(
        differences(&block),
        ["added    extra.txt", "definition: deps changed"]
    );
}

#[test]
fn the_closest_of_several_entries_is_compared() {
    let p = hello();
    // Entry 1: a, b. Entry 2: A, B. Now: a, B2 — one file away from entry 1.
    assert_eq!(p.qik(".", &["hello"], &[]).code, 0);
    p.write("lib/a.txt", "A\n");
    p.write("lib/b.txt", "B\n");
    assert_eq!(p.qik(".", &["hello"], &[]).code, 0);
    p.write("lib/a.txt", "a\n");
    p.write("lib/b.txt", "B2\n");
    let block = explain(&p, &["hello"], "hello", &[]);
    assert_eq!(differences(&block), ["changed  lib/b.txt"]);
    // Going back to the first state is a hit again.
    p.write("lib/b.txt", "b\n");
    let block = explain(&p, &["hello"], "hello", &[]);
    assert!(block[0].starts_with("replays entry"), "{block:#?}");
}

#[test]
fn dotenv_files_are_named_as_such() {
    let p = Project::with_config(
        "[spaces.web]\ndotenv = \"web.env\"\n\n\
         [commands.serve]\nexec = \"echo $PORT\"\ndeps = [\"src.txt\"]\nspace = \"web\"\n",
    );
    p.write("web.env", "PORT=1\n");
    p.write("src.txt", "x\n");
    p.commit_all();
    assert_eq!(p.qik(".", &["serve"], &[]).code, 0);
    p.write("web.env", "PORT=2\n");
    let name = "serve@web";
    let block = explain(&p, &["serve"], name, &[]);
    assert_eq!(
        differences(&block),
        ["changed  web.env (dotenv file of the space)"]
    );
}

#[test]
fn venv_requirement_files_are_named_as_such() {
    let p = Project::with_config(
        "[spaces.default]\nvenv = \"requirements.txt\"\n\n\
         [commands.check]\nexec = \"true\"\ndeps = [\"src.txt\"]\n",
    );
    p.write("requirements.txt", "foo==1\n");
    p.write("src.txt", "x\n");
    p.commit_all();
    assert_eq!(p.qik(".", &["check"], &[]).code, 0);
    p.write("requirements.txt", "foo==2\n");
    let block = explain(&p, &["check"], "check", &[]);
    assert_eq!(
        differences(&block),
        ["changed  requirements.txt (venv file of the space)"]
    );
}

#[test]
fn upstream_artifacts_name_the_runnable_that_makes_them() {
    let p = Project::with_config(
        r#"
[commands.build]
exec = "cat src.txt > dist/out.txt"
deps = ["src.txt"]
artifacts = ["dist/out.txt"]

[commands.test]
exec = "cat dist/out.txt"
deps = [{type = "command", name = "build"}]
"#,
    );
    p.write("src.txt", "one\n");
    p.write("dist/out.txt", "one\n");
    p.commit_all();
    assert_eq!(p.qik(".", &["test", "-n", "1"], &[]).code, 0);
    p.write("src.txt", "two\n");
    let run = p.qik(".", &["test", "-n", "1", "--explain"], &[]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert_eq!(differences(&explained(&run, "build")), ["changed  src.txt"]);
    assert_eq!(
        differences(&explained(&run, "test")),
        ["changed  dist/out.txt (artifact of build)"]
    );
}

#[test]
fn files_of_load_deps_name_the_deps_file() {
    let p = Project::with_config(
        r#"
[commands.typecheck]
exec = "true"
deps = [{type = "load", path = "graph/deps.json"}]
"#,
    );
    p.write("graph/deps.json", r#"{"globs": ["pkg/**"]}"#);
    p.write("pkg/mod.py", "import os\n");
    p.commit_all();
    assert_eq!(p.qik(".", &["typecheck"], &[]).code, 0);
    p.write("pkg/mod.py", "import sys\n");
    let block = explain(&p, &["typecheck"], "typecheck", &[]);
    assert_eq!(
        differences(&block),
        ["changed  pkg/mod.py (brought in by graph/deps.json)"]
    );
}

fn fake_venv(dir: &Path, dist_info: &str) -> PathBuf {
    let site = dir.join("venv/lib/python3.11/site-packages");
    std::fs::create_dir_all(site.join(dist_info)).expect("dist-info");
    dir.join("venv")
}

#[test]
fn a_new_pydist_version_shows_old_and_new() {
    let p = Project::with_config(
        "[commands.uses-foo]\nexec = \"true\"\ndeps = [{type = \"pydist\", name = \"foo\"}]\n",
    );
    p.commit_all();
    let outside = tempfile::tempdir().expect("temp dir");
    let venv = fake_venv(outside.path(), "foo-1.0.dist-info");
    let venv_str = venv.to_string_lossy().into_owned();
    let env = [("VIRTUAL_ENV", venv_str.as_str())];
    assert_eq!(p.qik(".", &["uses-foo"], &env).code, 0);
    let site = venv.join("lib/python3.11/site-packages");
    std::fs::rename(
        site.join("foo-1.0.dist-info"),
        site.join("foo-2.0.dist-info"),
    )
    .expect("upgrade foo");
    let block = explain(&p, &["uses-foo"], "uses-foo", &env);
    assert_eq!(differences(&block), ["pydist   foo 1.0 → 2.0"]);
}

#[test]
fn ls_explain_says_what_would_happen_without_running() {
    let p = hello();
    assert_eq!(p.qik(".", &["hello"], &[]).code, 0);
    p.write("src.txt", "two\n");
    let run = p.qik(".", &["hello", "--ls", "--explain"], &[]);
    assert_eq!(run.code, 0, "{run:#?}");
    let lines = run.lines();
    assert_eq!(lines[0], "hello");
    assert!(
        lines[1].starts_with("    runs: inputs differ from entry "),
        "{lines:#?}"
    );
    assert_eq!(lines[2..], ["    changed  src.txt"]);
    // Nothing ran: the entry is still the only one.
    assert_eq!(entry_dirs(&p).len(), 1);
}

#[test]
fn damaged_manifests_are_left_out_never_a_crash() {
    let p = hello();
    assert_eq!(p.qik(".", &["hello"], &[]).code, 0);
    for dir in entry_dirs(&p) {
        std::fs::write(dir.join("manifest.json"), "{\"version\": 1, \"na").expect("damage");
    }
    p.write("src.txt", "two\n");
    let run = p.qik(".", &["hello", "--explain"], &[]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert_eq!(
        explained(&run, "hello"),
        ["runs: no earlier entry in its cache"]
    );
}

/// The entry directories of the local cache.
fn entry_dirs(p: &Project) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let cache = p.root.join("._qik/cache");
    for command in std::fs::read_dir(cache).into_iter().flatten().flatten() {
        for runnable in std::fs::read_dir(command.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            for entry in std::fs::read_dir(runnable.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                if !entry.file_name().to_string_lossy().starts_with('.') {
                    found.push(entry.path());
                }
            }
        }
    }
    found
}

#[test]
fn a_repo_cache_hit_names_the_repo_cache() {
    let p = Project::with_config(&format!("{HELLO}cache = \"repo\"\n"));
    p.write("src.txt", "one\n");
    p.commit_all();
    assert_eq!(p.qik(".", &["hello"], &[]).code, 0);
    let block = explain(&p, &["hello"], "hello", &[]);
    assert!(
        block[0].contains(" of cache `repo`, written "),
        "{block:#?}"
    );
}

#[test]
fn kept_runs_and_replays_leave_no_run_record() {
    let p = hello();
    assert_eq!(p.qik(".", &["hello"], &[]).code, 0);
    assert_eq!(p.qik(".", &["hello"], &[]).code, 0);
    assert!(!p.root.join("._qik/runs").exists());
}

#[test]
fn files_of_pygraph_deps_name_the_imports_that_brought_them_in() {
    let p = Project::with_config(
        r#"[plugins]
pygraph = "qik.pygraph"

[spaces.web]
modules = ["web", "core"]

[commands]
test = {exec = "true {module.dir}", deps = [{type = "pygraph", pyimport = "{module.pyimport}"}]}
"#,
    );
    p.write("core/__init__.py", "");
    p.write("core/b.py", "VALUE = 1\n");
    p.write("web/__init__.py", "");
    p.write("web/views.py", "import core.b\n");
    p.commit_all();
    assert_eq!(p.qik(".", &["test"], &[]).code, 0);
    p.write("core/b.py", "VALUE = 2\n");
    let run = p.qik(".", &["test", "--explain"], &[]);
    assert_eq!(run.code, 0, "{run:#?}");
    let block = explained(&run, "test@web#web");
    let lines = differences(&block);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    // The lock names the chain of imports that reached the file.
    assert_eq!(
        lines[0],
        "changed  core/b.py (brought in by ._qik/artifacts/pygraph.lock/lock.web.web.json: web -> web.views -> core.b)",
        "{lines:#?}"
    );
}
