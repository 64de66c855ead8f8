//! Config mistakes: literal ones stop qik with a pointer into qik.toml;
//! ones only visible after rendering `{ctx...}` degrade to a warning.

use super::support::RemoteWarnings as _;
use super::support::{AWS_ENV, Project, config, config_with, free_port_endpoint};

fn project(text: &str) -> Project {
    Project::with_files(&[("qik.toml", text), ("src/input.txt", "one\n")])
}

#[test]
fn literal_mistakes_point_at_the_line() {
    let endpoint = free_port_endpoint();
    for (extra, expect) in [
        ("regoin-name = \"eu-west-1\"", "unknown key `regoin-name`"),
        ("prefix = \"../elsewhere\"", "invalid prefix"),
        ("signing-key = \"short\"", "shorter than 16 bytes"),
        ("timeout = -1", "timeout must be between"),
    ] {
        // `extra` replaces the `timeout = 1` line of the test config.
        let p = project(&config(&endpoint, "").replace("timeout = 1", extra));
        let run = p.qik(".", &["build"], AWS_ENV);
        assert_eq!(run.code, 78, "a config error; {extra}: {run:#?}");
        assert!(run.stderr.contains(expect), "{extra}: {run:#?}");
        assert!(run.stderr.contains("qik.toml:"), "{extra}: {run:#?}");
        assert!(!run.stderr.contains("\"short\" "), "never echo a key");
    }
    let bad_bucket =
        config(&endpoint, "").replace("bucket = \"qik-cache\"", "bucket = \"Bad/Bucket\"");
    let run = project(&bad_bucket).qik(".", &["build"], AWS_ENV);
    assert_eq!(run.code, 78, "a config error: {run:#?}");
    assert!(run.stderr.contains("not a valid bucket name"), "{run:#?}");
}

#[test]
fn the_plugin_must_be_enabled() {
    let text = config(&free_port_endpoint(), "").replace("[plugins]\ns3 = \"qik.s3\"\n", "");
    let run = project(&text).qik(".", &["build"], AWS_ENV);
    assert_eq!(run.code, 78, "a config error: {run:#?}");
    assert!(run.stderr.contains("qik.s3"), "{run:#?}");
}

#[test]
fn rendered_mistakes_degrade_to_one_warning() {
    let top = "ctx = [{name = \"cache_prefix\", default = \"../up\"}]";
    let p = project(&config_with(
        top,
        &free_port_endpoint(),
        "prefix = \"{ctx.cache_prefix}\"",
    ));
    let run = p.qik(".", &["build"], AWS_ENV);
    run.assert_ok();
    run.assert_ran("build");
    run.assert_one_warning("invalid prefix");
    assert!(run.remote_warnings()[0].contains("qik.toml:"), "{run:#?}");

    // No credentials anywhere: a clear warning, the command still runs.
    let p = project(&config(&free_port_endpoint(), ""));
    let run = p.qik(".", &["build"], &[]);
    run.assert_ok();
    run.assert_ran("build");
    run.assert_one_warning("no credentials");
}
