//! The lock protocol one command at a time: claim, heartbeat, done, fail,
//! release, requeue, status and log, and every refusal writing nothing.

use std::path::{Path, PathBuf};

use crate::common::{Output, TestEnv, T0};

const PLAN: &str = r#"
[agent]
max_attempts = 2
lease = "10m"

[[task]]
id = "auth"
owns = ["src/auth/**"]
prompt = "Build auth."

[[task]]
id = "billing"
owns = ["src/billing/**"]
prompt = "Build billing."

[[task]]
id = "api"
owns = ["src/api/**"]
depends_on = ["auth"]
prompt = "Build the API."
"#;

fn setup(env: &TestEnv) -> PathBuf {
    env.planned_repo(PLAN)
}

fn at(env: &TestEnv, repo: &Path, seconds: i64, args: &[&str]) -> Output {
    let now = (T0 + seconds).to_string();
    env.run_with(repo, args, &[("GIT_AGENTS_NOW", &now)])
}

#[test]
fn a_task_through_its_life() {
    let env = TestEnv::new();
    let repo = setup(&env);
    let out = at(&env, &repo, 0, &["claim", "--next", "--agent", "agent-1"]);
    insta::assert_snapshot!(out, @r"
    auth
    ------- stderr -------
    agent-1 claimed auth (attempt 1, lease 10m)
    [exit status: 0]
    ");
    at(&env, &repo, 5, &["claim", "--next", "--agent", "agent-2"]).success();
    // agent-1 commits on its task branch, then reports done.
    env.git(&repo, &["branch", "agents/auth", "main"]);
    env.git(&repo, &["checkout", "-q", "agents/auth"]);
    crate::common::write_files(&repo, &[("src/auth/login.rs", "pub fn login() {}\n")]);
    env.git(&repo, &["add", "-A", "src"]);
    env.git(&repo, &["commit", "-q", "-m", "auth: login"]);
    env.git(&repo, &["checkout", "-q", "main"]);
    at(&env, &repo, 60, &["heartbeat", "auth", "--agent", "agent-1"]).success();
    at(
        &env,
        &repo,
        90,
        &["fail", "billing", "--agent", "agent-2", "--reason", "tests red"],
    )
    .success();
    let out = at(&env, &repo, 120, &["status"]);
    insta::assert_snapshot!(out, @"
    0 completed / 3 total (1 in progress, 1 failed, 0 blocked)

      agent-1  auth  claimed 2m ago, lease 9m left
      agent-2  idle

      auth     claimed    agent-1  agents/auth  +1
      billing  available  -        -                ready; 1 failed attempt, last: tests red
      api      available  -        -                waits for auth
    [exit status: 0]
    ");
    at(&env, &repo, 150, &["done", "auth", "--agent", "agent-1"]).success();
    let out = at(&env, &repo, 160, &["claim", "--next", "--agent", "agent-2", "--json"]);
    out.success();
    assert!(out.stdout.contains("\"id\": \"billing\""), "{out}");
    assert!(out.stdout.contains("\"attempts\": 1"), "{out}");
    let out = at(
        &env,
        &repo,
        170,
        &["fail", "billing", "--agent", "agent-2", "--reason", "still red"],
    );
    assert!(out.stdout.contains("billing blocked"), "{out}");
    let out = at(&env, &repo, 180, &["status", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(json["total"], 3);
    assert_eq!(json["completed"], 1);
    assert_eq!(json["blocked"], 1);
    assert_eq!(json["failed"], 0, "blocked tasks count as blocked, not also as failed");
    assert_eq!(json["available"], 1);
    assert_eq!(json["tasks"][0]["state"], "done");
    assert_eq!(json["tasks"][0]["agent"], "agent-1");
    assert_eq!(json["tasks"][0]["branch"], "agents/auth");
    at(&env, &repo, 200, &["requeue", "billing"]).success();
    let out = at(&env, &repo, 210, &["log", "billing"]);
    insta::assert_snapshot!(out, @"
    (plan)                     available  added to the plan
    2026-01-01 00:00:05 +0000  claimed    by agent-2
    2026-01-01 00:01:30 +0000  available  failed by agent-2: tests red
    2026-01-01 00:02:40 +0000  claimed    by agent-2
    2026-01-01 00:02:50 +0000  blocked    failed by agent-2: still red
    2026-01-01 00:03:20 +0000  available  requeued by Test Committer (was blocked)
    [exit status: 0]
    ");
    let done = env.git(&repo, &["cat-file", "-p", "refs/agents/tasks/done/auth:task.toml"]);
    let head = env.git(&repo, &["rev-parse", "agents/auth"]);
    assert!(done.contains(&format!("head = \"{}\"", head.trim())), "{done}");
}

#[test]
fn refusals_explain_and_write_nothing() {
    let env = TestEnv::new();
    let repo = setup(&env);
    at(&env, &repo, 0, &["claim", "auth", "--agent", "agent-1"]).success();
    let before = env.refs(&repo);
    let cases: &[(&[&str], i32)] = &[
        (&["claim", "nope", "--agent", "agent-2"], 2),
        (&["claim", "auth", "--agent", "agent-2"], 5),
        (&["claim", "api", "--agent", "agent-2"], 5),
        (&["done", "auth", "--agent", "agent-2"], 2),
        (&["done", "billing", "--agent", "agent-2"], 2),
        (&["done", "auth", "--agent", "agent-1", "--branch", "no-such-branch"], 2),
        (&["fail", "auth", "--agent", "agent-2", "--reason", "x"], 2),
        (&["requeue", "auth"], 2),
        (&["claim", "--next", "--agent", "bad name"], 2),
        (&["claim", "--next"], 2),
    ];
    let mut transcript = String::new();
    for (args, code) in cases {
        let out = at(&env, &repo, 120, args);
        assert_eq!(out.code, *code, "{args:?}: {out}");
        transcript.push_str(&format!("$ git agents {}\n{out}\n\n", args.join(" ")));
    }
    assert_eq!(env.refs(&repo), before, "a refused command wrote refs");
    insta::assert_snapshot!(transcript);
}

#[test]
fn nothing_to_claim_says_why() {
    let env = TestEnv::new();
    let repo = setup(&env);
    at(&env, &repo, 0, &["claim", "--next", "--agent", "a1"]).success();
    at(&env, &repo, 0, &["claim", "--next", "--agent", "a2"]).success();
    let out = at(&env, &repo, 60, &["claim", "--next", "--agent", "a3"]);
    insta::assert_snapshot!(out, @"
    ------- stderr -------
    error: nothing to claim: 0 of 3 tasks are done, none of the rest is ready
      auth is claimed by a1 for 1m
      billing is claimed by a2 for 1m
      api waits for auth
    hint: wait for the claimed tasks, or `git agents requeue` a blocked one
    [exit status: 5]
    ");
    for id in ["auth", "billing"] {
        let agent = if id == "auth" { "a1" } else { "a2" };
        at(&env, &repo, 70, &["done", id, "--agent", agent]).success();
    }
    at(&env, &repo, 80, &["claim", "--next", "--agent", "a3"]).success();
    at(&env, &repo, 90, &["done", "api", "--agent", "a3"]).success();
    let out = at(&env, &repo, 100, &["claim", "--next", "--agent", "a3"]);
    assert_eq!(out.code, 5);
    assert!(out.stderr.contains("nothing to claim: all 3 tasks are done"), "{out}");
    let out = at(&env, &repo, 100, &["status"]);
    assert!(
        out.stdout
            .starts_with("3 completed / 3 total (0 in progress, 0 failed, 0 blocked)\n"),
        "{out}"
    );
}

#[test]
fn before_any_plan() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    for args in [
        &["claim", "--next", "--agent", "a"][..],
        &["status"],
        &["unlock", "--stale"],
        &["log", "x"],
    ] {
        let out = env.run(&repo, args);
        assert_eq!(out.code, 2, "{args:?}: {out}");
        assert!(out.stderr.contains("no plan is recorded yet"), "{out}");
    }
    assert_eq!(env.refs(&repo).lines().count(), 1, "only main exists");
}

#[test]
fn release_and_forced_verdicts_are_recorded() {
    let env = TestEnv::new();
    let repo = setup(&env);
    at(&env, &repo, 0, &["claim", "auth", "--agent", "a1"]).success();
    at(&env, &repo, 10, &["release", "auth", "--agent", "a1"]).success();
    at(&env, &repo, 20, &["claim", "auth", "--agent", "a2"]).success();
    let out = at(
        &env,
        &repo,
        30,
        &[
            "fail",
            "auth",
            "--agent",
            "human",
            "--force",
            "--reason",
            "wrong approach",
        ],
    );
    out.success();
    let log = at(&env, &repo, 40, &["log", "auth"]).stdout;
    assert!(log.contains("released by a1"), "{log}");
    assert!(
        log.contains("failed by human: wrong approach (forced; held by a2)"),
        "{log}"
    );
    // A release does not count as a failed attempt; the forced failure does.
    let json = at(&env, &repo, 40, &["status", "--json"]).stdout;
    let json: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(json["tasks"][0]["attempts"], 1);
}

#[test]
fn a_leftover_lock_file_is_named_with_the_fix() {
    let env = TestEnv::new();
    let repo = setup(&env);
    let lock = repo.join(".git/packed-refs.lock");
    std::fs::write(&lock, "").expect("lock");
    let before = env.refs(&repo);
    let out = at(&env, &repo, 0, &["claim", "--next", "--agent", "a1"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("packed-refs.lock is held"), "{out}");
    assert!(out.stderr.contains("remove it and retry"), "{out}");
    assert_eq!(env.refs(&repo), before);
    std::fs::remove_file(&lock).expect("unlock");
    at(&env, &repo, 0, &["claim", "--next", "--agent", "a1"]).success();
}
