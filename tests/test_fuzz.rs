//! Property tests (proptest; cargo-fuzz needs a nightly toolchain this
//! machine cannot fetch): the plan parser and validator never panic on any
//! input, never accept a ref-unsafe id or a glob escaping the repository,
//! and the overlap checker never misses a shared path (escapes included). Plus the CLI end to
//! end on random bytes: no panic, no ref written.

use git_agents::plan::globs::{candidate_pairs, may_overlap, names_folders, normalize, Matcher};
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
        a in "(a|b|\\*|\\*\\*|\\?|\\{a,b\\}|\\[ab\\]|a\\*)(/(a|b|ab|\\*|\\*\\*|\\?|\\{a,b\\}|\\[ab\\]|\\*\\.ab|a\\.ab)){0,3}",
        b in "(a|b|\\*|\\*\\*|\\?|\\{a,b\\}|\\[ab\\]|a\\*)(/(a|b|ab|\\*|\\*\\*|\\?|\\{a,b\\}|\\[ab\\]|\\*\\.ab|a\\.ab)){0,3}",
        path in "(a|b|ab|ba|a\\.ab)(/(a|b|ab|ba|a\\.ab)){0,4}",
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

    /// The same on globs with escapes and with every class and alternative
    /// form globset reads specially, against paths holding the characters
    /// those escapes stand for.
    #[test]
    fn overlap_is_never_missed_with_escapes(a in escaped_glob(), b in escaped_glob(), path in escaped_path()) {
        let (Ok(ga), Ok(gb)) = (normalize(&a), normalize(&b)) else { return Ok(()) };
        let m = Matcher::new(&[vec![ga.clone()], vec![gb.clone()]]);
        let mut hit = [false, false];
        m.for_each_match(&path, &mut Vec::new(), |t, _| hit[t] = true);
        if hit[0] && hit[1] {
            prop_assert!(may_overlap(&ga, &gb), "{a:?} ({}) and {b:?} ({}) both match {path:?}", ga.0, gb.0);
            let pairs = candidate_pairs(&[vec![ga.clone()], vec![gb.clone()]]);
            prop_assert!(pairs.get(&(0, 1)).is_some_and(|p| p.contains(&(0, 0))), "{a:?} vs {b:?}");
        }
    }

    /// Dropping escapes changes nothing globset matches: the normal form of
    /// a glob owns exactly the paths its text does. (A text with an empty
    /// component, `a//b` or `a/\/b`, owns no path git can have; its normal
    /// form is written without it, as it always was.)
    #[test]
    fn the_normal_form_owns_what_the_text_owns(raw in escaped_glob(), path in escaped_path()) {
        prop_assume!(!raw.replace("\\/", "/").contains("//"));
        let Ok(normal) = normalize(&raw) else { return Ok(()) };
        let m = Matcher::new(&[vec![normal.clone()]]);
        let mut normal_hit = false;
        m.for_each_match(&path, &mut Vec::new(), |_, _| normal_hit = true);
        prop_assert_eq!(raw_matches(&raw, &path), normal_hit, "{:?} (normal form {:?}) on {:?}", raw, normal.0, path);
    }
}

/// Pieces of globs: escapes of special and of literal characters (`\/`
/// among them), classes with `]` first, a negation, a backslash or a POSIX
/// name, nested alternatives with escaped commas and `**` inside.
const GLOB_PIECES: &[&str] = &[
    "a",
    "b",
    "ab",
    "*",
    "**",
    "?",
    "a*",
    r"\*",
    r"\?",
    r"\[",
    r"\{",
    r"\}",
    r"\,",
    r"\\",
    r"\a",
    r"a\/b",
    r"\/a",
    r"\]",
    "[ab]",
    "[!a]",
    "[]a]",
    "[*]",
    r"[\]",
    "[[:alpha:]]",
    "[?{]",
    r"{a,\*}",
    "{a,b/a}",
    r"{a,{b,\,}}",
    "{**/a,b}",
    "a{**/b,a}",
    r"a\**",
    r"\**",
    "{,a}",
    "[a-]",
    r"**\/a",
    r"a**\/b",
    // Globs that pick files by extension, which name no folder, escaped or not.
    "*.ab",
    "[ab].b",
    r"*.a\b",
    r"a\*.ab",
    "a.ab",
];

/// Path components made of the characters the escapes stand for.
const PATH_PIECES: &[&str] = &[
    "a", "b", "ab", "ba", "*", "?", "[", "{", "}", ",", r"\", "]", "a*", "{b", "-", "bab", "a.ab", "b.b", "*.ab",
];

fn escaped_glob() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(GLOB_PIECES), 1..4).prop_map(|parts| parts.join("/"))
}

fn escaped_path() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PATH_PIECES), 1..5).prop_map(|parts| parts.join("/"))
}

/// What globset matches on the glob text as written, with the same options
/// and the same "a directory owns what is under it" rule as the matcher.
fn raw_matches(raw: &str, path: &str) -> bool {
    let build = |glob: &str| {
        globset::GlobBuilder::new(glob)
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .map(|g| g.compile_matcher().is_match(path))
            .unwrap_or(false)
    };
    if raw.ends_with("/**") || raw == "**" || !names_folders(raw) {
        return build(raw);
    }
    build(raw) || build(&format!("{raw}/**"))
}

/// The escaped generators are worth their cases: they find many pairs that
/// share a path, and `may_overlap` reports each.
#[test]
fn escaped_globs_often_share_paths_and_every_one_is_reported() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (globs, paths) = (escaped_glob(), escaped_path());
    let mut shared = 0;
    for _ in 0..4000 {
        let a = globs.new_tree(&mut runner).expect("glob").current();
        let b = globs.new_tree(&mut runner).expect("glob").current();
        let (Ok(ga), Ok(gb)) = (normalize(&a), normalize(&b)) else {
            continue;
        };
        let m = Matcher::new(&[vec![ga.clone()], vec![gb.clone()]]);
        for _ in 0..20 {
            let path = paths.new_tree(&mut runner).expect("path").current();
            let mut hit = [false, false];
            m.for_each_match(&path, &mut Vec::new(), |t, _| hit[t] = true);
            if hit[0] && hit[1] {
                shared += 1;
                assert!(may_overlap(&ga, &gb), "{a:?} and {b:?} both match {path:?}");
            }
        }
    }
    assert!(shared > 150, "the generators rarely find a shared path ({shared})");
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
        assert!(matches!(out.code, 2 | 6), "case {case}: {text:?}\n{out}");
        assert!(!out.stderr.contains("panicked"), "case {case}: {out}");
        assert_eq!(
            env.refs(&repo),
            before,
            "case {case}: plan without --yes writes nothing"
        );
    }
}
