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
