//! Which file of a crate uses which, read from the source text.
//!
//! Not a Rust parser: it blanks out comments, string and char literals and
//! `#[cfg(test)]` items, then reads `use` trees and inline paths that start
//! with `crate`, `super`, `self` or the name of a child module. That is
//! exactly how this workspace names its own modules.

use std::collections::BTreeMap;
use std::path::Path;

/// A crate's files by path relative to `src/`, with their module paths, and
/// the uses between them.
pub(crate) struct Crate {
    pub(crate) files: BTreeMap<String, Vec<String>>,
    pub(crate) edges: Vec<Edge>,
}

/// `from` names a path into `to`, first on `line`.
#[derive(Debug)]
pub(crate) struct Edge {
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) line: usize,
}

impl Crate {
    /// Reads every `.rs` file under `src` (a crate's source directory),
    /// leaving out `bin/`, whose files are crates of their own.
    pub(crate) fn read(src: &Path) -> Crate {
        let mut texts = BTreeMap::new();
        collect(src, src, &mut texts);
        let files: BTreeMap<String, Vec<String>> = texts
            .keys()
            .map(|file| (file.clone(), module_of(file)))
            .collect();
        let by_module: BTreeMap<&[String], &str> = files
            .iter()
            .map(|(file, module)| (module.as_slice(), file.as_str()))
            .collect();
        let mut edges = Vec::new();
        for (file, text) in &texts {
            let module = &files[file];
            let mut seen = BTreeMap::new();
            for (path, offset, reexport) in paths_in(text, module) {
                let Some(target) = resolve(&by_module, &path) else {
                    continue;
                };
                let target_module = &files[target];
                if target == file {
                    continue;
                }
                // A facade re-exporting its own descendants does not use them.
                if reexport && target_module.starts_with(module) {
                    continue;
                }
                let line = text[..offset].matches('\n').count() + 1;
                seen.entry(target.to_string()).or_insert(line);
            }
            for (to, line) in seen {
                edges.push(Edge {
                    from: file.clone(),
                    to,
                    line,
                });
            }
        }
        Crate { files, edges }
    }

    /// The file-level import circles, each sorted, in sorted order.
    pub(crate) fn circles(&self) -> Vec<Vec<String>> {
        let names: Vec<&String> = self.files.keys().collect();
        let index: BTreeMap<&str, usize> = names
            .iter()
            .enumerate()
            .map(|(i, name)| (name.as_str(), i))
            .collect();
        let mut graph = vec![Vec::new(); names.len()];
        for edge in &self.edges {
            graph[index[edge.from.as_str()]].push(index[edge.to.as_str()]);
        }
        let mut circles: Vec<Vec<String>> = strongly_connected(&graph)
            .into_iter()
            .filter(|component| component.len() > 1)
            .map(|component| {
                let mut files: Vec<String> =
                    component.into_iter().map(|i| names[i].clone()).collect();
                files.sort();
                files
            })
            .collect();
        circles.sort();
        circles
    }
}

fn collect(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|err| panic!("cannot list {}: {err}", dir.display()))
        .map(|entry| entry.expect("a dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let relative = path
            .strip_prefix(root)
            .expect("under the root")
            .to_string_lossy()
            .replace('\\', "/");
        if path.is_dir() {
            if relative != "bin" {
                collect(root, &path, out);
            }
        } else if relative.ends_with(".rs") {
            let text = std::fs::read_to_string(&path).expect("a UTF-8 source file");
            out.insert(relative, text);
        }
    }
}

fn module_of(file: &str) -> Vec<String> {
    let mut parts: Vec<String> = file
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_string)
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The file a module path points into: its longest prefix that is a file.
fn resolve<'a>(by_module: &BTreeMap<&[String], &'a str>, path: &[String]) -> Option<&'a str> {
    (1..=path.len())
        .rev()
        .find_map(|len| by_module.get(&path[..len]).copied())
}

/// Paths into the crate, as absolute module paths, with their offset and
/// whether they are re-exported (`pub use`).
fn paths_in(text: &str, module: &[String]) -> Vec<(Vec<String>, usize, bool)> {
    let mut code = blank_cfg_test(&blank_comments_and_literals(text));
    let children = child_modules(&code);
    // `super` of `a/b.rs` is `a`; of `a/mod.rs` it is the parent of `a`.
    let own = module.to_vec();
    let absolute = |path: &[String]| -> Option<Vec<String>> {
        let first = path.first()?;
        match first.as_str() {
            "crate" => Some(path[1..].to_vec()),
            "self" => Some(own.iter().chain(&path[1..]).cloned().collect()),
            "super" => {
                let mut base = own.clone();
                let mut rest = path;
                while rest.first().map(String::as_str) == Some("super") {
                    base.pop()?;
                    rest = &rest[1..];
                }
                Some(base.into_iter().chain(rest.iter().cloned()).collect())
            }
            name if children.iter().any(|child| child == name) => {
                Some(own.iter().chain(path).cloned().collect())
            }
            _ => None,
        }
    };
    let mut found = Vec::new();
    // `use` trees first, then blank them so inline scanning skips them.
    for (start, end, reexport) in use_items(&code) {
        let body = code[start + 3..end - 1].to_string();
        for path in expand_tree(&body) {
            if let Some(abs) = absolute(&path) {
                found.push((abs, start, reexport));
            }
        }
        blank(&mut code, start, end);
    }
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if is_ident_start(bytes[i]) && (i == 0 || !is_ident_char(bytes[i - 1])) {
            let start = i;
            while i < bytes.len() && is_ident_char(bytes[i]) {
                i += 1;
            }
            let preceded_by_path = code[..start].trim_end().ends_with("::");
            if !preceded_by_path && code[i..].starts_with("::") {
                let mut path = vec![code[start..i].to_string()];
                let mut j = i;
                while code[j..].starts_with("::") {
                    let seg_start = j + 2;
                    let mut k = seg_start;
                    while k < bytes.len() && is_ident_char(bytes[k]) {
                        k += 1;
                    }
                    if k == seg_start {
                        break;
                    }
                    path.push(code[seg_start..k].to_string());
                    j = k;
                }
                if let Some(abs) = absolute(&path) {
                    found.push((abs, start, false));
                }
                i = j;
            }
        } else {
            i += 1;
        }
    }
    found
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn blank(code: &mut String, start: usize, end: usize) {
    let replaced: String = code[start..end]
        .chars()
        .map(|c| if c == '\n' { '\n' } else { ' ' })
        .collect();
    code.replace_range(start..end, &replaced);
}

/// `mod name;` declarations: the file's child modules.
fn child_modules(code: &str) -> Vec<String> {
    code.split([';', '{', '}'])
        .filter_map(|statement| {
            let words: Vec<&str> = statement.split_whitespace().collect();
            match words.as_slice() {
                [.., "mod", name] => Some(name.to_string()),
                _ => None,
            }
        })
        .collect()
}

/// Byte ranges of `use ...;` items, and whether each is `pub`.
fn use_items(code: &str) -> Vec<(usize, usize, bool)> {
    let bytes = code.as_bytes();
    let mut items = Vec::new();
    let mut i = 0;
    while let Some(pos) = code[i..].find("use") {
        let start = i + pos;
        i = start + 3;
        let before_ok = start == 0 || !is_ident_char(bytes[start - 1]);
        let after_ok = bytes.get(start + 3).is_some_and(u8::is_ascii_whitespace);
        if !(before_ok && after_ok) {
            continue;
        }
        // An item: only attributes and a visibility since the last item.
        let item_start = code[..start]
            .rfind([';', '{', '}'])
            .map_or(0, |delimiter| delimiter + 1);
        let prefix = code[item_start..start].trim();
        if !(prefix.is_empty() || prefix.starts_with("pub") || prefix.starts_with("#[")) {
            continue;
        }
        let Some(end) = code[start..].find(';') else {
            break;
        };
        items.push((start, start + end + 1, prefix.contains("pub")));
        i = start + end + 1;
    }
    items
}

/// `a::{b, c::{self, D}}` → `[a, b]`, `[a, c]`, `[a, c, D]`.
fn expand_tree(tree: &str) -> Vec<Vec<String>> {
    fn go(prefix: &[String], tree: &str, out: &mut Vec<Vec<String>>) {
        let tree = tree.trim();
        if tree.is_empty() {
            return;
        }
        if let Some(brace) = tree.find('{') {
            let head: Vec<String> = tree[..brace]
                .split("::")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            let inner = &tree[brace + 1..tree.rfind('}').unwrap_or(tree.len())];
            let base: Vec<String> = prefix.iter().cloned().chain(head).collect();
            let mut depth = 0;
            let mut part = String::new();
            for c in inner.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        go(&base, &part, out);
                        part.clear();
                        continue;
                    }
                    _ => {}
                }
                part.push(c);
            }
            go(&base, &part, out);
        } else {
            let path = tree.split(" as ").next().unwrap_or(tree);
            let mut full: Vec<String> = prefix.to_vec();
            for segment in path.split("::").map(str::trim).filter(|s| !s.is_empty()) {
                if segment == "self" && !full.is_empty() {
                    continue;
                }
                if segment == "*" {
                    break;
                }
                full.push(segment.to_string());
            }
            out.push(full);
        }
    }
    let mut out = Vec::new();
    go(&[], tree, &mut out);
    out
}

/// Comments, string and char literals become spaces (newlines kept, so
/// offsets and line numbers stay right).
fn blank_comments_and_literals(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = bytes.to_vec();
    let mut i = 0;
    let blank_range = |out: &mut Vec<u8>, from: usize, to: usize| {
        for byte in &mut out[from..to] {
            if *byte != b'\n' {
                *byte = b' ';
            }
        }
    };
    while i < bytes.len() {
        let rest = &bytes[i..];
        if rest.starts_with(b"//") {
            let end = memchr_newline(bytes, i);
            blank_range(&mut out, i, end);
            i = end;
        } else if rest.starts_with(b"/*") {
            let mut depth = 0;
            let mut j = i;
            while j < bytes.len() {
                if bytes[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if bytes[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank_range(&mut out, i, j);
            i = j;
        } else if (rest.starts_with(b"r\"") || rest.starts_with(b"r#") || rest.starts_with(b"br"))
            && (i == 0 || !is_ident_char(bytes[i - 1]))
        {
            let mut j = i + if rest[0] == b'b' { 2 } else { 1 };
            let mut hashes = 0;
            while bytes.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if bytes.get(j) != Some(&b'"') {
                i += 1;
                continue;
            }
            let closing: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            let end = find(bytes, j + 1, &closing).map_or(bytes.len(), |e| e + closing.len());
            blank_range(&mut out, i, end);
            i = end;
        } else if rest[0] == b'"' {
            let mut j = i + 1;
            while j < bytes.len() && bytes[j] != b'"' {
                j += if bytes[j] == b'\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(bytes.len());
            blank_range(&mut out, i, end);
            i = end;
        } else if rest[0] == b'\'' {
            // A char literal ('x', '\n', '\u{..}'), not a lifetime ('a).
            let end = if rest.get(1) == Some(&b'\\') {
                find(bytes, i + 2, b"'").map(|e| e + 1)
            } else {
                let len = std::str::from_utf8(&rest[1..])
                    .ok()
                    .and_then(|s| s.chars().next())
                    .map_or(1, char::len_utf8);
                (rest.get(1 + len) == Some(&b'\'')).then_some(i + 2 + len)
            };
            match end {
                Some(end) => {
                    blank_range(&mut out, i, end);
                    i = end;
                }
                None => i += 1,
            }
        } else {
            i += 1;
        }
    }
    String::from_utf8(out).expect("only ASCII was replaced, by ASCII")
}

fn memchr_newline(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|b| *b == b'\n')
        .map_or(bytes.len(), |p| from + p)
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

/// `#[cfg(test)]` items (a `mod tests { ... }`, a `use`, a `fn`) become spaces.
fn blank_cfg_test(code: &str) -> String {
    let mut code = code.to_string();
    while let Some(start) = code.find("#[cfg(test)]") {
        let after = start + "#[cfg(test)]".len();
        let bytes = code.as_bytes();
        let brace = code[after..].find('{').map(|p| after + p);
        let semicolon = code[after..].find(';').map(|p| after + p);
        let end = match (brace, semicolon) {
            (Some(b), Some(s)) if s < b => s + 1,
            (Some(b), _) => {
                let mut depth = 0;
                let mut j = b;
                loop {
                    match bytes.get(j) {
                        Some(b'{') => depth += 1,
                        Some(b'}') => {
                            depth -= 1;
                            if depth == 0 {
                                break j + 1;
                            }
                        }
                        None => break j,
                        _ => {}
                    }
                    j += 1;
                }
            }
            (None, Some(s)) => s + 1,
            (None, None) => code.len(),
        };
        blank(&mut code, start, end);
    }
    code
}

/// Tarjan's algorithm, iterative.
fn strongly_connected(graph: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let n = graph.len();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut components = Vec::new();
    let mut next = 0;
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        let mut work = vec![(root, 0)];
        while let Some(&mut (v, ref mut child)) = work.last_mut() {
            if *child == 0 && index[v] == usize::MAX {
                index[v] = next;
                low[v] = next;
                next += 1;
                stack.push(v);
                on_stack[v] = true;
            }
            if let Some(&w) = graph[v].get(*child) {
                *child += 1;
                if index[w] == usize::MAX {
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                components.push(component);
            }
        }
    }
    components
}
