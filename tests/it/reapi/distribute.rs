//! Fan-out through a real scheduler: BuildGrid assigns qik's actions to two
//! workers, and the results are shared through the same server's cache.

use std::collections::BTreeSet;

use super::grid::Grid;
use super::support::{Project, local_entries};

const RUNNABLES: usize = 8;

/// Eight commands on the executor `grid`, storing in the `reapi` cache
/// `shared` of the same server. Each one takes a second (so all eight are
/// queued at once), copies its own input and writes the worker's name
/// beside it.
fn project(endpoint: &str) -> Project {
    let mut config = format!(
        "[plugins]\nreapi = \"qik.reapi\"\n\n\
         [executors.grid]\ntype = \"reapi\"\nendpoint = \"{endpoint}\"\ntimeout = 10\n\n\
         [caches.shared]\ntype = \"reapi\"\nendpoint = \"{endpoint}\"\ntimeout = 10\n"
    );
    let mut files = Vec::new();
    for n in 1..=RUNNABLES {
        config.push_str(&format!(
            "\n[commands.part{n}]\n\
             exec = \"mkdir -p out && sleep 1 && cp src/{n}.txt out/{n}.txt && cat /etc/qik-worker > out/{n}.worker && echo part{n} $(cat src/{n}.txt)\"\n\
             deps = [\"src/{n}.txt\"]\nartifacts = [\"out/{n}.txt\", \"out/{n}.worker\"]\n\
             executor = \"grid\"\ncache = \"shared\"\n"
        ));
        files.push((format!("src/{n}.txt"), format!("input {n}\n")));
    }
    let mut pairs: Vec<(&str, &str)> = vec![("qik.toml", config.as_str())];
    pairs.extend(files.iter().map(|(p, c)| (p.as_str(), c.as_str())));
    Project::with_files(&pairs)
}

/// Which worker ran each runnable, checking each one's own output.
fn workers_of(p: &Project) -> BTreeSet<String> {
    (1..=RUNNABLES)
        .map(|n| {
            assert_eq!(p.read(&format!("out/{n}.txt")), format!("input {n}\n"));
            p.read(&format!("out/{n}.worker")).trim().to_string()
        })
        .collect()
}

#[test]
fn eight_runnables_spread_over_two_workers_and_replay_from_the_cache() {
    let grid = Grid::start(2);
    let p = project(&grid.endpoint());
    let run = p.qik(".", &["-n", "8", "--logger", "stdout"], &[]);
    run.assert_ok();
    for n in 1..=RUNNABLES {
        run.assert_ran(&format!("part{n}"));
        assert!(
            run.stdout.contains(&format!("part{n} input {n}")),
            "{run:#?}"
        );
    }
    assert!(
        !run.stderr.contains("warning:"),
        "{run:#?}\n{}",
        grid.logs()
    );
    // Both workers ran work, and together exactly the eight actions.
    assert_eq!(
        workers_of(&p),
        BTreeSet::from(["worker-1".to_string(), "worker-2".to_string()]),
        "{}",
        grid.logs()
    );
    let leases = grid.leases();
    assert_eq!(
        leases.iter().map(|(_, n)| n).sum::<usize>(),
        RUNNABLES,
        "{leases:?}"
    );
    assert_eq!(local_entries(&p).len(), RUNNABLES);

    // Another checkout replays all eight from the server's cache: same
    // logs, same artifacts (naming the workers that ran them), no new lease.
    let other = p.clone_repo();
    let replay = other.qik(".", &["-n", "8", "--logger", "stdout"], &[]);
    replay.assert_ok();
    for n in 1..=RUNNABLES {
        replay.assert_cached(&format!("part{n}"));
        assert!(
            replay.stdout.contains(&format!("part{n} input {n}")),
            "{replay:#?}"
        );
        assert_eq!(
            other.read(&format!("out/{n}.worker")),
            p.read(&format!("out/{n}.worker"))
        );
    }
    assert_eq!(workers_of(&other).len(), 2);
    assert_eq!(
        grid.leases(),
        leases,
        "a replay sends nothing to the workers"
    );
}
