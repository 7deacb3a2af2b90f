//! Property tests (proptest; cargo-fuzz needs a nightly toolchain this
//! machine cannot fetch): the plan parser and validator never panic on any
//! input, never accept a ref-unsafe id or a glob escaping the repository,
//! and the overlap checker never misses a shared path. Plus the CLI end to
//! end on random bytes: no panic, no ref written.

use git_agents::plan::globs::{candidate_pairs, may_overlap, normalize, Matcher};
use git_agents::plan::validate::{validate, Workspace};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

use crate::common::TestEnv;

/// A repository of a few tracked files, in memory.
struct Fake;

impl Workspace for Fake {
    fn current_branch(&self) -> Option<String> {
        Some("main".into())
    }
    fn tracked_files(&self, name: &str) -> git_agents::error::Result<Option<Vec<String>>> {
        Ok((name == "main").then(|| {
            ["src/a.rs", "src/b/c.rs", "docs/x.md", "README.md"]
                .map(String::from)
                .to_vec()
        }))
    }
    fn read_prompt(&self, path: &str) -> Result<String, String> {
        if path == "prompts/ok.md" {
            Ok("do it".into())
        } else {
            Err("no such file".into())
        }
    }
}

/// Pieces a hostile or careless plan is made of.
fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,8}",
        Just("..".to_string()),
        Just("a..b".to_string()),
        Just("x@{1}".to_string()),
        Just("-flag".to_string()),
        Just(".hidden".to_string()),
        Just("x.lock".to_string()),
        Just("a/b".to_string()),
        Just("with space".to_string()),
        Just("esc\u{1b}[2J".to_string()),
        Just("".to_string()),
        ".{0,12}",
    ]
}

fn glob() -> impl Strategy<Value = String> {
    prop_oneof![
        "(src|docs|a|b)(/(\\*|\\*\\*|[a-c]|x\\.rs|\\{a,b\\}|\\[ab\\]|\\?)){0,3}",
        Just("../outside/**".to_string()),
        Just("/etc/passwd".to_string()),
        Just(".git/hooks/*".to_string()),
        Just("src/../../x".to_string()),
        Just("**".to_string()),
        Just("[".to_string()),
        Just("{a,".to_string()),
        Just("".to_string()),
        ".{0,10}",
    ]
}

/// A TOML basic string holding `s` (TOML escapes control characters as \uXXXX).
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn plan_text() -> impl Strategy<Value = String> {
    let task = (
        id(),
        prop::collection::vec(glob(), 0..3),
        prop::collection::vec(id(), 0..2),
        any::<bool>(),
    );
    prop::collection::vec(task, 0..6).prop_map(|tasks| {
        let mut text = String::new();
        for (id, owns, deps, file) in tasks {
            let list = |v: &[String]| v.iter().map(|s| toml_string(s)).collect::<Vec<_>>().join(", ");
            text.push_str(&format!(
                "[[task]]\nid = {}\nowns = [{}]\ndepends_on = [{}]\n{}\n\n",
                toml_string(&id),
                list(&owns),
                list(&deps),
                if file {
                    "prompt_file = \"prompts/ok.md\""
                } else {
                    "prompt = \"x\""
                }
            ));
        }
        text
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = validate(&text, &Fake);
    }

    #[test]
    fn an_accepted_plan_has_only_safe_ids_and_globs(text in plan_text()) {
        if let Ok(Ok(checked)) = validate(&text, &Fake) {
            for task in &checked.plan.tasks {
                prop_assert!(git_agents::plan::ids::id_problem(&task.id).is_none(), "id {:?} accepted", task.id);
                for glob in &task.owns {
                    prop_assert!(!glob.starts_with('/') && !glob.split('/').any(|c| c == ".." || c == ".git"),
                        "glob {glob:?} accepted");
                }
            }
        }
    }

    /// Soundness: a concrete path that two globs both match is reported by
    /// `may_overlap`, and the pair is among `candidate_pairs`.
    #[test]
    fn overlap_is_never_missed(
        a in "(a|b|\\*|\\*\\*|\\?|\\{a,b\\}|\\[ab\\]|a\\*)(/(a|b|ab|\\*|\\*\\*|\\?|\\{a,b\\}|\\[ab\\])){0,3}",
        b in "(a|b|\\*|\\*\\*|\\?|\\{a,b\\}|\\[ab\\]|a\\*)(/(a|b|ab|\\*|\\*\\*|\\?|\\{a,b\\}|\\[ab\\])){0,3}",
        path in "(a|b|ab|ba)(/(a|b|ab|ba)){0,4}",
    ) {
        let (Ok(ga), Ok(gb)) = (normalize(&a), normalize(&b)) else { return Ok(()) };
        let m = Matcher::new(&[vec![ga.clone()], vec![gb.clone()]]);
        let mut hit = [false, false];
        m.for_each_match(&path, &mut Vec::new(), |t, _| hit[t] = true);
        if hit[0] && hit[1] {
            prop_assert!(may_overlap(&ga, &gb), "{} and {} both match {path}", ga.0, gb.0);
            let pairs = candidate_pairs(&[vec![ga.clone()], vec![gb.clone()]]);
            prop_assert!(pairs.get(&(0, 1)).is_some_and(|p| p.contains(&(0, 0))));
        }
    }
}

#[test]
fn the_cli_on_random_plan_files_never_panics_or_writes() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    let before = env.refs(&repo);
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = prop_oneof![
        plan_text(),
        prop::collection::vec(any::<u8>(), 0..300).prop_map(|b| String::from_utf8_lossy(&b).into_owned())
    ];
    for case in 0..40 {
        let text = strategy.new_tree(&mut runner).expect("case").current();
        std::fs::write(repo.join("agents.toml"), &text).expect("write");
        let out = env.run(&repo, &["plan"]);
        assert!(matches!(out.code, 0 | 2), "case {case}: {text:?}\n{out}");
        assert!(!out.stderr.contains("panicked"), "case {case}: {out}");
        assert_eq!(
            env.refs(&repo),
            before,
            "case {case}: plan without --yes writes nothing"
        );
    }
}
