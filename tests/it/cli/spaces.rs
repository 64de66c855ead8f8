//! Commands run with their space's environment; context profiles.

use crate::support::Project;

#[test]
fn commands_get_their_space_dotenv_and_nothing_else() {
    let project = Project::with_config(
        "[spaces.web]\ndotenv = [\"web.env\", \"local.env\"]\n\n[commands]\n\
         web = {exec = \"echo web=[$A][$B]\", space = \"web\"}\n\
         plain = \"echo plain=[$A][$B]\"\n",
    );
    project.write("web.env", "A=1\nB=from-web\n");
    project.write("local.env", "# later files win\nB=\"from local\"\n");
    let run = project.qik(".", &["-n", "1"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("web=[1][from local]"), "{}", run.stdout);
    assert!(run.stdout.contains("plain=[][]"), "{}", run.stdout);
}

#[test]
fn a_broken_dotenv_fails_the_runnable_with_its_line() {
    let project = Project::with_config(
        "[spaces.web]\ndotenv = \"web.env\"\n\n[commands]\nweb = {exec = \"echo ran\", space = \"web\"}\n",
    );
    project.write("web.env", "A=1\nnot a valid line\n");
    let run = project.qik(".", &["-n", "1"], &[]);
    assert_eq!(run.code, 1);
    assert!(!run.stdout.contains("ran"), "{}", run.stdout);
    assert!(
        run.stdout.contains("web.env:2:") || run.stderr.contains("web.env:2:"),
        "{run:?}"
    );
}

#[test]
fn profiles_fill_runtime_settings_and_project_values() {
    let project = Project::with_config(
        "ctx = {default = {project = {who = \"dev\"}}, ci = {qik = {isolated = true}, project = {who = \"ci\"}}}\n\n\
         [commands]\nprep = \"echo prep\"\n\
         hello = {exec = \"echo hello {ctx.who}\", deps = [{type = \"command\", name = \"prep\"}]}\n",
    );
    let run = project.qik(".", &["--ls", "hello"], &[]);
    assert_eq!(run.lines(), ["hello", "prep"]);
    let run = project.qik(".", &["--ls", "hello", "-p", "ci"], &[]);
    assert_eq!(run.lines(), ["hello"]);
    let run = project.qik(
        ".",
        &["hello", "-n", "1", "--isolated"],
        &[("QIK__PROFILE", "ci")],
    );
    assert_eq!(run.stdout, "hello ci\n", "{}", run.stderr);
    // The environment beats the profile.
    let run = project.qik(".", &["hello", "-n", "1", "--isolated"], &[("WHO", "env")]);
    assert_eq!(run.stdout, "hello env\n", "{}", run.stderr);
    project
        .qik(".", &["--ls", "-p", "staging"], &[])
        .assert_error(&["[ctx0]", "\"staging\"", "`ci`"]);
}

#[test]
fn unknown_profile_setting_is_an_error_at_its_line() {
    let project = Project::with_config("[ctx.ci.qik]\nworkerz = 2\n");
    project
        .qik(".", &["--ls"], &[])
        .assert_error(&["qik.toml:2:11", "did you mean `workers`"]);
}
