//! `qik --graph dot|mermaid`: the selected runnables and the edges between
//! them, upstream first, as text for Graphviz or Mermaid.

use std::fmt::Write as _;
use std::io::Write as _;

use qik_core::graph::Graph;

use crate::args::GraphFormat;

pub(crate) fn print(graph: &Graph, format: GraphFormat) {
    let text = render(graph, format);
    // A closed pipe is a normal way to stop reading.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// Nodes sorted by name, then each one's edges from its upstream runnables
/// (only those selected too).
pub(crate) fn render(graph: &Graph, format: GraphFormat) -> String {
    let names: Vec<&str> = graph.runnables().map(|r| r.name.as_str()).collect();
    let mut edges: Vec<(usize, usize)> = Vec::new();
    for (to, name) in names.iter().enumerate() {
        let mut from: Vec<usize> = graph
            .upstream(name)
            .filter_map(|up| names.binary_search(&up).ok())
            .collect();
        from.sort_unstable();
        from.dedup();
        edges.extend(from.into_iter().map(|from| (from, to)));
    }
    let mut out = String::new();
    match format {
        GraphFormat::Dot => {
            out.push_str("digraph qik {\n  rankdir=LR;\n  node [shape=box];\n");
            for name in &names {
                let _ = writeln!(out, "  {};", dot_id(name));
            }
            for (from, to) in edges {
                let _ = writeln!(out, "  {} -> {};", dot_id(names[from]), dot_id(names[to]));
            }
            out.push_str("}\n");
        }
        GraphFormat::Mermaid => {
            out.push_str("flowchart LR\n");
            for (i, name) in names.iter().enumerate() {
                let _ = writeln!(out, "  n{i}[\"{}\"]", mermaid_label(name));
            }
            for (from, to) in edges {
                let _ = writeln!(out, "  n{from} --> n{to}");
            }
        }
    }
    out
}

/// A quoted DOT identifier.
fn dot_id(name: &str) -> String {
    let mut id = String::with_capacity(name.len() + 2);
    id.push('"');
    for c in name.chars() {
        if matches!(c, '"' | '\\') {
            id.push('\\');
        }
        id.push(c);
    }
    id.push('"');
    id
}

/// Text inside a Mermaid `["..."]` label: characters Mermaid reads as syntax
/// (`#` starts an entity) as entity codes.
fn mermaid_label(name: &str) -> String {
    let mut label = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '"' => label.push_str("#quot;"),
            '#' => label.push_str("#35;"),
            '<' => label.push_str("#lt;"),
            '>' => label.push_str("#gt;"),
            c => label.push(c),
        }
    }
    label
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted_for_each_format() {
        assert_eq!(dot_id(r#"a"b\c#d"#), r#""a\"b\\c#d""#);
        assert_eq!(mermaid_label("lint#a?x=\"1\""), "lint#35;a?x=#quot;1#quot;");
    }
}
