//! `git agents plan`: what it reports for valid plans, in every format.

use crate::common::{fixture, TestEnv};

#[test]
fn concurrent_owners_of_one_file_are_refused_naming_the_file() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    std::fs::copy(fixture("invalid/overlap-tracked-file.toml"), repo.join("agents.toml")).expect("copy");
    let out = env.run(&repo, &["plan", "--yes"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("both own src/lib.rs"), "{out}");
}

#[test]
fn the_same_plan_ordered_is_accepted_in_two_waves() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    std::fs::copy(fixture("valid/two-waves.toml"), repo.join("agents.toml")).expect("copy");
    let out = env.run(&repo, &["plan", "--yes"]);
    insta::assert_snapshot!(out, @"
    2 tasks in 2 waves, base `main` (10 tracked files)

    wave 1
      auth  5 files  Implement auth

    wave 2
      lib    1 file  Export auth from the library  after auth

    1 task can run at once; the longest dependency chain has 2 tasks
    ------- stderr -------
    warning: the plan is effectively sequential: every wave holds one task, so only one agent can work at a time
    recorded plan f426946 in refs/agents/plan: 2 added, 0 changed, 0 dropped
    [exit status: 0]
    ");
}

#[test]
fn json_report() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    std::fs::copy(fixture("valid/diamond.toml"), repo.join("agents.toml")).expect("copy");
    let out = env.run(&repo, &["plan", "--json"]);
    assert_eq!(out.code, 6, "valid, not recorded: {out}");
    insta::assert_snapshot!(out.stdout);
}

#[test]
fn json_report_of_an_invalid_plan() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    std::fs::copy(fixture("invalid/cycle.toml"), repo.join("agents.toml")).expect("copy");
    let out = env.run(&repo, &["plan", "--json"]);
    assert_eq!(out.code, 2);
    insta::assert_snapshot!(out.stdout, @r#"
    {
      "file": "agents.toml",
      "valid": false,
      "problems": [
        {
          "line": 2,
          "column": 6,
          "message": "dependency cycle: a -> b -> a",
          "hint": "remove one of these depends_on entries; a cycle can never start"
        }
      ],
      "recorded": false
    }
    "#);
}

#[test]
fn dot_graph() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    std::fs::copy(fixture("valid/diamond.toml"), repo.join("agents.toml")).expect("copy");
    let out = env.run(&repo, &["plan", "--dot"]);
    insta::assert_snapshot!(out);
}

#[test]
fn without_yes_and_without_a_terminal_nothing_is_recorded_and_the_exit_code_says_so() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    std::fs::copy(fixture("valid/parallel.toml"), repo.join("agents.toml")).expect("copy");
    crate::common::write_files(&repo, &[("tasks/auth.md", "Build auth.\n")]);
    let before = env.refs(&repo);
    let out = env.run(&repo, &["plan"]);
    assert_eq!(out.code, 6, "valid but not recorded: {out}");
    assert!(
        out.stdout.starts_with("3 tasks in 1 wave"),
        "the check still shows: {out}"
    );
    assert!(out.stderr.contains("the plan is valid but was not recorded"), "{out}");
    assert!(out.stderr.contains("`git agents plan --yes`"), "{out}");
    assert_eq!(env.refs(&repo), before);

    let out = env.run(&repo, &["plan", "--json"]);
    assert_eq!(out.code, 6, "{out}");
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(json["valid"], true, "{out}");
    assert_eq!(json["recorded"], false, "{out}");
    assert_eq!(env.refs(&repo), before);

    // --dot only draws the graph: it never records, so it is no failure.
    env.run(&repo, &["plan", "--dot"]).success();

    let out = env.run(&repo, &["plan", "--json", "--yes"]);
    out.success();
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(json["recorded"], true, "{out}");
    let tip = env.git(&repo, &["rev-parse", "refs/agents/plan"]);
    assert_eq!(json["record"]["commit"], tip.trim(), "{out}");
    assert_eq!(json["record"]["added"].as_array().map(Vec::len), Some(3), "{out}");
}

#[test]
fn quiet_plan_yes_prints_nothing_but_records() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    // A plan with a warning (it is sequential): -q silences that too.
    std::fs::copy(fixture("valid/two-waves.toml"), repo.join("agents.toml")).expect("copy");
    let out = env.run(&repo, &["-q", "plan", "--yes"]);
    out.success();
    assert_eq!(out.stdout, "", "{out}");
    assert_eq!(out.stderr, "", "{out}");
    assert!(env.refs(&repo).contains("refs/agents/tasks/available/auth "));
    // Errors still show.
    std::fs::copy(fixture("invalid/cycle.toml"), repo.join("agents.toml")).expect("copy");
    let out = env.run(&repo, &["-q", "plan", "--yes"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("dependency cycle"), "{out}");
}

/// The issue's report: two globs clash on hundreds of files deep in one
/// folder. The report names the globs first, then a few shallow examples.
#[test]
fn a_clash_names_the_clashing_globs_then_a_few_shallow_examples() {
    let env = TestEnv::new();
    let mut files: Vec<(String, String)> = (0..40)
        .map(|i| {
            (
                format!("src/x/aaa/_external/deep/er/f{i:02}/LICENSE"),
                "l\n".to_string(),
            )
        })
        .collect();
    files.push(("src/x/mod.rs".into(), "\n".into()));
    files.push(("src/x/util.rs".into(), "\n".into()));
    files.push(("src/lib.rs".into(), "\n".into()));
    let borrowed: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    let repo = env.repo("repo", &borrowed);
    std::fs::write(
        repo.join("agents.toml"),
        "[[task]]\nid = \"a\"\nowns = [\"src/**\"]\nprompt = \"x\"\n\n\
         [[task]]\nid = \"b\"\nowns = [\"docs/**\", \"src/x\"]\nprompt = \"y\"\n",
    )
    .expect("plan");
    let before = env.refs(&repo);
    let out = env.run(&repo, &["plan", "--yes"]);
    assert_eq!(out.code, 2, "{out}");
    assert_eq!(env.refs(&repo), before);
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains("may run at the same time"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        line.contains("both own 42 tracked files: `src/**` of `a` and `src/x` of `b` share 42"),
        "{line}"
    );
    // The shallowest paths are the examples, not forty LICENSE files.
    assert!(line.contains("src/x/mod.rs, src/x/util.rs"), "{line}");
    assert_eq!(line.matches("LICENSE").count(), 1, "{line}");
    assert!(line.contains("(and 39 more)"), "{line}");
}

/// Globs that cannot name one path are accepted; the overlap check used to
/// read `src/*.rs` as owning a folder `src/x.rs/` too.
#[test]
fn globs_that_cannot_share_a_new_file_are_accepted() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    let two = |a: &str, b: &str| {
        format!("[[task]]\nid = \"one\"\nowns = [{a}]\nprompt = \"x\"\n\n[[task]]\nid = \"two\"\nowns = [{b}]\nprompt = \"y\"\n")
    };
    for (a, b) in [
        (r#""src/*.rs""#, r#""src/**/*.txt""#),
        (r#""gen/[ab].rs""#, r#""gen/c*""#),
        (r#""src/*.rs", "gen/[ab].rs""#, r#""src/**/*.txt", "gen/c*""#),
    ] {
        std::fs::write(repo.join("agents.toml"), two(a, b)).expect("plan");
        let out = env.run(&repo, &["plan"]);
        assert_eq!(out.code, 6, "{a} vs {b} is valid: {out}");
    }
    // Still sound: `src/*` also names folders (src/x/), and src/x/y.txt is in both.
    for (a, b) in [
        (r#""src/*""#, r#""src/**/*.txt""#),
        (r#""src/lib""#, r#""src/**/*.txt""#),
        (r#""gen/*.rs""#, r#""gen/[ab].rs""#),
    ] {
        std::fs::write(repo.join("agents.toml"), two(a, b)).expect("plan");
        let out = env.run(&repo, &["plan"]);
        assert_eq!(out.code, 2, "{a} vs {b} may overlap: {out}");
        assert!(out.stderr.contains("may overlap"), "{out}");
    }
}

#[test]
fn a_misspelled_key_gets_a_did_you_mean() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    for (text, wanted) in [
        (
            "[[task]]\nid = \"a\"\nown = [\"src/**\"]\nprompt = \"x\"\n",
            "did you mean `owns`?",
        ),
        (
            "[[task]]\nid = \"a\"\nowns = [\"src/**\"]\ndependson = []\nprompt = \"x\"\n",
            "did you mean `depends_on`?",
        ),
        ("[[tasks]]\nid = \"a\"\nprompt = \"x\"\n", "did you mean `task`?"),
        ("[agent]\nmax_attempt = 3\n", "did you mean `max_attempts`?"),
    ] {
        std::fs::write(repo.join("agents.toml"), text).expect("plan");
        let out = env.run(&repo, &["plan"]);
        assert_eq!(out.code, 2, "{out}");
        assert!(out.stderr.contains(wanted), "{text}\n{out}");
    }
    // No guess when nothing is close.
    std::fs::write(
        repo.join("agents.toml"),
        "[[task]]\nid = \"a\"\nzzzzzz = 1\nprompt = \"x\"\n",
    )
    .expect("plan");
    let out = env.run(&repo, &["plan"]);
    assert!(!out.stderr.contains("did you mean"), "{out}");
}

/// Tasks that create files own globs that match nothing yet: the table
/// says "new files", and only a glob that looks like a typo of an existing
/// folder gets a warning, naming the folder it probably meant.
#[test]
fn globs_for_new_files_are_shown_as_new_and_only_likely_typos_warn() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    std::fs::write(
        repo.join("agents.toml"),
        "[[task]]\nid = \"one\"\nowns = [\"src/ops/add.rs\", \"notes/**\"]\nprompt = \"x\"\n\n\
         [[task]]\nid = \"two\"\nowns = [\"tests/ops.rs\"]\nprompt = \"y\"\n",
    )
    .expect("plan");
    let out = env.run(&repo, &["plan"]);
    assert_eq!(out.code, 6, "{out}");
    assert!(!out.stderr.contains("warning"), "new files are no warning: {out}");
    assert!(!out.stdout.contains("0 files"), "{out}");
    assert!(out.stdout.contains("  one  new files"), "{out}");

    std::fs::write(
        repo.join("agents.toml"),
        "[[task]]\nid = \"one\"\nowns = [\"scr/auth/**\"]\nprompt = \"x\"\n\n\
         [[task]]\nid = \"two\"\nowns = [\"src/biling/*.rs\", \"docs/**\"]\nprompt = \"y\"\n",
    )
    .expect("plan");
    let out = env.run(&repo, &["plan"]);
    assert_eq!(out.code, 6, "{out}");
    let warnings: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(warnings.len(), 1, "one line: {out}");
    assert!(
        warnings[0].contains("`scr/auth/**` (task `one`): no folder `scr`, did you mean `src`?"),
        "{out}"
    );
    assert!(
        warnings[0].contains("`src/biling/*.rs` (task `two`): no folder `src/biling`, did you mean `src/billing`?"),
        "{out}"
    );
    let json = env.run(&repo, &["plan", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    assert_eq!(
        json["tasks"][0]["new_only"],
        serde_json::json!(["scr/auth/**"]),
        "{json}"
    );
}

#[test]
fn a_missing_plan_file_says_how_to_make_one() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    let out = env.run(&repo, &["plan"]);
    insta::assert_snapshot!(out, @r"
    ------- stderr -------
    error: no plan file at agents.toml
    hint: create one with `git agents init`, or name the file: `git agents plan path/to/plan.toml`
    [exit status: 2]
    ");
}

#[test]
fn a_plan_file_given_by_path() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    let out = env.run(
        &repo,
        &[
            "plan",
            fixture("valid/two-waves.toml").to_str().expect("utf8"),
            "--quiet",
        ],
    );
    assert_eq!(out.stdout, "", "--quiet prints nothing but errors: {out}");
    assert!(!out.stderr.contains("warning:"), "{out}");
    assert_eq!(out.code, 6, "{out}");
    assert!(
        out.stderr.contains("not recorded"),
        "the outcome is an error, shown even with --quiet: {out}"
    );
}

#[test]
fn on_a_terminal_it_asks_before_recording() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    std::fs::copy(fixture("valid/two-waves.toml"), repo.join("agents.toml")).expect("copy");
    let before = env.refs(&repo);
    let out = env.run_in_terminal(&repo, &["plan"], "n\n");
    assert!(out.stdout.contains("Record this plan? [y/N]"), "{out}");
    assert_eq!(out.code, 6, "answering no is told apart: {out}");
    assert_eq!(env.refs(&repo), before, "answering no records nothing");
    let out = env.run_in_terminal(&repo, &["plan"], "y\n");
    assert!(out.stdout.contains("recorded plan"), "{out}");
    assert!(env.refs(&repo).contains("refs/agents/plan "));
}
