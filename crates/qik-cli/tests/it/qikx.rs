//! `qikx`: run an executable in a space.

use crate::support::Project;

#[test]
fn runs_an_executable_and_passes_its_exit_code() {
    let project = Project::with_config("[spaces.tools]\nroot = \"tools\"\n");
    let run = project.qikx(".", &["echo@tools", "hello", "--flag"], &[]);
    assert_eq!((run.code, run.stdout.as_str()), (0, "hello --flag\n"));
    let run = project.qikx(".", &["sh", "-c", "exit 7"], &[]);
    assert_eq!(run.code, 7);
}

#[test]
fn unknown_space_and_missing_executable_are_errors() {
    let project = Project::with_config("[spaces.tools]\nroot = \"tools\"\n");
    project.qikx(".", &["echo@tool"], &[]).assert_error(&[
        "[conf8]",
        "space `tool` is not configured",
        "did you mean `tools`",
    ]);
    project
        .qikx(".", &["no-such-executable-here"], &[])
        .assert_error(&["cannot run `no-such-executable-here`"]);
    assert_eq!(project.qikx(".", &[], &[]).code, 2);
}
