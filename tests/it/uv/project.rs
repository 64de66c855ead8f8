//! Spaces backed by a uv project: a real uv workspace (a virtual root, the
//! members `services/api` and `libs/core`, api using core, a `dev` group),
//! locked by the real uv from local wheels, installed with `uv sync
//! --frozen`, and re-run only when a member's own resolution changes.

use std::path::Path;
use std::process::Command;

use crate::support::tools::{build_wheel, uv_dir, uv_env};
use crate::support::{Project, Run};

const CONFIG: &str = r#"[plugins]
uv = "qik.uv"

[spaces]
api = {venv = {type = "uv", project = "services/api", groups = ["dev"]}}
core = {venv = {type = "uv", project = "libs/core"}}

[commands.api-show]
space = "api"
exec = "echo run >> api-runs.txt; python -c 'import api, core, tinypkg, iniconfig; print(\"api\", api.__file__, \"tinypkg\", tinypkg.VERSION)'"
deps = ["services/api/src/**"]

[commands.core-show]
space = "core"
exec = "echo run >> core-runs.txt; python -c 'import core, tinypkg; print(\"core tinypkg\", tinypkg.VERSION)'"
deps = ["libs/core/src/**"]

[commands.api-dist]
space = "api"
exec = "echo tinypkg is a dependency"
deps = [{type = "pydist", name = "tinypkg"}]
"#;

const ROOT_PYPROJECT: &str = r#"[project]
name = "monorepo"
version = "0"
requires-python = ">=3.8"

[tool.uv]
package = false

[tool.uv.workspace]
members = ["services/api", "libs/core"]
"#;

fn member_pyproject(name: &str, deps: &[&str], extra: &str) -> String {
    let deps: Vec<String> = deps.iter().map(|dep| format!("{dep:?}")).collect();
    format!(
        r#"[project]
name = "{name}"
version = "0.1.0"
requires-python = ">=3.8"
dependencies = [{}]
{extra}
[build-system]
requires = ["uv_build>=0.9,<0.14"]
build-backend = "uv_build"
"#,
        deps.join(", ")
    )
}

fn api_pyproject(deps: &[&str]) -> String {
    member_pyproject(
        "api",
        deps,
        "\n[dependency-groups]\ndev = [\"iniconfig\"]\n\n[tool.uv.sources]\ncore = {workspace = true}\n",
    )
}

/// A git project holding the workspace, and the wheels it resolves from.
struct Workspace {
    project: Project,
    wheels: tempfile::TempDir,
}

impl Workspace {
    /// The workspace with core on `tinypkg==1.0`, locked and committed.
    fn new() -> Workspace {
        let wheels = tempfile::tempdir().expect("wheel dir");
        for version in ["1.0", "2.0"] {
            build_wheel(wheels.path(), "tinypkg", version, &[]);
        }
        build_wheel(wheels.path(), "iniconfig", "2.0", &[]);
        build_wheel(wheels.path(), "lonely", "1.0", &[]);
        let project = Project::with_config(CONFIG);
        // As in any Python repository: bytecode and the commands' run
        // counts are not sources.
        project.write(".gitignore", "__pycache__/\n*-runs.txt\n");
        project.write("pyproject.toml", ROOT_PYPROJECT);
        project.write("services/api/pyproject.toml", &api_pyproject(&["core"]));
        project.write("services/api/src/api/__init__.py", "");
        project.write(
            "libs/core/pyproject.toml",
            &member_pyproject("core", &["tinypkg==1.0"], ""),
        );
        project.write("libs/core/src/core/__init__.py", "");
        let workspace = Workspace { project, wheels };
        workspace.uv(&["lock"]);
        workspace.project.commit_all();
        workspace
    }

    fn env(&self) -> Vec<(String, String)> {
        uv_env(self.wheels.path())
    }

    fn qik(&self, args: &[&str]) -> Run {
        let env = self.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.project.qik(".", args, &env)
    }

    /// Runs the real uv in the project root, as a user would.
    fn uv(&self, args: &[&str]) {
        let output = Command::new(uv_dir().join("uv"))
            .args(args)
            .current_dir(&self.project.root)
            .envs(self.env())
            .output()
            .expect("uv runs");
        assert!(
            output.status.success(),
            "uv {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn runs(&self, space: &str) -> usize {
        self.project
            .read_or_empty(&format!("{space}-runs.txt"))
            .lines()
            .count()
    }
}

#[track_caller]
fn assert_has(text: &str, part: &str) {
    assert!(text.contains(part), "expected {part:?} in:\n{text}");
}

#[test]
fn a_member_is_installed_editable_with_its_group_from_uv_lock_then_replayed() {
    let ws = Workspace::new();
    let lock_before = ws.project.read("uv.lock");

    let first = ws.qik(&["-n", "1"]);
    first.assert_ok();
    // The member itself is installed editable, from the working tree.
    let api_dir = ws.project.root.join("services/api/src/api/__init__.py");
    assert_has(
        &first.stdout,
        &format!("api {} tinypkg 1.0", api_dir.display()),
    );
    assert_has(&first.stdout, "core tinypkg 1.0");
    assert_eq!((ws.runs("api"), ws.runs("core")), (1, 1));
    // Only the groups asked for: core's venv has no `dev` group, api's has.
    let core_python = ws.project.root.join("._qik/venv/core/bin/python");
    let no_iniconfig = Command::new(&core_python)
        .args(["-c", "import iniconfig"])
        .output()
        .expect("the venv's python runs");
    assert!(!no_iniconfig.status.success(), "core's venv has iniconfig");
    // qik never writes the user's lock.
    assert_eq!(ws.project.read("uv.lock"), lock_before);

    let again = ws.qik(&["-n", "1"]);
    again.assert_ok();
    for name in [
        "uv.lock@api",
        "uv.install@api",
        "api-show@api",
        "core-show@core",
    ] {
        again.assert_cached(name);
    }
    assert_eq!((ws.runs("api"), ws.runs("core")), (1, 1));
}

#[test]
fn only_a_change_to_a_members_own_resolution_reruns_its_space() {
    let ws = Workspace::new();
    ws.qik(&["-n", "1"]).assert_ok();
    // What a qik killed while writing a share leaves beside it.
    let stale = ws
        .project
        .root
        .join("._qik/artifacts/uv.lock/.qik-write-killed");
    std::fs::write(&stale, "half").unwrap();
    std::fs::File::open(&stale)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3600))
        .unwrap();

    // api gains a dependency: core's share of uv.lock stays the same.
    ws.project.write(
        "services/api/pyproject.toml",
        &api_pyproject(&["core", "lonely"]),
    );
    ws.uv(&["lock"]);
    ws.project.commit_all();
    let run = ws.qik(&["-n", "1"]);
    run.assert_ok();
    run.assert_ran("uv.install@api");
    run.assert_ran("api-show@api");
    run.assert_cached("uv.install@core");
    run.assert_cached("core-show@core");
    assert_eq!((ws.runs("api"), ws.runs("core")), (2, 1));
    assert!(!stale.exists(), "the next share written removes it");

    // core moves to tinypkg 2.0: api resolves through core, so both re-run.
    ws.project.write(
        "libs/core/pyproject.toml",
        &member_pyproject("core", &["tinypkg==2.0"], ""),
    );
    ws.uv(&["lock"]);
    ws.project.commit_all();
    let run = ws.qik(&["-n", "1"]);
    run.assert_ok();
    assert_has(&run.stdout, "core tinypkg 2.0");
    assert_has(&run.stdout, "tinypkg 2.0");
    assert_eq!((ws.runs("api"), ws.runs("core")), (3, 2));
}

/// A dependency only another platform installs is still part of the
/// project's share of `uv.lock` (docs/uv.md says why): a new version of it
/// re-runs the space here too, and nothing of it is installed here.
#[test]
fn a_dependency_for_another_platform_is_in_the_share_but_not_installed() {
    let ws = Workspace::new();
    let windows_only = |version: &str| {
        member_pyproject(
            "core",
            &[
                "tinypkg==1.0",
                &format!("lonely=={version}; sys_platform == 'win32'"),
            ],
            "",
        )
    };
    ws.project
        .write("libs/core/pyproject.toml", &windows_only("1.0"));
    ws.uv(&["lock"]);
    ws.project.commit_all();
    ws.qik(&["core-show", "-n", "1"]).assert_ok();
    assert_eq!(ws.runs("core"), 1);
    let share = ws
        .project
        .read("._qik/artifacts/uv.lock/core-resolution.toml");
    assert_has(&share, "name = \"lonely\"");
    assert_has(&share, "sys_platform == 'win32'");
    let python = ws.project.root.join("._qik/venv/core/bin/python");
    let lonely = Command::new(&python)
        .args(["-c", "import lonely"])
        .output()
        .expect("the venv's python runs");
    assert!(!lonely.status.success(), "lonely is installed on Linux");

    // lonely 2.0 for Windows: the share changed, so core runs again.
    build_wheel(ws.wheels.path(), "lonely", "2.0", &[]);
    ws.project
        .write("libs/core/pyproject.toml", &windows_only("2.0"));
    ws.uv(&["lock"]);
    ws.project.commit_all();
    let run = ws.qik(&["core-show", "-n", "1"]);
    run.assert_ok();
    run.assert_ran("uv.lock@core");
    assert_eq!(ws.runs("core"), 2);
    let share = ws
        .project
        .read("._qik/artifacts/uv.lock/core-resolution.toml");
    assert_has(&share, "version = \"2.0\"");
}

/// The names `qik --ls --json --since REF` selects.
fn since(ws: &Workspace, reference: &str) -> Vec<String> {
    let run = ws.qik(&["--ls", "--json", "--since", reference]);
    run.assert_ok();
    let document: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    document["runnables"]
        .as_array()
        .expect("runnables")
        .iter()
        .map(|r| r["name"].as_str().expect("a name").to_string())
        .collect()
}

#[test]
fn since_selects_a_space_only_when_its_share_of_uv_lock_changed() {
    let ws = Workspace::new();
    let base = ws.project.git(&["rev-parse", "HEAD"]).trim().to_string();

    // api gains a dependency: uv.lock changes, core's share of it does not.
    ws.project.write(
        "services/api/pyproject.toml",
        &api_pyproject(&["core", "lonely"]),
    );
    ws.uv(&["lock"]);
    ws.project.commit_all();
    let selected = since(&ws, &base);
    for name in ["uv.lock@api", "uv.install@api", "api-show@api"] {
        assert!(selected.iter().any(|n| n == name), "{name}: {selected:?}");
    }
    let core: Vec<&String> = selected.iter().filter(|n| n.ends_with("@core")).collect();
    assert!(core.is_empty(), "core's share did not change: {selected:?}");

    // core moves to tinypkg 2.0: both shares change (api resolves through
    // core), so both spaces are selected.
    ws.project.write(
        "libs/core/pyproject.toml",
        &member_pyproject("core", &["tinypkg==2.0"], ""),
    );
    ws.uv(&["lock"]);
    ws.project.commit_all();
    let selected = since(&ws, "HEAD~1");
    for name in [
        "uv.lock@core",
        "core-show@core",
        "uv.lock@api",
        "api-show@api",
    ] {
        assert!(selected.iter().any(|n| n == name), "{name}: {selected:?}");
    }

    // A lock that no longer parses is judged changed for everyone: the run
    // then says what is wrong with it.
    ws.project.write("uv.lock", "not a lock [");
    let selected = since(&ws, "HEAD");
    assert!(
        selected.iter().any(|n| n == "core-show@core"),
        "{selected:?}"
    );
}

/// The hash and cache status `--ls --json` gives a runnable.
fn planned(ws: &Workspace, name: &str) -> (serde_json::Value, serde_json::Value) {
    let run = ws.qik(&["--ls", "--json", name]);
    run.assert_ok();
    let document: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let runnable = document["runnables"]
        .as_array()
        .and_then(|all| all.iter().find(|r| r["name"] == name))
        .unwrap_or_else(|| panic!("{name} is not listed: {run:#?}"))
        .clone();
    (runnable["hash"].clone(), runnable["cache_status"].clone())
}

#[test]
fn pydist_versions_come_from_uv_lock_until_the_venv_is_installed() {
    let ws = Workspace::new();
    // No venv yet: tinypkg's version is the one uv.lock pins for api, so
    // the runnable has a hash (rather than "distribution not found").
    let (before, status) = planned(&ws, "api-dist@api");
    assert!(before.is_string(), "no hash before the install: {before}");
    assert_eq!(status, "cold");
    // A distribution neither installed nor locked is still an error.
    ws.project.write(
        "qik.toml",
        &CONFIG.replace("name = \"tinypkg\"", "name = \"nosuchdist\""),
    );
    let (missing, _) = planned(&ws, "api-dist@api");
    assert!(missing.is_null(), "a hash without nosuchdist: {missing}");
}

#[test]
fn a_stale_lock_fails_with_the_command_that_fixes_it_and_is_not_relocked() {
    let ws = Workspace::new();
    ws.qik(&["-n", "1"]).assert_ok();
    let lock = ws.project.read("uv.lock");

    // core's requirements change, but nobody ran `uv lock`.
    ws.project.write(
        "libs/core/pyproject.toml",
        &member_pyproject("core", &["tinypkg==2.0"], ""),
    );
    ws.project.commit_all();
    let run = ws.qik(&["core-show", "-n", "1"]);
    assert_ne!(run.code, 0, "a stale lock must fail: {run:#?}");
    let all = run.all();
    assert_has(&all, "uv.lock is out of date for the uv project libs/core");
    assert_has(&all, "run `uv lock`");
    assert_eq!(ws.project.read("uv.lock"), lock, "qik re-locked");
    assert_eq!(ws.runs("core"), 1, "the command ran on a stale venv");

    // Locking fixes it.
    ws.uv(&["lock"]);
    let run = ws.qik(&["core-show", "-n", "1"]);
    run.assert_ok();
    assert_has(&run.stdout, "core tinypkg 2.0");
}

#[test]
fn a_project_without_uv_lock_says_to_run_uv_lock() {
    let ws = Workspace::new();
    ws.project.git(&["rm", "-q", "uv.lock"]);
    let run = ws.qik(&["core-show", "-n", "1"]);
    assert_ne!(run.code, 0, "{run:#?}");
    let all = run.all();
    assert_has(&all, "the uv project `libs/core` has no uv.lock");
    assert_has(&all, "run `uv lock`");
    assert!(!Path::new(&ws.project.root.join("uv.lock")).exists());
}

#[test]
fn unknown_groups_are_reported_with_the_ones_the_project_has() {
    let ws = Workspace::new();
    ws.project.write(
        "qik.toml",
        &CONFIG.replace("groups = [\"dev\"]", "groups = [\"docs\"]"),
    );
    ws.project.commit_all();
    let run = ws.qik(&["api-show", "-n", "1"]);
    assert_ne!(run.code, 0, "{run:#?}");
    assert_has(
        &run.all(),
        "group `docs` is not in uv.lock for `api` (it has: dev)",
    );
}

#[test]
fn project_config_errors_point_at_the_key() {
    for (venv, parts) in [
        (
            r#"{type = "uv", project = "a", reqs = "r.txt"}"#,
            &["qik.toml:5", "not both"][..],
        ),
        (
            r#"{type = "uv", reqs = "r.txt", groups = ["dev"]}"#,
            &["qik.toml:5", "`groups` applies to a uv project"][..],
        ),
        (
            r#"{type = "uv", project = "a", lock = "x.txt"}"#,
            &["qik.toml:5", "`lock` applies to requirement files"][..],
        ),
        (
            r#"{type = "uv", project = "../elsewhere"}"#,
            &["qik.toml:5", "inside the qik project"][..],
        ),
        (
            r#"{type = "uv", project = "a", all-groups = true, groups = ["dev"]}"#,
            &["qik.toml:5", "exclude each other"][..],
        ),
        (
            r#"{type = "uv", project = "a", group = ["dev"]}"#,
            &["qik.toml:5", "group"][..],
        ),
    ] {
        let project = Project::with_config(&format!(
            "[plugins]\nuv = \"qik.uv\"\n\n[spaces.default]\nvenv = {venv}\n"
        ));
        project.commit_all();
        let run = project.qik(".", &["--ls"], &[]);
        run.assert_error(parts);
    }
}
