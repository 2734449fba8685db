//! The module map of docs/architecture.md, held: no import circles among the source files, and the
//! lower floors (store, batch, transform, extract, load) never reach up into the command line.
//!
//! An arrow `a → b` is a path in `a` (`use`, or any `crate::…`, `super::…` or child-module path
//! outside comments and `#[cfg(test)]` code) that names an item of file `b`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every `.rs` file under `src/`, by its module path (`load/publish.rs` → `["load", "publish"]`).
fn sources() -> BTreeMap<Vec<String>, (String, String)> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<Vec<String>, (String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
                let mut module: Vec<String> =
                    rel.trim_end_matches(".rs").split('/').map(str::to_owned).collect();
                if module.last().is_some_and(|m| m == "mod" || m == "lib" || m == "main") {
                    module.pop();
                }
                out.insert(module, (rel, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    walk(&root, &root, &mut out);
    out
}

/// The code of a file without comments, strings' contents and its `#[cfg(test)]` tail.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines().map(|l| l.split("//").next().unwrap_or_default()).collect::<Vec<_>>().join("\n")
}

/// The paths a file names, each as module segments from the crate root.
fn paths(module: &[String], is_parent: bool, code: &str) -> Vec<Vec<String>> {
    let children: BTreeSet<String> = code
        .lines()
        .filter_map(|l| {
            let l = l.trim().trim_start_matches("pub ").trim_start_matches("pub(crate) ");
            l.strip_prefix("mod ").and_then(|m| m.strip_suffix(';')).map(str::to_owned)
        })
        .collect();
    let here: Vec<String> = if is_parent { module.to_vec() } else { module[..module.len() - 1].to_vec() };
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let word_at = |i: usize| {
        let end = code[i..].find(|c: char| !(c.is_alphanumeric() || c == '_')).map_or(code.len(), |n| i + n);
        &code[i..end]
    };
    let mut i = 0;
    while i < code.len() {
        let starts_word =
            i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_' || bytes[i - 1] == b':');
        let word =
            if starts_word && (bytes[i].is_ascii_alphabetic() || bytes[i] == b'_') { word_at(i) } else { "" };
        let base: Option<Vec<String>> = match word {
            "crate" => Some(Vec::new()),
            "super" => Some(module[..module.len() - 1].to_vec()),
            "self" => Some(module.to_vec()),
            w if children.contains(w) => Some(here.iter().cloned().chain([w.to_owned()]).collect()),
            _ => None,
        };
        let Some(mut path) = base else {
            i += word.len().max(1);
            continue;
        };
        let mut j = i + word.len();
        // `crate::a::b`, then an optional `::{x, y::z}` group.
        while code[j..].starts_with("::") {
            let next = &code[j + 2..];
            if next.starts_with('{') {
                let close = next.find('}').map_or(next.len(), |n| n);
                for item in next[1..close].split(',') {
                    let item: Vec<String> = item
                        .split(" as ")
                        .next()
                        .unwrap_or_default()
                        .split("::")
                        .map(|s| s.trim().trim_start_matches('{').to_owned())
                        .filter(|s| !s.is_empty() && s != "self")
                        .collect();
                    out.push(path.iter().cloned().chain(item).collect());
                }
                j += 2 + close;
                path.clear();
                break;
            }
            let segment = word_at(j + 2);
            if segment.is_empty() {
                break;
            }
            if segment == "super" {
                path.pop();
            } else {
                path.push(segment.to_owned());
            }
            j += 2 + segment.len();
        }
        // A bare name (`mod ahead;`, `crate` in a doc) is not a path.
        if j > i + word.len() && !path.is_empty() {
            out.push(path);
        }
        i = j.max(i + 1);
    }
    out
}

/// File arrows: `from → to`, by file path.
fn arrows() -> BTreeSet<(String, String)> {
    let files = sources();
    let mut out = BTreeSet::new();
    for (module, (rel, text)) in &files {
        let is_parent = rel.ends_with("mod.rs") || rel == "lib.rs" || rel == "main.rs";
        for path in paths(module, is_parent, &code(text)) {
            // The longest prefix of the path that is a file.
            let target = (1..=path.len()).rev().find_map(|n| files.get(&path[..n]));
            if let Some((to, _)) = target {
                if to != rel {
                    out.insert((rel.clone(), to.clone()));
                }
            }
        }
    }
    out
}

#[test]
fn no_source_file_imports_one_that_imports_it_back() {
    let arrows = arrows();
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (a, b) in &arrows {
        next.entry(a.as_str()).or_default().push(b.as_str());
    }
    // A depth-first walk from every file; a file met again on the current path closes a circle.
    fn visit<'a>(
        file: &'a str,
        next: &BTreeMap<&'a str, Vec<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|f| *f == file) {
            return Some(path[at..].iter().chain([&file]).map(|f| f.to_string()).collect());
        }
        if !done.insert(file) {
            return None;
        }
        path.push(file);
        for to in next.get(file).into_iter().flatten() {
            if let Some(circle) = visit(to, next, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for file in next.keys() {
        if let Some(circle) = visit(file, &next, &mut Vec::new(), &mut done) {
            panic!("an import circle: {}", circle.join(" → "));
        }
    }
    assert!(arrows.len() > 200, "the scan finds the imports ({} arrows)", arrows.len());
}

#[test]
fn the_lower_floors_never_import_the_command_line() {
    let upper = ["cli.rs", "cli/", "commands/", "settings.rs", "jobs.rs", "runner.rs"];
    let lower = ["store/", "batch.rs", "transform/", "extract/", "load/", "monitor/"];
    let wrong: Vec<String> = arrows()
        .into_iter()
        .filter(|(a, b)| lower.iter().any(|l| a.starts_with(l)) && upper.iter().any(|u| b.starts_with(u)))
        .map(|(a, b)| format!("{a} → {b}"))
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
}
