//! The qik.pygraph plugin end to end: commands that depend on a module and
//! everything it imports re-run exactly when one of those files (or an
//! imported distribution) changes, and `pygraph.check` lints fences.

use crate::support::{Project, Run};

const CONFIG: &str = r#"[plugins]
pygraph = "qik.pygraph"

[spaces.core]
modules = ["core"]
fence = true

[spaces.web]
modules = ["web"]
fence = ["core"]

[spaces.scripts]
modules = ["scripts"]

[commands]
test = {exec = "echo {module.name} >> ran.txt", deps = [{type = "pygraph", pyimport = "{module.pyimport}"}]}
"#;

fn project() -> Project {
    let project = Project::with_config(CONFIG);
    project.write("core/__init__.py", "");
    project.write("core/a.py", "from core import b\n");
    project.write("core/b.py", "import os\nVALUE = 1\n");
    project.write("web/__init__.py", "");
    project.write("web/views.py", "import core.a\n");
    project.write("scripts/__init__.py", "");
    project.write("scripts/tool.py", "import json\n");
    project.commit_all();
    project
}

#[track_caller]
fn assert_ok(run: &Run) {
    assert_eq!(run.code, 0, "qik failed: {run:#?}");
}

/// The modules whose `test` ran, in order, since the last call.
fn ran(project: &Project) -> Vec<String> {
    let mut lines: Vec<String> = project
        .read_or_empty("ran.txt")
        .lines()
        .map(String::from)
        .collect();
    lines.sort();
    let _ = std::fs::remove_file(project.root.join("ran.txt"));
    lines
}

#[test]
fn commands_rerun_exactly_when_their_import_closure_changes() {
    let project = project();
    assert_ok(&project.qik(".", &["test"], &[]));
    assert_eq!(ran(&project), ["core", "scripts", "web"]);
    assert_ok(&project.qik(".", &["test"], &[]));
    assert_eq!(ran(&project), Vec::<String>::new(), "all cached");

    // A file only web imports from: web re-runs.
    project.write("web/views.py", "import core.a\nX = 2\n");
    assert_ok(&project.qik(".", &["test"], &[]));
    assert_eq!(ran(&project), ["web"]);

    // core.b is imported by core.a, which web imports: both re-run.
    project.write("core/b.py", "import os\nVALUE = 2\n");
    assert_ok(&project.qik(".", &["test"], &[]));
    assert_eq!(ran(&project), ["core", "web"]);

    // A new import makes scripts depend on core from now on.
    project.write("scripts/tool.py", "import json\nimport core.b\n");
    assert_ok(&project.qik(".", &["test"], &[]));
    assert_eq!(ran(&project), ["scripts"]);
    project.write("core/b.py", "import os\nVALUE = 3\n");
    assert_ok(&project.qik(".", &["test"], &[]));
    assert_eq!(ran(&project), ["core", "scripts", "web"]);

    // An ancestor package's __init__.py runs on import: it counts.
    project.write("core/__init__.py", "# init\n");
    assert_ok(&project.qik(".", &["test", "-m", "web"], &[]));
    assert_eq!(ran(&project), ["web"]);
}

#[test]
fn the_graph_file_has_the_documented_format() {
    let project = project();
    assert_ok(&project.qik(".", &["pygraph.build"], &[]));
    let text = project.read("._qik/artifacts/pygraph.build/graph.json");
    let graph: serde_json::Value = serde_json::from_str(&text).expect("json");
    let modules: Vec<(String, bool)> = graph["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m[0].as_str().unwrap().to_string(), m[1].as_bool().unwrap()))
        .collect();
    let names: Vec<&str> = modules.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "core",
            "core.a",
            "core.b",
            "scripts",
            "scripts.tool",
            "web",
            "web.views"
        ],
        "sorted, internal only here (os and json are the standard library)"
    );
    let edges: Vec<(String, String)> = graph["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let at = |i: usize| names[e[i].as_u64().unwrap() as usize].to_string();
            (at(0), at(1))
        })
        .collect();
    assert_eq!(
        edges,
        [
            ("core.a".to_string(), "core.b".to_string()),
            ("web.views".to_string(), "core.a".to_string()),
        ]
    );
}

#[test]
fn check_reports_imports_leaving_a_fence_and_passes_when_fixed() {
    let project = project();
    project.write("core/c.py", "import os\n\nimport web.views\n");
    project.commit_all();
    let run = project.qik(".", &["pygraph.check", "-n", "1"], &[]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(
        run.stdout
            .contains("core.c imports web.views (core/c.py:3)"),
        "{}",
        run.stdout
    );
    // web may import core: its fence includes it.
    assert!(
        !run.stdout.contains("web.views imports core.a"),
        "{}",
        run.stdout
    );

    project.write("core/c.py", "import os\n");
    let run = project.qik(".", &["pygraph.check", "-n", "1"], &[]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(run.stdout.contains("core"), "{}", run.stdout);
}

#[test]
fn an_external_import_the_environment_lacks_is_an_error_with_the_mapping_hint() {
    let project = project();
    project.write(
        "web/views.py",
        "import core.a\nimport surely_not_installed_pkg\n",
    );
    let run = project.qik(".", &["test", "-m", "web", "-n", "1"], &[]);
    assert_ne!(run.code, 0);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains("No distribution found for module \"surely_not_installed_pkg\""),
        "{all}"
    );
    assert!(all.contains("[pydist.modules]"), "{all}");
    assert!(
        project.read_or_empty("ran.txt").is_empty(),
        "test must be skipped"
    );

    // Mapping it to nothing ignores it.
    let config = format!("{CONFIG}\n[pydist.modules]\nsurely_not_installed_pkg = \"\"\n");
    project.write("qik.toml", &config);
    assert_ok(&project.qik(".", &["test", "-m", "web"], &[]));
}

#[test]
fn a_syntax_error_names_every_bad_file_and_writes_no_graph() {
    let project = project();
    project.write("web/broken.py", "def f(:\n    pass\n");
    project.write("core/bad.py", "x = (1,\n");
    project.commit_all();
    let run = project.qik(".", &["test", "-n", "1"], &[]);
    assert_ne!(run.code, 0);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(all.contains("web/broken.py:1:"), "{all}");
    assert!(all.contains("core/bad.py:"), "{all}");
    assert!(
        !project
            .root
            .join("._qik/artifacts/pygraph.build/graph.json")
            .exists()
    );
    assert!(project.read_or_empty("ran.txt").is_empty());
}

/// A 4 KB file of 2,000 nested parentheses used to overflow the stack and
/// abort every run that needs the graph. It is refused as CPython refuses
/// it, naming the file and line; nesting CPython accepts builds.
#[test]
fn nesting_deeper_than_python_allows_is_an_error_not_an_abort() {
    let project = project();
    let deep = format!("import os\nx = {}1{}\n", "(".repeat(2000), ")".repeat(2000));
    project.write("core/deep.py", &deep);
    project.commit_all();
    let run = project.qik(".", &["test", "-n", "1"], &[]);
    assert_eq!(run.code, 1, "{run:#?}");
    let all = run.all();
    assert!(
        all.contains("core/deep.py:2:205: too many nested parentheses"),
        "{all}"
    );
    assert!(!all.contains("overflow"), "{all}");
    assert!(project.read_or_empty("ran.txt").is_empty());

    // As deep as CPython allows: 200 brackets, 99 indented blocks.
    let blocks: String = (0..99)
        .map(|level| format!("{}if x:\n", " ".repeat(level)))
        .collect();
    let modest = format!(
        "x = {}1{}\n{blocks}{}import core.b\n",
        "(-".repeat(199),
        ")".repeat(199),
        " ".repeat(99)
    );
    project.write("core/deep.py", &modest);
    project.commit_all();
    assert_ok(&project.qik(".", &["test", "-n", "1"], &[]));
    assert_eq!(ran(&project), ["core", "scripts", "web"]);
}

#[test]
fn a_pyimport_that_is_not_a_module_suggests_the_near_ones() {
    let project = Project::with_config(
        "[plugins]\npygraph = \"qik.pygraph\"\n\n[commands]\nt = {exec = \"echo t\", deps = [{type = \"pygraph\", pyimport = \"core.aa\"}]}\n",
    );
    project.write("core/__init__.py", "");
    project.write("core/a.py", "");
    project.commit_all();
    let run = project.qik(".", &["t", "-n", "1"], &[]);
    assert_ne!(run.code, 0);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(all.contains("`core.aa` is not a module"), "{all}");
    assert!(all.contains("core.a"), "{all}");

    let bad = Project::with_config(
        "[plugins]\npygraph = \"qik.pygraph\"\n\n[commands]\nt = {exec = \"echo t\", deps = [{type = \"pygraph\", pyimport = \"core/a\"}]}\n",
    );
    bad.qik(".", &["--ls"], &[])
        .assert_error(&["qik.toml:5", "not a Python import path"]);
}

#[test]
fn plugin_commands_follow_the_plugin_alias() {
    let project = Project::with_config(
        "[plugins]\ngraph = \"qik.pygraph\"\n\n[commands]\nt = {exec = \"echo t\", deps = [{type = \"pygraph\", pyimport = \"core\"}]}\n",
    );
    project.write("core/__init__.py", "");
    project.commit_all();
    assert_ok(&project.qik(".", &["t"], &[]));
    assert!(
        project
            .root
            .join("._qik/artifacts/graph.lock/lock.core.default.json")
            .is_file()
    );
    assert!(
        project
            .root
            .join("._qik/artifacts/graph.build/graph.json")
            .is_file()
    );
}

#[test]
fn results_can_live_in_the_repo_cache() {
    let config = CONFIG.replace(
        "[plugins]\npygraph = \"qik.pygraph\"\n",
        "[plugins.pygraph]\npyimport = \"qik.pygraph\"\ncache = \"repo\"\n",
    );
    let project = Project::with_config(&config);
    project.write("core/__init__.py", "");
    project.write("web/__init__.py", "import core\n");
    project.write("scripts/__init__.py", "");
    project.commit_all();
    assert_ok(&project.qik(".", &["test", "-s", "web"], &[]));
    assert!(
        project
            .root
            .join(".qik/artifacts/pygraph.build/graph.json")
            .is_file()
    );
    let lock = project.read(".qik/artifacts/pygraph.lock/lock.web.web.json");
    assert!(lock.contains("\"core/**.py\""), "{lock}");
    // The entries are in the repo cache, so a fresh clone replays them.
    let status = project.git(&["status", "--porcelain", "--", ".qik/cache"]);
    assert!(status.contains("pygraph.build"), "{status}");
    assert!(status.contains("pygraph.lock"), "{status}");
}

/// Temp files of the plugin's atomic writes as a killed qik leaves them:
/// the import cache, the graph, the locks and the map of distributions'
/// modules are each written beside a claimed temp file, and the next run
/// that works in that directory removes the abandoned ones (an hour old,
/// unclaimed) and leaves a fresh one alone.
#[test]
fn temp_files_a_killed_build_or_lock_left_go_with_the_next_run_that_works_there() {
    let project = project();
    assert_ok(&project.qik(".", &["test"], &[]));
    ran(&project);
    let dirs = [
        "._qik/pygraph",
        "._qik/pygraph/pydist-modules",
        "._qik/artifacts/pygraph.build",
        "._qik/artifacts/pygraph.lock",
    ];
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    let mut stale = Vec::new();
    let mut fresh = Vec::new();
    for dir in dirs {
        let dir = project.root.join(dir);
        assert!(dir.is_dir(), "{} exists after a build", dir.display());
        let old = dir.join(".qik-write-killed");
        std::fs::write(&old, "half").unwrap();
        std::fs::File::open(&old)
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
        stale.push(old);
        let new = dir.join(".qik-write-just-made");
        std::fs::write(&new, "half").unwrap();
        fresh.push(new);
    }
    // A fully cached run works nowhere: it leaves everything.
    assert_ok(&project.qik(".", &["test"], &[]));
    assert!(stale.iter().all(|path| path.exists()));

    // A new import re-runs the build and web's lock.
    project.write("web/views.py", "import core.a\nimport core.b\n");
    assert_ok(&project.qik(".", &["test"], &[]));
    assert_eq!(ran(&project), ["web"]);
    for path in &stale {
        assert!(!path.exists(), "{} was left behind", path.display());
    }
    for path in &fresh {
        assert!(path.exists(), "{} was removed while fresh", path.display());
    }
}
