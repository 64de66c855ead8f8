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
    // The space is a command-line argument: a usage error.
    assert_eq!(project.qikx(".", &["echo@tool"], &[]).code, 2);
}

#[test]
fn everything_after_the_executable_is_its_own() {
    let project = Project::with_config("[spaces.tools]\nroot = \"tools\"\n");
    let args = ["printf", "%s|", "a", "--help", "--", "-x", "-V"];
    let run = project.qikx(".", &args, &[]);
    assert_eq!(run.stdout, "a|--help|--|-x|-V|", "{run:#?}");
    // `--` before the executable ends qikx's flags.
    let run = project.qikx(".", &["--", "printf", "%s", "-i"], &[]);
    assert_eq!(run.stdout, "-i", "{run:#?}");
}

#[test]
fn help_version_and_completions() {
    let project = Project::with_config("[spaces.tools]\nroot = \"tools\"\n");
    let run = project.qikx(".", &["--help"], &[]);
    run.assert_ok();
    assert!(run.stdout.contains("EXECUTABLE[@SPACE]"), "{run:#?}");
    assert!(run.stdout.contains("--install"), "{run:#?}");
    let run = project.qikx(".", &["-V"], &[]);
    assert!(run.stdout.starts_with("qikx "), "{run:#?}");
    let run = project.qikx(".", &["--completions", "bash"], &[]);
    run.assert_ok();
    assert!(run.stdout.contains("QIKX_COMPLETE"), "{run:#?}");
    // The script's question is answered with qikx's flags.
    let run = project.qikx(".", &["--", "qikx", "--ins"], &[("QIKX_COMPLETE", "fish")]);
    assert_eq!(
        run.lines(),
        ["--install\tInstall the venv of every space, then exit"],
        "{run:#?}"
    );
    assert_eq!(project.qikx(".", &["--completions", "nosh"], &[]).code, 2);
}

#[test]
fn runs_in_the_space_environment_of_the_cwd_root() {
    let project = Project::with_config(
        "[spaces.web]\nroot = \"web\"\ndotenv = [\"web/.env\"]\n\n[spaces.api]\nroot = \"api\"\n",
    );
    project.write("web/.env", "GREETING=\"hello web\"\n");
    project.write("api/.keep", "");
    let print = ["sh", "-c", "echo \"[$GREETING]\""];
    let run = project.qikx("web", &print, &[]);
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "[hello web]\n"),
        "{}",
        run.stderr
    );
    // Another space's dotenv does not leak.
    let run = project.qikx("api", &print, &[]);
    assert_eq!(run.stdout, "[]\n");
    let run = project.qikx(".", &["sh@web", "-c", "echo \"[$GREETING]\""], &[]);
    assert_eq!(run.stdout, "[hello web]\n");
}

#[test]
fn a_missing_dotenv_file_is_an_error() {
    let project = Project::with_config("[spaces.web]\ndotenv = [\"missing.env\"]\n");
    project
        .qikx(".", &["true@web"], &[])
        .assert_error(&["[space2]", "missing.env"]);
}
