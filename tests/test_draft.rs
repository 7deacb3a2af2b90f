//! `git agents plan --draft`: a planning agent (the scripted
//! `fixtures/draft/planner.sh`) drafts agents.toml, the validator sends the
//! problems back, and the accepted draft is written, never recorded.

use std::path::PathBuf;

use crate::common::TestEnv;

fn planner() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/draft/planner.sh")
        .display()
        .to_string()
}

/// The worktrees git knows of: only the main one once a draft is over.
fn worktrees(env: &TestEnv, repo: &std::path::Path) -> usize {
    env.git(repo, &["worktree", "list", "--porcelain"])
        .lines()
        .filter(|l| l.starts_with("worktree "))
        .count()
}

#[test]
fn an_overlapping_first_draft_is_refused_and_the_fixed_second_is_written_not_recorded() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    let refs_before = env.refs(&repo);
    let planner = planner();
    let out = env.run(
        &repo,
        &["plan", "--draft", "Add auth and billing", "--", "sh", &planner],
    );
    insta::assert_snapshot!(out, @r#"
    3 tasks in 2 waves, base `main` (10 tracked files)

    wave 1
      auth     4 files  Implement auth
      billing  2 files  Charge customers

    wave 2
      lib       1 file  Export auth from the library  after auth

    2 tasks can run at once; the longest dependency chain has 2 tasks
    ------- stderr -------
    round 1: `sh` is drafting the plan (output in ./.git/agents/logs/draft.1.log)
    round 1: refused, 1 problem; sent back to the agent
      agents.draft.toml:18:6: tasks `auth` and `lib` may run at the same time but both own src/lib.rs: `src/lib.rs` of `auth` and `src/lib.rs` of `lib`
        = narrow `owns` of one of them, or add depends_on = ["auth"] to `lib`
    round 2: `sh` is drafting the plan (output in ./.git/agents/logs/draft.2.log)
    round 2: the draft is a valid plan
    wrote agents.toml (3 tasks, drafted in 2 rounds); review it, then record it with `git agents plan --yes`
    [exit status: 0]
    "#);
    assert_eq!(out.code, 0, "{out}");
    let written = std::fs::read_to_string(repo.join("agents.toml")).expect("agents.toml written");
    assert!(written.contains("id = \"lib\"\ndepends_on = [\"auth\"]\n"), "{written}");
    // The second brief carried the first round's problem, with its position.
    let second = std::fs::read_to_string(repo.join(".git/agents/prompts/draft-2.md")).expect("brief 2");
    assert!(second.contains("## Problems in your last draft"), "{second}");
    assert!(
        second.contains("agents.draft.toml:18:6: tasks `auth` and `lib` may run at the same time"),
        "{second}"
    );
    // Nothing recorded, the scratch worktree gone.
    assert_eq!(env.refs(&repo), refs_before);
    assert_eq!(worktrees(&env, &repo), 1);
    assert!(!env.root().join("repo.agents/plan-draft").exists());
    // The human confirms: the written draft is the plan `plan --yes` records.
    env.run(&repo, &["plan", "--yes", "-q"]).success();
    assert!(env.refs(&repo).contains("refs/agents/tasks/available/lib"));
}

#[test]
fn a_draft_that_never_validates_exits_2_and_writes_nothing() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    let refs_before = env.refs(&repo);
    let planner = planner();
    let out = env.run(
        &repo,
        &[
            "plan", "--draft", "Add auth", "--rounds", "2", "--", "sh", &planner, "stubborn",
        ],
    );
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr
            .contains("error: the agent's draft is still not a valid plan after 2 rounds"),
        "{out}"
    );
    assert!(out.stderr.contains("round 2: refused, 1 problem\n"), "{out}");
    assert!(out.stderr.contains("both own src/lib.rs"), "{out}");
    assert!(!repo.join("agents.toml").exists());
    assert_eq!(env.refs(&repo), refs_before);
    assert_eq!(worktrees(&env, &repo), 1);
}

#[test]
fn an_existing_plan_file_is_kept_unless_force() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    std::fs::write(repo.join("agents.toml"), "mine\n").expect("write");
    let planner = planner();
    let args = ["plan", "--draft", "Add auth", "--", "sh", &planner];
    let out = env.run(&repo, &args);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("error: agents.toml already exists"), "{out}");
    assert_eq!(
        std::fs::read_to_string(repo.join("agents.toml")).expect("read"),
        "mine\n"
    );
    // Refused before any agent ran.
    assert!(!repo.join(".git/agents/logs/draft.1.log").exists());

    let mut forced = args.to_vec();
    forced.insert(3, "--force");
    env.run(&repo, &forced).success();
    assert!(std::fs::read_to_string(repo.join("agents.toml"))
        .expect("read")
        .contains("[[task]]"));
}

#[test]
fn a_sequential_draft_suggests_one_agent_and_the_placeholder_names_the_draft_file() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    let script = r#"printf '%s\n' '# sequential: every step edits src/lib.rs' 'base = "main"' '[[task]]' 'id = "all"' 'owns = ["src/**"]' 'test = "true"' 'prompt = "Do it all."' > "$1""#;
    // The same draft each time, with `extra` options before the command.
    let draft = |extra: &[&str]| {
        let mut args = vec!["plan", "--draft", "Rename the crate", "--write", "plans/one.toml"];
        args.extend_from_slice(extra);
        args.extend(["--", "sh", "-c", script, "sh", "{draft_file}"]);
        env.run(&repo, &args)
    };
    let out = draft(&[]);
    assert_eq!(out.code, 2, "the folder plans/ does not exist: {out}");
    std::fs::create_dir(repo.join("plans")).expect("mkdir");
    let out = draft(&["--json"]);
    assert_eq!(out.code, 0, "{out}");
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(json["sequential_reason"], "the agent says: every step edits src/lib.rs");
    assert_eq!(json["written"], true);
    assert_eq!(json["rounds"].as_array().map(Vec::len), Some(1));
    assert!(repo.join("plans/one.toml").exists());
    std::fs::remove_file(repo.join("plans/one.toml")).expect("rm");
    let out = draft(&[]);
    assert!(
        out.stderr.contains("the work is sequential (the agent says: every step edits src/lib.rs): run one agent, `git agents plan plans/one.toml --yes && git agents spawn 1`"),
        "{out}"
    );
}

/// The real Claude Code against the scripted model server of the real-agents
/// tests: the model's one scripted action is to run the planner fixture with
/// its shell tool, so the draft (and its fix) come through the CLI, and the
/// requests show what the CLI was told each round.
#[test]
fn claude_drafts_through_the_planning_brief_and_fixes_the_draft_in_round_two() {
    use crate::test_real_agents::{cli_env, clis, ModelServer};
    let bin = clis();
    let env = TestEnv::new();
    let repo = env.basic_repo();
    let refs_before = env.refs(&repo);
    let server = ModelServer::start(env.root());
    let mut vars = cli_env("claude", &server, &env.root().join("home"));
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    vars.push(("PATH".into(), path));
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let goal = format!("Add auth and billing.\nmodel: run sh {}", planner());

    let out = env.run_with(&repo, &["plan", "--draft", &goal, "--agent", "claude"], &vars);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stderr
            .contains("round 1: refused, 1 problem; sent back to the agent"),
        "{out}"
    );
    assert!(out.stderr.contains("round 2: the draft is a valid plan"), "{out}");
    let written = std::fs::read_to_string(repo.join("agents.toml")).expect("agents.toml written");
    assert!(written.contains("depends_on = [\"auth\"]"), "{written}");
    assert_eq!(env.refs(&repo), refs_before);

    let requests = server.requests();
    let turns: Vec<&String> = requests
        .iter()
        .map(|(_, body)| body)
        .filter(|b| b.contains("# Plan the work: draft agents.toml"))
        .collect();
    for needle in [
        "## The agents.toml schema",
        "- src/auth/mod.rs",
        "must own disjoint files",
        "plan-draft/agents.draft.toml",
    ] {
        assert!(turns.iter().all(|b| b.contains(needle)), "{needle} missing: {turns:?}");
    }
    assert!(
        turns.iter().any(|b| b.contains("round 2 of at most 3")
            && b.contains("agents.draft.toml:18:6: tasks `auth` and `lib` may run at the same time")),
        "no request carried round 1's problems: {turns:?}"
    );
    let escapes = requests.iter().filter(|(m, _)| m.starts_with("CONNECT")).count();
    assert_eq!(escapes, 0, "the CLI tried to leave the machine");
}
