//! CLI conventions: exit codes, verbosity, colors, `--version -v`, `qik
//! help`, `qik schema`, `--graph`, and the summary's closing names.

use crate::support::{Project, Run, run_in};

const CONFIG: &str = r#"
[commands.lint]
exec = "echo lint"
deps = ["src.txt"]

[commands.test]
exec = "echo failing; exit 1"
deps = ["src.txt"]

[commands.deploy]
exec = "echo deploy"
deps = [{type = "command", name = "test"}, {type = "command", name = "lint"}]
"#;

fn project() -> Project {
    let p = Project::with_config(CONFIG);
    p.write("src.txt", "x\n");
    p.commit_all();
    p
}

#[track_caller]
fn assert_code(run: &Run, code: i32, what: &str) {
    assert_eq!(run.code, code, "{what}: {run:#?}");
}

#[test]
fn qiks_own_errors_exit_apart_from_a_command_that_exits_1() {
    let p = project();
    assert_code(&p.qik(".", &["test"], &[]), 1, "a command that exits 1");
    assert_code(&p.qik(".", &["--no-such-flag"], &[]), 2, "an unknown flag");
    let run = p.qik(".", &["nosuch"], &[]);
    assert_code(&run, 2, "an unknown runnable name");
    assert!(run.stderr.contains("[conf5]"), "{run:#?}");
    assert_code(&p.qik(".", &["-m", "nosuch"], &[]), 2, "an unknown module");
    assert_code(&p.qik(".", &["-p", "nosuch"], &[]), 2, "an unknown profile");
    assert_code(&p.qik(".", &["-n", "0"], &[]), 2, "a bad value");

    p.write("qik.toml", "[commands.lint]\nexec = 1\n");
    let run = p.qik(".", &["lint"], &[]);
    assert_code(&run, 78, "a broken qik.toml");
    assert!(run.stderr.contains("qik.toml:2:"), "{run:#?}");
    p.write(
        "qik.toml",
        "[commands.a]\nexec = \"true\"\ndeps = [{type = \"command\", name = \"b\"}]\n\n[commands.b]\nexec = \"true\"\ndeps = [{type = \"command\", name = \"a\"}]\n",
    );
    assert_code(&p.qik(".", &[], &[]), 78, "a dependency cycle");

    let outside = tempfile::tempdir().unwrap();
    assert_code(&run_in(outside.path(), &[], &[]), 78, "no qik.toml");

    p.write("qik.toml", CONFIG);
    let run = p.qik(".", &["--since", "no-such-ref", "--ls"], &[]);
    assert_code(&run, 2, "an unknown --since reference is bad input");
}

#[test]
fn the_summary_ends_with_the_failed_and_skipped_names() {
    let p = project();
    let run = p.qik(".", &["-n", "2"], &[]);
    assert_code(&run, 1, "test fails");
    let lines: Vec<&str> = run.stderr.lines().collect();
    let tail = &lines[lines.len() - 3..];
    assert!(
        tail[0].starts_with("1 ran, 1 failed, 1 skipped in "),
        "skipped is not counted as ran or done: {tail:?}"
    );
    assert_eq!(tail[1..], ["failed: test", "skipped: deploy"]);
    // A clean run has nothing to name.
    let run = p.qik(".", &["lint"], &[]);
    let last = run.stderr.lines().last().unwrap();
    assert!(last.starts_with("1 cached in "), "{run:#?}");
}

const MANY: &str = r#"
[spaces.default]
modules = ["a", "b", "c", "d", "e"]

[commands.slow]
exec = "sleep 0.3"

[commands.quick]
exec = "echo {module.name}"
"#;

#[test]
fn the_slowest_runnables_are_named_when_many_ran_or_asked() {
    let p = Project::with_config(MANY);
    for module in ["a", "b", "c", "d", "e"] {
        p.write(&format!("{module}/__init__.py"), "");
    }
    p.commit_all();
    // Six ran: the five slowest, slowest first.
    let run = p.qik(".", &["-n", "2"], &[]);
    run.assert_ok();
    let slowest = run
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("slowest: "))
        .unwrap_or_else(|| panic!("no slowest line: {run:#?}"));
    assert!(slowest.starts_with("slow 0.3"), "{slowest}");
    assert_eq!(slowest.split(", ").count(), 5, "{slowest}");
    // Few ran: not by default, with -v yes, with -vv every duration.
    let run = p.qik(".", &["quick#a", "quick#b", "-n", "2"], &[]);
    assert!(!run.stderr.contains("slowest:"), "{run:#?}");
    let run = p.qik(".", &["quick#a", "quick#b", "-n", "2", "-v"], &[]);
    assert!(run.stderr.contains("slowest: quick#"), "{run:#?}");
    let run = p.qik(".", &["-n", "2", "-vv"], &[]);
    let durations: Vec<&str> = run
        .stderr
        .lines()
        .skip_while(|l| *l != "durations:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .collect();
    assert_eq!(durations.len(), 6, "{run:#?}");
    assert!(durations[0].ends_with("  slow"), "{durations:?}");
}

#[test]
fn verbosity_counts_quiet_quiets_and_the_reference_levels_still_work() {
    let p = project();
    // -q: a clean run says nothing; a failure still shows its output.
    let run = p.qik(".", &["lint", "-q"], &[]);
    run.assert_ok();
    assert_eq!(run.stderr, "", "{run:#?}");
    assert_eq!(run.stdout, "", "{run:#?}");
    let run = p.qik(".", &["test", "-q"], &[]);
    assert_code(&run, 1, "test fails");
    assert!(run.stdout.contains("failing"), "{run:#?}");
    // The reference's `-v 0` means -q; `-v 2` runs as -v.
    let run = p.qik(".", &["lint", "-v", "0"], &[]);
    assert_eq!(run.stderr, "", "{run:#?}");
    let run = p.qik(".", &["-v", "2", "lint", "-f"], &[]);
    run.assert_ok();
    assert!(run.stdout.contains("lint"), "{run:#?}");
    // -q and -v together is a usage error.
    assert_code(&p.qik(".", &["-q", "-v"], &[]), 2, "-q with -v");
}

#[test]
fn color_follows_the_flag_and_the_usual_variables() {
    let p = project();
    let colored = |run: &Run| run.stderr.contains('\x1b');
    // The harness sets NO_COLOR=1; stderr is a pipe.
    let run = p.qik(".", &["lint"], &[]);
    assert!(!colored(&run), "{run:#?}");
    let run = p.qik(".", &["lint", "--color", "always"], &[]);
    assert!(colored(&run), "--color always: {run:#?}");
    let no_color = ("NO_COLOR", "");
    for force in [("FORCE_COLOR", "1"), ("CLICOLOR_FORCE", "1")] {
        let run = p.qik(".", &["lint"], &[no_color, force]);
        assert!(colored(&run), "{force:?}: {run:#?}");
        let run = p.qik(".", &["lint", "--color", "never"], &[no_color, force]);
        assert!(!colored(&run), "--color never beats {force:?}: {run:#?}");
        let run = p.qik(".", &["lint"], &[("NO_COLOR", "1"), force]);
        assert!(!colored(&run), "NO_COLOR beats {force:?}: {run:#?}");
    }
    // A pipe without a force stays plain.
    let run = p.qik(".", &["lint"], &[no_color]);
    assert!(!colored(&run), "{run:#?}");
    assert_code(&p.qik(".", &["--color", "sometimes"], &[]), 2, "a bad WHEN");
}

/// `qik lint` on a terminal (a pty that `script` from util-linux makes),
/// with `env` only: what it printed, stderr and stdout merged.
fn on_a_terminal(p: &Project, env: &[(&str, &str)]) -> String {
    let qik = crate::support::qik_bin().display().to_string();
    let output = std::process::Command::new("script")
        .args(["-qec", &format!("{qik} lint"), "/dev/null"])
        .current_dir(&p.root)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .output()
        .expect("script (util-linux) runs");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn on_a_terminal_color_is_on_unless_term_is_dumb_or_clicolor_0() {
    let p = project();
    let colored = |text: &str| text.contains("\x1b[");
    let text = on_a_terminal(&p, &[("TERM", "xterm")]);
    assert!(colored(&text), "{text:?}");
    for env in [
        [("TERM", "dumb"), ("X", "")],
        [("TERM", "xterm"), ("CLICOLOR", "0")],
        [("TERM", "xterm"), ("NO_COLOR", "1")],
    ] {
        let text = on_a_terminal(&p, &env);
        assert!(!colored(&text), "{env:?}: {text:?}");
        assert!(text.contains("lint"), "{env:?}: {text:?}");
    }
    let text = on_a_terminal(&p, &[("TERM", "dumb"), ("CLICOLOR_FORCE", "1")]);
    assert!(colored(&text), "CLICOLOR_FORCE: {text:?}");
}

#[test]
fn version_with_v_lists_the_compiled_plugins() {
    let p = project();
    let run = p.qik(".", &["--version"], &[]);
    run.assert_ok();
    assert_eq!(run.lines().len(), 1, "{run:#?}");
    assert!(run.stdout.starts_with("qik "), "{run:#?}");
    let run = p.qik(".", &["--version", "-v"], &[]);
    run.assert_ok();
    let lines = run.lines();
    assert_eq!(lines[1], "plugins:");
    for plugin in ["qik.pygraph", "qik.reapi", "qik.s3", "qik.uv"] {
        assert!(
            lines.iter().any(|l| l.trim_start().starts_with(plugin)),
            "{plugin} missing: {run:#?}"
        );
    }
    assert!(run.stdout.contains("caches s3"), "{run:#?}");
}

#[test]
fn help_works_as_a_word_unless_the_project_has_a_command_of_that_name() {
    let p = project();
    let run = p.qik(".", &["help"], &[]);
    run.assert_ok();
    assert!(run.stdout.contains("Usage: qik"), "{run:#?}");
    assert!(run.stdout.contains("--report <FILE>"), "{run:#?}");
    let run = p.qik(".", &["--help"], &[]);
    assert!(
        run.stdout.contains("by module name"),
        "-m says what it takes: {run:#?}"
    );
    // Outside any project too.
    let outside = tempfile::tempdir().unwrap();
    assert_code(&run_in(outside.path(), &["help"], &[]), 0, "qik help");

    let p = Project::with_config("[commands.help]\nexec = \"echo project help\"\n");
    p.commit_all();
    let run = p.qik(".", &["help"], &[]);
    run.assert_ok();
    assert_eq!(run.stdout, "project help\n");
}

#[test]
fn schema_prints_the_schema_of_this_binary() {
    let outside = tempfile::tempdir().unwrap();
    let run = run_in(outside.path(), &["schema"], &[]);
    run.assert_ok();
    let committed =
        std::fs::read_to_string(crate::support::workspace_root().join("schema/qik.schema.json"))
            .unwrap();
    // The e2e binary links the plugins the committed schema describes.
    assert_eq!(run.stdout, committed);
    let schema: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(schema["properties"]["commands"].is_object());
}

#[test]
fn graph_prints_the_selected_dag_as_dot_or_mermaid() {
    let p = project();
    let run = p.qik(".", &["deploy", "--graph", "dot"], &[]);
    run.assert_ok();
    assert_eq!(
        run.stdout,
        "digraph qik {\n  rankdir=LR;\n  node [shape=box];\n  \"deploy\";\n  \"lint\";\n  \"test\";\n  \"lint\" -> \"deploy\";\n  \"test\" -> \"deploy\";\n}\n"
    );
    let run = p.qik(".", &["deploy", "--graph", "mermaid"], &[]);
    run.assert_ok();
    assert_eq!(
        run.stdout,
        "flowchart LR\n  n0[\"deploy\"]\n  n1[\"lint\"]\n  n2[\"test\"]\n  n1 --> n0\n  n2 --> n0\n"
    );
    // The selection decides: an isolated runnable has no edges.
    let run = p.qik(".", &["deploy", "--isolated", "--graph", "dot"], &[]);
    assert!(!run.stdout.contains("->"), "{run:#?}");
    // Nothing ran.
    assert!(!p.root.join("._qik/out").exists());
}

/// Starts `qik slow` and sends `signal` once the command runs; its run.
fn signalled(signal: &str) -> Run {
    let p = Project::with_config(
        "[commands]\nslow = {exec = \"echo started; sleep 30\", deps = [\"qik.toml\"]}\n",
    );
    let child = p.spawn_qik(&["slow"], &[]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let started = || {
        std::fs::read_dir(p.root.join("._qik/out"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains("started")))
    };
    while !started() {
        assert!(std::time::Instant::now() < deadline, "never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let sent = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    child.wait()
}

#[test]
fn a_signal_exits_128_plus_its_number() {
    assert_code(&signalled("-INT"), 130, "SIGINT");
    assert_code(&signalled("-TERM"), 143, "SIGTERM");
    assert_code(&signalled("-HUP"), 129, "SIGHUP");
}
