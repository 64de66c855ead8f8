//! `qik --ls` against the golden output of the Python qik 0.2.10.
//!
//! `tests/parity/expected.txt` is recorded from the Python qik by
//! `tests/parity/regen.sh`; each block runs one of the case projects next to it.
//! Where we decided to differ (a bug there, or a clear error where it silently
//! selected nothing), [`DIVERGENCES`] says so, and `docs/compatibility.md`
//! explains it.

use crate::support::Project;

struct Block {
    case: String,
    cwd: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    exit: i32,
    /// `None` when the Python qik failed (then only the failure is compared).
    stdout: Option<Vec<String>>,
}

/// What we do instead of what the Python qik does.
enum Ours {
    /// A clear error (exit 1) naming this troubleshooting code.
    Error(&'static str),
    /// This exact output.
    Lists(&'static [&'static str]),
}

/// (case, cwd, args) → what we do, and why.
const DIVERGENCES: &[(&str, &str, &str, Ours)] = &[
    // Unknown selector values are errors here; the Python qik selects nothing.
    ("basic", ".", "--ls -s nope", Ours::Error("conf8")),
    ("basic", ".", "--ls --fail -s nope", Ours::Error("conf8")),
    ("basic", ".", "--ls -m nope", Ours::Error("conf2")),
    // A module path where its name is expected: an error with the name as hint.
    (
        "space-one-named",
        ".",
        "--ls -m api/handlers",
        Ours::Error("conf2"),
    ),
    (
        "spaces-three",
        ".",
        "--ls -m app/payments/billing",
        Ours::Error("conf2"),
    ),
    ("modules-deps", ".", "--ls -m pkgs/c", Ours::Error("conf2")),
    // Space roots match whole directories: `api2/` is not under root `api`.
    (
        "space-one-named",
        "api2",
        "--ls",
        Ours::Lists(&[
            "lint@default",
            "serve@api",
            "test@api#api/core",
            "test@api#handlers",
        ]),
    ),
    // Module qik.toml files are found from the project root, whatever the cwd.
    (
        "spaces-three",
        "app",
        "--ls",
        Ours::Lists(&[
            "app/users/check@app#app/core/deep/util",
            "app/users/check@app#app/users",
            "app/users/check@app#billing",
            "named@app#app/core/deep/util",
            "named@app#app/users",
            "named@app#billing",
            "test@app#app/core/deep/util",
            "test@app#app/users",
            "test@app#billing",
            "typecheck@app#app/core/deep/util",
            "typecheck@app#app/users",
            "typecheck@app#billing",
        ]),
    ),
    (
        "spaces-three",
        "app/users",
        "--ls",
        Ours::Lists(&[
            "app/users/check@app#app/core/deep/util",
            "app/users/check@app#app/users",
            "app/users/check@app#billing",
            "named@app#app/core/deep/util",
            "named@app#app/users",
            "named@app#billing",
            "test@app#app/core/deep/util",
            "test@app#app/users",
            "test@app#billing",
            "typecheck@app#app/core/deep/util",
            "typecheck@app#app/users",
            "typecheck@app#billing",
        ]),
    ),
    // Found (see above); its space `default` is not the cwd's space `app`.
    (
        "spaces-three",
        "app",
        "--ls app/users/migrate",
        Ours::Lists(&[]),
    ),
    (
        "modules-deps",
        "a",
        "--ls",
        Ours::Lists(&[
            "a/each#a", "a/each#b", "a/each#c", "a/local", "build#a", "build#b", "build#c",
            "report", "setup", "test#a", "test#b", "test#c",
        ]),
    ),
    (
        "modules-deps",
        "pkgs",
        "--ls -m c",
        Ours::Lists(&["a/each#c", "build#c", "setup", "test#c"]),
    ),
    // One command has one name, however it was typed.
    (
        "modules-deps",
        ".",
        "--ls a.each",
        Ours::Lists(&["a/each#a", "a/each#b", "a/each#c"]),
    ),
    (
        "modules-deps",
        ".",
        "--ls a.each a/each -m c",
        Ours::Lists(&["a/each#c"]),
    ),
    // `plugin/command` names a plugin's command as `plugin.command` does (the
    // Python qik looks for a module named `uv` and selects nothing).
    (
        "uv",
        ".",
        "--ls uv/install",
        Ours::Lists(&[
            "uv.install@api",
            "uv.install@default",
            "uv.install@docs",
            "uv.lock@api",
            "uv.lock@default",
            "uv.lock@docs",
        ]),
    ),
    // Table deps in a module's qik.toml work (the Python qik crashes).
    (
        "bad-module-dep",
        ".",
        "--ls",
        Ours::Lists(&["m/needs-root", "root-only"]),
    ),
];

fn parse(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    for chunk in text.split("\n\n").filter(|c| !c.trim().is_empty()) {
        let mut block = Block {
            case: String::new(),
            cwd: ".".into(),
            args: Vec::new(),
            env: Vec::new(),
            exit: 0,
            stdout: None,
        };
        let mut in_stdout = false;
        for line in chunk.lines() {
            if in_stdout {
                let lines = block.stdout.get_or_insert_with(Vec::new);
                lines.push(line.strip_prefix("  ").unwrap_or(line).to_string());
                continue;
            }
            let (key, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.trim();
            match key {
                "case" => block.case = value.into(),
                "cwd" => block.cwd = value.into(),
                "args" => block.args = value.split_whitespace().map(String::from).collect(),
                "env" => {
                    block.env = value
                        .split_whitespace()
                        .filter_map(|kv| kv.split_once('='))
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect()
                }
                "exit" => block.exit = value.parse().expect("exit code"),
                "stdout" => {
                    in_stdout = true;
                    block.stdout = Some(Vec::new());
                }
                _ => {}
            }
        }
        blocks.push(block);
    }
    blocks
}

/// The exit codes of qik's own errors (docs/cli.md), where the Python qik
/// exited 1.
fn own_error(code: i32) -> bool {
    matches!(code, 2 | 74 | 78)
}

#[test]
fn ls_matches_the_python_qik() {
    let corpus = crate::support::tests_file("parity");
    let text = std::fs::read_to_string(corpus.join("expected.txt")).expect("expected.txt");
    let blocks = parse(&text);
    assert!(blocks.len() > 100, "the corpus has {} blocks", blocks.len());
    let mut failures = Vec::new();
    let mut compared = 0;
    for block in &blocks {
        let args: Vec<&str> = block.args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = block
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let joined = block.args.join(" ");
        let divergence = DIVERGENCES
            .iter()
            .find(|(case, cwd, args, _)| {
                *case == block.case && *cwd == block.cwd && *args == joined
            })
            .map(|d| &d.3);
        let project = Project::copy_of(&corpus.join(&block.case));
        let run = project.qik(&block.cwd, &args, &env);
        compared += 1;
        let got: Vec<String> = run.stdout.lines().map(String::from).collect();
        let ok = match divergence {
            Some(Ours::Error(code)) => {
                own_error(run.code) && run.stderr.contains(&format!("[{code}]"))
            }
            Some(Ours::Lists(lines)) => run.code == 0 && got == *lines,
            None => match &block.stdout {
                Some(expected) => run.code == block.exit && got == *expected,
                // The Python qik failed: we must fail too, with a diagnostic,
                // and exit with one of our own errors' codes where it exited 1
                // (docs/compatibility.md).
                None => {
                    let code_ok =
                        run.code == block.exit || (block.exit == 1 && own_error(run.code));
                    code_ok && run.stderr.contains("error[")
                }
            },
        };
        if !ok {
            failures.push(format!(
                "case {} (cwd {}) qik {joined}\n  expected exit {} {:?}\n  got exit {} {:?}\n  stderr: {}",
                block.case, block.cwd, block.exit, block.stdout, run.code, got, run.stderr.trim()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {compared} runs differ:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
