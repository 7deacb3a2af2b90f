//! The ref guard and its backstop: agents (shell commands that misbehave)
//! cannot move refs other than their task branch, the human's git is left
//! alone, and `doctor` finds state refs that git-agents did not write.

use std::path::{Path, PathBuf};

use crate::common::{TestEnv, BASIC_FILES, BIN};
use crate::test_concurrency::plan_with;

/// A plan whose agent is `sh -c SCRIPT` (GIT_AGENTS_* in its environment).
fn shell_plan(script: &str, max_attempts: u32, tasks: &str) -> String {
    let script = script.replace('\\', "\\\\").replace('"', "\\\"");
    format!("[agent]\ncommand = [\"sh\", \"-c\", \"{script}\"]\nmax_attempts = {max_attempts}\n\n{tasks}")
}

fn task(id: &str, owns: &str, deps: &str) -> String {
    format!("[[task]]\nid = \"{id}\"\nowns = [\"{owns}\"]\ndepends_on = [{deps}]\nprompt = \"Do {id}.\"\n\n")
}

/// The value of `name`, or "" when there is no such ref.
fn tip(env: &TestEnv, repo: &Path, name: &str) -> String {
    let out = env
        .command("git", repo)
        .args(["rev-parse", "-q", "--verify", name])
        .output()
        .expect("git rev-parse");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn log_of(repo: &Path, task: &str) -> String {
    std::fs::read_to_string(repo.join(format!(".git/agents/logs/{task}.1.log"))).unwrap_or_default()
}

#[test]
fn an_agent_cannot_move_main() {
    let env = TestEnv::new();
    let script = "echo work > docs/a.md && git add -A && git commit -qm work \
                  && git update-ref refs/heads/main HEAD~0 || echo 'main stays'";
    let repo = env.planned_repo(&shell_plan(script, 1, &task("docs", "docs/a.md", "")));
    let main = tip(&env, &repo, "refs/heads/main");
    let out = env.run(&repo, &["spawn", "1"]);
    out.success();
    assert_eq!(tip(&env, &repo, "refs/heads/main"), main, "main did not move: {out}");
    // The task's own work is what it should be, on its own branch.
    assert_eq!(env.git(&repo, &["show", "agents/docs:docs/a.md"]), "work\n");
    assert!(env.refs(&repo).contains("refs/agents/tasks/done/docs "));
    let log = log_of(&repo, "docs");
    assert!(
        log.contains("refs/heads/main") && log.contains("may only move its task branch agents/docs"),
        "the agent was told why:\n{log}"
    );
    assert!(log.contains("main stays"), "{log}");
}

#[test]
fn an_agent_cannot_start_a_branch_of_its_own() {
    let env = TestEnv::new();
    let script = "git checkout -q -b my-feature; echo b > docs/b.md; git add -A; git commit -qm b; true";
    let repo = env.planned_repo(&shell_plan(script, 1, &task("docs", "docs/b.md", "")));
    let out = env.run(&repo, &["spawn", "1"]);
    out.success();
    assert_eq!(
        tip(&env, &repo, "refs/heads/my-feature"),
        "",
        "no branch was created: {out}"
    );
    // The commit went to the task branch instead.
    assert_eq!(env.git(&repo, &["show", "agents/docs:docs/b.md"]), "b\n");
    assert!(log_of(&repo, "docs").contains("refs/heads/my-feature"));
}

#[test]
fn an_agent_may_do_anything_on_its_own_branch() {
    let env = TestEnv::new();
    // Any failure fails the attempt (max 1): the task would be blocked.
    let script = "set -e; echo 1 > docs/own.md; git add -A; git commit -qm one; \
                  git commit -q --amend -m one-amended; echo 2 > docs/own.md; git stash -q; git stash pop -q; \
                  git commit -qam two; git reset -q --hard HEAD~1; git rebase -q main; \
                  git switch -q --detach; git switch -q \"$GIT_AGENTS_BRANCH\"; \
                  git pack-refs --all; git gc -q --no-prune; echo 3 > docs/own.md";
    let repo = env.planned_repo(&shell_plan(script, 1, &task("docs", "docs/own.md", "")));
    let out = env.run(&repo, &["spawn", "1"]);
    out.success();
    assert_eq!(env.git(&repo, &["show", "agents/docs:docs/own.md"]), "3\n");
    assert!(!log_of(&repo, "docs").contains("refusing"), "{}", log_of(&repo, "docs"));
}

#[test]
fn an_agent_cannot_forge_state_tags_or_notes() {
    let env = TestEnv::new();
    // `other` waits for `stuck`, which always fails: nothing but the forger
    // could ever write `other`'s refs.
    let script = "case $GIT_AGENTS_TASK in \
        forger) git update-ref refs/agents/tasks/done/other HEAD; \
                git update-ref refs/agents/agents/agent-9 HEAD; \
                git tag evil; git notes --ref=agents add -m forged HEAD; \
                echo f > docs/forger.md ;; \
        stuck) exit 1 ;; \
        *) echo o > docs/other.md ;; esac";
    let tasks = task("forger", "docs/forger.md", "")
        + &task("stuck", "docs/stuck.md", "")
        + &task("other", "docs/other.md", "\"forger\", \"stuck\"");
    let repo = env.planned_repo(&shell_plan(script, 1, &tasks));
    let out = env.run(&repo, &["spawn", "1"]);
    assert_eq!(out.code, 1, "stuck is blocked: {out}");
    let refs = env.refs(&repo);
    for forged in [
        "refs/agents/tasks/done/other",
        "refs/agents/agents/agent-9",
        "refs/tags/evil",
        "refs/notes/agents",
    ] {
        assert!(!refs.contains(&format!("{forged} ")), "{forged} was refused:\n{refs}");
    }
    assert!(refs.contains("refs/agents/tasks/available/other "), "{refs}");
    assert!(refs.contains("refs/agents/tasks/done/forger "), "{refs}");
    assert!(log_of(&repo, "forger").contains("refs/agents/tasks/done/other"));
    env.run(&repo, &["doctor"]).success();
}

#[test]
fn the_humans_own_git_is_untouched() {
    let env = TestEnv::new();
    let script = "echo e > docs/e.md";
    let repo = env.planned_repo(&shell_plan(script, 1, &task("docs", "docs/e.md", "")));
    env.run(&repo, &["spawn", "1", "-q"]).success();
    let hook = std::fs::read_to_string(repo.join(".git/hooks/reference-transaction")).expect("the hook");
    assert!(hook.contains("git-agents ref guard"), "{hook}");
    env.git(&repo, &["checkout", "-q", "-b", "x"]);
    std::fs::write(repo.join("notes.txt"), "mine\n").expect("write");
    env.git(&repo, &["add", "notes.txt"]);
    env.git(&repo, &["commit", "-q", "-m", "mine"]);
    env.git(&repo, &["tag", "v1"]);
    env.git(&repo, &["update-ref", "refs/heads/main", "x"]);
    assert_eq!(tip(&env, &repo, "refs/heads/main"), tip(&env, &repo, "refs/heads/x"));
    assert_ne!(tip(&env, &repo, "refs/tags/v1"), "");
    // A second spawn leaves the one hook as it is.
    env.run(&repo, &["spawn", "1", "-q"]).success();
    assert_eq!(
        std::fs::read_to_string(repo.join(".git/hooks/reference-transaction")).expect("hook"),
        hook
    );
    assert!(!repo.join(".git/hooks/git-agents-chained").exists());
}

#[test]
fn an_existing_hook_is_chained_where_core_hooks_path_points() {
    let env = TestEnv::new();
    let hooks = env.root().join("shared-hooks");
    std::fs::create_dir_all(&hooks).expect("hooks dir");
    let seen = env.root().join("seen");
    let theirs = format!(
        "#!/bin/sh\n[ \"$(basename \"$0\")\" = reference-transaction ] || exit 9\n\
         {{ echo \"$1\"; cat; }} >> '{}'\n",
        seen.display()
    );
    let hook = hooks.join("reference-transaction");
    std::fs::write(&hook, &theirs).expect("their hook");
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let script = "git update-ref refs/heads/main HEAD~0; echo c > docs/c.md";
    let repo = env.basic_repo();
    env.git(&repo, &["config", "core.hooksPath", &hooks.display().to_string()]);
    std::fs::write(
        repo.join("agents.toml"),
        shell_plan(script, 1, &task("docs", "docs/c.md", "")),
    )
    .expect("plan");
    env.run(&repo, &["plan", "--yes", "-q"]).success();
    let main = tip(&env, &repo, "refs/heads/main");
    env.run(&repo, &["spawn", "1", "-q"]).success();
    assert_eq!(tip(&env, &repo, "refs/heads/main"), main);
    assert!(std::fs::read_to_string(&hook)
        .expect("hook")
        .contains("git-agents ref guard"));
    let chained = hooks.join("git-agents-chained/reference-transaction");
    assert_eq!(std::fs::read_to_string(&chained).expect("chained"), theirs);
    // Their hook saw the agent's refused update too, and the human's commits.
    let before = std::fs::read_to_string(&seen).unwrap_or_default();
    assert!(before.contains("refs/heads/agents/docs"), "{before}");
    env.git(&repo, &["branch", "y"]);
    let after = std::fs::read_to_string(&seen).expect("seen");
    assert!(after[before.len()..].contains("prepared\n"), "{after}");
    assert!(after[before.len()..].contains(" refs/heads/y\n"), "{after}");
    env.run(&repo, &["spawn", "1", "-q"]).success();
    assert_eq!(
        std::fs::read_to_string(&chained).expect("chained"),
        theirs,
        "chained once"
    );
}

#[test]
fn a_hooks_path_inside_the_checkout_gets_a_warning_and_no_hook() {
    let env = TestEnv::new();
    let repo = env.planned_repo(&shell_plan("echo w > docs/w.md", 1, &task("docs", "docs/w.md", "")));
    // Relative: each worktree would read its own checkout's `.githooks`.
    env.git(&repo, &["config", "core.hooksPath", ".githooks"]);
    let out = env.run(&repo, &["spawn", "1"]);
    out.success();
    assert!(
        out.stderr.contains(
            "agents can move any ref: the ref guard is not installed: core.hooksPath points into the checkout"
        ),
        "{out}"
    );
    assert!(!repo.join(".githooks").exists(), "nothing written into the checkout");
}

/// A clone of a bare `shared.git` with `agents.remote = origin` and `plan` recorded.
fn shared_clone(env: &TestEnv, plan: &str) -> PathBuf {
    env.repo("src", BASIC_FILES);
    env.git(env.root(), &["clone", "-q", "--bare", "src", "shared.git"]);
    env.git(env.root(), &["clone", "-q", "shared.git", "repo"]);
    let repo = env.root().join("repo");
    env.git(&repo, &["config", "agents.remote", "origin"]);
    std::fs::write(repo.join("agents.toml"), plan).expect("plan");
    env.run(&repo, &["plan", "--yes", "-q"]).success();
    repo
}

#[test]
fn git_agents_own_git_commands_in_an_agent_still_work() {
    let env = TestEnv::new();
    let out = env.root().join("out");
    // The agent fetches refs/agents/* itself (refused), then asks git-agents,
    // whose fetch of the shared state goes through.
    let script = format!(
        "git push -q origin HEAD:refs/agents/probe; \
         git fetch -q origin '+refs/agents/*:refs/agents/*' || echo refused >> '{out}'; \
         '{BIN}' status >> '{out}' 2>&1; echo \"status exit $?\" >> '{out}'; \
         echo p > docs/p.md",
        out = out.display()
    );
    let repo = shared_clone(&env, &shell_plan(&script, 1, &task("docs", "docs/p.md", "")));
    env.run(&repo, &["spawn", "1", "-q"]).success();
    let said = std::fs::read_to_string(&out).expect("the agent's notes");
    assert!(said.starts_with("refused\n"), "{said}");
    assert!(said.contains("docs  claimed"), "{said}");
    assert!(said.ends_with("status exit 0\n"), "{said}");
    assert_ne!(tip(&env, &repo, "refs/agents/probe"), "", "git-agents fetched it");
}

/// Forges `name` as a person does it (no GIT_AGENTS_TASK): `git update-ref`.
fn forge(env: &TestEnv, repo: &Path, name: &str, value: &str) {
    env.git(repo, &["update-ref", name, value]);
}

#[test]
fn doctor_finds_forged_state_refs_and_deletes_them() {
    let env = TestEnv::new();
    let repo = env.planned_repo(&plan_with(3));
    env.run(&repo, &["claim", "t000", "--agent", "a"]).success();
    let claimed = tip(&env, &repo, "refs/agents/tasks/claimed/t000");
    let available = tip(&env, &repo, "refs/agents/tasks/available/t001");
    let main = tip(&env, &repo, "main");
    // Sorted before the real one: without a check, it would count as t000's state.
    forge(&env, &repo, "refs/agents/tasks/available/t000", "main");
    forge(&env, &repo, "refs/agents/tasks/done/t001", "main");
    let short = &main[..7];
    let before = env.refs(&repo);
    let out = env.run(&repo, &["doctor"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stdout.contains(&format!(
            "problem  refs/agents/tasks/available/t000: points at {short} (commit \"initial\"), which is not a git-agents state commit"
        )),
        "{out}"
    );
    assert!(
        out.stdout.contains(
            "delete it: `git agents doctor --fix` (task t000's history is at refs/agents/tasks/claimed/t000)"
        ),
        "{out}"
    );
    assert!(
        out.stdout.contains("problem  refs/agents/tasks/done/t001: points at"),
        "{out}"
    );
    assert!(
        !out.stdout.contains("two-states") && !out.stdout.contains("listed as"),
        "{out}"
    );
    assert_eq!(env.refs(&repo), before, "without --fix nothing changes");

    let out = env.run(&repo, &["doctor", "--fix"]);
    out.success();
    assert!(
        out.stdout.contains("fixed    refs/agents/tasks/available/t000"),
        "{out}"
    );
    assert_eq!(tip(&env, &repo, "refs/agents/tasks/available/t000"), "");
    assert_eq!(tip(&env, &repo, "refs/agents/tasks/done/t001"), "");
    assert_eq!(
        tip(&env, &repo, "refs/agents/tasks/claimed/t000"),
        claimed,
        "the real state stays"
    );
    assert_eq!(tip(&env, &repo, "refs/agents/tasks/available/t001"), available);
    env.run(&repo, &["doctor"]).success();
    env.run(&repo, &["done", "t000", "--agent", "a"]).success();
}

#[test]
fn doctor_moves_a_state_ref_back_past_a_forged_link() {
    let env = TestEnv::new();
    let repo = env.planned_repo(&plan_with(2));
    env.run(&repo, &["claim", "t000", "--agent", "a"]).success();
    let claimed = tip(&env, &repo, "refs/agents/tasks/claimed/t000");
    // A commit on top of the real history, holding the project's tree.
    let forged = env.git(
        &repo,
        &["commit-tree", "main^{tree}", "-p", &claimed, "-m", "done t000 by a"],
    );
    forge(&env, &repo, "refs/agents/tasks/claimed/t000", forged.trim());
    let out = env.run(&repo, &["doctor"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stdout.contains("no task.toml"), "{out}");
    assert!(
        out.stdout.contains(&format!(
            "move it back to {}, the last state commit in its history: `git agents doctor --fix`",
            &claimed[..7]
        )),
        "{out}"
    );
    env.run(&repo, &["doctor", "--fix", "-q"]).success();
    assert_eq!(tip(&env, &repo, "refs/agents/tasks/claimed/t000"), claimed);
    env.run(&repo, &["doctor"]).success();
}

#[test]
fn doctor_says_what_to_run_when_nothing_valid_is_left() {
    let env = TestEnv::new();
    let repo = env.planned_repo(&plan_with(3));
    let main = tip(&env, &repo, "main");
    env.git(&repo, &["update-ref", "-d", "refs/agents/tasks/available/t002"]);
    forge(&env, &repo, "refs/agents/tasks/done/t002", "main");
    forge(&env, &repo, "refs/agents/agents/mallory", "main");
    let out = env.run(&repo, &["doctor", "--fix"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stdout.contains(&format!(
            "git update-ref -d refs/agents/tasks/done/t002 {main} && git agents plan --yes"
        )),
        "{out}"
    );
    assert!(
        out.stdout.contains("problem  refs/agents/agents/mallory: points at"),
        "{out}"
    );
    assert!(
        out.stdout
            .contains(&format!("git update-ref -d refs/agents/agents/mallory {main}")),
        "{out}"
    );
    assert_eq!(tip(&env, &repo, "refs/agents/tasks/done/t002"), main, "left as it is");
    // Running what it says repairs it.
    env.git(&repo, &["update-ref", "-d", "refs/agents/tasks/done/t002", &main]);
    env.git(&repo, &["update-ref", "-d", "refs/agents/agents/mallory", &main]);
    env.run(&repo, &["plan", "--yes", "-q"]).success();
    env.run(&repo, &["doctor"]).success();
    assert_ne!(tip(&env, &repo, "refs/agents/tasks/available/t002"), "");
}
