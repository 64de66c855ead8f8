//! What a full syntax check of every file costs, by parser: the measurement
//! behind checking syntax with ruff's parser and reading imports with
//! tree-sitter (docs/pygraph.md, "Bad source files").
//! `cargo run --release -p qik-pygraph --example fullparse -- DIR`.

use std::path::Path;
use std::time::Instant;

use rayon::prelude::*;

fn main() {
    let root = std::env::args().nth(1).expect("usage: fullparse DIR");
    let (files, _) = qik_pygraph::python_files(Path::new(&root), ".");
    let texts: Vec<String> = files
        .iter()
        .map(|f| {
            String::from_utf8_lossy(&std::fs::read(Path::new(&root).join(f)).expect("read"))
                .into_owned()
        })
        .collect();
    let bytes: usize = texts.iter().map(String::len).sum();
    println!("{} files, {bytes} bytes, on all cores:", texts.len());
    for _ in 0..3 {
        let start = Instant::now();
        let bad: usize = texts
            .par_iter()
            .map_init(
                || {
                    let mut parser = tree_sitter::Parser::new();
                    parser
                        .set_language(&tree_sitter_python::LANGUAGE.into())
                        .expect("grammar");
                    parser
                },
                |parser, text| {
                    let tree = parser.parse(text, None).expect("a tree");
                    usize::from(tree.root_node().has_error())
                },
            )
            .sum();
        let tree_sitter = start.elapsed();
        let start = Instant::now();
        let refused: usize = texts
            .par_iter()
            .map(|text| usize::from(ruff_python_parser::parse_module(text).is_err()))
            .sum();
        println!(
            "tree-sitter {tree_sitter:?} ({bad} with errors), ruff's parser {:?} ({refused} refused)",
            start.elapsed()
        );
    }
}
