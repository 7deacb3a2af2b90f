//! Coordination through a shared remote: a bare repository stands in for
//! the git server, clones for machines, real processes for agents.

use std::path::{Path, PathBuf};

use crate::common::{TestEnv, BASIC_FILES, BIN};
use crate::test_concurrency::{join_exactly_once, plan_with, start_claimers};

/// A bare `shared.git` with `tasks` tasks recorded from the first of
/// `machines` clones; every clone has `agents.remote = origin`.
fn shared(env: &TestEnv, tasks: usize, machines: usize) -> (PathBuf, Vec<PathBuf>) {
    shared_plan(env, &plan_with(tasks), machines)
}

/// [`shared`] with the plan text given.
fn shared_plan(env: &TestEnv, plan: &str, machines: usize) -> (PathBuf, Vec<PathBuf>) {
    let src = env.repo("src", BASIC_FILES);
    std::fs::write(src.join("agents.toml"), plan).expect("plan");
    env.git(&src, &["add", "agents.toml"]);
    env.git(&src, &["commit", "-q", "-m", "plan"]);
    let bare = env.root().join("shared.git");
    env.git(env.root(), &["clone", "-q", "--bare", "src", "shared.git"]);
    let clones: Vec<PathBuf> = (0..machines)
        .map(|i| {
            let name = format!("machine-{i}");
            env.git(env.root(), &["clone", "-q", "shared.git", &name]);
            let clone = env.root().join(name);
            env.git(&clone, &["config", "agents.remote", "origin"]);
            clone
        })
        .collect();
    env.run(&clones[0], &["plan", "--yes", "-q"]).success();
    (bare, clones)
}

fn remote_refs(env: &TestEnv, bare: &Path, prefix: &str) -> Vec<String> {
    env.git(bare, &["for-each-ref", "--format=%(refname)", prefix])
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn three_machines_with_three_agents_each_take_every_task_exactly_once() {
    let env = TestEnv::new();
    let (bare, clones) = shared(&env, 60, 3);
    join_exactly_once(start_claimers(&env.vars(), &clones, 9, 60), 60);

    // The remote is the truth: every task done there, each claimed once in its history.
    let done = remote_refs(&env, &bare, "refs/agents/tasks");
    assert_eq!(done.len(), 60);
    for name in &done {
        assert!(name.starts_with("refs/agents/tasks/done/"), "{name}");
        let subjects = env.git(&bare, &["log", "--format=%s", name]);
        let claims = subjects.lines().filter(|s| s.starts_with("claim ")).count();
        assert_eq!(claims, 1, "{name} was claimed {claims} times:\n{subjects}");
    }
    env.git(&bare, &["fsck", "--no-progress"]);
    // A machine that only reads sees the same.
    let status = env.run(&clones[2], &["status"]);
    status.success();
    assert!(status.stdout.starts_with("60 completed / 60 total"), "{status}");
}

#[test]
fn a_remote_that_refuses_the_push_records_nothing_locally() {
    let env = TestEnv::new();
    let (bare, clones) = shared(&env, 2, 1);
    let m = &clones[0];
    env.run(m, &["claim", "t000", "--agent", "a"]).success();
    let before = env.refs(m);
    let remote_before = env.refs(&bare);

    // Reads still work, writes cannot reach the remote.
    let gone = env.root().join("gone.git");
    env.git(m, &["config", "remote.origin.pushurl", &gone.display().to_string()]);
    let out = env.run(m, &["done", "t000", "--agent", "a"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr.contains("cannot record the change on remote `origin`"),
        "{out}"
    );
    assert!(out.stderr.contains("nothing was recorded"), "{out}");
    assert_eq!(
        env.refs(m),
        before,
        "the local mirror claims nothing the remote did not accept"
    );
    assert_eq!(env.refs(&bare), remote_before);

    // The remote back: the same command goes through.
    env.git(m, &["config", "--unset", "remote.origin.pushurl"]);
    env.run(m, &["done", "t000", "--agent", "a"]).success();
    assert!(remote_refs(&env, &bare, "refs/agents/tasks/done").contains(&"refs/agents/tasks/done/t000".to_string()));

    // A lock file a crash left on the remote: a few retries, then the remote's own words.
    let lock = bare.join("refs/agents/tasks/available/t001.lock");
    std::fs::create_dir_all(lock.parent().expect("parent")).expect("mkdir");
    std::fs::write(&lock, "").expect("lock");
    let out = env.run(m, &["claim", "t001", "--agent", "a"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("remote `origin` refused the change"), "{out}");
    assert!(out.stderr.contains("t001.lock"), "the lock file is named: {out}");
    std::fs::remove_file(&lock).expect("unlock");
    env.run(m, &["claim", "t001", "--agent", "a"]).success();

    // The remote gone entirely: reads fail too, with the same advice.
    std::fs::rename(&bare, &gone).expect("move the remote away");
    let before = env.refs(m);
    let out = env.run(m, &["claim", "--next", "--agent", "a"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr.contains("cannot read the shared state from remote `origin`"),
        "{out}"
    );
    assert_eq!(env.refs(m), before);
}

#[test]
fn work_done_on_one_machine_merges_on_another() {
    let env = TestEnv::new();
    let (bare, clones) = shared(&env, 2, 2);
    let (a, b) = (&clones[0], &clones[1]);
    env.run(b, &["claim", "t001", "--agent", "bob"]).success();
    env.git(b, &["switch", "-q", "-c", "agents/t001"]);
    crate::common::write_files(b, &[("work/t001/out.txt", "done on b\n")]);
    env.git(b, &["add", "work"]);
    env.git(b, &["commit", "-q", "-m", "t001 work"]);
    env.git(b, &["switch", "-q", "main"]);
    env.run(b, &["done", "t001", "--agent", "bob"]).success();
    // The branch travelled with the verdict.
    assert!(remote_refs(&env, &bare, "refs/heads/agents").contains(&"refs/heads/agents/t001".to_string()));

    let out = env.run(a, &["merge", "-q"]);
    out.success();
    assert_eq!(env.git(a, &["show", "main:work/t001/out.txt"]), "done on b\n");
    // The remote's main landed too, before anything said merged.
    assert_eq!(
        env.git(&bare, &["rev-parse", "main"]),
        env.git(a, &["rev-parse", "main"])
    );
    assert_eq!(
        remote_refs(&env, &bare, "refs/agents/tasks/merged"),
        ["refs/agents/tasks/merged/t001"]
    );
    // The merge note is shared, so other machines' pre-push guards see it.
    assert_eq!(remote_refs(&env, &bare, "refs/notes/agents"), ["refs/notes/agents"]);
    assert!(
        remote_refs(&env, &bare, "refs/agents/merge").is_empty(),
        "the merge lock is released on the remote"
    );
}

#[test]
fn merge_refuses_when_the_target_differs_from_the_remotes() {
    let env = TestEnv::new();
    let (bare, clones) = shared(&env, 1, 1);
    let a = &clones[0];
    env.run(a, &["claim", "t000", "--agent", "me"]).success();
    env.git(a, &["switch", "-q", "-c", "agents/t000"]);
    crate::common::write_files(a, &[("work/t000/out.txt", "x\n")]);
    env.git(a, &["add", "work"]);
    env.git(a, &["commit", "-q", "-m", "t000 work"]);
    env.git(a, &["switch", "-q", "main"]);
    env.run(a, &["done", "t000", "--agent", "me"]).success();
    // A local commit on main that the remote does not have.
    crate::common::write_files(a, &[("docs/local.md", "mine\n")]);
    env.git(a, &["add", "docs/local.md"]);
    env.git(a, &["commit", "-q", "-m", "local only"]);
    let (local, remote) = (
        env.git(a, &["rev-parse", "main"]),
        env.git(&bare, &["rev-parse", "main"]),
    );
    let out = env.run(a, &["merge"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("merge lands on both, so they must agree"), "{out}");
    assert!(out.stderr.contains("git push origin main"), "{out}");
    assert_eq!(env.git(a, &["rev-parse", "main"]), local);
    assert_eq!(env.git(&bare, &["rev-parse", "main"]), remote);
}

#[test]
fn a_remote_that_does_not_exist_is_a_usage_error() {
    let env = TestEnv::new();
    let (_, clones) = shared(&env, 1, 1);
    let m = &clones[0];
    let before = env.refs(m);
    let out = env.run(m, &["--remote", "upstream", "status"]);
    insta::assert_snapshot!(out, @"
    ------- stderr -------
    error: --remote names `upstream`, which is not a remote of this repository
    hint: list the remotes with `git remote -v`; add one with `git remote add NAME URL`
    [exit status: 2]
    ");
    assert_eq!(env.refs(m), before);
}

#[test]
fn local_state_is_not_dropped_by_following_an_empty_remote() {
    let env = TestEnv::new();
    let repo = env.repo("repo", BASIC_FILES);
    std::fs::write(repo.join("agents.toml"), plan_with(2)).expect("plan");
    env.run(&repo, &["plan", "--yes", "-q"]).success();
    env.run(&repo, &["claim", "t000", "--agent", "a"]).success();
    env.git(env.root(), &["init", "-q", "--bare", "shared.git"]);
    env.git(&repo, &["remote", "add", "origin", "../shared.git"]);
    env.git(&repo, &["config", "agents.remote", "origin"]);
    let before = env.refs(&repo);
    let out = env.run(&repo, &["status"]);
    insta::assert_snapshot!(out, @"
    ------- stderr -------
    error: this repository has its own state under refs/agents, and remote `origin` has none
      following the remote would drop the local plan and task history
    hint: to share the local state, push it first: git push origin 'refs/agents/*:refs/agents/*'
    hint: or keep working locally: `git config --unset agents.remote`
    hint: or drop the local state and follow the remote: `git update-ref -d refs/agents/plan`, then run the command again
    [exit status: 2]
    ");
    assert_eq!(env.refs(&repo), before, "nothing pruned");

    // Shared as the hint says, it follows the remote from then on.
    env.git(&repo, &["push", "-q", "origin", "refs/agents/*:refs/agents/*"]);
    let out = env.run(&repo, &["status"]);
    out.success();
    assert!(out.stdout.contains("t000  claimed"), "{out}");
}

#[test]
fn agents_on_two_machines_build_on_each_others_work() {
    let env = TestEnv::new();
    let plan = format!(
        "[agent]\ncommand = [\"{BIN}\", \"scripted-agent\"]\n\n\
         [[task]]\nid = \"api\"\nowns = [\"src/api.rs\"]\nprompt = \"agent: write src/api.rs pub fn api() {{}}\"\n\n\
         [[task]]\nid = \"client\"\nowns = [\"src/client.rs\"]\ndepends_on = [\"api\"]\n\
         prompt = \"agent: write src/client.rs uses api\"\n"
    );
    let (bare, clones) = shared_plan(&env, &plan, 2);
    let (a, b) = (&clones[0], &clones[1]);
    // A person on machine A does the first task by hand; an agent on machine
    // B, which never saw that work, does the dependent one.
    env.run(a, &["claim", "api", "--agent", "ann"]).success();
    env.git(a, &["switch", "-q", "-c", "agents/api"]);
    crate::common::write_files(a, &[("src/api.rs", "pub fn api() {}\n")]);
    env.git(a, &["add", "src/api.rs"]);
    env.git(a, &["commit", "-q", "-m", "api"]);
    env.git(a, &["switch", "-q", "main"]);
    env.run(a, &["done", "api", "--agent", "ann"]).success();
    let out = env.run(b, &["spawn", "1"]);
    out.success();
    assert!(
        env.run(b, &["status"]).stdout.starts_with("2 completed / 2 total"),
        "{out}"
    );
    // B's task started from A's work, taken from the remote.
    assert_eq!(env.git(b, &["show", "agents/client:src/api.rs"]), "pub fn api() {}\n");
    assert_eq!(
        remote_refs(&env, &bare, "refs/heads/agents"),
        ["refs/heads/agents/api", "refs/heads/agents/client"]
    );
    // Either machine merges both.
    let out = env.run(a, &["merge", "-q"]);
    out.success();
    assert_eq!(env.git(a, &["show", "main:src/client.rs"]), "uses api\n");
    assert_eq!(remote_refs(&env, &bare, "refs/agents/tasks/merged").len(), 2);
}

#[test]
fn the_remote_is_named_by_the_flag_then_the_environment_then_the_config() {
    let env = TestEnv::new();
    let (_, clones) = shared(&env, 2, 2);
    let (m, other) = (&clones[0], &clones[1]);
    env.run(other, &["claim", "t000", "--agent", "b"]).success();
    env.git(m, &["config", "agents.remote", "nosuch"]);
    let before = env.refs(m);
    // The config alone (an empty variable names nothing) is refused.
    for vars in [&[][..], &[("GIT_AGENTS_REMOTE", "")][..]] {
        let out = env.run_with(m, &["status"], vars);
        assert_eq!(out.code, 2, "{out}");
        assert!(out.stderr.contains("git config agents.remote names `nosuch`"), "{out}");
        assert!(out.stderr.contains("git config --unset agents.remote"), "{out}");
        assert_eq!(env.refs(m), before, "nothing was fetched");
    }
    // The variable wins over the config: the other machine's claim is read.
    let out = env.run_with(m, &["status"], &[("GIT_AGENTS_REMOTE", "origin")]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        env.refs(m).contains("refs/agents/tasks/claimed/t000"),
        "{}",
        env.refs(m)
    );
    let out = env.run_with(m, &["status"], &[("GIT_AGENTS_REMOTE", "upstream")]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("GIT_AGENTS_REMOTE names `upstream`"), "{out}");
    // The flag wins over both, and a transition goes to the remote it names.
    let out = env.run_with(
        m,
        &["--remote", "origin", "claim", "t001", "--agent", "a"],
        &[("GIT_AGENTS_REMOTE", "upstream")],
    );
    assert_eq!(out.code, 0, "{out}");
    assert!(
        remote_refs(&env, &env.root().join("shared.git"), "refs/agents/tasks/claimed/")
            .contains(&"refs/agents/tasks/claimed/t001".to_string()),
        "the claim was pushed"
    );
}
