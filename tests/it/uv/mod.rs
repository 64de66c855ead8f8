//! The qik.uv plugin end to end, with the real uv and wheels built by the
//! test: lock and install once, re-lock and re-install exactly when inputs
//! change, commands run inside the venv, and the failures a user can hit.

mod project;

use std::path::Path;

use crate::support::tools::{build_wheel, uv_env};
use crate::support::{Project, Run};

/// A project plus a directory of wheels outside it.
struct UvProject {
    project: Project,
    wheels: tempfile::TempDir,
}

impl UvProject {
    fn new(config: &str) -> UvProject {
        let wheels = tempfile::tempdir().expect("wheel dir");
        for version in ["1.0", "2.0"] {
            build_wheel(wheels.path(), "tinypkg", version, &[]);
        }
        build_wheel(wheels.path(), "otherpkg", "3.1", &["tinypkg>=2"]);
        let project = Project::with_config(config);
        UvProject { project, wheels }
    }

    fn wheels(&self) -> &Path {
        self.wheels.path()
    }

    fn qik(&self, args: &[&str]) -> Run {
        self.qik_with(args, &[])
    }

    fn qik_with(&self, args: &[&str], extra: &[(&str, &str)]) -> Run {
        let env = uv_env(self.wheels());
        let mut all: Vec<(&str, &str)> =
            env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        all.extend_from_slice(extra);
        self.project.qik(".", args, &all)
    }

    fn commit(&self) {
        self.project.commit_all();
    }

    /// `uv pip install` into the default space's venv behind qik's back.
    fn install_by_hand(&self, requirement: &str) {
        let env = uv_env(self.wheels());
        let status = std::process::Command::new(crate::support::tools::uv_dir().join("uv"))
            .args(["pip", "install", "--quiet", requirement, "--python"])
            .arg(self.project.root.join("._qik/venv/default/bin/python"))
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .status()
            .expect("uv runs");
        assert!(status.success(), "uv pip install {requirement} failed");
    }
}

/// Prints the version of `tinypkg` the command's Python imports.
const SHOW_VERSION: &str = r#"python -c 'import tinypkg; print("tinypkg", tinypkg.VERSION)'"#;

#[track_caller]
fn assert_ok(run: &Run) {
    assert_eq!(run.code, 0, "qik failed: {run:#?}");
}

#[track_caller]
fn assert_has(text: &str, part: &str) {
    assert!(text.contains(part), "expected {part:?} in:\n{text}");
}

/// Lines of `[run]`/`[cached]` headers and the like are on stderr; output
/// of commands in stream mode on stdout. Both are searched.
fn all_output(run: &Run) -> String {
    format!("{}\n{}", run.stdout, run.stderr)
}

fn config(reqs: &str, extra: &str) -> String {
    format!(
        "[plugins]\nuv = \"qik.uv\"\n\n[spaces]\ndefault = \"{reqs}\"\n\n[commands]\nshow = {{exec = {SHOW_VERSION:?}, deps = [\"src/**\"]}}\n{extra}"
    )
}

#[test]
fn locks_installs_and_runs_inside_the_venv_then_replays() {
    let uv = UvProject::new(&config("requirements.txt", ""));
    uv.project.write("requirements.txt", "tinypkg==1.0\n");
    uv.project.write("src/a.py", "x = 1\n");
    uv.commit();

    let first = uv.qik(&["-n", "1", "-v", "2"]);
    assert_ok(&first);
    assert_has(&first.stdout, "tinypkg 1.0");
    // The lock lives in the repo cache by default, as a universal lock file.
    let lock = uv
        .project
        .read(".qik/artifacts/uv.lock/requirements-default-lock.txt");
    assert_has(&lock, "tinypkg==1.0");
    assert!(
        uv.project
            .root
            .join("._qik/venv/default/pyvenv.cfg")
            .is_file()
    );

    // Nothing is locked, installed or run again.
    let second = uv.qik(&["--cache-status", "warm", "--ls"]);
    assert_ok(&second);
    assert_eq!(
        second.lines(),
        ["show", "uv.install", "uv.lock"],
        "everything is cached: {second:#?}"
    );
    let replay = uv.qik(&["-n", "1"]);
    assert_ok(&replay);
    assert_has(&replay.stdout, "tinypkg 1.0");
}

#[test]
fn the_lock_file_is_added_to_git_so_a_commit_and_a_clone_work() {
    let uv = UvProject::new(&config("requirements.txt", ""));
    uv.project.write("requirements.txt", "tinypkg==1.0\n");
    uv.commit();
    let lock = ".qik/artifacts/uv.lock/requirements-default-lock.txt";
    uv.qik(&["-n", "1"]).assert_ok();
    // Intent-to-add, like the repo cache's entries: `git commit -a` takes it.
    assert_eq!(uv.project.git(&["ls-files", "--", lock]).trim(), lock);
    // Git tracking it now changes no hash.
    let again = uv.qik(&["--cache-status", "warm", "--ls"]);
    assert_eq!(
        again.lines(),
        ["show", "uv.install", "uv.lock"],
        "{again:#?}"
    );
    uv.project.git(&["commit", "-q", "-a", "-m", "lock"]);

    let clone = UvProject {
        project: uv.project.clone_repo(),
        wheels: uv.wheels,
    };
    assert!(clone.project.root.join(lock).is_file());
    let run = clone.qik(&["-n", "1"]);
    run.assert_ok();
    run.assert_cached("uv.lock");
    assert_has(&run.stdout, "tinypkg 1.0");

    // A repository that never committed its lock: the entry's artifact is
    // missing, so `uv.lock` runs instead of replaying nothing.
    clone.project.git(&["rm", "-q", "--cached", "--", lock]);
    clone.project.remove(lock);
    let explain = clone.qik(&["--ls", "--explain", "uv.lock"]);
    assert_has(
        &explain.stdout,
        "runs: what its cached run left outside the cache is gone",
    );
    let run = clone.qik(&["-n", "1"]);
    run.assert_ok();
    run.assert_ran("uv.lock");
    assert!(clone.project.root.join(lock).is_file());
}

#[test]
fn the_venv_is_what_commands_see() {
    let uv = UvProject::new(&config(
        "requirements.txt",
        "env = \"echo VIRTUAL_ENV=$VIRTUAL_ENV; command -v python\"\n",
    ));
    uv.project.write("requirements.txt", "tinypkg==1.0\n");
    uv.commit();
    let run = uv.qik(&["env", "-n", "1"]);
    assert_ok(&run);
    let venv = uv.project.root.join("._qik/venv/default");
    assert_has(&run.stdout, &format!("VIRTUAL_ENV={}", venv.display()));
    assert_has(&run.stdout, &format!("{}/bin/python", venv.display()));
}

#[test]
fn a_changed_requirement_relocks_reinstalls_and_reruns_downstream() {
    let uv = UvProject::new(&config("requirements.txt", ""));
    uv.project.write("requirements.txt", "tinypkg==1.0\n");
    uv.commit();
    assert_has(&uv.qik(&["-n", "1"]).stdout, "tinypkg 1.0");

    uv.project.write("requirements.txt", "tinypkg==2.0\n");
    let cold = uv.qik(&["--cache-status", "cold", "--ls"]);
    assert_eq!(cold.lines(), ["show", "uv.install", "uv.lock"]);
    let run = uv.qik(&["-n", "1"]);
    assert_ok(&run);
    assert_has(&run.stdout, "tinypkg 2.0");
    assert_has(
        &uv.project
            .read(".qik/artifacts/uv.lock/requirements-default-lock.txt"),
        "tinypkg==2.0",
    );
    // Going back re-syncs the venv: the cached install of that lock is not
    // what the venv holds now.
    uv.project.write("requirements.txt", "tinypkg==1.0\n");
    let back = uv.qik(&["-n", "1"]);
    assert_ok(&back);
    assert_has(&back.stdout, "tinypkg 1.0");
}

#[test]
fn a_constraint_change_relocks() {
    let uv = UvProject::new(
        "[plugins.uv]\npyimport = \"qik.uv\"\nconstraint = \"constraints.txt\"\n\n[spaces]\ndefault = \"requirements.txt\"\n\n[commands]\nshow = {exec = \"python -c 'import tinypkg; print(tinypkg.VERSION)'\", deps = [\"src/**\"]}\n",
    );
    uv.project.write("requirements.txt", "tinypkg\n");
    uv.project.write("constraints.txt", "tinypkg<2\n");
    uv.commit();
    let run = uv.qik(&["-n", "1"]);
    assert_ok(&run);
    assert_has(&run.stdout, "1.0");

    uv.project.write("constraints.txt", "tinypkg>=2\n");
    let run = uv.qik(&["-n", "1"]);
    assert_ok(&run);
    assert_has(&run.stdout, "2.0");
}

#[test]
fn two_spaces_have_their_own_venvs_and_inheritance_shares_one() {
    let uv = UvProject::new(
        r#"[plugins]
uv = "qik.uv"

[spaces]
old = "old.txt"
new = {venv = "new.txt", root = "newroot"}
shared = {venv = {type = "space", name = "new"}}

[commands]
old = {exec = "python -c 'import tinypkg; print(\"old\", tinypkg.VERSION)'", space = "old"}
new = {exec = "python -c 'import tinypkg; print(\"new\", tinypkg.VERSION)'", space = "new"}
shared = {exec = "python -c 'import tinypkg; print(\"shared\", tinypkg.VERSION)'", space = "shared"}
"#,
    );
    uv.project.write("old.txt", "tinypkg==1.0\n");
    uv.project.write("new.txt", "tinypkg==2.0\n");
    uv.project.write("newroot/.keep", "");
    uv.commit();
    let ls = uv.qik(&["--ls"]);
    assert_eq!(
        ls.lines(),
        [
            "new@new",
            "old@old",
            "shared@shared",
            "uv.install@new",
            "uv.install@old",
            "uv.lock@new",
            "uv.lock@old",
        ],
        "the inheriting space uses the venv of `new`: {ls:#?}"
    );
    let run = uv.qik(&["-n", "1"]);
    assert_ok(&run);
    assert_has(&run.stdout, "old 1.0");
    assert_has(&run.stdout, "new 2.0");
    assert_has(&run.stdout, "shared 2.0");
    assert!(!uv.project.root.join("._qik/venv/shared").exists());
}

#[test]
fn a_pydist_version_change_breaks_the_cache_of_its_commands() {
    let uv = UvProject::new(
        r#"[plugins]
uv = "qik.uv"

[spaces]
default = "requirements.txt"

[commands]
uses = {exec = "echo ran >> ran.txt", deps = [{type = "pydist", name = "tinypkg"}]}
"#,
    );
    uv.project.write("requirements.txt", "tinypkg\n");
    uv.project.write("constraints.txt", "");
    uv.commit();
    assert_ok(&uv.qik(&[]));
    assert_ok(&uv.qik(&[]));
    assert_eq!(uv.project.read("ran.txt").lines().count(), 1);

    // Someone installs another version into the venv by hand: the
    // requirement files did not change, the distribution did.
    uv.install_by_hand("tinypkg==1.0");
    assert_ok(&uv.qik(&[]));
    assert_eq!(uv.project.read("ran.txt").lines().count(), 2);
}

#[test]
fn a_deleted_or_broken_venv_is_rebuilt() {
    let uv = UvProject::new(&config("requirements.txt", ""));
    uv.project.write("requirements.txt", "tinypkg==2.0\n");
    uv.commit();
    assert_ok(&uv.qik(&["-n", "1"]));

    std::fs::remove_dir_all(uv.project.root.join("._qik/venv/default")).unwrap();
    let run = uv.qik(&["-n", "1"]);
    assert_ok(&run);
    assert_has(&run.stdout, "tinypkg 2.0");

    // Half a venv: its site-packages gone.
    let lib = uv.project.root.join("._qik/venv/default/lib");
    std::fs::remove_dir_all(&lib).unwrap();
    let run = uv.qik(&["-n", "1", "-f"]);
    assert_ok(&run);
    assert_has(&run.stdout, "tinypkg 2.0");
}

#[test]
fn an_unresolvable_requirement_shows_uvs_message_and_skips_dependents() {
    let uv = UvProject::new(&config("requirements.txt", ""));
    uv.project.write("requirements.txt", "nosuchpkg==9\n");
    uv.commit();
    let run = uv.qik(&["-n", "1"]);
    assert_ne!(run.code, 0);
    let output = all_output(&run);
    assert_has(&output, "nosuchpkg");
    assert_has(&output, "unsatisfiable");
    assert!(
        !output.contains("tinypkg 1.0"),
        "show must not run: {output}"
    );
    assert!(!uv.project.root.join("._qik/venv/default").exists());
}

#[test]
fn a_missing_uv_says_how_to_install_it() {
    let uv = UvProject::new(&config("requirements.txt", ""));
    uv.project.write("requirements.txt", "tinypkg\n");
    uv.commit();
    // A PATH with sh and python but no uv.
    let bin = tempfile::tempdir().unwrap();
    for tool in ["sh", "mkdir", "python3", "python", "env", "cat"] {
        if let Some(found) = which(tool) {
            std::os::unix::fs::symlink(found, bin.path().join(tool)).unwrap();
        }
    }
    let path = bin.path().display().to_string();
    let run = uv.qik_with(&["-n", "1"], &[("PATH", path.as_str())]);
    assert_eq!(run.code, 127, "{run:#?}");
    let output = all_output(&run);
    assert_has(&output, "uv executable is not on PATH");
    assert_has(&output, "pip install uv");
}

fn which(tool: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(tool))
            .find(|path| path.is_file())
    })
}

#[test]
fn a_python_version_uv_cannot_find_fails_the_install_ctx_values_included() {
    let uv = UvProject::new(
        "ctx = [{name = \"pyver\", type = \"str\", required = true}]\n\n[plugins.uv]\npyimport = \"qik.uv\"\npython = \"{ctx.pyver}\"\n\n[spaces]\ndefault = \"requirements.txt\"\n\n[commands]\nshow = {exec = \"echo shown\", deps = [\"src/**\"]}\n",
    );
    uv.project.write("requirements.txt", "tinypkg\n");
    uv.commit();
    // The version comes from a context variable (set from the environment).
    let run = uv.qik_with(&["-n", "1"], &[("PYVER", "3.4")]);
    assert_ne!(run.code, 0);
    let output = all_output(&run);
    assert_has(&output, "3.4");
    assert!(!output.contains("shown"), "show must be skipped: {output}");
}

#[test]
fn lock_files_follow_the_plugin_cache_and_an_explicit_lock_path() {
    let uv = UvProject::new(
        r#"[plugins.uv]
pyimport = "qik.uv"
cache = "local"

[spaces]
default = "requirements.txt"
pinned = {venv = {type = "uv", reqs = "pinned.in", lock = "locks/pinned.txt"}}

[commands]
a = {exec = "echo a", deps = ["x"]}
b = {exec = "echo b", deps = ["x"], space = "pinned"}
"#,
    );
    uv.project.write("requirements.txt", "tinypkg\n");
    uv.project.write("pinned.in", "tinypkg<2\n");
    uv.commit();
    assert_ok(&uv.qik(&["uv.lock"]));
    assert_has(
        &uv.project
            .read("._qik/artifacts/uv.lock/requirements-default-lock.txt"),
        "tinypkg==2.0",
    );
    assert_has(&uv.project.read("locks/pinned.txt"), "tinypkg==1.0");
    // `qik uv.lock` locks without installing anything.
    assert!(!uv.project.root.join("._qik/venv").exists());
}

#[test]
fn qikx_install_builds_every_venv() {
    let uv = UvProject::new(
        "[plugins]\nuv = \"qik.uv\"\n\n[spaces]\ndefault = \"requirements.txt\"\ntools = \"tools.txt\"\n",
    );
    uv.project.write("requirements.txt", "tinypkg==1.0\n");
    uv.project.write("tools.txt", "otherpkg\n");
    uv.commit();
    let env = uv_env(uv.wheels());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let run = uv.project.qikx(".", &["--install"], &env);
    assert_eq!(run.code, 0, "{run:#?}");
    // A space without commands is installed too, with its dependencies.
    let tools = uv.project.qikx(
        ".",
        &[
            "python@tools",
            "-c",
            "import otherpkg, tinypkg; print(tinypkg.VERSION)",
        ],
        &env,
    );
    assert_eq!(tools.stdout.trim(), "2.0", "{tools:#?}");
    let default = uv.project.qikx(
        ".",
        &["python", "-c", "import tinypkg; print(tinypkg.VERSION)"],
        &env,
    );
    assert_eq!(default.stdout.trim(), "1.0", "{default:#?}");
}

#[test]
fn pydist_versions_come_from_the_lock_file_before_the_install() {
    let uv = UvProject::new(&config(
        "requirements.txt",
        "uses = {exec = \"echo uses\", deps = [{type = \"pydist\", name = \"tinypkg\"}]}\n",
    ));
    uv.project.write("requirements.txt", "tinypkg==1.0\n");
    uv.commit();
    let hash = || {
        let run = uv.qik(&["--ls", "--json", "uses"]);
        assert_ok(&run);
        let document: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
        let runnables = document["runnables"].as_array().expect("runnables").clone();
        let uses = runnables.iter().find(|r| r["name"] == "uses");
        uses.expect("uses is listed")["hash"].clone()
    };
    assert!(hash().is_null(), "a hash before anything is locked");
    assert_ok(&uv.qik(&["uv.lock"]));
    assert!(!uv.project.root.join("._qik/venv").exists());
    assert!(hash().is_string(), "no hash from the lock file");
}

#[test]
fn qikx_installs_a_missing_venv_and_never_runs_another_python() {
    let uv = UvProject::new(&config("requirements.txt", ""));
    uv.project.write("requirements.txt", "tinypkg==1.0\n");
    uv.commit();
    let env = uv_env(uv.wheels());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let venv = uv.project.root.join("._qik/venv/default");
    let show_prefix = ["python", "-c", "import sys, tinypkg; print(sys.prefix)"];

    // Never installed: qikx installs it first; stdout is the program's only.
    let run = uv.project.qikx(".", &show_prefix, &env);
    assert_eq!(run.code, 0, "{run:#?}");
    assert_eq!(run.stdout, format!("{}\n", venv.display()), "{run:#?}");
    assert_has(
        &run.stderr,
        "the venv of space `default` is missing or out of date",
    );

    // Deleted after a cached install: installed again, not replayed.
    std::fs::remove_dir_all(&venv).expect("remove the venv");
    let run = uv.project.qikx(".", &show_prefix, &env);
    assert_eq!(run.code, 0, "{run:#?}");
    assert_eq!(run.stdout, format!("{}\n", venv.display()), "{run:#?}");

    // An install that fails runs nothing, and says what to run.
    std::fs::remove_dir_all(&venv).expect("remove the venv");
    uv.project.write("requirements.txt", "nosuchpkg==1.0\n");
    let run = uv
        .project
        .qikx(".", &["python", "-c", "print('ran')"], &env);
    assert_eq!(run.code, 74, "qik could not install the venv: {run:#?}");
    assert!(!run.stdout.contains("ran"), "another python ran: {run:#?}");
    assert_has(&run.stderr, "could not be installed, so qikx runs nothing");
    assert_has(&run.stderr, "qik uv.install");
}

#[test]
fn uv_config_errors_point_at_the_line() {
    let project = Project::with_config(
        "[plugins]\nuv = \"qik.uv\"\n\n[spaces.default]\nvenv = {type = \"uv\", lock = \"x.txt\"}\n",
    );
    project.commit_all();
    let run = project.qik(".", &["--ls"], &[]);
    run.assert_error(&["qik.toml:5", "reqs"]);

    let project = Project::with_config(
        "[plugins.uv]\npyimport = \"qik.uv\"\npython = \"3.12\"\nindex = \"x\"\n",
    );
    let run = project.qik(".", &["--ls"], &[]);
    run.assert_error(&["qik.toml:4", "index-url"]);
}

#[test]
fn circular_constraints_are_reported() {
    let uv = UvProject::new(
        r#"[plugins]
uv = "qik.uv"

[spaces]
a = {venv = {type = "uv", reqs = "a.txt", constraint = {type = "space", name = "b"}}}
b = {venv = {type = "uv", reqs = "b.txt", constraint = {type = "space", name = "a"}}}

[commands]
x = {exec = "echo x", space = "a"}
"#,
    );
    uv.commit();
    let run = uv.qik(&["--ls"]);
    assert_ne!(run.code, 0);
    assert_has(&run.stderr, "circular uv constraint: a -> b -> a");
}

#[test]
fn pygraph_maps_imports_to_the_venvs_distributions() {
    let uv = UvProject::new(
        r#"[plugins]
uv = "qik.uv"
pygraph = "qik.pygraph"

[spaces.default]
venv = "requirements.txt"
modules = ["app"]
fence = true

[commands]
test = {exec = "echo ran >> ran.txt", deps = [{type = "pygraph", pyimport = "app"}]}
"#,
    );
    uv.project.write("requirements.txt", "tinypkg\n");
    uv.project.write("app/__init__.py", "import tinypkg\n");
    uv.commit();
    assert_ok(&uv.qik(&["test"]));
    let lock: serde_json::Value = serde_json::from_str(
        &uv.project
            .read("._qik/artifacts/pygraph.lock/lock.app.default.json"),
    )
    .unwrap();
    assert_eq!(lock["pydists"], serde_json::json!(["tinypkg"]));
    assert_ok(&uv.qik(&["test"]));
    assert_eq!(uv.project.read("ran.txt").lines().count(), 1);

    // Another version of the imported distribution in the venv re-runs it.
    uv.install_by_hand("tinypkg==1.0");
    assert_ok(&uv.qik(&["test"]));
    assert_eq!(uv.project.read("ran.txt").lines().count(), 2);

    // The fence allows what the venv provides, nothing else.
    let check = uv.qik(&["pygraph.check", "-n", "1"]);
    assert_eq!(check.code, 0, "{check:#?}");
    uv.project
        .write("app/__init__.py", "import tinypkg\nimport otherpkg\n");
    let check = uv.qik(&["pygraph.check", "-n", "1"]);
    assert_eq!(check.code, 1, "{check:#?}");
    assert_has(&check.stdout, "app imports otherpkg (app/__init__.py:2)");
}

#[test]
fn requirement_files_may_use_context_values() {
    let uv = UvProject::new(
        "ctx = [{name = \"flavor\", type = \"str\", default = \"old\"}]\n\n[plugins]\nuv = \"qik.uv\"\n\n[spaces]\ndefault = \"req-{ctx.flavor}.txt\"\n\n[commands]\nshow = {exec = \"python -c 'import tinypkg; print(tinypkg.VERSION)'\", deps = [\"src/**\"]}\n",
    );
    uv.project.write("req-old.txt", "tinypkg==1.0\n");
    uv.project.write("req-new.txt", "tinypkg==2.0\n");
    uv.commit();
    let old = uv.qik(&["-n", "1"]);
    assert_ok(&old);
    assert_has(&old.stdout, "1.0");
    let new = uv.qik_with(&["-n", "1"], &[("FLAVOR", "new")]);
    assert_ok(&new);
    assert_has(&new.stdout, "2.0");
}
