//! `qik --ls`: one selected runnable per line, sorted by name.

use std::io::{BufWriter, Write};

use qik_core::graph::Graph;

pub(crate) fn print(graph: &Graph) {
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    for runnable in graph.runnables() {
        // A closed pipe (`qik --ls | head -1`) is a normal way to stop reading.
        if writeln!(out, "{}", runnable.name).is_err() {
            return;
        }
    }
    let _ = out.flush();
}
