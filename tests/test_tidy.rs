//! Rules the code keeps without anyone remembering them: every module says
//! what it is for, no debugging leftovers, no test left out of the runner.

use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn rust_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    files(&root.join("src"), &mut out);
    files(&root.join("tests"), &mut out);
    out
}

#[test]
fn every_module_starts_with_a_doc_line() {
    for path in rust_files() {
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(
            text.starts_with("//! "),
            "{} must start with a `//!` line saying what it is for",
            path.display()
        );
    }
}

#[test]
fn no_debugging_leftovers() {
    // Spelled in pieces so this file does not trip its own check.
    let banned = [concat!("db", "g!("), concat!("to", "do!("), concat!("#[ig", "nore")];
    for path in rust_files() {
        let text = std::fs::read_to_string(&path).expect("read");
        for word in banned {
            assert!(!text.contains(word), "{} contains {word}", path.display());
        }
    }
}

#[test]
fn every_test_module_is_in_the_runner() {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let runner = std::fs::read_to_string(tests.join("runner.rs")).expect("runner");
    for entry in std::fs::read_dir(&tests).expect("tests dir") {
        let path = entry.expect("entry").path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if path.extension().is_some_and(|e| e == "rs") && stem != "runner" {
            assert!(
                runner.contains(&format!("mod {stem};")),
                "tests/{stem}.rs is not listed in tests/runner.rs"
            );
        }
    }
}

/// Every file under src/, with its path relative to src/ (`state/remote.rs`).
fn library_files() -> Vec<(String, PathBuf)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    files(&src, &mut paths);
    paths
        .into_iter()
        .map(|path| {
            let rel = path
                .strip_prefix(&src)
                .expect("under src")
                .to_string_lossy()
                .replace('\\', "/");
            (rel, path)
        })
        .collect()
}

/// The library's files as modules: `src/state/remote.rs` is `state::remote`,
/// `src/state/mod.rs` is `state`, `src/lib.rs` the crate root (""). The
/// binary's `main.rs` only calls the library and is left out.
fn library_modules() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (rel, path) in library_files() {
        if rel == "main.rs" {
            continue;
        }
        let mut parts: Vec<&str> = rel.trim_end_matches(".rs").split('/').collect();
        if matches!(parts.last(), Some(&"mod") | Some(&"lib")) {
            parts.pop();
        }
        let text = std::fs::read_to_string(&path).expect("read");
        out.push((parts.join("::"), without_tests_and_comments(&text)));
    }
    out
}

/// Source without `#[cfg(test)]` modules and comment lines: a test may
/// reach anywhere, and a doc link is not an import.
fn without_tests_and_comments(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]" {
            let mut depth = 0i32;
            let mut opened = false;
            for inner in lines.by_ref() {
                depth += inner.matches('{').count() as i32 - inner.matches('}').count() as i32;
                opened |= inner.contains('{');
                if opened && depth <= 0 || !opened && inner.trim_end().ends_with(';') {
                    break;
                }
            }
            continue;
        }
        if !line.trim_start().starts_with("//") {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The paths of a use tree starting at `text` (`a::b`, `a::{b, c::d}`),
/// each as far as its module segments go (lowercase ones).
fn use_tree_paths(text: &str) -> Vec<String> {
    let segment = |s: &str| {
        let n = s
            .char_indices()
            .find(|&(i, c)| !(c.is_ascii_lowercase() || c == '_' || i > 0 && c.is_ascii_digit()))
            .map_or(s.len(), |(i, _)| i);
        n
    };
    let mut prefix: Vec<&str> = Vec::new();
    let mut rest = text;
    loop {
        let n = segment(rest);
        if n == 0 {
            break;
        }
        prefix.push(&rest[..n]);
        rest = &rest[n..];
        match rest.strip_prefix("::") {
            Some(after) => rest = after,
            None => return vec![prefix.join("::")],
        }
    }
    let Some(group) = rest.strip_prefix('{') else {
        return vec![prefix.join("::")];
    };
    let (mut depth, mut start, mut items) = (1, 0, Vec::new());
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' | ',' if depth == 1 => {
                items.push(&group[start..i]);
                start = i + 1;
                if c == '}' {
                    break;
                }
            }
            '}' => depth -= 1,
            _ => {}
        }
    }
    let joined = |p: String| match prefix.is_empty() {
        true => p,
        false => format!("{}::{p}", prefix.join("::")),
    };
    items
        .into_iter()
        .map(str::trim)
        .filter(|i| !i.is_empty() && *i != "self")
        .flat_map(use_tree_paths)
        .map(joined)
        .chain(std::iter::once(prefix.join("::")))
        .collect()
}

/// Which library modules each module uses: through `crate::`, `super::`
/// and its own child modules. A module using its own parent (the folder's
/// shared items, `super::X` from `state::remote`) is not counted: a
/// folder is one unit to the rest of the crate.
fn module_imports() -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let modules = library_modules();
    let known: std::collections::BTreeSet<&str> = modules.iter().map(|(m, _)| m.as_str()).collect();
    // The deepest module a path lies in.
    let owner = |path: &str| -> Option<String> {
        let segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
        (0..=segments.len())
            .rev()
            .map(|n| segments[..n].join("::"))
            .find(|m| known.contains(m.as_str()))
    };
    let mut graph = std::collections::BTreeMap::new();
    for (module, text) in &modules {
        let parent = module.rsplit_once("::").map_or("", |(p, _)| p);
        let mut uses = std::collections::BTreeSet::new();
        let mut after = |marker: &str, base: &str| {
            for (i, _) in text.match_indices(marker) {
                let before = text[..i].chars().last();
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    continue;
                }
                for path in use_tree_paths(&text[i + marker.len()..]) {
                    let full = if base.is_empty() {
                        path
                    } else {
                        format!("{base}::{path}")
                    };
                    uses.extend(owner(&full));
                }
            }
        };
        after("crate::", "");
        after("super::", parent);
        after("self::", module);
        for line in text.lines() {
            let line = without_visibility(line.trim_start());
            if let Some(child) = line.strip_prefix("mod ").and_then(|c| c.strip_suffix(';')) {
                if text.contains(&format!("{child}::")) {
                    uses.insert(if module.is_empty() {
                        child.to_string()
                    } else {
                        format!("{module}::{child}")
                    });
                }
            }
        }
        let own_ancestors = |u: &String| u.is_empty() || module.starts_with(&format!("{u}::")) || u == module;
        uses.retain(|u| !own_ancestors(u));
        graph.insert(module.clone(), uses);
    }
    graph
}

#[test]
fn modules_only_point_down() {
    let graph = module_imports();
    // A cycle exists when some module reaches itself again.
    let mut cycles = Vec::new();
    for start in graph.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = std::collections::BTreeSet::new();
        while let Some((at, path)) = stack.pop() {
            for next in graph.get(&at).into_iter().flatten() {
                if next == start {
                    let mut cycle = path.clone();
                    cycle.push(start.clone());
                    cycles.push(cycle.join(" -> "));
                } else if seen.insert(next.clone()) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    // One line per circle, whichever module it was found from.
    cycles.sort_by_key(|c| {
        let mut members: Vec<&str> = c.split(" -> ").collect();
        members.sort_unstable();
        members.dedup();
        (members.join(" "), c.len())
    });
    cycles.dedup_by_key(|c| {
        let mut members: Vec<String> = c.split(" -> ").map(String::from).collect();
        members.sort_unstable();
        members.dedup();
        members
    });
    assert!(
        cycles.is_empty(),
        "modules import each other in a circle; move what both need into a module below them:\n{}",
        cycles.join("\n")
    );
}

/// `line` without a leading `pub`, `pub(crate)`, `pub(super)` ….
fn without_visibility(line: &str) -> &str {
    match line.strip_prefix("pub") {
        Some(rest) if rest.starts_with(' ') => rest.trim_start(),
        Some(rest) if rest.starts_with('(') => rest.split_once(") ").map_or(line, |(_, r)| r),
        _ => line,
    }
}

/// `(file, name)` of each `static` that holds state (an atomic, a lock, a
/// cell), outside tests.
fn stateful_statics() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (rel, path) in library_files() {
        let text = without_tests_and_comments(&std::fs::read_to_string(&path).expect("read"));
        for line in text.lines() {
            let Some(decl) = without_visibility(line.trim_start()).strip_prefix("static ") else {
                continue;
            };
            let (name, ty) = decl.split_once(':').unwrap_or((decl, ""));
            if ["Atomic", "Mutex", "RwLock", "OnceLock", "Cell"]
                .iter()
                .any(|t| ty.contains(t))
            {
                out.push((rel.clone(), name.trim().to_string()));
            }
        }
    }
    out.sort();
    out
}

/// Flags a signal handler sets: a handler can reach nothing but statics
/// (and `ctrlc` takes one handler per process, which `demo` shares
/// between its two in-process spawns).
const SIGNAL_FLAGS: &[(&str, &str)] = &[
    ("commands/spawn.rs", "CANCEL"),
    ("commands/status/watch.rs", "QUIT"),
    ("keeper.rs", "STOP"),
];

#[test]
fn no_new_static_holds_state() {
    let new: Vec<String> = stateful_statics()
        .iter()
        .filter(|(f, n)| !SIGNAL_FLAGS.contains(&(f.as_str(), n.as_str())))
        .map(|(f, n)| format!("src/{f}: static {n}"))
        .collect();
    assert!(
        new.is_empty(),
        "a static holds state; pass it down as a value (the session, its store) instead:\n{}",
        new.join("\n")
    );
}

/// `(file, name, lines)` of every function in src/ longer than `limit`
/// lines, counted from its `fn` line to its closing brace (rustfmt puts
/// that brace alone at the `fn` line's indentation).
fn long_functions(limit: usize) -> Vec<(String, String, usize)> {
    let mut out = Vec::new();
    for (rel, path) in library_files() {
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let indent = &line[..line.len() - line.trim_start().len()];
            let mut rest = without_visibility(line.trim_start());
            for word in ["const ", "unsafe ", "extern \"C\" "] {
                rest = rest.strip_prefix(word).unwrap_or(rest);
            }
            let Some(name) = rest.strip_prefix("fn ") else {
                continue;
            };
            if line.trim_end().ends_with(';') {
                continue;
            }
            let name: String = name.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            let close = format!("{indent}}}");
            if let Some(end) = lines[i + 1..].iter().position(|l| *l == close) {
                if end + 2 > limit {
                    out.push((rel.clone(), name, end + 2));
                }
            }
        }
    }
    out.sort();
    out
}

#[test]
fn no_function_over_80_lines() {
    let problems: Vec<String> = long_functions(80)
        .iter()
        .map(|(file, name, lines)| format!("src/{file}: fn {name} has {lines} lines; split it into named steps"))
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
