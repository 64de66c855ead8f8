//! The plugins compiled into a binary are exactly the ones its cargo features
//! ask for. CI runs this file for every feature set (see `.ci/run`).

use crate::support::Project;

const ALL: [(&str, bool); 3] = [
    ("qik.pygraph", cfg!(feature = "pygraph")),
    ("qik.s3", cfg!(feature = "s3")),
    ("qik.uv", cfg!(feature = "uv")),
];

#[test]
fn compiled_plugins_are_exactly_the_enabled_features() {
    let project =
        Project::with_config("[plugins]\nx = \"qik.nope\"\n\n[commands]\na = \"echo a\"\n");
    let run = project.qik(".", &["--ls"], &[]);
    run.assert_error(&[
        "[conf6]",
        "plugin \"qik.nope\" is not compiled into this qik",
        "qik.toml:2:5",
    ]);
    let hint = run
        .stderr
        .lines()
        .find(|line| line.contains("hint:"))
        .expect("a hint line");
    for (id, compiled) in ALL {
        assert_eq!(
            hint.contains(&format!("\"{id}\"")),
            compiled,
            "{id} compiled={compiled}, hint: {hint}"
        );
    }
}

#[test]
fn each_compiled_plugin_can_be_enabled_and_others_cannot() {
    for (id, compiled) in ALL {
        let name = id.trim_start_matches("qik.");
        let project = Project::with_config(&format!(
            "[plugins]\n{name} = \"{id}\"\n\n[commands]\na = \"echo a\"\n"
        ));
        let run = project.qik(".", &["--ls"], &[]);
        if compiled {
            assert_eq!(run.code, 0, "{id}: {}", run.stderr);
            assert_eq!(run.lines(), ["a"]);
        } else {
            run.assert_error(&["[conf6]", id]);
        }
    }
}

#[test]
fn plugin_table_form_takes_its_own_keys() {
    if !cfg!(feature = "uv") {
        return;
    }
    let project = Project::with_config(
        "[plugins.uv]\npyimport = \"qik.uv\"\npython = \"3.12\"\n\n[commands]\na = \"echo a\"\n",
    );
    let run = project.qik(".", &["--ls"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = Project::with_config("[plugins.uv]\npyimport = \"qik.uv\"\npyton = \"3.12\"\n").qik(
        ".",
        &["--ls"],
        &[],
    );
    run.assert_error(&["[conf1]", "qik.toml:3:1", "did you mean `python`"]);
}
