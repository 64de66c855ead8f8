//! Prints the raw imports of Python files as JSON lines, one per file:
//! `{"path": ..., "imports": [[level, name, line, type_checking], ...]}` or
//! `{"path": ..., "error": "line:col: message"}`. For comparing the scanner
//! with Python's `ast` on a large corpus:
//! `cargo run --release -p qik-pygraph --example imports -- FILE...`

fn main() {
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path).expect("read");
        let line = match qik_pygraph::raw_imports(&bytes) {
            Ok(imports) => {
                let list: Vec<_> = imports
                    .iter()
                    .map(|i| serde_json::json!([i.level, i.name, i.line, i.type_checking]))
                    .collect();
                serde_json::json!({"path": path, "imports": list})
            }
            Err(e) => {
                serde_json::json!({"path": path, "error": format!("{}:{}: {}", e.line, e.col, e.message)})
            }
        };
        println!("{line}");
    }
}
