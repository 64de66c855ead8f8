//! docs/ci.md's GitHub Actions recipes, run as written: the workflows are
//! read from the page and their jobs run the way the runner would (needs,
//! `if`, matrices, step outputs, `${{ }}` expressions), each job in a fresh
//! clone of the example monorepo, with `pip install qik-cli` served by the
//! wheel the tests build. What the runner provides is played by the test:
//! `actions/checkout` (the clone) and `actions/setup-python` (a venv first
//! on PATH); any other action, or an expression the test cannot evaluate,
//! fails the test until it learns it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::install::example_monorepo;
use crate::support::tools::{pre_commit_dir, qik_wheel_dir};
use crate::support::{Project, workspace_root};

/// The workflows (`jobs:` tables whose jobs have `runs-on`) of the page's
/// YAML blocks, as JSON. PyYAML comes with the test's pre-commit.
fn workflows() -> Vec<serde_json::Map<String, Value>> {
    let script = r#"
import json, re, sys, yaml
text = open(sys.argv[1]).read()
workflows = []
for block in re.findall(r"```yaml\n(.*?)```", text, re.S):
    doc = yaml.safe_load(block)
    jobs = doc.get("jobs") if isinstance(doc, dict) else None
    if isinstance(jobs, dict) and all("runs-on" in job for job in jobs.values()):
        workflows.append(jobs)
print(json.dumps(workflows))
"#;
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(workspace_root().join("docs/ci.md"))
        .env("PYTHONPATH", pre_commit_dir())
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON")
}

/// What `${{ }}` expressions see.
#[derive(Default)]
struct Context {
    matrix: Value,
    needs: BTreeMap<String, BTreeMap<String, String>>,
    steps: BTreeMap<String, BTreeMap<String, String>>,
}

impl Context {
    fn eval(&self, expr: &str) -> Value {
        let expr = expr.trim();
        let expr = expr
            .strip_prefix("${{")
            .and_then(|e| e.strip_suffix("}}"))
            .map_or(expr, str::trim);
        if let Some((left, right)) = expr.split_once("!=") {
            return Value::Bool(self.eval(left) != self.eval(right));
        }
        if let Some(inner) = expr
            .strip_prefix("fromJSON(")
            .and_then(|e| e.strip_suffix(')'))
        {
            let text = self.eval(inner);
            return serde_json::from_str(text.as_str().expect("fromJSON of a string"))
                .expect("fromJSON of JSON");
        }
        if let Some(literal) = expr.strip_prefix('\'').and_then(|e| e.strip_suffix('\'')) {
            return Value::String(literal.to_string());
        }
        let path: Vec<&str> = expr.split('.').collect();
        match path.as_slice() {
            ["matrix", rest @ ..] => {
                let value = rest.iter().fold(&self.matrix, |value, key| &value[*key]);
                assert!(
                    !value.is_null(),
                    "docs/ci.md uses `{expr}`: no such matrix value"
                );
                value.clone()
            }
            ["needs", job, "outputs", key] => Value::String(self.needs[*job][*key].clone()),
            ["steps", id, "outputs", key] => Value::String(self.steps[*id][*key].clone()),
            _ => panic!("docs/ci.md uses `{expr}`, which this test cannot evaluate yet"),
        }
    }

    /// `text` with each `${{ expr }}` replaced by its value.
    fn substitute(&self, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${{") {
            let end = start + rest[start..].find("}}").expect("closed expression") + 2;
            out.push_str(&rest[..start]);
            match self.eval(&rest[start..end]) {
                Value::String(s) => out.push_str(&s),
                other => out.push_str(&other.to_string()),
            }
            rest = &rest[end..];
        }
        out.push_str(rest);
        out
    }
}

/// Runs one job (one matrix entry) in a fresh clone; returns its output
/// and the outputs its steps wrote.
fn run_job(
    name: &str,
    job: &Value,
    context: &mut Context,
    project: &Project,
    venv: &Path,
) -> String {
    let mut clone: Option<Project> = None;
    let mut path = std::env::var("PATH").unwrap_or_default();
    let mut log = String::new();
    for step in job["steps"].as_array().expect("steps") {
        if let Some(action) = step["uses"].as_str() {
            if action.starts_with("actions/checkout@") {
                clone = Some(project.clone_repo());
            } else if action.starts_with("actions/setup-python@") {
                path = format!("{}:{path}", venv.join("bin").display());
            } else {
                panic!("job {name} uses {action}, which this test does not play yet");
            }
            continue;
        }
        let script = context.substitute(step["run"].as_str().expect("a step runs or uses"));
        let cwd = clone
            .as_ref()
            .unwrap_or_else(|| panic!("job {name} runs before checkout"));
        let outputs = tempfile::NamedTempFile::new().unwrap();
        // The runner's shell for `run:` steps.
        let output = Command::new("bash")
            .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", &script])
            .current_dir(&cwd.root)
            .env("PATH", &path)
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_OUTPUT", outputs.path())
            .env("PIP_NO_INDEX", "1")
            .env("PIP_FIND_LINKS", qik_wheel_dir())
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
            .env("NO_COLOR", "1")
            .output()
            .expect("bash runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            output.status.success(),
            "job {name}, step `{script}` failed:\n{text}"
        );
        log.push_str(&text);
        if let Some(id) = step["id"].as_str() {
            let written = std::fs::read_to_string(outputs.path()).unwrap();
            let values = written
                .lines()
                .filter_map(|line| line.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            context.steps.insert(id.to_string(), values);
        }
    }
    log
}

/// Runs a workflow's jobs in `needs` order; returns each job's runs' output.
fn run_workflow(
    jobs: &serde_json::Map<String, Value>,
    project: &Project,
    venv: &Path,
) -> BTreeMap<String, Vec<String>> {
    let mut needs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut logs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut pending: Vec<&String> = jobs.keys().collect();
    while !pending.is_empty() {
        let ready = pending
            .iter()
            .position(|name| {
                let job_needs = match &jobs[*name]["needs"] {
                    Value::Null => vec![],
                    Value::String(one) => vec![one.clone()],
                    Value::Array(many) => many.iter().map(|n| n.as_str().unwrap().into()).collect(),
                    other => panic!("needs: {other}"),
                };
                job_needs.iter().all(|n| logs.contains_key(n))
            })
            .expect("no cycle in needs");
        let name = pending.remove(ready);
        let job = &jobs[name];
        let mut context = Context {
            needs: needs.clone(),
            ..Context::default()
        };
        logs.insert(name.clone(), Vec::new());
        if let Some(condition) = job["if"].as_str()
            && context.eval(condition) == Value::Bool(false)
        {
            continue;
        }
        let entries: Vec<Value> = match job["strategy"]["matrix"].as_object() {
            None => vec![Value::Null],
            Some(matrix) => {
                assert_eq!(matrix.len(), 1, "{name}: one matrix key");
                let (key, values) = matrix.iter().next().unwrap();
                let values = match values {
                    Value::String(expr) => context.eval(expr),
                    list => list.clone(),
                };
                let values = values.as_array().expect("a matrix list").clone();
                values
                    .into_iter()
                    .map(|v| serde_json::json!({ key.as_str(): v }))
                    .collect()
            }
        };
        for entry in entries {
            context.matrix = entry;
            context.steps.clear();
            let log = run_job(name, job, &mut context, project, venv);
            logs.get_mut(name).unwrap().push(log);
        }
        if let Some(outputs) = job["outputs"].as_object() {
            let values = outputs
                .iter()
                .map(|(k, expr)| {
                    let value = context.substitute(expr.as_str().unwrap());
                    (k.clone(), value)
                })
                .collect();
            needs.insert(name.clone(), values);
        }
    }
    logs
}

#[test]
fn the_github_actions_recipes_run_as_written() {
    let workflows = workflows();
    assert!(
        workflows.len() >= 2,
        "docs/ci.md's GitHub Actions recipes were not found"
    );
    let project = example_monorepo();
    let runnables: Vec<String> = Command::new(crate::support::qik_bin())
        .arg("--ls")
        .current_dir(&project.root)
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::to_string)
                .collect()
        })
        .expect("qik runs");
    assert_eq!(runnables.len(), 5, "{runnables:?}");
    // What actions/setup-python provides: a Python whose pip installs into
    // it; the docs' `pip install qik-cli` finds the wheel offline.
    let dir = tempfile::tempdir().unwrap();
    let venv: PathBuf = dir.path().join("venv");
    let status = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .expect("python3 runs");
    assert!(status.success());

    for jobs in &workflows {
        let logs = run_workflow(jobs, &project, &venv);
        // The jobs that run qik between them ran (or replayed) every
        // runnable of the project: nothing was cached before.
        let all: String = logs.values().flatten().cloned().collect();
        for name in &runnables {
            assert!(
                all.contains(&format!("ok {name} ")) || all.contains(&format!("{name} ok")),
                "no job of {:?} ran {name}:\n{all}",
                jobs.keys().collect::<Vec<_>>()
            );
        }
        // A matrix fed by a plan has one job per planned runnable.
        if let Some(run) = logs.get("run")
            && jobs.contains_key("plan")
        {
            assert_eq!(run.len(), runnables.len(), "{logs:#?}");
        }
    }
}
