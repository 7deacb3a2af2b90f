//! "Is this branch merged?" must be exact: equal commit dates (a fast run, a
//! pinned GIT_COMMITTER_DATE) and dates that go backwards (skewed clocks
//! sharing one remote) must not make a merged task branch look unmerged.

use std::path::Path;

use crate::common::TestEnv;

/// The local task branches `agents/*`, one short name a line.
fn task_branches(env: &TestEnv, repo: &Path) -> String {
    env.git(repo, &["branch", "--list", "agents/*", "--format=%(refname:short)"])
}

#[test]
fn clean_removes_branches_merged_by_commits_with_equal_dates() {
    // TestEnv pins every author and committer date to one instant.
    let env = TestEnv::new();
    let dir = env.root().join("demo");
    env.run(env.root(), &["demo", "--dir", dir.to_str().expect("utf8")])
        .success();
    let branches = task_branches(&env, &dir);
    assert_eq!(
        branches.lines().count(),
        6,
        "the demo leaves its task branches: {branches}"
    );
    for branch in branches.lines() {
        // git itself agrees every one of them is merged.
        env.git(&dir, &["merge-base", "--is-ancestor", branch, "main"]);
    }

    let out = env.run(&dir, &["clean"]);
    out.success();
    for branch in branches.lines() {
        assert!(out.stdout.contains(&format!("deleted branch {branch}\n")), "{out}");
    }
    assert!(!out.stderr.contains("not merged"), "{out}");
    let refs = env.refs(&dir);
    assert!(!refs.contains("refs/heads/agents/"), "merged branches are gone: {refs}");
    assert!(refs.contains("refs/heads/main "), "{refs}");
    assert!(
        !refs.contains("refs/agents/backup/"),
        "nothing was unmerged, so nothing is backed up: {refs}"
    );
}

/// Runs git in `repo` with author and committer dated `date`.
fn git_at(env: &TestEnv, repo: &Path, date: &str, args: &[&str]) {
    let out = env
        .command("git", repo)
        .env("GIT_AUTHOR_NAME", "Fixture")
        .env("GIT_AUTHOR_EMAIL", "fixture@example.com")
        .env("GIT_COMMITTER_NAME", "Fixture")
        .env("GIT_COMMITTER_EMAIL", "fixture@example.com")
        .env("GIT_AUTHOR_DATE", date)
        .env("GIT_COMMITTER_DATE", date)
        .args(args)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes `path` and commits it, dated `date`.
fn commit_at(env: &TestEnv, repo: &Path, date: &str, path: &str, text: &str) {
    crate::common::write_files(repo, &[(path, text)]);
    git_at(env, repo, date, &["add", path]);
    git_at(env, repo, date, &["commit", "-q", "-m", &format!("{path}: {text}")]);
}

const PLAN: &str = r#"
[[task]]
id = "x"
owns = ["docs/x.md"]
prompt = "Write docs/x.md."

[[task]]
id = "y"
owns = ["docs/y.md"]
prompt = "Write docs/y.md."
"#;

#[test]
fn clean_sees_a_merge_through_commit_dates_that_go_backwards() {
    let env = TestEnv::new();
    let repo = env.planned_repo(PLAN);
    // Every commit below is older than its parent, as when machines with
    // clocks running behind keep building on one another's work.
    let mut day = 28;
    let mut next_date = || {
        day -= 1;
        format!("2025-12-{day:02}T12:00:00Z")
    };
    env.git(&repo, &["branch", "agents/y"]);
    env.git(&repo, &["branch", "agents/x"]);
    commit_at(&env, &repo, &next_date(), "docs/main.md", "main 1\n");
    // Task x starts from main (as the runner starts a task: a merge of its
    // base), does its work, and main merges it: the shape gix's merge_base
    // got wrong when every commit is older than its parents.
    env.git(&repo, &["checkout", "-q", "agents/x"]);
    git_at(
        &env,
        &repo,
        &next_date(),
        &["merge", "-q", "--no-ff", "-m", "start x", "main"],
    );
    for n in 1..=3 {
        commit_at(&env, &repo, &next_date(), "docs/x.md", &format!("x {n}\n"));
    }
    env.git(&repo, &["checkout", "-q", "main"]);
    git_at(
        &env,
        &repo,
        &next_date(),
        &["merge", "-q", "--no-ff", "-m", "merge x", "agents/x"],
    );
    for n in 2..=4 {
        commit_at(&env, &repo, &next_date(), "docs/main.md", &format!("main {n}\n"));
    }
    // agents/y has work of its own (dated long after everything else) that
    // main never took.
    env.git(&repo, &["checkout", "-q", "agents/y"]);
    commit_at(&env, &repo, "2026-06-01T00:00:00Z", "docs/y.md", "y\n");
    env.git(&repo, &["checkout", "-q", "main"]);
    let log = env.git(&repo, &["log", "--format=%H %ct %P", "main"]);
    let dates: std::collections::HashMap<&str, u64> = log
        .lines()
        .map(|l| {
            let mut words = l.split_whitespace();
            let id = words.next().expect("id");
            (id, words.next().expect("date").parse().expect("date"))
        })
        .collect();
    for line in log.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        for parent in &words[2..] {
            assert!(
                dates[parent] > dates[words[0]],
                "every commit is older than its parents:\n{log}"
            );
        }
    }
    env.git(&repo, &["merge-base", "--is-ancestor", "agents/x", "main"]);

    let out = env.run(&repo, &["clean"]);
    assert_eq!(out.code, 1, "the unmerged branch is kept: {out}");
    assert!(out.stdout.contains("deleted branch agents/x\n"), "{out}");
    assert!(out.stderr.contains("branch agents/y is not merged into main"), "{out}");
    assert!(!out.stderr.contains("agents/x"), "{out}");
    assert_eq!(task_branches(&env, &repo), "agents/y\n");
    let refs = env.refs(&repo);
    assert!(!refs.contains("refs/heads/agents/x "), "{refs}");
    assert!(!refs.contains("refs/agents/backup/"), "{refs}");
}
