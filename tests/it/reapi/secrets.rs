//! Auth headers come from `{ctx...}` and never show: not in output, not in
//! `--ls --json`, not in `--explain`, not in logs, not in warnings.

use std::process::Command;

use super::support::{
    Bgd, Project, Run, TOKEN, assert_one_warning, assert_quiet, config_with, dead_endpoint,
    local_entries,
};
use crate::support::tools::buildgrid_dir;
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
    assert_no_file_holds(&a, TOKEN);
    assert_no_file_holds(&b, TOKEN);

    // Nor in the warning of a server that cannot be reached.
    let down = project(&dead_endpoint());
    let run = down.qik(".", &["-n", "1"], &env);
    run.assert_ok();
    assert_one_warning(&run, "cannot reach");
    assert_hidden(&run);
    assert_no_file_holds(&down, TOKEN);

    // Nor when the rendered value is not a valid header.
    let bad = format!("{TOKEN}\u{7}");
    let run = a.qik(".", &["build", "-f"], &[("REAPI_TOKEN", bad.as_str())]);
    run.assert_ok();
    assert_one_warning(&run, "headers.");
    assert_hidden(&run);
}

/// A JWT for `sub = qik-tests`, valid for an hour, signed (HS256) with
/// `secret` by the PyJWT that BuildGrid itself uses.
fn jwt(secret: &str) -> String {
    let script = "import sys, time, jwt; \
                  print(jwt.encode({'sub': 'qik-tests', 'exp': int(time.time()) + 3600}, \
                  sys.argv[1], algorithm='HS256'))";
    let output = Command::new("python3")
        .args(["-c", script, secret])
        .env("PYTHONPATH", buildgrid_dir())
        .env("PYTHONNOUSERSITE", "1")
        .output()
        .expect("python3 runs");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

#[test]
fn a_server_that_wants_a_token_gets_it_and_refuses_a_wrong_one() {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("auth.secret");
    std::fs::write(&secret_file, "qik-test-jwt-secret-0123456789abcdef").unwrap();
    let good = jwt("qik-test-jwt-secret-0123456789abcdef");
    let wrong = jwt("another-secret-entirely-0123456789abc");
    let server = Bgd::start_jwt(&secret_file);

    let a = project(&server.endpoint());
    let run = a.qik(".", &["build"], &[("REAPI_TOKEN", good.as_str())]);
    run.assert_ok();
    run.assert_ran("build");
    assert_quiet(&run);
    assert!(!run.all().contains(&good), "{run:#?}");
    assert!(!server.blobs().is_empty(), "stored with the token");

    // A wrong token: refused, one warning that shows neither token, green.
    let b = a.clone_repo();
    let refused = b.qik(".", &["-n", "1"], &[("REAPI_TOKEN", wrong.as_str())]);
    refused.assert_ok();
    refused.assert_ran("build");
    refused.assert_ran("other");
    assert_one_warning(&refused, "Unauthenticated");
    assert!(!refused.all().contains(&wrong), "{refused:#?}");
    assert_no_file_holds(&b, &wrong);

    // The right one replays what `a` stored.
    let c = a.clone_repo();
    let replay = c.qik(".", &["build"], &[("REAPI_TOKEN", good.as_str())]);
    replay.assert_cached("build");
    assert_quiet(&replay);
    assert_eq!(local_entries(&c).len(), 1);
}

/// No file qik wrote holds `secret`.
#[track_caller]
fn assert_no_file_holds(project: &Project, secret: &str) {
    walk(&project.root.join("._qik"), &mut |path| {
        let bytes = std::fs::read(path).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(secret),
            "{} holds the token",
            path.display()
        );
    });
}
