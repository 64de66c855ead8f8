//! Builds the import graph of a directory of Python packages and prints
//! timings: `cargo run --release -p qik-pygraph --example graph -- DIR
//! [--runs N] [--cache DIR] [--json OUT] [--lock MODULE] [--touch FILE]`.
//!
//! Reports the median of N runs of: a cold build (no cache), a rebuild with
//! nothing changed, a rebuild after FILE changed (default: the first module
//! file), and a lock of MODULE (default: the first internal module).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use qik_pygraph::{BuildOptions, build, lock, python_files};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .map(|i| args[i + 1].clone())
    };
    let root = PathBuf::from(args.first().expect("usage: graph DIR [--runs N] ..."));
    let runs: usize = opt("--runs").map_or(5, |n| n.parse().expect("--runs N"));
    let cache = opt("--cache").map_or_else(
        || std::env::temp_dir().join("qik-pygraph-bench-cache"),
        PathBuf::from,
    );
    let options = BuildOptions {
        ignore_type_checking: args.iter().any(|a| a == "--ignore-type-checking"),
        ignore_pydists: args.iter().any(|a| a == "--no-external"),
    };

    let start = Instant::now();
    let (files, warnings) = python_files(&root, ".");
    let walk = start.elapsed();
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let run = |cache: Option<&Path>| {
        let start = Instant::now();
        let built = build(&root, ".", &files, cache, &options).unwrap_or_else(|e| {
            eprintln!("error: {e}\nhint: {}", e.hint());
            std::process::exit(1)
        });
        (start.elapsed(), built)
    };

    let mut cold = Vec::new();
    for _ in 0..runs {
        let _ = std::fs::remove_dir_all(&cache);
        cold.push(run(Some(&cache)).0);
    }
    let (_, built) = run(Some(&cache));
    let mut warm = Vec::new();
    for _ in 0..runs {
        warm.push(run(Some(&cache)).0);
    }
    let graph = built.graph;
    if let Some(out) = opt("--json") {
        graph.write_json(Path::new(&out)).expect("write graph.json");
    }
    for w in &built.warnings {
        eprintln!("warning: {w}");
    }

    // One file changes: append a comment, rebuild, restore.
    let touched = opt("--touch").unwrap_or_else(|| {
        (0..graph.modules().len() as u32)
            .find_map(|i| graph.file(i).map(str::to_string))
            .expect("a module")
    });
    let path = root.join(&touched);
    let original = std::fs::read(&path).expect("read the touched file");
    let mut changed = Vec::new();
    for i in 0..runs {
        let mut text = original.clone();
        text.extend_from_slice(format!("\n# bench {i}\n").as_bytes());
        std::fs::write(&path, &text).expect("write the touched file");
        let (took, b) = run(Some(&cache));
        assert_eq!(b.parsed, 1, "one changed file is parsed again");
        changed.push(took);
    }
    std::fs::write(&path, &original).expect("restore the touched file");

    let module = opt("--lock").unwrap_or_else(|| {
        graph
            .modules()
            .iter()
            .find(|m| m.internal)
            .expect("a module")
            .name
            .clone()
    });
    let mut locks = Vec::new();
    let mut result = None;
    for _ in 0..runs {
        let start = Instant::now();
        let l = lock(&graph, &module, &|m| Some(vec![m.to_string()]), false).expect("lock");
        locks.push(start.elapsed());
        result = Some(l);
    }
    let result = result.expect("runs > 0");

    let internal = graph.modules().iter().filter(|m| m.internal).count();
    println!(
        "{}: {} files, {} modules ({} internal), {} edges (walk {})",
        root.display(),
        files.len(),
        graph.modules().len(),
        internal,
        graph.edges().len(),
        ms(walk)
    );
    println!("cold build      {}", ms(median(cold)));
    println!("no-change build {}", ms(median(warm)));
    println!("one-file change {} ({touched})", ms(median(changed)));
    println!(
        "lock {module}   {} ({} globs, {} pydists)",
        ms(median(locks)),
        result.globs.len(),
        result.pydists.len()
    );
}
