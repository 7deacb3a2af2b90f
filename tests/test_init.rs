//! `git agents init`: the template it writes is a valid plan, and it never
//! overwrites a plan by accident.

use crate::common::TestEnv;

#[test]
fn writes_a_template_that_validates() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    let out = env.run(&repo.join("src"), &["init"]);
    out.success();
    let written = std::fs::read_to_string(repo.join("agents.toml")).expect("template written at the root");
    assert!(written.contains("[[task]]"));
    let out = env.run(&repo, &["plan"]);
    insta::assert_snapshot!(out, @"
    2 tasks in 2 waves, base `main` (10 tracked files)

    wave 1
      example-docs    1 file  Write the usage guide

    wave 2
      example-readme  1 file  Link the usage guide from the README  after example-docs

    1 task can run at once; the longest dependency chain has 2 tasks
    ------- stderr -------
    warning: the plan is effectively sequential: every wave holds one task, so only one agent can work at a time
    error: the plan is valid but was not recorded
    hint: there is no terminal to ask on: run `git agents plan --yes` to record it
    [exit status: 6]
    ");
}

#[test]
fn refuses_to_overwrite_without_force() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    std::fs::write(repo.join("agents.toml"), "# mine\n").expect("write");
    let out = env.run(&repo, &["init"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("already exists"), "{out}");
    assert!(out.stderr.contains("--force"), "{out}");
    assert_eq!(
        std::fs::read_to_string(repo.join("agents.toml")).expect("read"),
        "# mine\n"
    );
    env.run(&repo, &["init", "--force"]).success();
    assert_ne!(
        std::fs::read_to_string(repo.join("agents.toml")).expect("read"),
        "# mine\n"
    );
}

/// The template's command is the claude preset, which the real-CLI tests
/// prove; an old template command (`claude -p {prompt}`, no permission to
/// write, only the raw prompt) cannot come back unnoticed.
#[test]
fn the_template_runs_a_tested_preset() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    env.run(&repo, &["init"]).success();
    let written = std::fs::read_to_string(repo.join("agents.toml")).expect("template");
    let plan: toml::Value = toml::from_str(&written).expect("toml");
    let command = plan["agent"]["command"].as_array().expect("[agent] command").clone();
    let presets = env.run(&repo, &["presets", "--json"]);
    presets.success();
    let presets: serde_json::Value = serde_json::from_str(&presets.stdout).expect("json");
    let claude = presets
        .as_array()
        .expect("list")
        .iter()
        .find(|p| p["preset"] == "claude")
        .expect("claude preset");
    let argv: Vec<&str> = claude["argv"]
        .as_array()
        .expect("argv")
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    let command: Vec<&str> = command.iter().filter_map(|a| a.as_str()).collect();
    assert_eq!(command, argv);
}

#[test]
fn the_template_bases_the_plan_on_the_branch_you_are_on() {
    let env = TestEnv::new();
    let repo = env.repo("repo", crate::common::BASIC_FILES);
    env.git(&repo, &["branch", "-m", "main", "master"]);
    env.run(&repo, &["init"]).success();
    let written = std::fs::read_to_string(repo.join("agents.toml")).expect("template");
    assert!(written.contains("\nbase = \"master\"\n"), "{written}");
    env.run(&repo, &["plan", "--yes"]).success();
}

/// After `init`, a command that needs a recorded plan says to record the
/// agents.toml that is there, not to write one.
#[test]
fn without_a_recorded_plan_the_hint_follows_what_is_there() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    let out = env.run(&repo, &["claim", "--next", "--agent", "me"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("no plan is recorded yet"), "{out}");
    assert!(out.stderr.contains("`git agents init`"), "no agents.toml yet: {out}");
    env.run(&repo, &["init"]).success();
    let out = env.run(&repo.join("src"), &["claim", "--next", "--agent", "me"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(!out.stderr.contains("git agents init"), "{out}");
    assert!(
        out.stderr
            .contains("agents.toml is written: check and record it with `git agents plan`"),
        "{out}"
    );
}

#[test]
fn init_json_says_what_was_written_where() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    let out = env.run(&repo.join("src"), &["init", "--json"]);
    out.success();
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    let path = repo.join("agents.toml");
    assert_eq!(json["path"], path.display().to_string(), "{out}");
    assert_eq!(json["base"], "main", "{out}");
    assert_eq!(json["tasks"], 2, "{out}");
    assert_eq!(json["replaced"], false, "{out}");
    assert_eq!(json["next"], "git agents plan", "{out}");
    assert_eq!(
        std::fs::read_to_string(&path).expect("written"),
        std::fs::read_to_string(crate::common::fixture("template.toml")).expect("template")
    );
    // Refused: the error, and no JSON claiming a write.
    let out = env.run(&repo, &["init", "--json"]);
    assert_eq!(out.code, 2, "{out}");
    assert_eq!(out.stdout, "", "{out}");
    let out = env.run(&repo, &["init", "--json", "--force"]);
    out.success();
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(json["replaced"], true, "{out}");
}
