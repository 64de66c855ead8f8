//! `--shard K/N`: N CI jobs split the selection between them, each runnable
//! in exactly one share, balanced by the durations the repo cache recorded.

use std::collections::BTreeSet;

use crate::support::Project;

/// Eight modules, a lint of each, and a build every lint needs.
fn monorepo() -> Project {
    let mut config = String::from("[spaces.default]\nmodules = [");
    for i in 0..8 {
        config.push_str(&format!("\"m{i}\", "));
    }
    config.push_str(
        "]\n\n[commands.build]\nexec = \"echo build\"\n\n\
         [commands.lint]\nexec = \"echo lint {module.dir}\"\n\
         deps = [\"{module.dir}/**\", {type = \"command\", name = \"build\"}]\n",
    );
    let p = Project::with_config(&config);
    for i in 0..8 {
        p.write(&format!("m{i}/a.py"), "a = 1\n");
    }
    p.commit_all();
    p
}

fn listed(p: &Project, args: &[&str]) -> BTreeSet<String> {
    let mut all = vec!["--ls"];
    all.extend_from_slice(args);
    let run = p.qik(".", &all, &[]);
    assert_eq!(run.code, 0, "{run:#?}");
    run.lines().into_iter().map(str::to_string).collect()
}

#[test]
fn the_shares_cover_the_selection_once() {
    let p = monorepo();
    let all = listed(&p, &[]);
    assert_eq!(all.len(), 9);
    for total in 1..=4 {
        let mut seen = BTreeSet::new();
        for index in 1..=total {
            let shard = format!("{index}/{total}");
            let share = listed(&p, &["--shard", &shard, "--isolated"]);
            // Balanced: 9 runnables over `total` shares differ by one at most.
            assert!(
                share.len() == 9 / total || share.len() == 9 / total + 1,
                "{shard}: {share:?}"
            );
            for name in share {
                assert!(seen.insert(name.clone()), "{name} is in two shares");
            }
            // The same share every time: the jobs never compare notes.
            assert_eq!(
                listed(&p, &["--shard", &shard, "--isolated"]),
                listed(&p, &["--shard", &shard, "--isolated"])
            );
        }
        assert_eq!(seen, all, "the union of {total} shares");
    }
}

#[test]
fn a_share_runs_the_upstream_runnables_it_needs() {
    let p = monorepo();
    let mut owners_of_build = 0;
    for index in 1..=3 {
        let shard = format!("{index}/3");
        let isolated = listed(&p, &["--shard", &shard, "--isolated"]);
        let share = listed(&p, &["--shard", &shard]);
        owners_of_build += usize::from(isolated.contains("build"));
        // Every share with a lint also has the build it depends on.
        assert!(share.contains("build"), "{shard}: {share:?}");
        assert!(share.is_superset(&isolated));
        let run = p.qik(".", &["--shard", &shard], &[]);
        run.assert_ok();
    }
    assert_eq!(owners_of_build, 1, "build belongs to one share");
}

#[test]
fn recorded_durations_balance_the_shares() {
    // One slow command and six quick ones, kept in the committed repo cache
    // with how long each took.
    let cached = "deps = [\"src.txt\"]\ncache = \"repo\"\n";
    let mut config = format!("[commands.slow]\nexec = \"sleep 1\"\n{cached}");
    for i in 0..6 {
        config.push_str(&format!(
            "\n[commands.quick{i}]\nexec = \"echo {i}\"\n{cached}"
        ));
    }
    let p = Project::with_config(&config);
    p.write("src.txt", "x\n");
    p.commit_all();
    // Unknown durations: the shares are even by count.
    let before: Vec<usize> = (1..=2)
        .map(|k| listed(&p, &["--shard", &format!("{k}/2")]).len())
        .collect();
    assert_eq!(before, [4, 3]);

    p.qik(".", &[], &[]).assert_ok();
    p.commit_all();
    let clone = p.clone_repo();
    assert!(
        clone.root.join(".qik/cache").is_dir(),
        "the repo cache is committed"
    );
    let slow_share = listed(&clone, &["--shard", "1/2"]);
    let other = listed(&clone, &["--shard", "2/2"]);
    assert_eq!(
        slow_share,
        BTreeSet::from(["slow".to_string()]),
        "the slow command takes a share alone: {other:?}"
    );
    assert_eq!(other.len(), 6);
}

#[test]
fn a_shard_outside_one_to_n_is_a_usage_error() {
    let p = monorepo();
    for (shard, message) in [
        ("0/3", "shard 0 is outside 1..=3"),
        ("4/3", "shard 4 is outside 1..=3"),
        ("1/0", "a shard count must be at least 1"),
        ("two/3", "expected K/N"),
    ] {
        let run = p.qik(".", &["--shard", shard], &[]);
        assert_eq!(run.code, 2, "{shard}: {run:#?}");
        assert!(run.stderr.contains(message), "{shard}: {run:#?}");
        assert!(run.stderr.contains("--shard"), "{shard}: {run:#?}");
    }
}
