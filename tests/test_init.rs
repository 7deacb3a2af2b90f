//! `git agents init`: the template it writes is a valid plan, and it never
//! overwrites a plan by accident.

use crate::common::TestEnv;

#[test]
fn writes_a_template_that_validates() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    let out = env.run(&repo.join("src"), &["init"]);
    out.success();
    let written = std::fs::read_to_string(repo.join("agents.toml")).expect("template written at the root");
    assert!(written.contains("[[task]]"));
    let out = env.run(&repo, &["plan"]);
    insta::assert_snapshot!(out, @"
    2 tasks in 2 waves, base `main` (10 tracked files)

    wave 1
      example-docs    1 file  Write the usage guide

    wave 2
      example-readme  1 file  Link the usage guide from the README  after example-docs

    1 task can run at once; the longest dependency chain has 2 tasks
    ------- stderr -------
    warning: the plan is effectively sequential: every wave holds one task, so only one agent can work at a time
    not recorded; run `git agents plan --yes` to record this plan
    [exit status: 0]
    ");
}

#[test]
fn refuses_to_overwrite_without_force() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    std::fs::write(repo.join("agents.toml"), "# mine\n").expect("write");
    let out = env.run(&repo, &["init"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("already exists"), "{out}");
    assert!(out.stderr.contains("--force"), "{out}");
    assert_eq!(
        std::fs::read_to_string(repo.join("agents.toml")).expect("read"),
        "# mine\n"
    );
    env.run(&repo, &["init", "--force"]).success();
    assert_ne!(
        std::fs::read_to_string(repo.join("agents.toml")).expect("read"),
        "# mine\n"
    );
}
