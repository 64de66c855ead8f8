//! `qik --since REF` on real git repositories: which runnables a change selects.

use crate::support::{Project, Run};

/// Commands with one kind of input each, and a chain `up <- mid <- strict`
/// (strict dep) / `loose` (plain dep).
const CONFIG: &str = r#"
[spaces.default]
dotenv = ["default.env"]

[spaces.web]
root = "web"
dotenv = ["web.env"]

[commands.py]
exec = "echo py >> ran"
deps = ["**.py"]

[commands.docs]
exec = "echo docs >> ran"
deps = ["docs"]

[commands.cfg]
exec = "echo cfg >> ran"
deps = [{type = "const", val = "1"}]

[commands.up]
exec = "echo up >> ran"
deps = ["up.txt"]

[commands.mid]
exec = "echo mid >> ran"
deps = ["mid.txt", {type = "command", name = "up"}]

[commands.strict]
exec = "echo strict >> ran"
deps = ["strict.txt", {type = "command", name = "mid", strict = true}]

[commands.loose]
exec = "echo loose >> ran"
deps = ["loose.txt", {type = "command", name = "mid"}]

[commands.site]
exec = "echo site >> ran"
space = "web"
deps = ["web/index.html"]
"#;

/// A committed project with every input of [`CONFIG`].
fn project() -> Project {
    let p = Project::with_config(CONFIG);
    for file in [
        "src/app.py",
        "src/lib/util.py",
        "docs/index.md",
        "docs/guide/intro.md",
        "notes.txt",
        "up.txt",
        "mid.txt",
        "strict.txt",
        "loose.txt",
        "default.env",
        "web.env",
        "web/index.html",
    ] {
        let content = if file.ends_with(".env") {
            "A=1\n"
        } else {
            "v1\n"
        };
        p.write(file, content);
    }
    p.commit_all();
    p
}

#[track_caller]
fn selected(run: &Run) -> Vec<String> {
    assert_eq!(run.code, 0, "{run:#?}");
    run.lines().into_iter().map(String::from).collect()
}

/// `qik --ls --since REF [args]` at the root.
#[track_caller]
fn since(p: &Project, reference: &str, args: &[&str]) -> Vec<String> {
    let flag = format!("--since={reference}");
    let mut all = vec!["--ls", flag.as_str()];
    all.extend_from_slice(args);
    selected(&p.qik(".", &all, &[]))
}

fn edit_config(p: &Project, from: &str, to: &str) {
    let text = p.read("qik.toml");
    assert!(text.contains(from), "{from:?} is in the config");
    p.write("qik.toml", &text.replacen(from, to, 1));
}

type Change = fn(&Project);

#[test]
fn changes_select_the_runnables_whose_inputs_they_touch() {
    let table: &[(&str, Change, &[&str])] = &[
        ("nothing changed", |_| {}, &[]),
        (
            "unstaged edit",
            |p| p.write("src/app.py", "v2\n"),
            &["py@default"],
        ),
        (
            "staged edit",
            |p| {
                p.write("src/lib/util.py", "v2\n");
                p.git(&["add", "src/lib/util.py"]);
            },
            &["py@default"],
        ),
        (
            "committed edit",
            |p| {
                p.write("docs/guide/intro.md", "v2\n");
                p.commit_all();
            },
            &["docs@default"],
        ),
        (
            "untracked new file counts for nothing",
            |p| p.write("src/new.py", "v1\n"),
            &[],
        ),
        (
            "new file once added",
            |p| {
                p.write("src/new.py", "v1\n");
                p.git(&["add", "src/new.py"]);
            },
            &["py@default"],
        ),
        (
            "new file added with intent to add",
            |p| {
                p.write("src/new.py", "v1\n");
                p.git(&["add", "-N", "src/new.py"]);
            },
            &["py@default"],
        ),
        (
            "deleted from the working tree",
            |p| p.remove("docs/index.md"),
            &["docs@default"],
        ),
        (
            "deleted with git rm",
            |p| {
                p.git(&["rm", "-q", "docs/index.md"]);
            },
            &["docs@default"],
        ),
        (
            "renamed out of a glob: the old path counts",
            |p| {
                p.git(&["mv", "docs/index.md", "index.md"]);
            },
            &["docs@default"],
        ),
        (
            "renamed into a glob: the new path counts",
            |p| {
                p.git(&["mv", "notes.txt", "docs/notes.txt"]);
            },
            &["docs@default"],
        ),
        (
            "renamed and committed, from one glob to another",
            |p| {
                p.git(&["mv", "docs/index.md", "src/index.py"]);
                p.commit_all();
            },
            &["docs@default", "py@default"],
        ),
        (
            "a file nothing depends on",
            |p| p.write("notes.txt", "v2\n"),
            &[],
        ),
        (
            "an upstream input: its strict downstream joins, a plain one does not",
            |p| p.write("mid.txt", "v2\n"),
            &["mid@default", "strict@default", "up@default"],
        ),
        (
            "the top of the chain: nothing is strict on it",
            |p| p.write("up.txt", "v2\n"),
            &["up@default"],
        ),
        (
            "a downstream input brings its upstream, and what is strict on that",
            |p| p.write("loose.txt", "v2\n"),
            &[
                "loose@default",
                "mid@default",
                "strict@default",
                "up@default",
            ],
        ),
        (
            "a space's dotenv selects that space's runnables",
            |p| p.write("web.env", "A=2\n"),
            &["site@web"],
        ),
        (
            "the default space's dotenv",
            |p| p.write("default.env", "A=2\n"),
            &[
                "cfg@default",
                "docs@default",
                "loose@default",
                "mid@default",
                "py@default",
                "strict@default",
                "up@default",
            ],
        ),
        (
            "qik.toml: an exec edit selects that command",
            |p| edit_config(p, "echo docs >> ran", "echo docs! >> ran"),
            &["docs@default"],
        ),
        (
            "qik.toml: a const edit selects the commands using it",
            |p| edit_config(p, "val = \"1\"", "val = \"2\""),
            &["cfg@default"],
        ),
        (
            "qik.toml: a dep edit upstream brings strict downstream",
            |p| {
                edit_config(
                    p,
                    "deps = [\"mid.txt\"",
                    "deps = [\"mid.txt\", \"notes.txt\"",
                )
            },
            &["mid@default", "strict@default", "up@default"],
        ),
        (
            "qik.toml: a comment changes no definition",
            |p| edit_config(p, "[commands.py]", "# Python\n[commands.py]"),
            &[],
        ),
        (
            "qik.toml: tags and cache settings change no definition",
            |p| {
                edit_config(
                    p,
                    "deps = [\"**.py\"]",
                    "deps = [\"**.py\"]\ntags = [\"x\"]\ncache = \"repo\"",
                )
            },
            &[],
        ),
        (
            "qik.toml: a new command",
            |p| {
                let text = p.read("qik.toml");
                p.write(
                    "qik.toml",
                    &format!("{text}\n[commands.new]\nexec = \"true\"\ndeps = [\"x\"]\n"),
                );
            },
            &["new@default"],
        ),
        (
            "qik.toml: a base dep changes every definition",
            |p| {
                let text = p.read("qik.toml");
                p.write("qik.toml", &format!("[base]\ndeps = [\"VERSION\"]\n{text}"));
            },
            &[
                "cfg@default",
                "docs@default",
                "loose@default",
                "mid@default",
                "py@default",
                "site@web",
                "strict@default",
                "up@default",
            ],
        ),
    ];
    for (what, change, expected) in table {
        let p = project();
        change(&p);
        let reference = if what.contains("committed") {
            "HEAD~1"
        } else {
            "HEAD"
        };
        let got = since(&p, reference, &[]);
        assert_eq!(got, *expected, "{what}");
    }
}

#[test]
fn since_combines_with_other_selectors() {
    let p = project();
    p.write("mid.txt", "v2\n");
    p.write("src/app.py", "v2\n");
    // Named commands: their strict downstream is only there if selected.
    assert_eq!(since(&p, "HEAD", &["mid"]), ["mid@default", "up@default"]);
    assert_eq!(
        since(&p, "HEAD", &["mid", "strict"]),
        ["mid@default", "strict@default", "up@default"]
    );
    // Isolated: the upstream stays out.
    assert_eq!(since(&p, "HEAD", &["mid", "--isolated"]), ["mid@default"]);
    // Spaces and tags narrow what --since picks from.
    assert_eq!(since(&p, "HEAD", &["-s", "web"]), Vec::<String>::new());
    p.write("web/index.html", "v2\n");
    assert_eq!(since(&p, "HEAD", &["-s", "web"]), ["site@web"]);
    // --fail: exit 1 when anything is selected, after listing it.
    let run = p.qik(
        ".",
        &["--since", "HEAD", "--ls", "--fail", "-s", "web"],
        &[],
    );
    assert_eq!(run.code, 1, "{run:#?}");
    assert_eq!(run.lines(), ["site@web"]);
    p.commit_all();
    let run = p.qik(".", &["--since", "HEAD", "--fail"], &[]);
    assert_eq!(run.code, 0, "{run:#?}");
    // QIK__SINCE works like the flag.
    p.write("up.txt", "v3\n");
    let run = p.qik(".", &["--ls"], &[("QIK__SINCE", "HEAD")]);
    assert_eq!(selected(&run), ["up@default"]);
}

#[test]
fn since_with_modules() {
    let p = Project::with_config(
        r#"
[spaces.default]
modules = ["a", "b", {name = "c", path = "libs/c"}]

[commands.test]
exec = "echo {module.name} >> ran"
deps = ["{module.dir}/**"]

[commands.lint]
exec = "true"
deps = ["**.py"]
"#,
    );
    for file in ["a/x.py", "b/x.py", "libs/c/x.py", "b/data.txt"] {
        p.write(file, "v1\n");
    }
    p.commit_all();
    p.write("b/data.txt", "v2\n");
    p.write("libs/c/x.py", "v2\n");
    assert_eq!(since(&p, "HEAD", &[]), ["lint", "test#b", "test#c"]);
    assert_eq!(since(&p, "HEAD", &["-m", "b"]), ["test#b"]);
    assert_eq!(
        since(&p, "HEAD", &["test", "-m", "a"]),
        Vec::<String>::new()
    );
    // A module's qik.toml is configuration too.
    p.commit_all();
    p.write(
        "b/qik.toml",
        "[commands.own]\nexec = \"true\"\ndeps = [\"own.txt\"]\n",
    );
    p.git(&["add", "b/qik.toml"]);
    assert_eq!(since(&p, "HEAD", &[]), ["b/own", "test#b"]);
}

#[test]
fn running_with_since_runs_only_what_changed() {
    let p = project();
    let first = p.qik(".", &["-n", "1"], &[]);
    assert_eq!(first.code, 0, "{first:#?}");
    std::fs::remove_file(p.root.join("ran")).expect("ran exists");
    p.write("src/app.py", "v2\n");
    let run = p.qik(".", &["--since", "HEAD", "-n", "1"], &[]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert_eq!(p.read("ran"), "py\n");
}

#[test]
fn a_project_below_the_top_of_a_larger_repository() {
    let p = Project::new();
    p.write(
        "proj/qik.toml",
        "[commands.all]\nexec = \"true\"\ndeps = [\"*.py\"]\n\n\
         [commands.top]\nexec = \"true\"\ndeps = [\"sub/top.txt\"]\n",
    );
    for file in [
        "proj/a.py",
        "proj/sub/top.txt",
        "other/b.py",
        "c.py",
        "sub/top.txt",
    ] {
        p.write(file, "v1\n");
    }
    p.commit_all();
    // Changes outside the project root select nothing, even where a glob
    // would match the name (hashing does not see those files either).
    p.write("other/b.py", "v2\n");
    p.write("c.py", "v2\n");
    p.write("sub/top.txt", "v2\n");
    let run = p.qik("proj", &["--ls", "--since", "HEAD"], &[]);
    assert_eq!(selected(&run), Vec::<String>::new());
    p.write("proj/sub/top.txt", "v2\n");
    let run = p.qik("proj", &["--ls", "--since", "HEAD"], &[]);
    assert_eq!(selected(&run), ["top"]);
    // From a directory below the project root, the same.
    p.write("proj/a.py", "v2\n");
    let run = p.qik("proj/sub", &["--ls", "--since", "HEAD"], &[]);
    assert_eq!(selected(&run), ["all", "top"]);
}

#[test]
fn branches_tags_and_commits_are_references() {
    let p = project();
    p.git(&["tag", "v1"]);
    p.git(&["branch", "base"]);
    let sha = p.git(&["rev-parse", "HEAD"]);
    p.write("up.txt", "v2\n");
    p.commit_all();
    for reference in ["v1", "base", sha.trim(), "HEAD~1", "HEAD^"] {
        assert_eq!(since(&p, reference, &[]), ["up@default"], "{reference}");
    }
    assert_eq!(since(&p, "HEAD", &[]), Vec::<String>::new());
}

#[test]
fn an_unknown_reference_is_a_clear_error() {
    let p = project();
    for reference in ["no-such-branch", "origin/main", "--output=x", "HEAD~99"] {
        let run = p.qik(".", &["--ls", &format!("--since={reference}")], &[]);
        run.assert_error(&["unknown git reference", reference, "hint:", "since0"]);
        // Bad input on the command line, not a machine failure (docs/cli.md).
        assert_eq!(run.code, 2, "{run:#?}");
        assert!(run.stdout.is_empty(), "{run:#?}");
    }
    assert!(!p.root.join("x").exists());
    // From the environment it is the same bad input.
    let run = p.qik(".", &["--ls"], &[("QIK__SINCE", "no-such-branch")]);
    run.assert_error(&["unknown git reference", "no-such-branch", "hint:"]);
    assert_eq!(run.code, 2, "{run:#?}");
}

#[test]
fn a_configuration_that_did_not_load_at_the_reference_selects_what_it_defines() {
    let p = project();
    p.write("qik.toml", "this is = not [valid toml\n");
    p.commit_all();
    p.write("qik.toml", CONFIG);
    let run = p.qik(".", &["--ls", "--since", "HEAD"], &[]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert_eq!(run.lines().len(), 8, "{run:#?}");
    assert!(
        run.stderr.contains("configuration at `HEAD` does not load"),
        "{}",
        run.stderr
    );
}

#[test]
fn pydist_deps_without_a_requirements_file_get_a_warning() {
    let p = Project::with_config(
        "[pydist]\nignore-missing = true\n\n[commands.lint]\nexec = \"true\"\n\
         deps = [{type = \"pydist\", name = \"ruff\"}]\n",
    );
    p.commit_all();
    let run = p.qik(".", &["--ls", "--since", "HEAD"], &[]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(run.stderr.contains("cannot see changes"), "{}", run.stderr);

    // With a requirements file, a change to it selects the space.
    let p = Project::with_config(
        "[pydist]\nignore-missing = true\n\n[spaces.default]\nvenv = \"requirements.txt\"\n\n\
         [commands.lint]\nexec = \"true\"\ndeps = [{type = \"pydist\", name = \"ruff\"}]\n",
    );
    p.write("requirements.txt", "ruff==0.1\n");
    p.commit_all();
    p.write("requirements.txt", "ruff==0.2\n");
    let run = p.qik(".", &["--ls", "--since", "HEAD"], &[]);
    assert_eq!(selected(&run), ["lint"]);
    assert!(!run.stderr.contains("cannot see changes"), "{}", run.stderr);
}
