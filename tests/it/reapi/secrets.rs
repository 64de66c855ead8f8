//! Auth headers come from `{ctx...}` and never show: not in output, not in
//! `--ls --json`, not in `--explain`, not in logs, not in warnings.

use super::support::{
    Bgd, Project, Run, TOKEN, assert_one_warning, assert_quiet, config_with, dead_endpoint,
};
use crate::support::walk;

const TOP: &str = "ctx = [{name = \"reapi_token\", required = false}]";
const HEADERS: &str = "headers = {authorization = \"Bearer {ctx.reapi_token}\", \
                       x-api-key = \"{ctx.reapi_token}\"}";

fn project(endpoint: &str) -> Project {
    Project::with_files(&[
        ("qik.toml", &config_with(TOP, endpoint, HEADERS)),
        ("src/a.txt", "one\n"),
        ("src/b.txt", "two\n"),
    ])
}

#[track_caller]
fn assert_hidden(run: &Run) {
    assert!(!run.all().contains(TOKEN), "the token shows: {run:#?}");
}

/// No file qik wrote holds the token.
#[track_caller]
fn assert_no_file_holds_it(project: &Project) {
    walk(&project.root.join("._qik"), &mut |path| {
        let bytes = std::fs::read(path).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(TOKEN),
            "{} holds the token",
            path.display()
        );
    });
}

#[test]
fn a_token_never_appears() {
    let env = [("REAPI_TOKEN", TOKEN)];
    let server = Bgd::start();
    let a = project(&server.endpoint());
    let run = a.qik(".", &["-n", "1", "-v", "2"], &env);
    run.assert_ok();
    assert_quiet(&run);
    assert_hidden(&run);
    for args in [
        &["--ls", "--json"][..],
        &["--ls", "--explain"],
        &["--ls", "--cache-status", "warm"],
        &["build", "-f", "--explain"],
    ] {
        let run = a.qik(".", args, &env);
        run.assert_ok();
        assert_hidden(&run);
    }
    let b = a.clone_repo();
    let replay = b.qik(".", &["-n", "1", "--explain"], &env);
    replay.assert_cached("build");
    assert_hidden(&replay);
    assert_no_file_holds_it(&a);
    assert_no_file_holds_it(&b);

    // Nor in the warning of a server that cannot be reached.
    let down = project(&dead_endpoint());
    let run = down.qik(".", &["-n", "1"], &env);
    run.assert_ok();
    assert_one_warning(&run, "cannot reach");
    assert_hidden(&run);
    assert_no_file_holds_it(&down);

    // Nor when the rendered value is not a valid header.
    let bad = format!("{TOKEN}\u{7}");
    let run = a.qik(".", &["build", "-f"], &[("REAPI_TOKEN", bad.as_str())]);
    run.assert_ok();
    assert_one_warning(&run, "headers.");
    assert_hidden(&run);
}
