//! `git agents doctor`: what a crash leaves behind is found, left alone
//! without --fix, and repaired with it.

use std::path::Path;

use crate::common::TestEnv;
use crate::test_concurrency::plan_with;

fn recorded(env: &TestEnv) -> std::path::PathBuf {
    env.planned_repo(&plan_with(3))
}

/// A lock file as a killed writer leaves it, an hour old.
fn stale_lock(env: &TestEnv, repo: &Path, name: &str) -> std::path::PathBuf {
    let lock = repo.join(".git").join(name);
    std::fs::create_dir_all(lock.parent().expect("parent")).expect("mkdir");
    std::fs::write(&lock, "").expect("lock");
    env.command("touch", repo)
        .args(["-d", "1 hour ago"])
        .arg(&lock)
        .status()
        .expect("touch");
    lock
}

#[test]
fn a_healthy_repository_passes() {
    let env = TestEnv::new();
    let repo = recorded(&env);
    insta::assert_snapshot!(env.run(&repo, &["doctor"]), @"
    no problems found
    [exit status: 0]
    ");
}

#[test]
fn leftovers_of_a_crash_are_reported_then_repaired() {
    let env = TestEnv::new();
    let repo = recorded(&env);
    env.run(&repo, &["claim", "t000", "--agent", "a"]).success();
    // A kill between the two halves of the claim: the old ref is still there.
    let claimed = env.git(&repo, &["rev-parse", "refs/agents/tasks/claimed/t000"]);
    let parent = env.git(&repo, &["rev-parse", &format!("{}^", claimed.trim())]);
    env.git(
        &repo,
        &["update-ref", "refs/agents/tasks/available/t000", parent.trim()],
    );
    let lock = stale_lock(&env, &repo, "refs/agents/tasks/available/t001.lock");

    let before = env.refs(&repo);
    let out = env.run(&repo, &["doctor"]);
    insta::assert_snapshot!(out, @"
    problem  refs/agents/tasks/available/t001.lock: lock file, 1h old; writes of this ref fail while it is there
             if no git or git-agents process is running, remove it: `git agents doctor --fix`
    problem  task t000: listed as claimed and also as available (a transition was cut short); it counts as claimed
             delete the older ref: `git agents doctor --fix` (its next transition does it too)
    ------- stderr -------
    error: 2 problems left
    hint: repair them with `git agents doctor --fix`
    [exit status: 1]
    ");
    assert_eq!(env.refs(&repo), before, "without --fix nothing changes");
    assert!(lock.exists());
    // What the lock blocks says so, naming the file.
    let blocked = env.run(&repo, &["claim", "t001", "--agent", "b"]);
    assert_eq!(blocked.code, 1, "{blocked}");
    assert!(blocked.stderr.contains("t001.lock"), "{blocked}");

    let out = env.run(&repo, &["doctor", "--fix", "--json"]);
    out.success();
    let findings: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert!(
        findings.as_array().expect("list").iter().all(|f| f["fixed"] == true),
        "{out}"
    );
    assert!(!lock.exists());
    assert!(!env.refs(&repo).contains("refs/agents/tasks/available/t000 "));
    env.run(&repo, &["doctor"]).success();
    env.run(&repo, &["claim", "t001", "--agent", "b"]).success();
}

#[test]
fn a_young_lock_is_left_to_its_writer() {
    let env = TestEnv::new();
    let repo = recorded(&env);
    let lock = repo.join(".git/packed-refs.lock");
    std::fs::write(&lock, "").expect("lock");
    let out = env.run(&repo, &["doctor", "--fix"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stdout.contains("young: a writer may hold it right now"), "{out}");
    assert!(lock.exists());
    env.run(&repo, &["doctor", "--fix", "--older-than", "0s", "-q"])
        .success();
    assert!(!lock.exists());
}

#[test]
fn a_worktree_registration_cut_short_is_removed() {
    let env = TestEnv::new();
    let repo = recorded(&env);
    let wt = env.root().join("repo.agents/agent-1");
    env.git(&repo, &["worktree", "add", "-q", "--detach", &wt.display().to_string()]);
    // As a kill in the middle of registering leaves it.
    std::fs::write(repo.join(".git/worktrees/agent-1/commondir"), "").expect("cut short");
    let out = env.run(&repo, &["doctor"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stdout
            .contains("worktrees/agent-1: a worktree registration cut short"),
        "{out}"
    );
    env.run(&repo, &["doctor", "--fix", "-q"]).success();
    env.git(&repo, &["fsck", "--no-progress", "--no-dangling"]);
    assert!(!repo.join(".git/worktrees/agent-1").exists());
}

/// doctor --fix restores a done task's branch from the backup of the work
/// checked at done.
#[test]
fn doctor_fix_restores_a_done_branch_from_its_backup() {
    let env = TestEnv::new();
    let plan = "[[task]]\nid = \"x\"\nowns = [\"docs/x.md\"]\nprompt = \"write docs/x.md\"\n";
    let repo = env.planned_repo(plan);
    env.run(&repo, &["claim", "x", "--agent", "me"]).success();
    env.git(&repo, &["checkout", "-q", "-b", "agents/x"]);
    crate::common::write_files(&repo, &[("docs/x.md", "x")]);
    env.git(&repo, &["add", "docs"]);
    env.git(&repo, &["commit", "-q", "-m", "x"]);
    env.git(&repo, &["checkout", "-q", "main"]);
    env.run(&repo, &["done", "x", "--agent", "me"]).success();
    let head = env.git(&repo, &["rev-parse", "agents/x"]);
    env.run(&repo, &["clean", "--force"]).success();
    assert!(!env.refs(&repo).contains("refs/heads/agents/x "));
    let fixed = env.run(&repo, &["doctor", "--fix"]);
    fixed.success();
    assert!(
        fixed.stdout.contains("fixed    task x: done but agents/x is gone"),
        "{fixed}"
    );
    assert_eq!(env.git(&repo, &["rev-parse", "agents/x"]), head, "the branch is back");
    insta::assert_snapshot!(env.run(&repo, &["doctor"]), @"
    no problems found
    [exit status: 0]
    ");
}
