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

/// `--inputs`: a build whose artifact a test reads, a constant carrying a
/// context value (a token), a dotenv file holding a secret and a
/// distribution.
const WITH_INPUTS: &str = r#"
ctx = ["token"]

[spaces.default]
dotenv = "app.env"

[commands.build]
exec = "mkdir -p dist && cat src.txt > dist/out.txt"
deps = ["src.txt"]
artifacts = ["dist/out.txt"]

[commands.test]
exec = "echo test"
deps = [
    "app/**",
    {type = "const", val = "token={ctx.token}"},
    {type = "pydist", name = "Foo_Bar"},
    {type = "command", name = "build"},
]

[commands.plain]
exec = "echo plain"
"#;

const TOKEN: &str = "tok-3f9a1c-never-printed";
const DOTENV_SECRET: &str = "dotenv-secret-never-printed";

struct Inputs {
    p: Project,
    venv: String,
    _outside: tempfile::TempDir,
}

fn with_inputs() -> Inputs {
    let p = Project::with_config(WITH_INPUTS);
    p.write("src.txt", "source\n");
    p.write("app.env", &format!("PASSWORD={DOTENV_SECRET}\n"));
    p.write("app/a.py", "a = 1\n");
    p.write("app/sub/b.py", "b = 1\n");
    p.commit_all();
    let outside = tempfile::tempdir().expect("temp dir");
    let site = outside.path().join("venv/lib/python3.11/site-packages");
    std::fs::create_dir_all(site.join("foo_bar-1.2.3.dist-info")).expect("dist-info");
    let venv = outside.path().join("venv").to_string_lossy().into_owned();
    Inputs {
        p,
        venv,
        _outside: outside,
    }
}

impl Inputs {
    /// `qik --ls --json --inputs`: stdout and the runnables by name.
    #[track_caller]
    fn listed(&self, token: &str) -> (String, serde_json::Map<String, Value>) {
        let env = [("VIRTUAL_ENV", self.venv.as_str()), ("TOKEN", token)];
        let run = self.p.qik(".", &["--ls", "--json", "--inputs"], &env);
        assert_eq!(run.code, 0, "{run:#?}");
        let document: Value = serde_json::from_str(&run.stdout).expect("one JSON document");
        let by_name = document["runnables"]
            .as_array()
            .expect("runnables")
            .iter()
            .map(|r| (r["name"].as_str().expect("name").to_string(), r.clone()))
            .collect();
        (run.stdout, by_name)
    }

    fn blob_id(&self, path: &str) -> String {
        self.p.git(&["hash-object", path]).trim().to_string()
    }
}

#[test]
fn inputs_list_each_file_with_its_git_blob_id() {
    let t = with_inputs();
    let (_, all) = t.listed(TOKEN);
    let files = all["test"]["inputs"]["files"].as_object().expect("files");
    let paths: Vec<&str> = files.keys().map(String::as_str).collect();
    // Its globs, and its space's dotenv file; the upstream artifact is not
    // built yet, so it is not an input yet.
    assert_eq!(paths, ["app.env", "app/a.py", "app/sub/b.py"]);
    for path in paths {
        assert_eq!(files[path], t.blob_id(path).as_str(), "{path}");
    }
    // Every command of the space reads its dotenv file.
    assert_eq!(
        all["build"]["inputs"]["files"],
        serde_json::json!({"app.env": t.blob_id("app.env"), "src.txt": t.blob_id("src.txt")})
    );
}

#[test]
fn editing_a_file_changes_its_listed_digest_and_the_hash() {
    let t = with_inputs();
    let (_, before) = t.listed(TOKEN);
    t.p.write("app/sub/b.py", "b = 2\n");
    let (_, after) = t.listed(TOKEN);
    let digest = |all: &serde_json::Map<String, Value>| {
        all["test"]["inputs"]["files"]["app/sub/b.py"]
            .as_str()
            .expect("a digest")
            .to_string()
    };
    assert_ne!(digest(&after), digest(&before));
    assert_eq!(
        digest(&after),
        t.blob_id("app/sub/b.py"),
        "the working tree's content"
    );
    assert_eq!(
        after["test"]["inputs"]["files"]["app/a.py"],
        before["test"]["inputs"]["files"]["app/a.py"]
    );
    assert_ne!(after["test"]["hash"], before["test"]["hash"]);
    assert_eq!(after["build"], before["build"], "build reads none of it");
}

#[test]
fn inputs_list_distributions_with_versions_and_the_definition() {
    let t = with_inputs();
    let (_, all) = t.listed(TOKEN);
    let inputs = &all["test"]["inputs"];
    assert_eq!(inputs["pydists"], serde_json::json!({"foo-bar": "1.2.3"}));
    assert_eq!(inputs["definition"].as_str().expect("digest").len(), 64);
    let parts = inputs["definition_parts"].as_object().expect("parts");
    for part in ["exec", "deps", "artifacts", "dotenv"] {
        assert!(parts.contains_key(part), "{part}: {parts:?}");
    }
    assert_eq!(all["build"]["inputs"]["pydists"], serde_json::json!({}));
}

#[test]
fn constants_are_listed_as_digests_and_no_secret_is_printed() {
    let t = with_inputs();
    let (stdout, all) = t.listed(TOKEN);
    assert!(
        !stdout.contains(TOKEN),
        "the context value leaked:\n{stdout}"
    );
    assert!(
        !stdout.contains(DOTENV_SECRET),
        "the dotenv value leaked:\n{stdout}"
    );
    let consts = all["test"]["inputs"]["consts"].as_array().expect("consts");
    assert_eq!(consts.len(), 1);
    let digest = consts[0].as_str().expect("a digest");
    assert_eq!(digest.len(), 64);
    assert!(digest.bytes().all(|b| b.is_ascii_hexdigit()));
    // Another token: another constant, another hash.
    let (_, other) = t.listed("another-token");
    assert_ne!(other["test"]["inputs"]["consts"][0], digest);
    assert_ne!(other["test"]["hash"], all["test"]["hash"]);
}

#[test]
fn upstream_artifacts_are_not_built_until_their_runnable_ran() {
    let t = with_inputs();
    let (_, before) = t.listed(TOKEN);
    let upstream = &before["test"]["inputs"]["upstream"];
    assert_eq!(
        upstream,
        &serde_json::json!([{
            "name": "build",
            "hash": before["build"]["hash"],
            "artifacts": {"dist/out.txt": "not built"},
        }])
    );
    let env = [("VIRTUAL_ENV", t.venv.as_str()), ("TOKEN", TOKEN)];
    t.p.qik(".", &["build"], &env).assert_ok();
    let (_, after) = t.listed(TOKEN);
    let built = t.blob_id("dist/out.txt");
    assert_eq!(
        after["test"]["inputs"]["upstream"][0]["artifacts"],
        serde_json::json!({"dist/out.txt": built})
    );
    // Built, the artifact is one of its files, and its hash moved.
    assert_eq!(
        after["test"]["inputs"]["files"]["dist/out.txt"],
        built.as_str()
    );
    assert_ne!(after["test"]["hash"], before["test"]["hash"]);
    assert_eq!(after["build"]["hash"], before["build"]["hash"]);
    // Running `test` now replays nothing stale: its hash is the one listed.
    let run = t.p.qik(".", &["test", "--report", "report.json"], &env);
    run.assert_ok();
    let report: Value = serde_json::from_str(&t.p.read("report.json")).expect("a report");
    let test = report["runnables"]
        .as_array()
        .expect("runnables")
        .iter()
        .find(|r| r["name"] == "test")
        .expect("test ran");
    assert_eq!(test["hash"], after["test"]["hash"]);
}

#[test]
fn upstream_not_selected_is_still_listed_under_isolated() {
    let t = with_inputs();
    let env = [("VIRTUAL_ENV", t.venv.as_str()), ("TOKEN", TOKEN)];
    let run = t.p.qik(
        ".",
        &["test", "--isolated", "--ls", "--json", "--inputs"],
        &env,
    );
    assert_eq!(run.code, 0, "{run:#?}");
    let document: Value = serde_json::from_str(&run.stdout).expect("JSON");
    let test = &document["runnables"][0];
    assert_eq!(test["upstream"], serde_json::json!([]), "not selected");
    assert_eq!(test["inputs"]["upstream"][0]["name"], "build");
    assert_eq!(
        test["inputs"]["upstream"][0]["hash"].as_str().map(str::len),
        Some(64)
    );
}

#[test]
fn inputs_are_opt_in_and_null_when_nothing_is_hashed() {
    let t = with_inputs();
    let (_, all) = t.listed(TOKEN);
    assert_eq!(all["plain"]["inputs"], Value::Null);
    let env = [("VIRTUAL_ENV", t.venv.as_str()), ("TOKEN", TOKEN)];
    let run = t.p.qik(".", &["--ls", "--json"], &env);
    let document: Value = serde_json::from_str(&run.stdout).expect("JSON");
    for runnable in document["runnables"].as_array().expect("runnables") {
        assert!(runnable.get("inputs").is_none(), "{runnable}");
    }
    // Without --json there is nothing to add them to.
    let run = t.p.qik(".", &["--ls", "--inputs"], &env);
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(run.stderr.contains("--json"), "{}", run.stderr);
}
