//! `git agents spawn` with the scripted agent: real worktrees, real
//! processes, real failures.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::common::{TestEnv, BIN};

fn plan(tasks: &str, max_attempts: u32) -> String {
    format!(
        "[agent]\ncommand = [\"{BIN}\", \"scripted-agent\"]\nmax_attempts = {max_attempts}\nlease = \"10m\"\n\n{tasks}"
    )
}

fn task(id: &str, owns: &str, deps: &str, prompt: &str) -> String {
    format!("[[task]]\nid = \"{id}\"\nowns = [{owns}]\ndepends_on = [{deps}]\nprompt = '''\n{prompt}\n'''\n\n")
}

fn record(env: &TestEnv, repo: &Path, plan: &str) {
    std::fs::write(repo.join("agents.toml"), plan).expect("plan");
    env.run(repo, &["plan", "--yes", "-q"]).success();
}

fn worktrees(repo: &Path) -> PathBuf {
    repo.with_file_name("repo.agents")
}

fn show(env: &TestEnv, repo: &Path, rev: &str) -> String {
    env.git(repo, &["show", rev])
}

#[test]
fn six_tasks_three_agents() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    let mut tasks = String::new();
    for name in ["one", "two", "three", "four"] {
        tasks.push_str(&task(
            name,
            &format!("\"src/{name}/**\""),
            "",
            &format!("agent: write src/{name}/mod.rs pub fn {name}() {{}}\nagent: commit {name}: add module"),
        ));
    }
    // Left uncommitted: the runner commits it.
    tasks.push_str(&task(
        "five",
        "\"src/five.rs\"",
        "\"one\"",
        "agent: write src/five.rs // uses one",
    ));
    tasks.push_str(&task(
        "six",
        "\"docs/six.md\"",
        "\"five\", \"two\"",
        "agent: print 500\nagent: write docs/six.md six",
    ));
    record(&env, &repo, &plan(&tasks, 2));
    let out = env.run(&repo, &["spawn", "3"]);
    out.success();
    assert_eq!(
        out.stdout, "6 completed / 6 total (0 in progress, 0 failed, 0 blocked)\n",
        "{out}"
    );
    let wt = worktrees(&repo);
    for agent in ["agent-1", "agent-2", "agent-3"] {
        assert!(wt.join(agent).join(".git").is_file(), "{agent} has a linked worktree");
    }
    for name in ["one", "two", "three", "four"] {
        let files = env.git(&repo, &["ls-tree", "-r", "--name-only", &format!("agents/{name}")]);
        assert!(files.contains(&format!("src/{name}/mod.rs")), "{name}: {files}");
    }
    let five = env.git(&repo, &["ls-tree", "-r", "--name-only", "agents/five"]);
    assert!(
        five.contains("src/one/mod.rs") && five.contains("src/five.rs"),
        "a dependent starts from its dependency: {five}"
    );
    let subject = env.git(&repo, &["log", "-1", "--format=%s", "agents/five"]);
    assert_eq!(subject, "five: five\n", "leftovers are committed as `<id>: <title>`");
    let six = env.git(&repo, &["ls-tree", "-r", "--name-only", "agents/six"]);
    assert!(
        six.contains("src/one/mod.rs") && six.contains("src/two/mod.rs") && six.contains("docs/six.md"),
        "{six}"
    );
    let log = std::fs::read_to_string(repo.join(".git/agents/logs/six.1.log")).expect("log of six");
    assert_eq!(
        log.lines()
            .filter(|l| l.starts_with("scripted agent output line"))
            .count(),
        500
    );
    let done = env.git(&repo, &["cat-file", "-p", "refs/agents/tasks/done/one:task.toml"]);
    let head = env.git(&repo, &["rev-parse", "agents/one"]);
    assert!(done.contains(&format!("head = \"{}\"", head.trim())), "{done}");
    // Running again finds nothing to do and reuses the clean worktrees.
    let again = env.run(&repo, &["spawn", "3"]);
    again.success();
    assert!(show(&env, &repo, "agents/four").contains("four: add module"));
}

#[test]
fn a_task_touching_files_it_does_not_own_is_blocked() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    let tasks = task("good", "\"docs/good.md\"", "", "agent: write docs/good.md fine")
        + &task(
            "rogue",
            "\"docs/rogue.md\"",
            "",
            "agent: write docs/rogue.md mine\nagent: write README.md hijacked",
        );
    record(&env, &repo, &plan(&tasks, 2));
    let out = env.run(&repo, &["spawn", "2"]);
    assert_eq!(out.code, 1, "{out}");
    assert_eq!(
        out.stdout,
        "1 completed / 2 total (0 in progress, 0 failed, 1 blocked)\n"
    );
    assert!(
        out.stderr
            .contains("rogue: changed files outside its ownership: README.md"),
        "{out}"
    );
    let log = env.run(&repo, &["log", "rogue"]).stdout;
    assert_eq!(log.matches("  claimed    by ").count(), 2, "{log}");
    assert!(env.refs(&repo).contains("refs/agents/tasks/blocked/rogue "));
    assert!(env.refs(&repo).contains("refs/agents/tasks/done/good "));
}

#[test]
fn a_hung_agent_is_killed_at_the_timeout() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    record(
        &env,
        &repo,
        &plan(&task("slow", "\"docs/slow.md\"", "", "agent: sleep 600"), 1),
    );
    let started = std::time::Instant::now();
    let out = env.run(&repo, &["spawn", "1", "--timeout", "1s"]);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "spawn waited for the hung agent"
    );
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("slow: timed out after 1s"), "{out}");
}

#[test]
fn the_prompt_reaches_the_agent_byte_for_byte() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    let prompt = "it's \"quoted\", $(touch /tmp/pwned) and `uname` and $HOME \\ {task}";
    let plan = format!("[[task]]\nid = \"quote\"\nowns = [\"prompt.txt\"]\nprompt = '''{prompt}'''\n");
    record(&env, &repo, &plan);
    let out = env.run(
        &repo,
        &[
            "spawn",
            "1",
            "--",
            "sh",
            "-c",
            "printf '%s' \"$1\" > prompt.txt",
            "sh",
            "{prompt}",
        ],
    );
    out.success();
    let written = env.git(&repo, &["show", "agents/quote:prompt.txt"]);
    assert_eq!(written, prompt);
}

#[test]
fn ctrl_c_releases_every_claim() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    let tasks =
        task("a", "\"docs/a.md\"", "", "agent: sleep 600") + &task("b", "\"docs/b.md\"", "", "agent: sleep 600");
    record(&env, &repo, &plan(&tasks, 2));
    let mut spawn = env
        .command(BIN, &repo)
        .args(["spawn", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !env
        .run(&repo, &["status", "--json"])
        .stdout
        .contains("\"in_progress\": 2")
    {
        assert!(std::time::Instant::now() < deadline, "agents never started");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let pid = i32::try_from(spawn.id()).expect("pid");
    // SAFETY: sends SIGINT to the child we started.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(pid, libc::SIGINT);
    }
    let status = spawn.wait().expect("wait");
    assert_eq!(status.code(), Some(1));
    let refs = env.git(&repo, &["for-each-ref", "--format=%(refname)", "refs/agents/tasks"]);
    assert_eq!(
        refs, "refs/agents/tasks/available/a\nrefs/agents/tasks/available/b\n",
        "nothing left claimed"
    );
    let log = env.run(&repo, &["log", "a"]).stdout;
    assert!(log.contains("  available  released by agent-"), "{log}");
}

#[test]
fn spawn_needs_a_recorded_plan_and_an_agent_program() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    let out = env.run(&repo, &["spawn", "2"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("run `git agents plan` first"), "{out}");
    std::fs::write(repo.join("agents.toml"), task("x", "\"docs/x.md\"", "", "do it")).expect("plan");
    env.run(&repo, &["plan", "--yes", "-q"]).success();
    let out = env.run(&repo, &["spawn", "2", "--agent", "codex"]);
    insta::assert_snapshot!(out, @"
    ------- stderr -------
    error: the `codex` preset runs `codex`, which is not on PATH
    hint: install codex (npm @openai/codex 0.171.0), or choose another agent with `--agent PRESET` or `-- CMD ARGS...`; `git agents presets` lists what is installed
    [exit status: 2]
    ");
    let out = env.run(&repo, &["spawn", "2"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("no agent command"), "{out}");
    assert!(!worktrees(&repo).exists(), "a refused spawn creates no worktree");
}

#[test]
fn new_worktrees_get_setup_and_ignored_files() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    crate::common::write_files(
        &repo,
        &[
            (".gitignore", ".env\n"),
            (".env", "SECRET=1\n"),
            ("notes.txt", "not ignored\n"),
        ],
    );
    env.git(&repo, &["add", ".gitignore"]);
    env.git(&repo, &["commit", "-q", "-m", "ignore .env"]);
    let tasks = task("a", "\"docs/a.md\"", "", "agent: write docs/a.md a");
    let plan = format!(
        "[agent]\ncommand = [\"{BIN}\", \"scripted-agent\"]\nsetup = \"echo ran >> setup-count.txt && cat .env > docs-env.txt\"\ncopy = [\".env\", \"notes.txt\"]\n\n{tasks}"
    );
    std::fs::write(repo.join("agents.toml"), plan).expect("plan");
    std::fs::write(
        repo.join(".git/info/exclude"),
        "agents.toml\nsetup-count.txt\ndocs-env.txt\nnotes.txt\n",
    )
    .ok();
    env.run(&repo, &["plan", "--yes", "-q"]).success();
    let out = env.run(&repo, &["spawn", "1"]);
    out.success();
    let wt = worktrees(&repo).join("agent-1");
    assert_eq!(
        std::fs::read_to_string(wt.join(".env")).expect(".env copied"),
        "SECRET=1\n"
    );
    assert_eq!(
        std::fs::read_to_string(wt.join("docs-env.txt")).expect("setup ran"),
        "SECRET=1\n",
        "setup runs after copy"
    );
    assert_eq!(
        std::fs::read_to_string(wt.join("setup-count.txt")).expect("setup"),
        "ran\n"
    );
    let files = env.git(&repo, &["ls-tree", "-r", "--name-only", "agents/a"]);
    assert!(!files.contains(".env"), "a copied file is never committed: {files}");
}

#[test]
fn a_failing_setup_stops_that_agent_and_frees_its_task() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    let tasks = task("a", "\"docs/a.md\"", "", "agent: write docs/a.md a");
    let plan =
        format!("[agent]\ncommand = [\"{BIN}\", \"scripted-agent\"]\nsetup = \"echo broken >&2; exit 3\"\n\n{tasks}");
    record(&env, &repo, &plan);
    let out = env.run(&repo, &["spawn", "1"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("setup `echo broken >&2; exit 3` failed"), "{out}");
    assert!(out.stderr.contains("broken"), "the setup output's tail is shown: {out}");
    let refs = env.git(&repo, &["for-each-ref", "--format=%(refname)", "refs/agents/tasks"]);
    assert_eq!(refs, "refs/agents/tasks/available/a\n", "the claim is released");
}

#[test]
fn a_conflict_merging_a_dependency_blocks_the_dependent() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    let tasks = task("left", "\"docs/shared.md\"", "", "agent: write docs/shared.md left")
        + &task(
            "after",
            "\"docs/after.md\"",
            "\"left\"",
            "agent: write docs/after.md after",
        );
    record(&env, &repo, &plan(&tasks, 2));
    // `left` is done by hand on its branch ...
    env.run(&repo, &["claim", "left", "--agent", "me"]).success();
    env.git(&repo, &["switch", "-q", "-c", "agents/left"]);
    crate::common::write_files(&repo, &[("docs/shared.md", "from left\n")]);
    env.git(&repo, &["add", "docs"]);
    env.git(&repo, &["commit", "-q", "-m", "left"]);
    env.git(&repo, &["switch", "-q", "main"]);
    env.run(&repo, &["done", "left", "--agent", "me"]).success();
    // ... while main gets its own docs/shared.md.
    crate::common::write_files(&repo, &[("docs/shared.md", "from main\n")]);
    env.git(&repo, &["add", "docs"]);
    env.git(&repo, &["commit", "-q", "-m", "main"]);
    let out = env.run(&repo, &["spawn", "1"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr
            .contains("after: merging its dependency `left` conflicts in docs/shared.md"),
        "{out}"
    );
    assert!(env.refs(&repo).contains("refs/agents/tasks/blocked/after "));
    assert!(
        !env.refs(&repo).contains("refs/heads/agents/after "),
        "no half-merged branch is left"
    );
}

#[test]
fn spawn_json_gives_each_tasks_outcome_and_the_summary_on_stdout_alone() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    let tasks = task("good", "\"docs/good.md\"", "", "agent: write docs/good.md fine")
        + &task(
            "flaky",
            "\"docs/flaky.md\"",
            "",
            "agent: fail-once\nagent: write docs/flaky.md ok",
        )
        + &task("rogue", "\"docs/rogue.md\"", "", "agent: write README.md hijacked");
    record(&env, &repo, &plan(&tasks, 2));
    let out = env.run(&repo, &["spawn", "2", "--json"]);
    assert_eq!(out.code, 1, "a blocked task still fails the command: {out}");
    let v: serde_json::Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("stdout is JSON alone ({e}):\n{out}"));
    let task = |id: &str| {
        v["tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .find(|t| t["id"] == id)
            .unwrap_or_else(|| panic!("{id} in {v}"))
            .clone()
    };
    assert_eq!(
        (task("good")["state"].as_str(), task("good")["attempts"].as_u64()),
        (Some("done"), Some(1))
    );
    assert_eq!(
        (task("flaky")["state"].as_str(), task("flaky")["attempts"].as_u64()),
        (Some("done"), Some(2))
    );
    let rogue = task("rogue");
    assert_eq!(
        (rogue["state"].as_str(), rogue["attempts"].as_u64()),
        (Some("blocked"), Some(2)),
        "{v}"
    );
    assert!(
        rogue["last_failure"].as_str().is_some_and(|r| r.contains("README.md")),
        "{v}"
    );
    assert_eq!(v["summary"]["done"], 2, "{v}");
    assert_eq!(v["summary"]["retried"], 2, "{v}");
    assert_eq!(v["summary"]["blocked"], 1, "{v}");
    assert!(v["summary"]["wall_seconds"].as_f64().is_some_and(|s| s > 0.0), "{v}");
    assert_eq!(
        (v["status"]["completed"].as_u64(), v["status"]["total"].as_u64()),
        (Some(2), Some(3))
    );
    // The promise behind the JSON: the refs say the same.
    let refs = env.refs(&repo);
    for r in ["tasks/done/good ", "tasks/done/flaky ", "tasks/blocked/rogue "] {
        assert!(refs.contains(&format!("refs/agents/{r}")), "{r}: {refs}");
    }
    assert!(
        out.stderr.contains("1 task(s) blocked: rogue"),
        "people still read why: {out}"
    );

    let out = env.run(&repo, &["spawn", "2", "--json", "--dry-run"]);
    out.success();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("dry run JSON");
    assert_eq!(v["agents"][1]["name"], "agent-2", "{v}");
    assert!(v["argv"][1] == "scripted-agent", "{v}");
}

#[test]
fn a_failed_setup_is_run_again_by_the_next_spawn() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    crate::common::write_files(&repo, &[(".gitignore", ".env\n"), (".env", "SECRET=1\n")]);
    env.git(&repo, &["add", ".gitignore"]);
    env.git(&repo, &["commit", "-q", "-m", "ignore .env"]);
    // Setup fails until the file `pass` exists beside the repository; every
    // run leaves a line in `setup-runs` there.
    let runs = env.root().join("setup-runs");
    let pass = env.root().join("pass");
    let tasks = task("a", "\"docs/a.md\"", "", "agent: write docs/a.md a");
    let plan = format!(
        "[agent]\ncommand = [\"{BIN}\", \"scripted-agent\"]\nsetup = \"echo ran >> {} && test -f {}\"\ncopy = [\".env\"]\n\n{tasks}",
        runs.display(),
        pass.display()
    );
    std::fs::write(repo.join("agents.toml"), plan).expect("plan");
    std::fs::write(repo.join(".git/info/exclude"), "agents.toml\n").expect("exclude");
    env.run(&repo, &["plan", "--yes", "-q"]).success();
    let out = env.run(&repo, &["spawn", "1"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr.contains("failed in") && out.stderr.contains("(exited with status 1)"),
        "{out}"
    );
    assert!(!out.stderr.contains("Exited("), "no Rust debug text: {out}");
    let wt = worktrees(&repo).join("agent-1");
    // What the failed run left (its copied file) is not what the next one trusts.
    std::fs::remove_file(wt.join(".env")).expect("copied the first time");

    std::fs::write(&pass, "").expect("pass");
    env.run(&repo, &["spawn", "1"]).success();
    assert_eq!(
        std::fs::read_to_string(&runs).expect("runs"),
        "ran\nran\n",
        "setup ran again"
    );
    assert_eq!(
        std::fs::read_to_string(wt.join(".env")).expect("copied again"),
        "SECRET=1\n"
    );
    assert!(env.refs(&repo).contains("refs/agents/tasks/done/a "));

    // Once it passed, the worktree is ready: a later spawn does not set it up again.
    env.run(&repo, &["requeue", "a"]).success();
    env.run(&repo, &["spawn", "1"]).success();
    assert_eq!(
        std::fs::read_to_string(&runs).expect("runs"),
        "ran\nran\n",
        "{}",
        wt.display()
    );
}
