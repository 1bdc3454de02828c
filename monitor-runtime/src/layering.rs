//! Keeps the layering true: every module that says what it may call (a `// May call:`
//! sentence in a folder's `mod.rs`, or at the top of a file at the crate root) is read
//! against the `crate::` paths its files name. A path into a module not on the list fails
//! the test, naming the file, the line and the contract. See ARCHITECTURE.md.
//!
//! Only `crate::` paths are checked (`super::` stays inside the folder, or names a module
//! the folder owns); comments and doc comments are skipped.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// One module's contract: what it may call besides itself.
#[derive(Debug)]
struct Contract {
    /// The module, as a path from the crate root (`record`, `entry`).
    module: String,
    /// The file the sentence is in.
    file: PathBuf,
    /// Module paths it may name (`capture`, `record::tracer`).
    may_call: Vec<String>,
}

/// A `crate::` path named by a file, outside comments.
#[derive(Debug)]
struct Reference {
    file: PathBuf,
    line: usize,
    path: String,
}

/// `path` as shown in a failure: from `src/`.
fn shown(path: &Path) -> String {
    let relative = path.strip_prefix(source_root()).unwrap_or(path);
    format!("src/{}", relative.display())
}

fn source_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).expect("read a source folder") {
            let path = entry.expect("read a folder entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The module path of a file or folder under `src/`: `record/mod.rs` is `record`,
/// `record/tracer.rs` is `record::tracer`.
fn module_of(file: &Path) -> String {
    let relative = file.strip_prefix(source_root()).expect("a file under src/");
    let mut parts: Vec<String> = relative
        .iter()
        .map(|part| part.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if parts.last().is_some_and(|last| last == "mod") {
        parts.pop();
    }
    parts.join("::")
}

/// Whether `module` names a module of this crate (a file or a folder).
fn module_exists(module: &str) -> bool {
    let path = source_root().join(module.replace("::", "/"));
    path.with_extension("rs").is_file() || path.join("mod.rs").is_file()
}

/// The sentence after `May call:` in the leading comments of `text`, up to the first line
/// that ends with a period.
fn may_call_sentence(text: &str) -> Option<String> {
    let mut sentence = String::new();
    let mut in_sentence = false;
    for line in text.lines() {
        let Some(comment) = line.trim_start().strip_prefix("//") else {
            continue;
        };
        let comment = comment.trim_start_matches(['/', '!']).trim();
        if !in_sentence {
            let Some(start) = comment.find("May call:") else {
                continue;
            };
            in_sentence = true;
            sentence.push_str(&comment[start + "May call:".len()..]);
        } else {
            sentence.push(' ');
            sentence.push_str(comment);
        }
        if comment.ends_with('.') {
            return Some(sentence);
        }
    }
    in_sentence.then_some(sentence)
}

/// The module paths in backticks in `sentence` (lowercase paths only: `ErrorInfo` in
/// `entry` (`ErrorInfo`) names an item, not a module).
fn backticked_modules(sentence: &str) -> Vec<String> {
    sentence
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|name| {
            name.trim_end_matches('/')
                .trim_end_matches("::*")
                .to_owned()
        })
        .filter(|name| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == ':')
        })
        .collect()
}

fn contracts() -> Vec<Contract> {
    rust_files(&source_root())
        .into_iter()
        // A folder's `mod.rs`, or a file at the crate root.
        .filter(|file| !module_of(file).contains("::"))
        .filter_map(|file| {
            let text = fs::read_to_string(&file).expect("read a source file");
            let sentence = may_call_sentence(&text)?;
            Some(Contract {
                module: module_of(&file),
                may_call: backticked_modules(&sentence),
                file,
            })
        })
        .collect()
}

/// `text` without comments: `//` to the end of the line, outside string literals.
fn without_comments(line: &str) -> &str {
    let bytes = line.as_bytes();
    let (mut in_string, mut escaped) = (false, false);
    for i in 0..bytes.len() {
        match bytes[i] {
            _ if escaped => escaped = false,
            b'\\' if in_string => escaped = true,
            b'"' => in_string = !in_string,
            b'/' if !in_string && bytes.get(i + 1) == Some(&b'/') => return &line[..i],
            _ => {}
        }
    }
    line
}

/// The paths a `use`-tree names after `crate::`: `{a::b, c::{d, e}}` gives `a::b`,
/// `c::d`, `c::e`. `tree` starts right after `crate::`.
fn expand_tree(prefix: &str, tree: &str, into: &mut Vec<String>) {
    let tree = tree.trim();
    if let Some(inner) = tree.strip_prefix('{') {
        let inner = inner.strip_suffix('}').unwrap_or(inner);
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand_tree(prefix, &inner[start..i], into);
                    start = i + 1;
                }
                _ => {}
            }
        }
        expand_tree(prefix, &inner[start..], into);
        return;
    }
    if tree.is_empty() {
        return;
    }
    if let Some(split) = tree.find("::{") {
        let head = &tree[..split];
        let joined = join(prefix, head);
        expand_tree(&joined, &tree[split + 2..], into);
    } else {
        let path: String = tree
            .split(" as ")
            .next()
            .unwrap_or(tree)
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        into.push(join(prefix, path.trim_end_matches(':')));
    }
}

fn join(prefix: &str, rest: &str) -> String {
    match (prefix.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_owned(),
        (_, true) => prefix.to_owned(),
        _ => format!("{prefix}::{rest}"),
    }
}

/// Every `crate::` path `file` names outside comments, with its line. A `use crate::{..}`
/// over several lines is read whole.
fn references(file: &Path) -> Vec<Reference> {
    let text = fs::read_to_string(file).expect("read a source file");
    let lines: Vec<&str> = text.lines().map(without_comments).collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            // `$crate::` belongs to a macro's caller; a longer identifier is not `crate`.
            let before = rest[..at].chars().last();
            rest = &rest[at + "crate::".len()..];
            if before.is_some_and(|c| c == '$' || c.is_alphanumeric() || c == '_') {
                continue;
            }
            let mut tree = rest.to_owned();
            let mut end = i;
            if tree.starts_with('{') {
                // Read on until the braces close.
                while tree.matches('{').count() > tree.matches('}').count() && end + 1 < lines.len()
                {
                    end += 1;
                    tree.push_str(lines[end]);
                }
                let close = closing_brace(&tree);
                tree.truncate(close + 1);
            } else {
                let stop = tree
                    .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':' || c == '{'))
                    .unwrap_or(tree.len());
                if tree[..stop].contains("::{") {
                    let open = tree.find("::{").expect("checked");
                    while tree.matches('{').count() > tree.matches('}').count()
                        && end + 1 < lines.len()
                    {
                        end += 1;
                        tree.push_str(lines[end]);
                    }
                    let close = closing_brace(&tree[open..]) + open;
                    tree.truncate(close + 1);
                } else {
                    tree.truncate(stop);
                }
            }
            let mut paths = Vec::new();
            expand_tree("", &tree, &mut paths);
            for path in paths {
                found.push(Reference {
                    file: file.to_path_buf(),
                    line: i + 1,
                    path,
                });
            }
        }
        i += 1;
    }
    found
}

/// The index of the brace that closes the first `{` of `text`.
fn closing_brace(text: &str) -> usize {
    let mut depth = 0;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    text.len().saturating_sub(1)
}

/// What the crate root re-exports, by name, and the module each comes from: a path
/// `crate::ExecutionTracer` names `record::tracer`.
fn root_exports() -> Vec<(String, String)> {
    let lib = source_root().join("lib.rs");
    let mut exports = Vec::new();
    for reference in references(&lib) {
        let Some((module, name)) = reference.path.rsplit_once("::") else {
            continue;
        };
        exports.push((name.to_owned(), module.to_owned()));
    }
    exports
}

/// The module a path names: the crate root's re-exports are followed to where they live.
fn resolve(path: &str, exports: &[(String, String)]) -> String {
    let first = path.split("::").next().unwrap_or(path);
    match exports.iter().find(|(name, _)| name == first) {
        Some((_, module)) if !module_exists(first) => {
            let rest = path.strip_prefix(first).unwrap_or("");
            format!("{module}{rest}")
        }
        _ => path.to_owned(),
    }
}

/// Whether `path` lies in `module` (itself or under it).
fn within(path: &str, module: &str) -> bool {
    path == module || path.starts_with(&format!("{module}::"))
}

/// What breaks the contracts: one line per path a module may not name.
fn violations() -> Vec<String> {
    let exports = root_exports();
    let mut broken = Vec::new();
    for contract in contracts() {
        for name in &contract.may_call {
            if !module_exists(name) {
                broken.push(format!(
                    "{}: the contract of `{}` names `{name}`, which is not a module",
                    shown(&contract.file),
                    contract.module
                ));
            }
        }
        let files: Vec<PathBuf> = if contract.file.ends_with("mod.rs") {
            rust_files(contract.file.parent().expect("a folder"))
        } else {
            vec![contract.file.clone()]
        };
        for file in files {
            for reference in references(&file) {
                let target = resolve(&reference.path, &exports);
                let allowed = within(&target, &contract.module)
                    || contract.may_call.iter().any(|name| within(&target, name));
                if !allowed {
                    broken.push(format!(
                        "{}:{}: `crate::{}` (in `{}`) is not on the May call list of `{}` ({})",
                        shown(&reference.file),
                        reference.line,
                        reference.path,
                        target,
                        contract.module,
                        shown(&contract.file),
                    ));
                }
            }
        }
    }
    broken
}

#[test]
fn every_module_calls_only_what_its_contract_allows() {
    let broken = violations();
    assert!(
        broken.is_empty(),
        "{} paths break the layering:\n{}",
        broken.len(),
        broken.join("\n")
    );
}

#[test]
fn every_folder_and_root_module_has_a_contract() {
    let with_contract: BTreeSet<String> = contracts().into_iter().map(|c| c.module).collect();
    let exempt = ["lib", "__private", "layering"];
    let missing: Vec<String> = rust_files(&source_root())
        .iter()
        .map(|file| module_of(file))
        .filter(|module| !module.contains("::") && !exempt.contains(&module.as_str()))
        .filter(|module| !with_contract.contains(module))
        .collect();
    assert!(
        missing.is_empty(),
        "no `// May call:` sentence in {missing:?}"
    );
}

#[test]
fn the_reader_sees_paths_in_use_trees_and_code() {
    let mut paths = Vec::new();
    expand_tree("", "{a::b, c::{d, e as f}, g}", &mut paths);
    assert_eq!(paths, ["a::b", "c::d", "c::e", "g"]);
    assert_eq!(
        without_comments(r#"let x = "a // b"; // c"#),
        r#"let x = "a // b"; "#
    );
    assert_eq!(
        backticked_modules("`capture` (values), `entry` (`ErrorInfo`) and `record::tracer`."),
        ["capture", "entry", "record::tracer"]
    );
}

/// The file a module path lives in, if it is a module of this crate.
fn file_of(root: &Path, module: &str) -> Option<PathBuf> {
    let path = root.join(module.replace("::", "/"));
    let file = path.with_extension("rs");
    if file.is_file() {
        return Some(file);
    }
    let folder = path.join("mod.rs");
    folder.is_file().then_some(folder)
}

/// The module of this crate (the longest prefix that is one) a path names, from a file
/// whose module is `from`: `crate::`, `super::` and `self::` paths. `None` for other crates.
fn module_named(root: &Path, from: &str, path: &str) -> Option<String> {
    let mut base: Vec<&str> = if from.is_empty() {
        Vec::new()
    } else {
        from.split("::").collect()
    };
    let mut rest = path;
    if let Some(after) = rest.strip_prefix("crate::") {
        base.clear();
        rest = after;
    } else if rest.starts_with("super::") {
        while let Some(after) = rest.strip_prefix("super::") {
            base.pop()?;
            rest = after;
        }
    } else if let Some(after) = rest.strip_prefix("self::") {
        rest = after;
    } else {
        return None;
    }
    let mut best = None;
    let mut module: Vec<&str> = base.clone();
    if !module.is_empty() && file_of(root, &module.join("::")).is_some() {
        best = Some(module.join("::"));
    }
    for segment in rest.split("::") {
        module.push(segment);
        if file_of(root, &module.join("::")).is_some() {
            best = Some(module.join("::"));
        }
    }
    best
}

/// Every `crate::`, `super::` and `self::` path of `text` outside comments and the test
/// module at its end, as written (use trees expanded).
fn module_paths(text: &str) -> Vec<String> {
    let code = text
        .split("#[cfg(test)]\nmod tests {")
        .next()
        .unwrap_or(text);
    let lines: Vec<&str> = code.lines().map(without_comments).collect();
    let joined = lines.join("\n");
    let mut paths = Vec::new();
    for prefix in ["crate::", "super::", "self::"] {
        let mut rest = joined.as_str();
        while let Some(at) = rest.find(prefix) {
            let before = rest[..at].chars().last();
            let tail = &rest[at..];
            rest = &rest[at + prefix.len()..];
            if before.is_some_and(|c| c == '$' || c == ':' || c.is_alphanumeric() || c == '_') {
                continue;
            }
            // `super::super::x` is read whole from its first `super`.
            let start = tail.trim_start_matches(prefix);
            let (lead, start) = if prefix == "super::" {
                let ups = tail.len() - start.len();
                let mut lead = tail[..ups].to_owned();
                let mut start = start;
                while let Some(after) = start.strip_prefix("super::") {
                    lead.push_str("super::");
                    start = after;
                }
                (lead, start)
            } else {
                (prefix.to_owned(), start)
            };
            let end = if start.starts_with('{')
                || start.contains("::{")
                    && start.find("::{")
                        < start.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            {
                let open = start.find('{').expect("a brace");
                open + closing_brace(&start[open..]) + 1
            } else {
                start
                    .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                    .unwrap_or(start.len())
            };
            let mut expanded = Vec::new();
            expand_tree("", &start[..end], &mut expanded);
            paths.extend(expanded.into_iter().map(|path| format!("{lead}{path}")));
        }
    }
    paths
}

/// Whether one module is the other or contains it (a folder and its files).
fn related(a: &str, b: &str) -> bool {
    within(a, b) || within(b, a)
}

/// The circles between files of the crate under `root`: each a list of modules where each
/// names the next and the last names the first. A folder and its own files are not a
/// circle (a `mod.rs` declares its files, which use what it defines).
fn circles(root: &Path) -> Vec<Vec<String>> {
    let mut edges: std::collections::BTreeMap<String, BTreeSet<String>> = Default::default();
    for file in rust_files(root) {
        let relative = file.strip_prefix(root).expect("under the root");
        let mut parts: Vec<String> = relative
            .iter()
            .map(|part| part.to_string_lossy().trim_end_matches(".rs").to_owned())
            .collect();
        if parts
            .last()
            .is_some_and(|last| last == "mod" || last == "lib")
        {
            parts.pop();
        }
        let from = parts.join("::");
        let text = fs::read_to_string(&file).expect("read a source file");
        for path in module_paths(&text) {
            if let Some(to) = module_named(root, &from, &path) {
                if !related(&from, &to) {
                    edges.entry(from.clone()).or_default().insert(to);
                }
            }
        }
    }
    // A depth-first search from each module, keeping each circle once (from its least
    // module).
    let mut found = BTreeSet::new();
    for start in edges.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        while let Some((at, path)) = stack.pop() {
            for next in edges.get(&at).into_iter().flatten() {
                if next == start {
                    found.insert(path.clone());
                } else if next > start && !path.contains(next) && path.len() < 6 {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    found.into_iter().collect()
}

#[test]
fn no_two_files_call_each_other() {
    let macros = Path::new(env!("CARGO_MANIFEST_DIR")).join("../monitor-macros/src");
    for root in [source_root(), macros] {
        let circles = circles(&root);
        assert!(
            circles.is_empty(),
            "files in {} that call each other (move what they share to a file below both):\n{}",
            root.display(),
            circles
                .iter()
                .map(|circle| format!("{} -> {}", circle.join(" -> "), circle[0]))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
