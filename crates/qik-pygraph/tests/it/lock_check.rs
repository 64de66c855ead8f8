//! `lock` (globs and distributions of a module's upstream) and `check`
//! (imports that leave a fence).

use qik_pygraph::{LockError, check, fence_modules, lock};

use crate::support::Fixture;

fn project(prefix: &str) -> Fixture {
    let files = [
        ("app/__init__.py", ""),
        ("app/views/__init__.py", "from app.models import M\n"),
        ("app/views/list.py", "import requests\n"),
        ("app/models.py", "import yaml\nfrom lib.util import x\n"),
        ("app/other.py", "import lib.util\n"),
        ("lib/__init__.py", "import lib.other\n"),
        ("lib/util.py", ""),
        ("lib/other.py", "import numpy\n"),
    ];
    let files: Vec<(String, &str)> = files
        .iter()
        .map(|(p, t)| (format!("{prefix}{p}"), *t))
        .collect();
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), *t)).collect();
    let mut f = Fixture::new(&refs);
    if !prefix.is_empty() {
        f.python_path = prefix.trim_end_matches('/').to_string();
    }
    f
}

fn dists(module: &str) -> Option<Vec<String>> {
    match module {
        "yaml" => Some(vec!["PyYAML".into()]),
        "requests" => Some(vec!["requests".into()]),
        "numpy" => Some(vec![String::new()]),
        _ => None,
    }
}

#[test]
fn lock_takes_imports_submodules_and_ancestor_inits() {
    let graph = project("").graph();
    let l = lock(&graph, "app.views", &dists, false).unwrap();
    assert_eq!(
        l.globs,
        [
            "app/__init__.py",
            "app/models.py",
            "app/models/**.py",
            "app/views.py",
            "app/views/**.py",
            "app/views/list.py",
            "app/views/list/**.py",
            "lib/__init__.py",
            "lib/util.py",
            "lib/util/**.py",
        ]
    );
    assert_eq!(l.pydists, ["PyYAML", "requests"]);
    // A package takes its submodules; an empty distribution name is ignored.
    let l = lock(&graph, "lib", &dists, false).unwrap();
    assert!(l.globs.contains(&"lib/other.py".to_string()));
    assert!(l.pydists.is_empty());
}

#[test]
fn lock_globs_are_relative_to_the_project_root() {
    let graph = project("src/").graph();
    let l = lock(&graph, "app.models", &dists, false).unwrap();
    assert_eq!(
        l.globs,
        [
            "src/app/__init__.py",
            "src/app/models.py",
            "src/app/models/**.py",
            "src/lib/__init__.py",
            "src/lib/util.py",
            "src/lib/util/**.py"
        ]
    );
}

#[test]
fn compacting_keeps_the_selected_files_and_names_whole_packages_once() {
    let fixture = project("");
    let graph = fixture.graph();
    let tracked = fixture.tracked();
    let mut l = lock(&graph, "app.views", &dists, false).unwrap();
    let before = tracked.matching(&l.globs).unwrap();
    l.compact(|globs| tracked.matching(globs)).unwrap();
    assert_eq!(tracked.matching(&l.globs).unwrap(), before);
    // `app/views/` is all upstream: one glob. `app/` and `lib/` are not
    // (app/other.py, lib/other.py are not imported): their globs stay.
    assert_eq!(
        l.globs,
        [
            "app/__init__.py",
            "app/models.py",
            "app/models/**.py",
            "app/views.py",
            "app/views/**.py",
            "lib/__init__.py",
            "lib/util.py",
            "lib/util/**.py",
        ]
    );
    let explained: Vec<&String> = l.why.keys().collect();
    assert_eq!(explained, l.globs.iter().collect::<Vec<_>>());
}

#[test]
fn a_deep_chain_of_imports_locks_to_few_globs_with_short_explanations() {
    // m9 imports m8 ... imports m0, file by file, as layered packages do.
    let mut files = vec![("pkgs/__init__.py".to_string(), String::new())];
    for m in 0..10 {
        files.push((format!("pkgs/m{m}/__init__.py"), String::new()));
        for f in 0..3 {
            let text = if m == 0 {
                String::new()
            } else {
                format!("from pkgs.m{} import f{f}\n", m - 1)
            };
            files.push((format!("pkgs/m{m}/f{f}.py"), text));
        }
    }
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let fixture = Fixture::new(&refs);
    let graph = fixture.graph();
    let tracked = fixture.tracked();

    let mut whole = lock(&graph, "pkgs.m9", &dists, false).unwrap();
    let before = tracked.matching(&whole.globs).unwrap();
    assert_eq!(before.len(), files.len());
    whole.compact(|globs| tracked.matching(globs)).unwrap();
    assert_eq!(whole.globs, ["pkgs/**.py"]);

    let mut part = lock(&graph, "pkgs.m5", &dists, false).unwrap();
    let before = tracked.matching(&part.globs).unwrap();
    part.compact(|globs| tracked.matching(globs)).unwrap();
    assert_eq!(tracked.matching(&part.globs).unwrap(), before);
    let mut expected: Vec<String> = (0..6).map(|m| format!("pkgs/m{m}/**.py")).collect();
    expected.extend(["pkgs/__init__.py".to_string(), "pkgs/m5.py".to_string()]);
    expected.sort();
    assert_eq!(part.globs, expected);
    // A chain of 7 modules keeps its ends and says how many it leaves out.
    assert_eq!(
        part.why["pkgs/m0/**.py"],
        "pkgs.m5 -> pkgs.m5.f0 -> (2 more) -> pkgs.m2.f0 -> pkgs.m1.f0 -> pkgs.m0.f0"
    );
    assert_eq!(
        part.why["pkgs/m4/**.py"],
        "pkgs.m5 -> pkgs.m5.f0 -> pkgs.m4.f0"
    );
}

#[test]
fn lock_of_an_unmapped_distribution_is_an_error_unless_ignored() {
    let graph = project("").graph();
    let none = |_: &str| None;
    let err = lock(&graph, "app", &none, false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "No distribution found for module \"requests\"\nNo distribution found for module \"yaml\""
    );
    assert!(
        err.hint()
            .contains("[pydist.modules] requests = \"distribution-name\""),
        "{}",
        err.hint()
    );
    let l = lock(&graph, "app", &none, true).unwrap();
    assert!(l.pydists.is_empty());
}

#[test]
fn lock_of_a_non_module_says_what_exists() {
    let graph = project("").graph();
    let err = lock(&graph, "app.veiws", &dists, false).unwrap_err();
    assert!(
        err.to_string().starts_with(
            "`app.veiws` is not a module of the import graph; did you mean `app.views`"
        ),
        "{err}"
    );
    let err = lock(&graph, "lib.zzzzzzzz", &dists, false).unwrap_err();
    let LockError::NotAModule { suggestions, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(suggestions, &["lib.other", "lib.util"]);
    // External names are not modules one can lock.
    assert!(lock(&graph, "yaml", &dists, false).is_err());
}

#[test]
fn check_reports_every_import_leaving_the_fence() {
    let graph = project("").graph();
    let fence = fence_modules(".", &["app".to_string()]);
    assert_eq!(fence, ["app"]);
    let violations: Vec<String> = check(&graph, &fence, &|m| m == "yaml")
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        violations,
        [
            "app.models imports lib.util (app/models.py:2)",
            "app.other imports lib.util (app/other.py:1)",
            "app.views.list imports requests (app/views/list.py:1)",
        ]
    );
    let fence = fence_modules(".", &["app".to_string(), "lib/".to_string()]);
    let violations = check(&graph, &fence, &|m| m != "numpy");
    assert_eq!(violations.len(), 1);
    assert_eq!(
        violations[0].to_string(),
        "lib.other imports numpy (lib/other.py:1)"
    );
    assert!(check(&graph, &fence, &|_| true).is_empty());
    assert_eq!(
        qik_pygraph::all_clear("default", &graph, &fence),
        "No import violations found across 7 imports of 8 modules in \"default\" space"
    );
}

#[test]
fn fence_paths_map_to_modules_under_the_python_path() {
    let paths: Vec<String> = [
        "src/app",
        "src/lib/util.py",
        "src/pkg/__init__.py",
        "docs",
        "./src/x/",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(
        fence_modules("src", &paths),
        ["app", "lib.util", "pkg", "x"]
    );
}
