//! `git agents clean`: worktrees and merged branches go, work never does.

use crate::common::{TestEnv, BIN};

fn spawned(env: &TestEnv) -> std::path::PathBuf {
    let plan = format!(
        "[agent]\ncommand = [\"{BIN}\", \"scripted-agent\"]\n\n[[task]]\nid = \"a\"\nowns = [\"docs/a.md\"]\nprompt = \"agent: write docs/a.md a\"\n\n[[task]]\nid = \"b\"\nowns = [\"docs/b.md\"]\nprompt = \"agent: write docs/b.md b\"\n"
    );
    let repo = env.planned_repo(&plan);
    env.run(&repo, &["spawn", "2"]).success();
    repo
}

#[test]
fn clean_keeps_work_unless_forced_and_then_backs_it_up() {
    let env = TestEnv::new();
    let repo = spawned(&env);
    let worktrees = repo.with_file_name("repo.agents");
    // Branch a is merged into main; b is not. agent-2's worktree gets a stray edit.
    env.git(&repo, &["merge", "-q", "--ff-only", "agents/a"]);
    std::fs::write(worktrees.join("agent-2/scratch.txt"), "unsaved notes\n").expect("dirty");
    let out = env.run(&repo, &["clean"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stdout.contains("removed worktree") && out.stdout.contains("deleted branch agents/a"),
        "{out}"
    );
    assert!(
        out.stderr.contains("worktree") && out.stderr.contains("has uncommitted changes"),
        "{out}"
    );
    assert!(out.stderr.contains("branch agents/b is not merged into main"), "{out}");
    assert!(worktrees.join("agent-2/scratch.txt").exists(), "dirty work is kept");
    assert!(env.refs(&repo).contains("refs/heads/agents/b "));
    let b_tip = env.git(&repo, &["rev-parse", "agents/b"]);

    let out = env.run(&repo, &["clean", "--force"]);
    out.success();
    assert!(!worktrees.exists(), "{out}");
    let refs = env.refs(&repo);
    assert!(!refs.contains("refs/heads/agents/"), "{refs}");
    let backup = env.git(&repo, &["rev-parse", "refs/agents/backup/agents-b"]);
    assert_eq!(backup, b_tip, "the unmerged branch is backed up");
    let saved = env.git(&repo, &["show", "refs/agents/backup/worktree-agent-2:scratch.txt"]);
    assert_eq!(saved, "unsaved notes\n", "the dirty worktree is backed up");
    assert!(
        out.stderr
            .contains("restore it with `git branch agents/b refs/agents/backup/agents-b`"),
        "{out}"
    );
    assert!(refs.contains("refs/agents/tasks/done/a "), "task history stays");

    let out = env.run(&repo, &["clean", "--all"]);
    assert_eq!(out.code, 2, "--all needs confirmation: {out}");
    env.run(&repo, &["clean", "--all", "--yes"]).success();
    let refs = env.git(&repo, &["for-each-ref", "--format=%(refname)", "refs/agents"]);
    assert_eq!(
        refs,
        "refs/agents/backup/agents-b\nrefs/agents/backup/worktree-agent-2\n"
    );
}

#[test]
fn clean_json_lists_what_went_what_stayed_and_the_backups() {
    let env = TestEnv::new();
    let repo = spawned(&env);
    let worktrees = repo.with_file_name("repo.agents");
    env.git(&repo, &["merge", "-q", "--ff-only", "agents/a"]);
    std::fs::write(worktrees.join("agent-2/scratch.txt"), "unsaved notes\n").expect("dirty");
    let json = |out: &crate::common::Output| -> serde_json::Value {
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{out}"))
    };
    let out = env.run(&repo, &["clean", "--json"]);
    assert_eq!(out.code, 1, "work was kept: {out}");
    let v = json(&out);
    let agent = |n: u32| worktrees.join(format!("agent-{n}")).canonicalize().unwrap_or_default();
    let kept = v["kept"].as_array().expect("kept");
    assert!(
        kept.iter()
            .any(|k| k["kind"] == "worktree" && k["why"] == "uncommitted changes"),
        "{v}"
    );
    assert!(
        kept.iter()
            .any(|k| k["branch"] == "agents/b" && k["why"] == "not merged into main"),
        "{v}"
    );
    assert!(
        v["removed"]
            .as_array()
            .expect("removed")
            .iter()
            .any(|r| r["branch"] == "agents/a"),
        "{v}"
    );
    assert!(agent(2).join("scratch.txt").exists(), "what it says it kept is there");
    assert!(out.stderr.contains("kept 2 item(s) that hold work"), "{out}");

    let out = env.run(&repo, &["clean", "--force", "--json"]);
    out.success();
    let v = json(&out);
    let removed = v["removed"].as_array().expect("removed");
    let b = removed
        .iter()
        .find(|r| r["branch"] == "agents/b")
        .expect("agents/b removed");
    assert_eq!(b["backup"], "refs/agents/backup/agents-b", "{v}");
    let tree = removed
        .iter()
        .find(|r| r["kind"] == "worktree")
        .expect("worktree removed");
    let backup = tree["backup"].as_str().expect("the dirty worktree was backed up");
    assert_eq!(
        env.git(&repo, &["show", &format!("{backup}:scratch.txt")]),
        "unsaved notes\n"
    );
    assert_eq!(v["kept"].as_array().map(Vec::len), Some(0), "{v}");
    assert!(!worktrees.exists());
}
