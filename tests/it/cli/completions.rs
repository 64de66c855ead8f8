//! Shell completion: the scripts `qik completions <shell>` prints, and the
//! names they complete, taken from the project in the current directory.

use std::process::Command;

use crate::support::Project;

fn project() -> Project {
    let project = Project::with_config(
        r#"[spaces.api]
modules = ["api/users", {name = "billing", path = "api/billing"}]

[commands]
lint = {exec = "ruff check", tags = ["style"]}
lock = "echo lock"
test = {exec = "pytest {module.dir}", tags = ["slow"]}
secret = {exec = "echo hidden", hidden = true}
"#,
    );
    project.mkdirs(&["api/users", "api/billing"]);
    project.commit_all();
    project
}

/// Completes `words` (the last one is being typed) with a real bash and the
/// script qik prints.
fn bash_complete(project: &Project, words: &[&str]) -> Vec<String> {
    let bin_dir = crate::support::bins::bin_dir();
    let words_array = words
        .iter()
        .map(|w| format!("'{w}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let line = words.join(" ");
    let script = format!(
        r#"source /dev/stdin <<< "$(qik completions bash)"
COMP_WORDS=({words_array}); COMP_CWORD={cword}; COMP_TYPE=9
COMP_LINE='{line}'; COMP_POINT={point}
_clap_complete_qik qik '{last}' '{prev}'
printf '%s\n' "${{COMPREPLY[@]}}""#,
        cword = words.len() - 1,
        point = line.len(),
        last = words.last().unwrap(),
        prev = words[words.len() - 2],
    );
    let output = Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(&project.root)
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin_dir.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env_remove("QIK_COMPLETE")
        .output()
        .expect("bash runs");
    assert!(
        output.status.success(),
        "bash failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.trim().to_string())
        .collect()
}

#[test]
fn bash_completes_command_names_from_the_project() {
    let project = project();
    assert_eq!(bash_complete(&project, &["qik", "l"]), ["lint", "lock"]);
    // Hidden commands are not offered.
    assert_eq!(
        bash_complete(&project, &["qik", "se"]),
        Vec::<String>::new()
    );
}

#[test]
fn bash_completes_modules_spaces_and_tags() {
    let project = project();
    assert_eq!(
        bash_complete(&project, &["qik", "-m", ""]),
        ["api/users", "billing"]
    );
    assert_eq!(bash_complete(&project, &["qik", "-s", "a"]), ["api"]);
    assert_eq!(
        bash_complete(&project, &["qik", "--tag", "s"]),
        ["slow", "style"]
    );
}

#[test]
fn scripts_exist_for_zsh_and_fish_and_name_qik() {
    let project = project();
    for shell in ["zsh", "fish", "bash"] {
        let run = project.qik(".", &["completions", shell], &[]);
        assert_eq!(run.code, 0, "{shell}: {run:#?}");
        assert!(
            run.stdout.contains("QIK_COMPLETE"),
            "{shell}: {}",
            run.stdout
        );
        assert!(run.stdout.contains("qik"), "{shell}");
    }
    // The fish protocol answers with one candidate per line.
    let run = project.qik(".", &["--", "qik", "t"], &[("QIK_COMPLETE", "fish")]);
    assert_eq!(run.stdout.lines().collect::<Vec<_>>(), ["test"]);
}

#[test]
fn an_unknown_shell_is_an_error_listing_the_shells() {
    let project = project();
    let run = project.qik(".", &["completions", "tcsh"], &[]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("tcsh"), "{}", run.stderr);
    assert!(run.stderr.contains("bash"), "{}", run.stderr);
}

#[test]
fn outside_a_project_nothing_is_offered_and_nothing_is_printed_as_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let run = crate::support::run_in(dir.path(), &["--", "qik", ""], &[("QIK_COMPLETE", "fish")]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(!run.stdout.contains("error"), "{}", run.stdout);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
}
