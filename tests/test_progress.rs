//! Agents report where they are (`git agents progress`) and say when only
//! a person can go on (`git agents fail --block`): both land in the task's
//! record and show in every form of `status`.

use std::path::{Path, PathBuf};

use crate::common::{Output, TestEnv, BIN, T0};

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
"#;

fn at(env: &TestEnv, repo: &Path, seconds: i64, args: &[&str], vars: &[(&str, &str)]) -> Output {
    let now = (T0 + seconds).to_string();
    let mut all = vec![("GIT_AGENTS_NOW", now.as_str())];
    all.extend_from_slice(vars);
    env.run_with(repo, args, &all)
}

fn setup(env: &TestEnv) -> PathBuf {
    let repo = env.planned_repo(PLAN);
    at(env, &repo, 0, &["claim", "auth", "--agent", "ann"], &[]).success();
    repo
}

/// The record at the tip of a task's state ref.
fn record(env: &TestEnv, repo: &Path, state: &str, id: &str) -> String {
    env.git(repo, &["show", &format!("refs/agents/tasks/{state}/{id}:task.toml")])
}

#[test]
fn progress_from_the_agents_environment_shows_in_every_status_form() {
    let env = TestEnv::new();
    let repo = setup(&env);
    let agent = [("GIT_AGENTS_AGENT", "ann"), ("GIT_AGENTS_TASK", "auth")];
    at(&env, &repo, 60, &["progress", "login form done, writing tests"], &agent).success();
    let toml = record(&env, &repo, "claimed", "auth");
    assert!(toml.contains("progress = \"login form done, writing tests\""), "{toml}");
    assert!(toml.contains(&format!("progress_at = {}", T0 + 60)), "{toml}");
    // It renews the lease like a heartbeat.
    assert!(toml.contains(&format!("lease_until = {}", T0 + 60 + 600)), "{toml}");

    let human = at(&env, &repo, 180, &["status"], &[]);
    insta::assert_snapshot!(human.stdout, @"
    0 completed / 2 total (1 in progress, 0 failed, 0 blocked)

      ann  auth  claimed 3m ago, lease 8m left

      auth     claimed    ann  agents/auth    says: login form done, writing tests (2m ago)
      billing  available  -    -              ready
    ");
    let json = at(&env, &repo, 180, &["status", "--json"], &[]);
    let value: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    let auth = &value["tasks"][0];
    assert_eq!(auth["progress"], "login form done, writing tests");
    assert_eq!(auth["progress_at"], T0 + 60);
    assert_eq!(value["tasks"][1]["progress"], serde_json::Value::Null);
    let markdown = at(&env, &repo, 180, &["status", "--markdown"], &[]);
    assert!(
        markdown
            .stdout
            .contains("| auth | claimed: login form done, writing tests (2m ago) | ann |"),
        "{markdown}"
    );

    // --watch into a pipe prints the same report per interval.
    let watch = env
        .command(BIN, &repo)
        .args(["status", "--watch", "--interval", "1s"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("watch");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    #[allow(unsafe_code)]
    // SAFETY: kill(2) on the child we started; no memory is involved.
    unsafe {
        libc::kill(watch.id() as libc::pid_t, libc::SIGINT);
    }
    let out = watch.wait_with_output().expect("wait");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("says: login form done, writing tests"), "{text}");

    // A release forgets it: the next holder starts without a message.
    at(&env, &repo, 200, &["release", "auth", "--agent", "ann"], &[]).success();
    assert!(!record(&env, &repo, "available", "auth").contains("progress"));
}

#[test]
fn progress_needs_the_task_and_is_refused_for_another_agents_claim() {
    let env = TestEnv::new();
    let repo = setup(&env);
    let before = env.refs(&repo);
    let out = at(&env, &repo, 60, &["progress", "hello", "--agent", "ann"], &[]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("which task is this about?"), "{out}");
    let out = at(
        &env,
        &repo,
        60,
        &["progress", "hello", "--task", "auth", "--agent", "bob"],
        &[],
    );
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr.contains("task `auth` is claimed by ann, not by bob"),
        "{out}"
    );
    let out = at(
        &env,
        &repo,
        60,
        &["progress", "two\nlines", "--task", "auth", "--agent", "ann"],
        &[],
    );
    assert_eq!(out.code, 2, "{out}");
    assert_eq!(env.refs(&repo), before, "refused reports write nothing");
}

#[test]
fn fail_block_blocks_at_once_without_counting_an_attempt_and_leads_the_blocked_list() {
    let env = TestEnv::new();
    let repo = setup(&env);
    // billing is blocked the usual way first: two failed attempts.
    for round in 0..2 {
        let t = 10 + round * 10;
        at(&env, &repo, t, &["claim", "billing", "--agent", "bob"], &[]).success();
        at(
            &env,
            &repo,
            t + 1,
            &["fail", "billing", "--agent", "bob", "--reason", "tests red"],
            &[],
        )
        .success();
    }
    let out = at(
        &env,
        &repo,
        60,
        &[
            "fail",
            "auth",
            "--agent",
            "ann",
            "--block",
            "--reason",
            "needs the staging API key",
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{out}");
    let toml = record(&env, &repo, "blocked", "auth");
    assert!(toml.contains("attempts = 0"), "no attempt counted: {toml}");
    assert!(
        toml.contains("last_failure = \"needs a person: needs the staging API key\""),
        "{toml}"
    );
    assert!(env
        .git(&repo, &["for-each-ref", "refs/agents/tasks/claimed"])
        .is_empty());

    let human = at(&env, &repo, 90, &["status"], &[]);
    insta::assert_snapshot!(human.stdout, @"
    0 completed / 2 total (0 in progress, 0 failed, 2 blocked)

      ann  idle
      bob  idle

      auth     blocked  -  -    needs a person: needs the staging API key
      billing  blocked  -  -    2 failed attempts, last: tests red
    ");
    let markdown = at(&env, &repo, 90, &["status", "--markdown"], &[]);
    let blocked = markdown.stdout.split("## Blocked").nth(1).expect("a blocked section");
    insta::assert_snapshot!(blocked.split("\n## ").next().unwrap_or_default(), @r"
    - **auth**: needs a person: needs the staging API key
    - **billing** after 2 attempt(s): tests red
    ");
    // A person unblocks it: requeue puts it back with its attempts as they were.
    at(&env, &repo, 120, &["requeue", "auth"], &[]).success();
    assert!(record(&env, &repo, "available", "auth").contains("attempts = 0"));
}

#[test]
fn an_agent_that_blocks_itself_under_spawn_stops_that_task_only() {
    let env = TestEnv::new();
    let repo = env.planned_repo(PLAN);
    // auth's agent reports, then asks for a person and exits 0 without
    // work; billing's agent does its work.
    let script = format!(
        r#"if [ "$GIT_AGENTS_TASK" = auth ]; then
  {BIN} progress "looking for the key"
  {BIN} fail "$GIT_AGENTS_TASK" --block --reason "needs the staging API key"
  exit 0
fi
mkdir -p src/billing && echo done > src/billing/done.txt && git add -A && git commit -qm billing"#
    );
    let out = env.run(&repo, &["spawn", "1", "--", "sh", "-c", &script]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("1 task(s) blocked: auth"), "{out}");
    assert!(
        out.stderr.contains("auth: needs a person: needs the staging API key"),
        "{out}"
    );
    assert!(!out.stderr.contains("runner failed"), "{out}");
    let toml = record(&env, &repo, "blocked", "auth");
    assert!(toml.contains("attempts = 0"), "{toml}");
    // The history shows the agent's own words, then nothing from the runner.
    let log = env.git(&repo, &["log", "--format=%s", "refs/agents/tasks/blocked/auth"]);
    assert!(log.starts_with("stuck auth by agent-1: needs the staging API key\nprogress auth by agent-1: looking for the key\nclaim auth by agent-1"), "{log}");
    assert!(!env
        .git(&repo, &["for-each-ref", "refs/agents/tasks/done/billing"])
        .is_empty());
}
