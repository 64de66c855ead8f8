use rayon::prelude::*;
use std::time::Instant;
fn main() {
    let root = std::env::args().nth(1).unwrap();
    let (files, _) = qik_pygraph::python_files(std::path::Path::new(&root), ".");
    let texts: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(std::path::Path::new(&root).join(f)).unwrap())
        .collect();
    let bytes: usize = texts.iter().map(|t| t.len()).sum();
    for _ in 0..3 {
        let start = Instant::now();
        let errors: usize = texts
            .par_iter()
            .map_init(
                || {
                    let mut p = tree_sitter::Parser::new();
                    p.set_language(&tree_sitter_python::LANGUAGE.into())
                        .unwrap();
                    p
                },
                |p, t| {
                    let tree = p.parse(t, None).unwrap();
                    tree.root_node().has_error() as usize
                },
            )
            .sum();
        println!(
            "{} files {} bytes: full parse {:?}, {} with errors",
            texts.len(),
            bytes,
            start.elapsed(),
            errors
        );
    }
}
