//! `qik --ls --json`: the document CI plans jobs from. One test per field;
//! the names are an interface (docs/ci.md).

use serde_json::Value;

use crate::support::Project;

const MONOREPO: &str = r#"
[spaces.app]
modules = ["app/users", "app/billing"]

[commands.build]
exec = "echo build > dist/out.txt"
deps = ["src.txt"]
artifacts = ["dist/out.txt"]
tags = ["ci", "slow"]

[commands.test]
exec = "echo test {module.dir}"
deps = ["{module.dir}/**", {type = "command", name = "build"}]
cache = "repo"

[commands.plain]
exec = "echo plain"
"#;

fn monorepo() -> Project {
    let p = Project::with_config(MONOREPO);
    p.write("src.txt", "x\n");
    p.write("dist/out.txt", "old\n");
    p.write("app/users/a.py", "a = 1\n");
    p.write("app/billing/b.py", "b = 1\n");
    p.commit_all();
    p
}

/// `qik --ls --json <args>`, parsed; the runnables by name.
#[track_caller]
fn listed(p: &Project, args: &[&str]) -> serde_json::Map<String, Value> {
    let mut all = vec!["--ls", "--json"];
    all.extend_from_slice(args);
    let run = p.qik(".", &all, &[]);
    assert_eq!(run.code, 0, "{run:#?}");
    let document: Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    assert_eq!(document["version"], 1);
    document["runnables"]
        .as_array()
        .expect("runnables")
        .iter()
        .map(|r| (r["name"].as_str().expect("name").to_string(), r.clone()))
        .collect()
}

#[test]
fn name_lists_every_selected_runnable_in_order() {
    let p = monorepo();
    let names: Vec<String> = listed(&p, &[]).keys().cloned().collect();
    assert_eq!(
        names,
        [
            "build@default",
            "plain@default",
            "test@app#app/billing",
            "test@app#app/users"
        ]
    );
    let plain = p.qik(".", &["--ls"], &[]);
    assert_eq!(plain.lines(), names, "the same runnables as plain --ls");
}

#[test]
fn selectors_apply() {
    let p = monorepo();
    let names: Vec<String> = listed(&p, &["test", "-m", "app/users", "--isolated"])
        .keys()
        .cloned()
        .collect();
    assert_eq!(names, ["test@app#app/users"]);
}

#[test]
fn command_is_the_command_name() {
    let p = monorepo();
    assert_eq!(listed(&p, &[])["test@app#app/users"]["command"], "test");
}

#[test]
fn exec_is_the_shell_command_with_placeholders_filled() {
    let p = monorepo();
    assert_eq!(
        listed(&p, &[])["test@app#app/users"]["exec"],
        "echo test app/users"
    );
}

#[test]
fn space_is_the_runnable_space() {
    let p = monorepo();
    let all = listed(&p, &[]);
    assert_eq!(all["test@app#app/users"]["space"], "app");
    assert_eq!(all["build@default"]["space"], "default");
}

#[test]
fn module_is_null_without_one() {
    let p = monorepo();
    let all = listed(&p, &[]);
    assert_eq!(all["test@app#app/users"]["module"], "app/users");
    assert_eq!(all["build@default"]["module"], Value::Null);
}

#[test]
fn cache_is_the_cache_name() {
    let p = monorepo();
    let all = listed(&p, &[]);
    assert_eq!(all["build@default"]["cache"], "local");
    assert_eq!(all["test@app#app/users"]["cache"], "repo");
    assert_eq!(all["plain@default"]["cache"], "none");
}

#[test]
fn tags_are_listed() {
    let p = monorepo();
    let all = listed(&p, &[]);
    assert_eq!(
        all["build@default"]["tags"],
        serde_json::json!(["ci", "slow"])
    );
    assert_eq!(all["plain@default"]["tags"], serde_json::json!([]));
}

#[test]
fn upstream_names_the_selected_runnables_to_wait_for() {
    let p = monorepo();
    let all = listed(&p, &[]);
    assert_eq!(
        all["test@app#app/users"]["upstream"],
        serde_json::json!(["build@default"])
    );
    assert_eq!(all["build@default"]["upstream"], serde_json::json!([]));
    // Isolated: the upstream is not part of the selection.
    let isolated = listed(&p, &["test", "--isolated"]);
    assert_eq!(
        isolated["test@app#app/users"]["upstream"],
        serde_json::json!([])
    );
}

#[test]
fn hash_changes_with_inputs_and_is_null_when_never_cached() {
    let p = monorepo();
    let before = listed(&p, &[]);
    let hash = before["test@app#app/users"]["hash"]
        .as_str()
        .expect("a hash")
        .to_string();
    assert_eq!(hash.len(), 64);
    assert_eq!(before["plain@default"]["hash"], Value::Null);
    p.write("app/users/a.py", "a = 2\n");
    let after = listed(&p, &[]);
    assert_ne!(after["test@app#app/users"]["hash"], hash.as_str());
    assert_eq!(
        after["test@app#app/billing"]["hash"],
        before["test@app#app/billing"]["hash"]
    );
}

#[test]
fn cache_status_is_warm_after_a_run() {
    let p = monorepo();
    let before = listed(&p, &[]);
    assert_eq!(before["build@default"]["cache_status"], "cold");
    assert_eq!(before["plain@default"]["cache_status"], Value::Null);
    assert_eq!(p.qik(".", &["build"], &[]).code, 0);
    let after = listed(&p, &[]);
    assert_eq!(after["build@default"]["cache_status"], "warm");
    // --cache-status selects the same way.
    let warm: Vec<String> = listed(&p, &["--cache-status", "warm"])
        .keys()
        .cloned()
        .collect();
    assert_eq!(warm, ["build@default"]);
}

#[test]
fn reason_is_null_unless_explain() {
    let p = monorepo();
    let all = listed(&p, &[]);
    assert_eq!(all["build@default"]["reason"], Value::Null);
}

#[test]
fn reason_carries_the_explanation() {
    let p = monorepo();
    assert_eq!(p.qik(".", &["build"], &[]).code, 0);
    let hit = listed(&p, &["--explain"]);
    let reason = &hit["build@default"]["reason"];
    assert_eq!(reason["kind"], "hit");
    assert_eq!(reason["entry"]["cache"], "local");
    assert_eq!(reason["entry"]["code"], 0);
    assert_eq!(reason["entry"]["hash"], hit["build@default"]["hash"]);
    assert!(reason["entry"]["created"].as_u64().expect("seconds") > 1_600_000_000);
    assert_eq!(hit["plain@default"]["reason"]["kind"], "not-cached");
    assert_eq!(hit["test@app#app/users"]["reason"]["kind"], "no-entry");

    p.write("src.txt", "y\n");
    let changed = listed(&p, &["--explain"]);
    let reason = &changed["build@default"]["reason"];
    assert_eq!(reason["kind"], "changed");
    assert_eq!(
        reason["diff"]["files"],
        serde_json::json!([{"path": "src.txt", "change": "changed", "via": {"kind": "glob", "pattern": "src.txt"}}])
    );
    assert_eq!(reason["diff"]["definition"], serde_json::json!([]));
    assert_eq!(reason["diff"]["pydists"], serde_json::json!([]));
    assert_eq!(reason["diff"]["consts_added"], serde_json::json!([]));

    let forced = listed(&p, &["--explain", "-f"]);
    assert_eq!(forced["build@default"]["reason"]["kind"], "forced");
}

#[test]
fn json_needs_ls() {
    let p = monorepo();
    let run = p.qik(".", &["--json"], &[]);
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(run.stderr.contains("--ls"), "{}", run.stderr);
}

#[test]
fn an_empty_selection_is_an_empty_list() {
    let p = monorepo();
    let all = listed(&p, &["-t", "no-such-tag"]);
    assert!(all.is_empty());
}

#[test]
fn unreadable_inputs_are_cold_with_the_reason() {
    let p = Project::with_config(
        "[commands.uses]\nexec = \"true\"\ndeps = [{type = \"pydist\", name = \"no-such-dist-for-qik-tests\"}]\n",
    );
    p.commit_all();
    let all = listed(&p, &["--explain"]);
    let uses = &all["uses"];
    assert_eq!(uses["cache_status"], "cold");
    assert_eq!(uses["hash"], Value::Null);
    assert_eq!(uses["reason"]["kind"], "unreadable");
    let message = uses["reason"]["message"].as_str().expect("a message");
    assert!(message.contains("no-such-dist-for-qik-tests"), "{message}");
}

/// CI runs the names `--ls --json` prints, one job each: every name selects
/// exactly its runnable (and its upstream ones unless `--isolated`).
#[test]
fn every_listed_name_runs_as_given() {
    let p = monorepo();
    let all = listed(&p, &[]);
    for name in all.keys() {
        let alone: Vec<String> = listed(&p, &[name.as_str(), "--isolated"])
            .keys()
            .cloned()
            .collect();
        assert_eq!(alone, std::slice::from_ref(name), "`qik {name} --isolated`");
    }
    let with_upstream: Vec<String> = listed(&p, &["test@app#app/users"])
        .keys()
        .cloned()
        .collect();
    assert_eq!(with_upstream, ["build@default", "test@app#app/users"]);

    let run = p.qik(".", &["test@app#app/users", "plain@default"], &[]);
    run.assert_ok();
    let mut ended: Vec<&str> = run
        .stderr
        .lines()
        .filter_map(|line| line.strip_prefix("ok "))
        .filter_map(|line| line.split(' ').next())
        .collect();
    ended.sort();
    assert_eq!(
        ended,
        ["build@default", "plain@default", "test@app#app/users"],
        "{run:#?}"
    );
}

#[test]
fn an_unknown_runnable_name_lists_the_closest_ones() {
    let p = monorepo();
    let run = p.qik(".", &["test@app#app/user"], &[]);
    run.assert_error(&[
        "error[conf5]",
        "command `test` has no runnable `test@app#app/user`",
    ]);
    assert!(
        run.stderr.contains("did you mean `test@app#app/users`?"),
        "{run:#?}"
    );
    // A name whose command part is unknown is an unknown command.
    let run = p.qik(".", &["tset@app#app/users"], &[]);
    run.assert_error(&[
        "error[conf5]",
        "command `tset@app#app/users` is not configured",
    ]);
}
