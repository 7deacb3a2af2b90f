//! The pre-push guard: installing it next to an existing hook, and what a
//! real `git push` through it may and may not publish.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::common::{write_files, TestEnv, BIN};

const PLAN: &str = r#"
[[task]]
id = "auth"
owns = ["src/auth/**"]
prompt = "Work on auth."

[[task]]
id = "billing"
owns = ["src/billing/**"]
prompt = "Work on billing."

[[task]]
id = "guide"
owns = ["docs/**"]
depends_on = ["auth"]
prompt = "Document auth."
"#;

/// The basic repository with PLAN recorded, a bare `shared.git` as origin
/// and the guard installed.
fn guarded(env: &TestEnv) -> PathBuf {
    let repo = env.basic_repo();
    std::fs::write(repo.join("agents.toml"), PLAN).expect("plan");
    env.git(&repo, &["add", "agents.toml"]);
    env.git(&repo, &["commit", "-q", "-m", "plan"]);
    env.run(&repo, &["plan", "--yes", "-q"]).success();
    env.git(env.root(), &["init", "-q", "--bare", "shared.git"]);
    env.git(&repo, &["remote", "add", "origin", "../shared.git"]);
    env.git(&repo, &["push", "-q", "origin", "main"]);
    env.run(&repo, &["hook", "install"]).success();
    repo
}

/// A commit on `branch` (created from main) writing `files`.
fn commit_on(env: &TestEnv, repo: &Path, branch: &str, files: &[(&str, &str)]) {
    env.git(repo, &["switch", "-q", "-C", branch, "main"]);
    write_files(repo, files);
    env.git(repo, &["add", "-A"]);
    env.git(repo, &["commit", "-q", "-m", &format!("work on {branch}")]);
    env.git(repo, &["switch", "-q", "main"]);
}

/// Task auth claimed, worked on (its own file) and done.
fn auth_done(env: &TestEnv, repo: &Path) {
    env.run(repo, &["claim", "auth", "--agent", "a"]).success();
    commit_on(env, repo, "agents/auth", &[("src/auth/mod.rs", "pub fn login2() {}\n")]);
    env.run(repo, &["done", "auth", "--agent", "a"]).success();
}

/// `git push origin args…` as the user runs it; returns exit code and stderr.
fn push(env: &TestEnv, repo: &Path, args: &[&str]) -> (i32, String) {
    let out = env
        .command("git", repo)
        .args(["push", "-q", "origin"])
        .args(args)
        .output()
        .expect("git push");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The guard run directly with git's line for pushing `local` over the
/// remote's `remote`, as the hook runs it; commit ids shown by name.
fn judge(env: &TestEnv, repo: &Path, branch: &str, local: &str, remote: &str) -> String {
    let rev = |r: &str| env.git(repo, &["rev-parse", r]).trim().to_string();
    let (local_oid, remote_oid) = (rev(local), rev(remote));
    let mut child = env
        .command(BIN, repo)
        .args(["hook", "pre-push", "origin", "../shared.git"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the guard");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{branch} {local_oid} {branch} {remote_oid}\n").as_bytes())
        .expect("feed");
    let out = child.wait_with_output().expect("wait");
    format!(
        "{}{}[exit status: {}]",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        out.status.code().unwrap_or(-1)
    )
    .replace(&local_oid[..7], &format!("[{local}]"))
}

/// The remote's `branch` is what the local one holds: the push went through.
fn assert_published(env: &TestEnv, repo: &std::path::Path, branch: &str) {
    assert_eq!(remote_tip(env, branch), env.git(repo, &["rev-parse", branch]).trim());
}

#[test]
fn a_task_branch_may_publish_only_what_its_task_owns() {
    let env = TestEnv::new();
    let repo = guarded(&env);
    commit_on(
        &env,
        &repo,
        "agents/auth",
        &[("src/auth/mod.rs", "pub fn login2() {}\n")],
    );
    assert_eq!(push(&env, &repo, &["agents/auth"]).0, 0, "owned changes pass");

    env.git(&repo, &["switch", "-q", "agents/auth"]);
    write_files(
        &repo,
        &[("src/billing/mod.rs", "// auth was here\n"), ("docs/x.md", "x\n")],
    );
    env.git(&repo, &["add", "-A"]);
    env.git(&repo, &["commit", "-q", "-m", "reach into billing"]);
    env.git(&repo, &["switch", "-q", "main"]);
    let remote_before = env.refs(&env.root().join("shared.git"));
    let (code, stderr) = push(&env, &repo, &["agents/auth"]);
    assert_ne!(code, 0, "the push is refused:\n{stderr}");
    assert!(
        stderr.contains("push refused by the git-agents pre-push guard"),
        "{stderr}"
    );
    assert!(
        stderr.contains("refs/heads/agents/auth: agents/auth would publish changes outside the files task `auth` owns (src/auth/**)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("    docs/x.md\n") && stderr.contains("    src/billing/mod.rs\n"),
        "{stderr}"
    );
    assert_eq!(
        env.refs(&env.root().join("shared.git")),
        remote_before,
        "nothing was published"
    );

    // A dependent task's branch starts from its dependency's work: only its
    // own commits are judged.
    env.git(&repo, &["switch", "-q", "-c", "agents/guide", "main"]);
    env.git(&repo, &["merge", "-q", "--no-ff", "--no-edit", "agents/auth"]);
    write_files(&repo, &[("docs/auth.md", "how to log in\n")]);
    env.git(&repo, &["add", "-A"]);
    env.git(&repo, &["commit", "-q", "-m", "document auth"]);
    env.git(&repo, &["switch", "-q", "main"]);
    let (code, stderr) = push(&env, &repo, &["agents/guide"]);
    assert_eq!(code, 0, "the dependency's commits are not the dependent's:\n{stderr}");

    // Any other branch, and tags, pass untouched.
    commit_on(&env, &repo, "feature", &[("docs/guide.md", "anything\n")]);
    assert_eq!(push(&env, &repo, &["feature"]).0, 0);
    assert_eq!(
        push(&env, &repo, &["--no-verify", "agents/auth"]).0,
        0,
        "--no-verify skips the guard"
    );
}

#[test]
fn the_base_may_publish_agent_merges_only_with_a_passed_test_note() {
    let env = TestEnv::new();
    let repo = guarded(&env);
    auth_done(&env, &repo);
    env.run(&repo, &["merge", "-q", "--test", "true"]).success();
    assert_eq!(push(&env, &repo, &["main"]).0, 0, "a tested merge passes");

    // A merge commit made by hand that claims to be agent work, with no note.
    env.git(
        &repo,
        &[
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "Merge agents/billing\n\nAgent-Task: billing",
        ],
    );
    let (code, stderr) = push(&env, &repo, &["main"]);
    assert_ne!(code, 0, "{stderr}");
    insta::assert_snapshot!(judge(&env, &repo, "refs/heads/main", "main", "origin/main"), @"
    error: push refused by the git-agents pre-push guard
      refs/heads/main: main would publish merges of agent work without a passed test
        [main] Merge agents/billing (task `billing`: no test note)
    hint: land agent work with `git agents merge --test CMD` (it notes each tested commit); if the notes are on another machine, fetch them: `git fetch origin refs/notes/agents:refs/notes/agents`
    hint: to push anyway (the guard is advice, not a lock): `git push --no-verify`
    [exit status: 1]
    ");
}

#[test]
fn the_target_of_a_stopped_merge_cannot_be_pushed() {
    let env = TestEnv::new();
    let repo = guarded(&env);
    auth_done(&env, &repo);
    // main changes the same file meanwhile: the merge stops on a conflict.
    write_files(&repo, &[("src/auth/mod.rs", "pub fn login3() {}\n")]);
    env.git(&repo, &["commit", "-q", "-am", "hotfix auth"]);
    assert_eq!(env.run(&repo, &["merge", "-q"]).code, 3);
    let (code, stderr) = push(&env, &repo, &["main"]);
    assert_ne!(code, 0, "{stderr}");
    assert!(
        stderr.contains("refs/heads/main: a merge into main is stopped at task `auth`"),
        "{stderr}"
    );
    assert!(stderr.contains("git agents merge --abort"), "{stderr}");
    env.run(&repo, &["merge", "--abort", "-q"]).success();
    assert_eq!(push(&env, &repo, &["main"]).0, 0, "after the abort, main goes out");
}

#[test]
fn install_keeps_an_existing_hook_only_when_chained() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    env.git(&repo, &["config", "core.hooksPath", ".githooks"]);
    let hooks = repo.join(".githooks");
    std::fs::create_dir_all(&hooks).expect("hooks dir");
    let seen_path = env.root().join("seen-by-old-hook");
    let theirs = format!(
        "#!/bin/sh\n[ \"$(basename \"$0\")\" = pre-push ] || exit 9\ncat > '{}'\n",
        seen_path.display()
    );
    let hook = hooks.join("pre-push");
    std::fs::write(&hook, &theirs).expect("old hook");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let out = env.run(&repo, &["hook", "install"]);
    insta::assert_snapshot!(out, @"
    ------- stderr -------
    error: a pre-push hook already exists at [ROOT]/repo/.githooks/pre-push
    hint: keep it and run it before the guard: `git agents hook install --chain`
    hint: or move it away yourself and run `git agents hook install` again
    [exit status: 2]
    ");
    assert_eq!(std::fs::read_to_string(&hook).expect("hook"), theirs, "left as it was");

    env.run(&repo, &["hook", "install", "--chain", "-q"]).success();
    env.run(&repo, &["hook", "install"]).success();
    env.git(env.root(), &["init", "-q", "--bare", "shared.git"]);
    env.git(&repo, &["remote", "add", "origin", "../shared.git"]);
    assert_eq!(push(&env, &repo, &["main"]).0, 0);
    let seen = std::fs::read_to_string(&seen_path).expect("the old hook ran");
    assert!(
        seen.starts_with("refs/heads/main "),
        "the old hook got git's lines: {seen}"
    );

    let out = env.run(&repo, &["hook", "uninstall"]);
    out.success();
    assert_eq!(
        std::fs::read_to_string(&hook).expect("hook"),
        theirs,
        "restored byte for byte"
    );
    let out = env.run(&repo, &["hook", "uninstall"]);
    assert_eq!(out.code, 2, "{out}");
    std::fs::remove_file(&hook).expect("rm");
    insta::assert_snapshot!(env.run(&repo, &["hook", "uninstall"]), @"
    no pre-push hook is installed; nothing to do
    [exit status: 0]
    ");
}

/// The bare remote's `refs/heads/<branch>`, or "" when it has no such branch.
fn remote_tip(env: &TestEnv, branch: &str) -> String {
    let out = env
        .command("git", &env.root().join("shared.git"))
        .args(["rev-parse", "-q", "--verify", &format!("refs/heads/{branch}")])
        .output()
        .expect("git rev-parse");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn short(env: &TestEnv, repo: &Path, rev: &str) -> String {
    env.git(repo, &["rev-parse", "--short=7", rev]).trim().to_string()
}

#[test]
fn a_hand_merge_of_task_work_into_the_base_is_refused() {
    let env = TestEnv::new();
    let repo = guarded(&env);
    auth_done(&env, &repo);
    // The remote holding the task branch itself does not make its work
    // published on main: task branches are where agents hand work over.
    assert_eq!(push(&env, &repo, &["agents/auth"]).0, 0, "the task branch goes out");
    let work = short(&env, &repo, "agents/auth");
    env.git(&repo, &["merge", "-q", "--no-ff", "--no-edit", "agents/auth"]);
    let remote_main = remote_tip(&env, "main");

    let (code, stderr) = push(&env, &repo, &["main"]);
    assert_ne!(code, 0, "the hand merge is refused:\n{stderr}");
    assert_eq!(remote_tip(&env, "main"), remote_main, "remote main did not move");
    assert!(
        stderr.contains(&format!("    {work} work on agents/auth (task `auth`)\n")),
        "{stderr}"
    );
    insta::assert_snapshot!(
        judge(&env, &repo, "refs/heads/main", "main", "origin/main").replace(&work, "[agents/auth]"),
        @"
    error: push refused by the git-agents pre-push guard
      refs/heads/main: main would publish work of task `auth` that no tested `git agents merge` landed
        [agents/auth] work on agents/auth (task `auth`)
    hint: undo the hand merge or fast-forward (the work stays on its task branch) and land it with `git agents merge --test CMD`, which tests each merge and notes it
    hint: to push anyway (the guard is advice, not a lock): `git push --no-verify`
    [exit status: 1]
    "
    );

    // `git agents merge` afterwards finds the work on main already and only
    // records it as merged: that tests nothing, so the push stays refused.
    env.run(&repo, &["merge", "-q", "--test", "true"]).success();
    let (code, stderr) = push(&env, &repo, &["main"]);
    assert_ne!(code, 0, "still untested:\n{stderr}");
    assert_eq!(remote_tip(&env, "main"), remote_main);

    assert_eq!(
        push(&env, &repo, &["--no-verify", "main"]).0,
        0,
        "--no-verify skips the guard"
    );
    assert_published(&env, &repo, "main");
}

#[test]
fn a_hand_fast_forward_of_the_base_to_task_work_is_refused() {
    let env = TestEnv::new();
    let repo = guarded(&env);
    auth_done(&env, &repo);
    let work = short(&env, &repo, "agents/auth");
    env.git(&repo, &["merge", "-q", "--ff-only", "agents/auth"]);
    let remote_main = remote_tip(&env, "main");

    let (code, stderr) = push(&env, &repo, &["main"]);
    assert_ne!(code, 0, "the fast-forward is refused:\n{stderr}");
    assert!(
        stderr.contains("refs/heads/main: main would publish work of task `auth`"),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("    {work} work on agents/auth")), "{stderr}");
    assert_eq!(remote_tip(&env, "main"), remote_main, "remote main did not move");

    // Under a new name, with the task branch gone: the done head recorded in
    // the task's state still says whose work it is.
    env.git(&repo, &["branch", "-q", "-D", "agents/auth"]);
    let (code, stderr) = push(&env, &repo, &["main:refs/heads/release"]);
    assert_ne!(code, 0, "{stderr}");
    assert!(
        stderr.contains("refs/heads/release: main would publish work of task `auth`"),
        "{stderr}"
    );
    assert_eq!(remote_tip(&env, "release"), "", "no release branch was made");
}

#[test]
fn task_work_landed_by_git_agents_merge_may_be_pushed() {
    let env = TestEnv::new();
    let repo = guarded(&env);
    auth_done(&env, &repo);
    // guide builds on auth: its branch has auth's work merged in.
    env.run(&repo, &["claim", "guide", "--agent", "b"]).success();
    env.git(&repo, &["switch", "-q", "-c", "agents/guide", "main"]);
    env.git(&repo, &["merge", "-q", "--no-ff", "--no-edit", "agents/auth"]);
    write_files(&repo, &[("docs/auth.md", "how to log in\n")]);
    env.git(&repo, &["add", "-A"]);
    env.git(&repo, &["commit", "-q", "-m", "document auth"]);
    env.git(&repo, &["switch", "-q", "main"]);
    env.run(&repo, &["done", "guide", "--agent", "b"]).success();
    env.run(&repo, &["merge", "-q", "--test", "true"]).success();
    let (code, stderr) = push(&env, &repo, &["main"]);
    assert_eq!(code, 0, "tested merges pass:\n{stderr}");
    assert_published(&env, &repo, "main");

    // A squashed merge without a test command is an untested merge made on
    // purpose: its note says so, and it goes out too.
    env.run(&repo, &["claim", "billing", "--agent", "c"]).success();
    commit_on(
        &env,
        &repo,
        "agents/billing",
        &[("src/billing/mod.rs", "pub fn refund() {}\n")],
    );
    env.run(&repo, &["done", "billing", "--agent", "c"]).success();
    env.run(&repo, &["merge", "-q", "--squash"]).success();
    let (code, stderr) = push(&env, &repo, &["main"]);
    assert_eq!(code, 0, "a noted untested merge passes:\n{stderr}");
    assert_published(&env, &repo, "main");
}

#[test]
fn pushes_without_task_work_pass_while_tasks_are_done() {
    let env = TestEnv::new();
    let repo = guarded(&env);
    auth_done(&env, &repo);
    commit_on(&env, &repo, "feature", &[("docs/feature.md", "feature\n")]);
    let (code, stderr) = push(&env, &repo, &["feature"]);
    assert_eq!(code, 0, "{stderr}");
    assert_published(&env, &repo, "feature");

    write_files(&repo, &[("README.md", "# demo, edited by hand\n")]);
    env.git(&repo, &["commit", "-q", "-am", "edit the readme"]);
    env.git(&repo, &["merge", "-q", "--no-ff", "--no-edit", "feature"]);
    let (code, stderr) = push(&env, &repo, &["main"]);
    assert_eq!(code, 0, "{stderr}");
    assert_published(&env, &repo, "main");
}

#[test]
fn a_tested_merge_answers_only_for_the_work_it_brings() {
    let env = TestEnv::new();
    let repo = guarded(&env);
    auth_done(&env, &repo);
    env.run(&repo, &["merge", "-q", "--test", "true"]).success();
    // guide's branch was started before auth landed, with auth's work merged in.
    env.run(&repo, &["claim", "guide", "--agent", "b"]).success();
    env.git(&repo, &["switch", "-q", "-c", "agents/guide", "main~1"]);
    env.git(&repo, &["merge", "-q", "--no-ff", "--no-edit", "agents/auth"]);
    write_files(&repo, &[("docs/auth.md", "how to log in\n")]);
    env.git(&repo, &["add", "-A"]);
    env.git(&repo, &["commit", "-q", "-m", "document auth"]);
    env.git(&repo, &["switch", "-q", "main"]);
    env.run(&repo, &["done", "guide", "--agent", "b"]).success();
    env.run(&repo, &["claim", "billing", "--agent", "c"]).success();
    commit_on(
        &env,
        &repo,
        "agents/billing",
        &[("src/billing/mod.rs", "pub fn refund() {}\n")],
    );
    env.run(&repo, &["done", "billing", "--agent", "c"]).success();
    // Both merged by hand on top of auth's tested merge.
    env.git(&repo, &["merge", "-q", "--no-ff", "--no-edit", "agents/guide"]);
    env.git(&repo, &["merge", "-q", "--no-ff", "--no-edit", "agents/billing"]);
    let remote_main = remote_tip(&env, "main");
    let (code, stderr) = push(&env, &repo, &["main"]);
    assert_ne!(code, 0, "{stderr}");
    assert_eq!(remote_tip(&env, "main"), remote_main, "remote main did not move");

    let names = [
        ("agents/auth", "[auth]"),
        ("agents/guide~1", "[guide~1]"),
        ("agents/guide", "[guide]"),
        ("agents/billing", "[billing]"),
    ];
    let mut seen = judge(&env, &repo, "refs/heads/main", "main", "origin/main");
    for (rev, name) in names {
        seen = seen.replace(&short(&env, &repo, rev), name);
    }
    // auth's own commit came in through its tested merge and is not listed;
    // guide's branch merged auth's work in, yet only guide's commits are guide's.
    insta::assert_snapshot!(seen, @"
    error: push refused by the git-agents pre-push guard
      refs/heads/main: main would publish work of tasks `billing`, `guide` that no tested `git agents merge` landed
        [billing] work on agents/billing (task `billing`)
        [guide] document auth (task `guide`)
        [guide~1] Merge branch 'agents/auth' into agents/guide (task `guide`)
    hint: undo the hand merge or fast-forward (the work stays on its task branch) and land it with `git agents merge --test CMD`, which tests each merge and notes it
    hint: to push anyway (the guard is advice, not a lock): `git push --no-verify`
    [exit status: 1]
    ");
}

#[test]
fn commits_a_task_branch_was_started_from_are_not_its_work() {
    let env = TestEnv::new();
    let repo = guarded(&env);
    // A commit on main not pushed yet, then auth's branch starts from it.
    write_files(&repo, &[("README.md", "# demo, edited by hand\n")]);
    env.git(&repo, &["commit", "-q", "-am", "edit the readme"]);
    auth_done(&env, &repo);
    let (code, stderr) = push(&env, &repo, &["main"]);
    assert_eq!(code, 0, "main's own commit is not auth's work:\n{stderr}");
    assert_published(&env, &repo, "main");

    // The same with the commit still unpushed when auth lands by a tested merge.
    env.git(&repo, &["commit", "-q", "--allow-empty", "-m", "another one"]);
    env.run(&repo, &["requeue", "auth"]).success();
    auth_done(&env, &repo);
    env.run(&repo, &["merge", "-q", "--test", "true"]).success();
    let (code, stderr) = push(&env, &repo, &["main"]);
    assert_eq!(code, 0, "{stderr}");
    assert_published(&env, &repo, "main");
}

#[test]
fn hook_json_says_what_was_installed_and_which_refs_a_push_may_publish() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    std::fs::write(repo.join("agents.toml"), PLAN).expect("plan");
    env.run(&repo, &["plan", "--yes", "-q"]).success();
    let json = |out: &crate::common::Output| -> serde_json::Value {
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{out}"))
    };
    let hook = env.git(
        &repo,
        &["rev-parse", "--path-format=absolute", "--git-path", "hooks/pre-push"],
    );
    let out = env.run(&repo, &["hook", "install", "--json"]);
    out.success();
    let v = json(&out);
    assert_eq!(
        (v["action"].as_str(), v["changed"].as_bool()),
        (Some("install"), Some(true)),
        "{out}"
    );
    assert_eq!(v["hook"].as_str(), Some(hook.trim()));
    assert!(std::path::Path::new(hook.trim()).exists(), "the hook is there");
    assert_eq!(json(&env.run(&repo, &["hook", "--json", "install"]))["changed"], false);

    // A task branch reaching outside its task: refused, the reason per ref.
    commit_on(&env, &repo, "agents/auth", &[("docs/x.md", "x\n")]);
    let tip = env.git(&repo, &["rev-parse", "agents/auth"]);
    let zero = "0".repeat(40);
    let mut child = env
        .command(BIN, &repo)
        .args(["hook", "pre-push", "origin", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the guard");
    let lines = format!(
        "refs/heads/agents/auth {tip} refs/heads/agents/auth {zero}\nrefs/heads/main {main} refs/heads/main {zero}\n",
        tip = tip.trim(),
        main = env.git(&repo, &["rev-parse", "main"]).trim()
    );
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(lines.as_bytes())
        .expect("feed");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(1), "still refused by its exit code");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(v["accepted"], false, "{v}");
    let refs = v["refs"].as_array().expect("refs");
    assert_eq!(refs.len(), 2, "{v}");
    assert_eq!(
        (refs[0]["remote_ref"].as_str(), refs[0]["accepted"].as_bool()),
        (Some("refs/heads/agents/auth"), Some(false))
    );
    assert!(
        refs[0]["refusals"][0]["problem"]
            .as_str()
            .is_some_and(|p| p.contains("outside the files task `auth` owns")),
        "{v}"
    );
    let items = refs[0]["refusals"][0]["items"].as_array().expect("items");
    assert!(items.iter().any(|i| i == "docs/x.md"), "{v}");
    assert_eq!(
        (
            refs[1]["accepted"].as_bool(),
            refs[1]["refusals"].as_array().map(Vec::len)
        ),
        (Some(true), Some(0)),
        "{v}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("push refused"),
        "people still read why"
    );

    let out = env.run(&repo, &["hook", "uninstall", "--json"]);
    out.success();
    assert_eq!(json(&out)["changed"], true, "{out}");
    assert!(!std::path::Path::new(hook.trim()).exists(), "the hook is gone");
}

#[test]
fn the_guard_judges_by_this_clones_state_without_reaching_the_shared_remote() {
    let env = TestEnv::new();
    let repo = guarded(&env);
    // The state is shared through a remote that cannot be reached: every
    // command that reads state fails on it, the guard never asks it.
    env.git(&repo, &["remote", "add", "state", "../nowhere.git"]);
    env.git(&repo, &["config", "agents.remote", "state"]);
    let out = env.run(&repo, &["status"]);
    assert_ne!(out.code, 0, "status reads the shared remote: {out}");
    assert!(out.stderr.contains("remote `state`"), "{out}");

    commit_on(
        &env,
        &repo,
        "agents/auth",
        &[("src/auth/mod.rs", "pub fn login2() {}\n")],
    );
    let (code, stderr) = push(&env, &repo, &["agents/auth"]);
    assert_eq!(code, 0, "owned changes pass:\n{stderr}");
    assert_published(&env, &repo, "agents/auth");

    // It still judges, by the plan this clone holds.
    env.git(&repo, &["switch", "-q", "agents/auth"]);
    write_files(&repo, &[("src/billing/mod.rs", "// auth was here\n")]);
    env.git(&repo, &["commit", "-q", "-am", "reach into billing"]);
    env.git(&repo, &["switch", "-q", "main"]);
    let (code, stderr) = push(&env, &repo, &["agents/auth"]);
    assert_ne!(code, 0, "the push is refused:\n{stderr}");
    assert!(
        stderr.contains("would publish changes outside the files task `auth` owns"),
        "{stderr}"
    );
    assert!(
        !repo.join(".git/agents/follows-state").exists(),
        "the guard never synced with the remote"
    );
}
