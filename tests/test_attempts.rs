//! What one attempt promises, against shell agents that break it: the brief
//! reaches the agent whole, a retry is told why, failed work is kept, a
//! CLI's own state never lands, a broken command stops once, reasons are
//! the error and not the boilerplate, and stopping is SIGTERM first.

use std::path::Path;

use crate::common::TestEnv;

/// A plan whose agent is `sh -c SCRIPT` (GIT_AGENTS_* in its environment).
fn shell_plan(script: &str, tasks: &str) -> String {
    let script = script.replace('\\', "\\\\").replace('"', "\\\"");
    format!("[agent]\ncommand = [\"sh\", \"-c\", \"{script}\"]\nmax_attempts = 2\n\n{tasks}")
}

const TWO_TASKS: &str = r#"[[task]]
id = "one"
owns = ["src/one/**"]
test = "grep -qx good src/one/f || { echo CHECK-SAW-$(cat src/one/f); exit 1; }"
prompt = "- Make src/one/f say good."

[[task]]
id = "two"
owns = ["src/two/**"]
prompt = "Make src/two/f."
"#;

/// One task owning `src/one/**`.
const ONE_TASK: &str = r#"[[task]]
id = "one"
owns = ["src/one/**"]
prompt = "Make src/one/f."
"#;

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// An executable `name` holding `script` in a folder of its own; returns a
/// PATH with that folder first.
fn fake_program(env: &TestEnv, name: &str, script: &str) -> String {
    let bin = env.root().join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    let path = bin.join(name);
    std::fs::write(&path, script).expect("fake program");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default())
}

#[test]
fn the_brief_reaches_the_agent_and_a_retry_is_told_why() {
    let env = TestEnv::new();
    // Attempt 1 writes `bad`; every attempt keeps a copy of the text it was given as {brief}.
    let plan = r#"[agent]
command = ["sh", "-c", "printf '%s' \"$1\" > \"$GIT_AGENTS_BRIEF_FILE.seen-$GIT_AGENTS_ATTEMPT\"; mkdir -p src/$GIT_AGENTS_TASK; if [ $GIT_AGENTS_ATTEMPT = 1 ]; then echo bad; else echo good; fi > src/$GIT_AGENTS_TASK/f", "agent", "{brief}"]
max_attempts = 2

"#
    .to_string()
        + TWO_TASKS;
    let repo = env.planned_repo(&plan);
    let out = env.run(&repo, &["spawn", "1", "-q"]);
    out.success();
    assert!(out.stdout.starts_with("2 completed / 2 total"), "{out}");
    let prompts = repo.join(".git/agents/prompts");
    let first = read(&prompts.join("one.md.seen-1"));
    for needle in [
        "- Make src/one/f say good.",
        "`src/one/**`",
        "grep -qx good src/one/f",
        "attempt 1 of 2",
        "Change only the files you own",
    ] {
        assert!(first.contains(needle), "attempt 1's brief lacks {needle:?}:\n{first}");
    }
    assert!(!first.contains("Previous attempt"), "{first}");
    let second = read(&prompts.join("one.md.seen-2"));
    assert!(second.contains("## Previous attempt"), "{second}");
    assert!(
        second.contains("CHECK-SAW-bad"),
        "the retry sees the acceptance output:\n{second}"
    );
    let two = read(&prompts.join("two.md.seen-1"));
    assert!(two.contains("There is no acceptance command"), "{two}");

    // The failed attempt's commit is kept, not only in a reflog.
    let kept = env.git(&repo, &["show", "refs/agents/backup/one-attempt-1:src/one/f"]);
    assert_eq!(kept, "bad\n");
    // The reason is the acceptance's own line.
    let log = env.run(&repo, &["log", "one"]).stdout;
    assert!(log.contains("failed (exit 1): CHECK-SAW-bad"), "{log}");
}

#[test]
fn a_retry_after_an_ownership_failure_lists_the_rejected_paths() {
    let env = TestEnv::new();
    let script = "mkdir -p src/one; echo good > src/one/f; [ $GIT_AGENTS_ATTEMPT = 1 ] && echo oops >> README.md; cp \"$GIT_AGENTS_BRIEF_FILE\" \"$GIT_AGENTS_BRIEF_FILE.seen-$GIT_AGENTS_ATTEMPT\"; true";
    let repo = env.planned_repo(&shell_plan(script, ONE_TASK));
    env.run(&repo, &["spawn", "1", "-q"]).success();
    let second = read(&repo.join(".git/agents/prompts/one.md.seen-2"));
    assert!(second.contains("outside the files you own"), "{second}");
    assert!(second.contains("- `README.md`"), "{second}");
    assert_eq!(env.git(&repo, &["show", "agents/one:README.md"]), "# demo\n");
}

#[test]
fn a_command_that_cannot_start_stops_once_and_counts_no_attempt() {
    let env = TestEnv::new();
    // Like codex 0.171 given --full-auto: a usage error in no time.
    let script = "echo \"error: unexpected argument '--full-auto' found\" >&2; echo >&2; echo 'Usage: codex exec [OPTIONS] [PROMPT]' >&2; echo \"For more information, try '--help'.\" >&2; exit 2";
    let repo = env.planned_repo(&shell_plan(script, TWO_TASKS));
    let out = env.run(&repo, &["spawn", "2"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr
            .contains("the agent command cannot start: exit 2: error: unexpected argument '--full-auto' found"),
        "{out}"
    );
    assert!(out.stderr.contains("command: sh -c"), "the argv is shown: {out}");
    assert!(!out.stderr.contains("blocked"), "{out}");
    // Nothing was used up: both tasks wait, with no attempt counted.
    let status = env.run(&repo, &["status", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&status.stdout).expect("json");
    for task in json["tasks"].as_array().expect("tasks") {
        assert_eq!(task["state"], "available", "{task}");
        assert_eq!(task["attempts"], 0, "{task}");
    }
}

#[test]
fn a_reason_is_the_error_line_not_the_last_line() {
    let env = TestEnv::new();
    // A slow failure (not a start-up failure): the task fails its attempts.
    let script = "sleep 3.5; echo working; echo 'fatal: the model refused the edit' >&2; echo \"For more information, try '--help'.\" >&2; exit 1";
    let repo = env.planned_repo(&shell_plan(script, ONE_TASK).replace("max_attempts = 2", "max_attempts = 1"));
    let out = env.run(&repo, &["spawn", "1"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr
            .contains("one: agent exited with code 1: fatal: the model refused the edit"),
        "{out}"
    );
}

#[test]
fn a_clis_own_state_files_are_never_committed_nor_counted() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    // A fake `aider` (the name decides which state files are the CLI's) that
    // leaves its history behind and even commits one of its files.
    let path = fake_program(
        &env,
        "aider",
        "#!/bin/sh\nmkdir -p src/one .aider.tags.cache.v4\necho good > src/one/f\necho chat > .aider.chat.history.md\necho tags > .aider.tags.cache.v4/x\ngit add -f .aider.chat.history.md src/one/f\ngit -c user.name=a -c user.email=a@b commit -qm work\n",
    );
    std::fs::write(
        repo.join("agents.toml"),
        format!("[agent]\ncommand = [\"aider\"]\n\n{ONE_TASK}"),
    )
    .expect("plan");
    env.run(&repo, &["plan", "--yes", "-q"]).success();
    let out = env.run_with(&repo, &["spawn", "1"], &[("PATH", &path)]);
    out.success();
    let files = env.git(&repo, &["diff", "--name-only", "main", "agents/one"]);
    assert_eq!(files, "src/one/f\n", "only the task's file lands");
    assert!(
        !repo.join(".gitignore").exists(),
        "the user's .gitignore is never written"
    );
    let exclude = read(&repo.join(".git/info/exclude"));
    assert!(exclude.contains(".aider*"), "{exclude}");
    let worktree = repo.with_file_name("repo.agents").join("agent-1");
    assert_eq!(
        env.git(&worktree, &["status", "--porcelain"]),
        "",
        "state files are ignored"
    );
}

#[test]
fn a_timeout_sends_sigterm_first_and_the_agent_may_clean_up() {
    let env = TestEnv::new();
    let script = "trap 'echo got-term > \"$GIT_AGENTS_BRIEF_FILE.term\"; exit 143' TERM; sleep 30 & wait";
    let repo = env.planned_repo(&shell_plan(script, ONE_TASK).replace("max_attempts = 2", "max_attempts = 1"));
    let out = env.run(&repo, &["spawn", "1", "--timeout", "1s", "--grace", "5s"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("timed out after 1s"), "{out}");
    assert_eq!(read(&repo.join(".git/agents/prompts/one.md.term")), "got-term\n");
}

#[test]
fn dry_run_shows_the_argv_of_a_preset() {
    let env = TestEnv::new();
    let repo = env.planned_repo(&shell_plan("true", TWO_TASKS));
    // A stand-in `codex` on PATH: a dry run only needs the program to exist.
    let path = fake_program(&env, "codex", "#!/bin/sh\n");
    let out = env.run_with(
        &repo,
        &["spawn", "2", "--agent", "codex", "--dry-run"],
        &[("PATH", &path)],
    );
    insta::assert_snapshot!(out, @r#"
    command: codex exec --sandbox workspace-write --add-dir {git_common_dir} --add-dir {git_dir} -c sandbox_workspace_write.network_access=true --color never -- {brief}
    argv: ["codex","exec","--sandbox","workspace-write","--add-dir","{git_common_dir}","--add-dir","{git_dir}","-c","sandbox_workspace_write.network_access=true","--color","never","--","{brief}"]
    agent-1: worktree [ROOT]/repo.agents/agent-1
    agent-2: worktree [ROOT]/repo.agents/agent-2
    [exit status: 0]
    "#);
}

#[test]
fn status_counts_attempts_made_with_the_running_one() {
    let env = TestEnv::new();
    // `one` fails its first attempt and passes its second; `two` passes at once.
    let script = "mkdir -p src/$GIT_AGENTS_TASK; echo good > src/$GIT_AGENTS_TASK/f; [ $GIT_AGENTS_ATTEMPT-$GIT_AGENTS_TASK != 1-one ] || exit 1";
    let repo = env.planned_repo(&shell_plan(script, TWO_TASKS));
    env.run(&repo, &["spawn", "1", "-q"]).success();
    let attempts = |env: &TestEnv, repo: &Path| -> Vec<(String, u64)> {
        let out = env.run(repo, &["status", "--json"]);
        let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
        json["tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .map(|t| {
                (
                    t["id"].as_str().unwrap_or_default().to_string(),
                    t["attempts"].as_u64().unwrap_or(99),
                )
            })
            .collect()
    };
    assert_eq!(attempts(&env, &repo), [("one".into(), 2), ("two".into(), 1)]);
    let markdown = env.run(&repo, &["status", "--markdown"]).stdout;
    assert!(markdown.contains("| one | done |"), "{markdown}");
    assert!(
        markdown
            .lines()
            .any(|l| l.starts_with("| one |") && l.ends_with("| 2 |")),
        "{markdown}"
    );

    // A claim held right now is an attempt under way; failing it leaves it counted.
    let env = TestEnv::new();
    let repo = env.planned_repo(&shell_plan("true", ONE_TASK));
    assert_eq!(attempts(&env, &repo), [("one".into(), 0)]);
    env.run(&repo, &["claim", "--next", "--agent", "me"]).success();
    assert_eq!(attempts(&env, &repo), [("one".into(), 1)]);
    env.run(&repo, &["fail", "one", "--agent", "me", "--reason", "red"])
        .success();
    assert_eq!(attempts(&env, &repo), [("one".into(), 1)]);
    let human = env.run(&repo, &["status"]).stdout;
    assert!(human.contains("1 failed attempt, last: red"), "{human}");
    env.run(&repo, &["claim", "--next", "--agent", "me"]).success();
    assert_eq!(attempts(&env, &repo), [("one".into(), 2)]);
}

#[test]
fn the_agent_sees_its_owned_globs_in_git_agents_owns() {
    let env = TestEnv::new();
    let seen = env.root().join("owns-seen");
    let script = format!(
        "printf '%s' \"$GIT_AGENTS_OWNS\" > {}; mkdir -p src/one; echo good > src/one/f",
        seen.display()
    );
    let task = "[[task]]\nid = \"one\"\nowns = [\"src/one/**\", \"docs/one *.md\"]\nprompt = \"Make src/one/f.\"\n";
    let repo = env.planned_repo(&shell_plan(&script, task));
    env.run(&repo, &["spawn", "1", "-q"]).success();
    assert_eq!(read(&seen), "src/one/**\ndocs/one *.md", "one glob a line, spaces kept");
}
