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
    out.success();
    insta::assert_snapshot!(out.stdout);
    assert!(out.stderr.is_empty(), "{out}");
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
      ]
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
fn without_yes_and_without_a_terminal_nothing_is_recorded() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    std::fs::copy(fixture("valid/parallel.toml"), repo.join("agents.toml")).expect("copy");
    crate::common::write_files(&repo, &[("tasks/auth.md", "Build auth.\n")]);
    let before = env.refs(&repo);
    let out = env.run(&repo, &["plan"]);
    out.success();
    assert!(
        out.stderr.contains("not recorded; run `git agents plan --yes`"),
        "{out}"
    );
    assert_eq!(env.refs(&repo), before);
    let out = env.run(&repo, &["plan", "--json"]);
    out.success();
    assert!(!out.stdout.contains("\"recorded\""), "{out}");
    assert_eq!(env.refs(&repo), before);
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
    out.success();
    assert!(out.stdout.starts_with("2 tasks in 2 waves"), "{out}");
    assert!(out.stderr.contains("warning:"), "warnings survive --quiet: {out}");
    assert!(
        !out.stderr.contains("not recorded"),
        "status is silenced by --quiet: {out}"
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
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(env.refs(&repo), before, "answering no records nothing");
    let out = env.run_in_terminal(&repo, &["plan"], "y\n");
    assert!(out.stdout.contains("recorded plan"), "{out}");
    assert!(env.refs(&repo).contains("refs/agents/plan "));
}
