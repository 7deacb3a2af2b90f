//! Recording a plan: what lands under refs/agents, re-recording a changed
//! plan, and protecting tasks that agents hold.

use std::path::Path;

use crate::common::{fixture, TestEnv};

fn record(env: &TestEnv, repo: &Path, plan: &str) -> crate::common::Output {
    std::fs::write(repo.join("agents.toml"), plan).expect("write plan");
    env.run(repo, &["plan", "--yes"])
}

const PLAN: &str = r#"
[[task]]
id = "auth"
title = "Auth"
owns = ["src/auth/**"]
prompt = "Build auth; it's \"quoted\" and $(not run)."

[[task]]
id = "billing"
owns = ["src/billing/**"]
prompt_file = "tasks/billing.md"
"#;

#[test]
fn records_the_plan_and_one_available_ref_per_task() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    crate::common::write_files(&repo, &[("tasks/billing.md", "Bill people.\n")]);
    record(&env, &repo, PLAN).success();
    let refs = env.git(&repo, &["for-each-ref", "--format=%(refname)", "refs/agents"]);
    insta::assert_snapshot!(refs, @r"
    refs/agents/plan
    refs/agents/tasks/available/auth
    refs/agents/tasks/available/billing
    ");
    let tree = env.git(&repo, &["ls-tree", "-r", "--name-only", "refs/agents/plan"]);
    assert_eq!(tree, "plan.toml\nprompts/auth.md\nprompts/billing.md\n");
    let prompt = env.git(&repo, &["cat-file", "-p", "refs/agents/plan:prompts/auth.md"]);
    assert_eq!(prompt, "Build auth; it's \"quoted\" and $(not run).");
    let prompt = env.git(&repo, &["cat-file", "-p", "refs/agents/plan:prompts/billing.md"]);
    assert_eq!(prompt, "Bill people.\n");
    insta::assert_snapshot!(env.git(&repo, &["cat-file", "-p", "refs/agents/plan:plan.toml"]), @r#"
    base = "main"

    [agent]
    max_attempts = 2
    lease = "30m"

    [[task]]
    id = "auth"
    title = "Auth"
    owns = ["src/auth/**"]

    [[task]]
    id = "billing"
    title = "billing"
    owns = ["src/billing/**"]
    "#);
    let task = env.git(&repo, &["cat-file", "-p", "refs/agents/tasks/available/auth:task.toml"]);
    assert_eq!(
        task,
        "id = \"auth\"\nstate = \"available\"\nattempts = 0\nupdated_at = 0\n"
    );
    // The first link of a task's history is fixed, so its id is known without reading it.
    let first = env.git(&repo, &["cat-file", "-p", "refs/agents/tasks/available/auth"]);
    insta::assert_snapshot!(first, @"
    tree e42c1adb5a6439b6df6ec4245a264dce38dc1187
    author git-agents <git-agents@localhost> 0 +0000
    committer git-agents <git-agents@localhost> 0 +0000

    add auth
    ");
}

#[test]
fn recording_twice_changes_nothing() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    std::fs::copy(fixture("valid/two-waves.toml"), repo.join("agents.toml")).expect("copy");
    env.run(&repo, &["plan", "--yes"]).success();
    let before = env.refs(&repo);
    let out = env.run(&repo, &["plan", "--yes"]);
    assert!(out.stderr.contains("plan already recorded; nothing changed"), "{out}");
    assert_eq!(env.refs(&repo), before);
}

#[test]
fn a_changed_plan_becomes_a_new_revision() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    crate::common::write_files(&repo, &[("tasks/billing.md", "Bill people.\n")]);
    record(&env, &repo, PLAN).success();
    let first = env.git(&repo, &["rev-parse", "refs/agents/plan"]);
    let billing = env.git(&repo, &["rev-parse", "refs/agents/tasks/available/billing"]);
    let changed = r#"
[[task]]
id = "auth"
title = "Auth, revised"
owns = ["src/auth/**"]
prompt = "Build auth."

[[task]]
id = "docs"
owns = ["docs/**"]
prompt = "Write docs."
"#;
    let out = record(&env, &repo, changed);
    assert!(out.stderr.contains("1 added, 1 changed, 1 dropped"), "{out}");
    let parent = env.git(&repo, &["rev-parse", "refs/agents/plan^"]);
    assert_eq!(parent, first, "the new plan commit's parent is the previous plan");
    let refs = env.git(&repo, &["for-each-ref", "--format=%(refname)", "refs/agents/tasks"]);
    assert_eq!(
        refs,
        "refs/agents/tasks/available/auth\nrefs/agents/tasks/available/docs\n"
    );
    assert!(!billing.is_empty());
    let message = env.git(&repo, &["log", "-1", "--format=%B", "refs/agents/plan"]);
    assert_eq!(
        message,
        "plan: 2 tasks on main\n\nadded: docs\n\nchanged: auth\n\ndropped: billing\n"
    );
}

#[test]
fn claimed_and_done_tasks_are_protected_unless_forced() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    crate::common::write_files(&repo, &[("tasks/billing.md", "Bill people.\n")]);
    record(&env, &repo, PLAN).success();
    // Move `auth` to claimed the way the lock protocol will.
    let oid = env.git(&repo, &["rev-parse", "refs/agents/tasks/available/auth"]);
    env.git(&repo, &["update-ref", "refs/agents/tasks/claimed/auth", oid.trim()]);
    env.git(&repo, &["update-ref", "-d", "refs/agents/tasks/available/auth"]);
    let before = env.refs(&repo);
    let changed = PLAN.replace("Build auth", "Build auth differently");
    let out = record(&env, &repo, &changed);
    insta::assert_snapshot!(out.stderr, @r"
    error: the new plan changes tasks that agents are working on or have finished
      would change task `auth`, which is claimed
    hint: keep those tasks as they are in agents.toml, or wait until they are merged
    hint: rerun with `--force` to record anyway (claimed and done tasks keep their state)
    ");
    assert_eq!(out.code, 2);
    assert_eq!(env.refs(&repo), before, "a refused plan writes nothing");
    let out = env.run(&repo, &["plan", "--yes", "--force"]);
    out.success();
    let refs = env.git(&repo, &["for-each-ref", "--format=%(refname)", "refs/agents/tasks"]);
    assert_eq!(
        refs,
        "refs/agents/tasks/available/billing\nrefs/agents/tasks/claimed/auth\n"
    );
}

#[test]
fn without_an_identity_git_agents_uses_its_own() {
    let mut env = TestEnv::new();
    let repo = env.basic_repo();
    env.identity = false;
    std::fs::copy(fixture("valid/two-waves.toml"), repo.join("agents.toml")).expect("copy");
    env.run(&repo, &["plan", "--yes"]).success();
    let who = env.git(
        &repo,
        &["log", "-1", "--format=%an <%ae> / %cn <%ce>", "refs/agents/plan"],
    );
    assert_eq!(
        who,
        "git-agents <git-agents@localhost> / git-agents <git-agents@localhost>\n"
    );
}
