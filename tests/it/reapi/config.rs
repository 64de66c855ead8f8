//! Config mistakes: literal ones stop qik with a pointer into qik.toml and
//! a hint; ones only visible after rendering `{ctx...}` degrade to a
//! warning.

use super::support::{Project, assert_one_warning, config, config_with, dead_endpoint};

fn project(text: &str) -> Project {
    Project::with_files(&[
        ("qik.toml", text),
        ("src/a.txt", "one\n"),
        ("src/b.txt", "two\n"),
    ])
}

#[test]
fn literal_mistakes_point_at_the_line_with_a_hint() {
    for (endpoint, extra, expect, hint) in [
        (
            "http://127.0.0.1:1",
            "",
            "is an HTTP URL",
            "write grpc://host:port",
        ),
        ("grpc://127.0.0.1", "", "has no port", "grpc://host:port"),
        (
            "grpc://127.0.0.1:1",
            "endpont = \"grpc://x:1\"",
            "unknown key `endpont`",
            "hint:",
        ),
        (
            "grpc://127.0.0.1:1",
            "instance-name = \"main/blobs\"",
            "not a valid instance name",
            "instance name",
        ),
        (
            "grpc://127.0.0.1:1",
            "headers = {grpc-timeout = \"1S\"}",
            "set by gRPC itself",
            "header name",
        ),
    ] {
        let run = project(&config(endpoint, extra)).qik(".", &["build"], &[]);
        run.assert_error(&[expect, "qik.toml:", hint]);
    }
    // The timeout line of the test config, out of range.
    let text = config(&dead_endpoint(), "").replace("timeout = 2", "timeout = 0");
    let run = project(&text).qik(".", &["build"], &[]);
    run.assert_error(&["timeout must be between", "qik.toml:8:11", "hint:"]);
}

#[test]
fn the_plugin_must_be_enabled() {
    let text = config(&dead_endpoint(), "").replace("[plugins]\nreapi = \"qik.reapi\"\n", "");
    let run = project(&text).qik(".", &["build"], &[]);
    run.assert_error(&["qik.reapi"]);
}

#[test]
fn rendered_mistakes_degrade_to_one_warning() {
    let top = "ctx = [{name = \"cache_url\", default = \"https://cache.example.com\"}]";
    let text = config_with(top, "{ctx.cache_url}", "");
    let run = project(&text).qik(".", &["-n", "1"], &[]);
    run.assert_ok();
    run.assert_ran("build");
    run.assert_ran("other");
    assert_one_warning(&run, "is an HTTP URL");
    assert!(
        super::support::remote_warnings(&run)[0].contains("qik.toml:"),
        "{run:#?}"
    );
}
