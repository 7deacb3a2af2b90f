//! What lands is what was checked: merges against careless agents, people
//! at work during a merge, squash chains and resumed merges. Each test
//! asserts the promise (refs and trees), not only the message.

use std::path::{Path, PathBuf};

use crate::common::{TestEnv, BIN};

/// A plan whose agent is `sh -c SCRIPT` (the task id in $GIT_AGENTS_TASK).
fn shell_plan(script: &str, tasks: &str) -> String {
    let script = script.replace('\\', "\\\\").replace('"', "\\\"");
    format!("[agent]\ncommand = [\"sh\", \"-c\", \"{script}\"]\nmax_attempts = 1\n\n{tasks}")
}

fn task(id: &str, owns: &str, deps: &str) -> String {
    format!("[[task]]\nid = \"{id}\"\nowns = [{owns}]\ndepends_on = [{deps}]\nprompt = \"x\"\n\n")
}

fn rev(env: &TestEnv, repo: &Path, what: &str) -> String {
    env.git(repo, &["rev-parse", what]).trim().to_string()
}

fn state_of(env: &TestEnv, repo: &Path, id: &str) -> String {
    let json = env.run(repo, &["status", "--json"]).stdout;
    let v: serde_json::Value = serde_json::from_str(&json).expect("status json");
    v["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .find(|t| t["id"] == id)
        .map(|t| t["state"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default()
}

#[test]
fn a_rename_out_of_another_tasks_folder_fails_the_task() {
    let env = TestEnv::new();
    // Task a takes task b's file by renaming it into its own folder.
    let files = [("src/a/x", "a\n"), ("src/b/y", "b\n")];
    let repo = env.repo("repo", &files);
    let script = "if [ $GIT_AGENTS_TASK = a ]; then git mv src/b/y src/a/y; else echo more >> src/b/y; fi";
    std::fs::write(
        repo.join("agents.toml"),
        shell_plan(
            script,
            &(task("a", "\"src/a/**\"", "") + &task("b", "\"src/b/**\"", "")),
        ),
    )
    .expect("plan");
    env.run(&repo, &["plan", "--yes", "-q"]).success();
    let out = env.run(&repo, &["spawn", "1"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr.contains("a: changed files outside its ownership: src/b/y"),
        "{out}"
    );
    assert_eq!(state_of(&env, &repo, "a"), "blocked");
    let before = rev(&env, &repo, "main");
    env.run(&repo, &["merge"]).success();
    // Task b's work landed and its file is intact; nothing of a landed.
    assert_eq!(env.git(&repo, &["show", "main:src/b/y"]), "b\nmore\n");
    assert_eq!(env.git(&repo, &["show", "main:src/a/x"]), "a\n");
    assert_ne!(rev(&env, &repo, "main"), before);
}

#[test]
fn merge_lands_what_was_checked_not_what_the_branch_holds_later() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    let tasks = task("a", "\"docs/a.md\"", "") + &task("b", "\"docs/b.md\"", "\"a\"");
    std::fs::write(
        repo.join("agents.toml"),
        shell_plan("echo $GIT_AGENTS_TASK > docs/$GIT_AGENTS_TASK.md", &tasks),
    )
    .expect("plan");
    env.run(&repo, &["plan", "--yes", "-q"]).success();
    env.run(&repo, &["spawn", "1", "-q"]).success();
    // A background child of the agent (or a force-push) rewrites the branch after its checks.
    let wt = repo.with_file_name("repo.agents").join("agent-1");
    env.git(&wt, &["switch", "-q", "agents/a"]);
    std::fs::write(wt.join("README.md"), "rewritten\n").expect("rewrite");
    env.git(&wt, &["commit", "-q", "-am", "late rewrite"]);
    env.git(&wt, &["switch", "-q", "--detach"]);
    let before = rev(&env, &repo, "main");
    let out = env.run(&repo, &["merge"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stdout
            .contains("refused a: agents/a moved since it was checked at done"),
        "{out}"
    );
    assert!(
        out.stdout.contains("refused b: it builds on `a`, which was refused"),
        "{out}"
    );
    assert_eq!(rev(&env, &repo, "main"), before, "nothing landed");
    assert_eq!(env.git(&repo, &["show", "main:README.md"]), "# demo\n");
    assert_eq!(state_of(&env, &repo, "a"), "done", "left for a person to decide");
}

#[test]
fn done_from_the_command_line_runs_the_runners_checks() {
    let env = TestEnv::new();
    let plan = format!(
        "[agent]\ncommand = [\"{BIN}\", \"scripted-agent\"]\n\n{}{}",
        task("a", "\"docs/a.md\"", ""),
        task("c", "\"docs/c.md\"", "")
    )
    .replace(
        "[[task]]\nid = \"c\"",
        "[[task]]\nid = \"c\"\ntest = \"grep -q good docs/c.md\"",
    );
    let repo = env.planned_repo(&plan);
    // An agent builds a branch for another task that changes README.md, and marks it done.
    env.git(&repo, &["switch", "-q", "-c", "agents/c"]);
    std::fs::write(repo.join("README.md"), "hijacked\n").expect("write");
    std::fs::write(repo.join("docs/c.md"), "good\n").expect("write");
    env.git(&repo, &["add", "README.md", "docs/c.md"]);
    env.git(&repo, &["commit", "-q", "-m", "c"]);
    env.run(&repo, &["claim", "c", "--agent", "ghost"]).success();
    let out = env.run(&repo, &["done", "c", "--agent", "ghost"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr.contains("agents/c changes files outside what task `c` owns"),
        "{out}"
    );
    assert!(out.stderr.contains("README.md"), "{out}");
    assert_eq!(state_of(&env, &repo, "c"), "claimed", "not done");
    // Within its files but failing its acceptance: refused too, unless --no-verify (recorded).
    env.git(&repo, &["reset", "-q", "--hard", "main"]);
    std::fs::write(repo.join("docs/c.md"), "bad\n").expect("write");
    env.git(&repo, &["add", "docs/c.md"]);
    env.git(&repo, &["commit", "-q", "-m", "c: bad"]);
    let out = env.run(&repo, &["done", "c", "--agent", "ghost"]);
    assert_eq!(out.code, 4, "{out}");
    assert!(
        out.stderr
            .contains("the acceptance command `grep -q good docs/c.md` failed"),
        "{out}"
    );
    env.run(&repo, &["done", "c", "--agent", "ghost", "--no-verify"])
        .success();
    let log = env.run(&repo, &["log", "c"]).stdout;
    assert!(log.contains("acceptance skipped: --no-verify"), "{log}");
}

#[test]
fn done_with_a_branch_lands_that_branch() {
    let env = TestEnv::new();
    let plan = format!(
        "[agent]\ncommand = [\"{BIN}\", \"scripted-agent\"]\n\n{}",
        task("a", "\"docs/a.md\"", "")
    );
    let repo = env.planned_repo(&plan);
    env.git(&repo, &["switch", "-q", "-c", "my-work"]);
    std::fs::write(repo.join("docs/a.md"), "mine\n").expect("write");
    env.git(&repo, &["add", "docs/a.md"]);
    env.git(&repo, &["commit", "-q", "-m", "a: my work"]);
    env.git(&repo, &["switch", "-q", "main"]);
    env.run(&repo, &["claim", "a", "--agent", "me"]).success();
    env.run(&repo, &["done", "a", "--agent", "me", "--branch", "my-work"])
        .success();
    env.run(&repo, &["merge"]).success();
    assert_eq!(env.git(&repo, &["show", "main:docs/a.md"]), "mine\n");
}

#[test]
fn work_committed_off_the_task_branch_is_taken_and_checked() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    // Detaches HEAD, then commits: the work is not on agents/a.
    let script = "git checkout -q --detach && echo work > docs/a.md && git add docs/a.md && git -c user.name=a -c user.email=a@b commit -qm a";
    std::fs::write(
        repo.join("agents.toml"),
        shell_plan(script, &task("a", "\"docs/a.md\"", "")),
    )
    .expect("plan");
    env.run(&repo, &["plan", "--yes", "-q"]).success();
    env.run(&repo, &["spawn", "1", "-q"]).success();
    assert_eq!(env.git(&repo, &["show", "agents/a:docs/a.md"]), "work\n");
    env.run(&repo, &["merge"]).success();
    assert_eq!(env.git(&repo, &["show", "main:docs/a.md"]), "work\n");
    assert_eq!(state_of(&env, &repo, "a"), "merged");
}

/// Three tasks in a chain, each appending a line to one file.
fn chain(env: &TestEnv) -> PathBuf {
    let repo = env.repo("repo", &[("notes.md", "start\n")]);
    let tasks =
        task("a", "\"notes.md\"", "") + &task("b", "\"notes.md\"", "\"a\"") + &task("c", "\"notes.md\"", "\"b\"");
    std::fs::write(
        repo.join("agents.toml"),
        shell_plan("echo $GIT_AGENTS_TASK >> notes.md", &tasks),
    )
    .expect("plan");
    env.run(&repo, &["plan", "--yes", "-q"]).success();
    env.run(&repo, &["spawn", "1", "-q"]).success();
    repo
}

#[test]
fn a_squashed_chain_lands_one_commit_per_task_with_the_merge_tree() {
    let env = TestEnv::new();
    let repo = chain(&env);
    let squashed = env.run(&repo, &["merge", "--squash", "--test", "test -f notes.md"]);
    squashed.success();
    let log = env.git(&repo, &["log", "--format=%s %p", "--first-parent", "main"]);
    let subjects: Vec<&str> = log.lines().map(|l| l.split(' ').next().unwrap_or_default()).collect();
    assert_eq!(subjects, ["c:", "b:", "a:", "initial"], "{log}");
    assert_eq!(
        env.git(&repo, &["rev-list", "--count", "--merges", "main"]),
        "0\n",
        "one plain commit per task"
    );
    assert_eq!(env.git(&repo, &["show", "main:notes.md"]), "start\na\nb\nc\n");

    // The same chain merged with merge commits gives the same tree.
    let other = TestEnv::new();
    let merged = chain(&other);
    other.run(&merged, &["merge"]).success();
    assert_eq!(rev(&env, &repo, "main^{tree}"), rev(&other, &merged, "main^{tree}"));
}

/// Five done tasks t1..t5 writing docs/tN.md; main then writes docs/t3.md itself.
fn stopped_on_t3(env: &TestEnv, args: &[&str]) -> PathBuf {
    let repo = env.basic_repo();
    let mut tasks = String::new();
    for i in 1..=5 {
        tasks.push_str(&task(&format!("t{i}"), &format!("\"docs/t{i}.md\""), ""));
    }
    std::fs::write(
        repo.join("agents.toml"),
        shell_plan("echo $GIT_AGENTS_TASK > docs/$GIT_AGENTS_TASK.md", &tasks),
    )
    .expect("plan");
    env.git(&repo, &["update-index", "--refresh"]);
    env.run(&repo, &["plan", "--yes", "-q"]).success();
    env.run(&repo, &["spawn", "2", "-q"]).success();
    crate::common::write_files(&repo, &[("docs/t3.md", "written on main\n")]);
    env.git(&repo, &["add", "docs/t3.md"]);
    env.git(&repo, &["commit", "-q", "-m", "main: t3 notes"]);
    let mut merge = vec!["merge"];
    merge.extend_from_slice(args);
    let out = env.run(&repo, &merge);
    assert_eq!(out.code, 3, "{out}");
    repo
}

fn resolve_t3(env: &TestEnv, repo: &Path) {
    let integration = repo.with_file_name("repo.agents").join("integration");
    std::fs::write(integration.join("docs/t3.md"), "written on main\nt3\n").expect("resolve");
    env.git(&integration, &["add", "docs/t3.md"]);
    env.git(&integration, &["commit", "-q", "--no-edit"]);
}

#[test]
fn continue_tests_the_resolution_and_keeps_the_stopped_runs_options() {
    let env = TestEnv::new();
    let marker = env.root().join("tested");
    let test = format!("echo run >> {}; test -d docs", marker.display());
    let repo = stopped_on_t3(&env, &["--test", &test, "--squash"]);
    // The stopped merge is visible, with its next steps, everywhere status looks.
    let status = env.run(&repo, &["status"]);
    assert!(
        status.stdout.contains("merge into main stopped at `t3`: conflict"),
        "{status}"
    );
    assert!(status.stdout.contains("paths: docs/t3.md"), "{status}");
    assert!(status.stdout.contains("git agents merge --continue"), "{status}");
    let markdown = env.run(&repo, &["status", "--markdown"]).stdout;
    assert!(markdown.contains("## Merge"), "{markdown}");
    assert!(!markdown.contains("merge the done tasks"), "{markdown}");
    let json: serde_json::Value = serde_json::from_str(&env.run(&repo, &["status", "--json"]).stdout).expect("json");
    assert_eq!(json["merge"]["task"], "t3");

    resolve_t3(&env, &repo);
    let runs_before = std::fs::read_to_string(&marker).unwrap_or_default().lines().count();
    let out = env.run(&repo, &["merge", "--continue"]);
    out.success();
    assert!(out.stderr.contains("continuing with --test"), "{out}");
    assert!(out.stderr.contains("--squash"), "{out}");
    let runs = std::fs::read_to_string(&marker).unwrap_or_default().lines().count();
    assert_eq!(runs - runs_before, 3, "the resolution, t4 and t5 were tested");
    // Every landed commit: one parent (squashed), a note that passed.
    let landed = env.git(&repo, &["rev-list", "--first-parent", "main", "^main~5"]);
    for commit in landed.lines() {
        let parents = env.git(&repo, &["show", "-s", "--format=%p", commit]);
        assert_eq!(parents.split_whitespace().count(), 1, "{commit} is squashed");
        let subject = env.git(&repo, &["show", "-s", "--format=%s", commit]);
        if subject.starts_with("main:") {
            continue;
        }
        let note = env.git(&repo, &["notes", "--ref=agents", "show", commit]);
        assert!(note.contains("result: passed"), "{subject}: {note}");
    }
    assert_eq!(env.git(&repo, &["show", "main:docs/t3.md"]), "written on main\nt3\n");
}

#[test]
fn an_option_given_on_continue_overrides_and_says_so() {
    let env = TestEnv::new();
    let repo = stopped_on_t3(&env, &["--test", "test -d docs"]);
    resolve_t3(&env, &repo);
    let out = env.run(&repo, &["merge", "--continue", "--test", "test -d src"]);
    out.success();
    assert!(
        out.stderr
            .contains("--test `test -d src` overrides the stopped merge's `test -d docs`"),
        "{out}"
    );
    let note = env.git(&repo, &["notes", "--ref=agents", "show", "main"]);
    assert!(note.contains("test: test -d src"), "{note}");
}

/// One task `a` writing docs/a.md, done.
fn one_task_done(env: &TestEnv) -> PathBuf {
    let repo = env.basic_repo();
    let plan = shell_plan("echo x > docs/a.md", &task("a", "\"docs/a.md\"", ""));
    std::fs::write(repo.join("agents.toml"), plan).expect("plan");
    env.run(&repo, &["plan", "--yes", "-q"]).success();
    env.run(&repo, &["spawn", "1", "-q"]).success();
    repo
}

#[test]
fn a_dirty_checkout_is_found_before_anything_is_merged_or_tested() {
    let env = TestEnv::new();
    let repo = one_task_done(&env);
    std::fs::write(repo.join("README.md"), "local edit\n").expect("dirty");
    let marker = env.root().join("tested");
    let out = env.run(&repo, &["merge", "--test", &format!("touch {}", marker.display())]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("with uncommitted changes"), "{out}");
    assert!(!marker.exists(), "no test ran");
    assert!(!out.stderr.contains("merging"), "{out}");
}

#[test]
fn a_person_switching_branches_during_the_test_does_not_redirect_the_landing() {
    let env = TestEnv::new();
    let repo = one_task_done(&env);
    let before = rev(&env, &repo, "main");
    let flag = env.root().join("testing");
    let test = format!("touch {}; sleep 2", flag.display());
    let merge = env
        .command(BIN, &repo)
        .args(["merge", "--test", &test])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("merge");
    while !flag.exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    env.git(&repo, &["switch", "-q", "-c", "my-topic"]);
    let status = merge.wait_with_output().expect("wait").status;
    assert!(status.success());
    assert_eq!(rev(&env, &repo, "my-topic"), before, "the person's branch did not move");
    assert_ne!(rev(&env, &repo, "main"), before, "main landed");
    assert_eq!(env.git(&repo, &["show", "main:docs/a.md"]), "x\n");
    assert_eq!(
        env.git(&repo, &["status", "--porcelain", "--untracked-files=no"]),
        "",
        "the checkout is consistent"
    );
}

#[test]
fn an_agent_that_hides_another_tasks_files_in_info_exclude_fails() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    // Task a hides src/b/ from git for everyone; task b then creates src/b/new.
    let script = "if [ $GIT_AGENTS_TASK = a ]; then echo a > docs/a.md; echo src/b/ >> \"$(git rev-parse --git-common-dir)/info/exclude\"; else mkdir -p src/b; echo b > src/b/new; fi";
    let tasks = task("a", "\"docs/a.md\"", "") + &task("b", "\"src/b/**\"", "");
    std::fs::write(repo.join("agents.toml"), shell_plan(script, &tasks)).expect("plan");
    env.run(&repo, &["plan", "--yes", "-q"]).success();
    let exclude = repo.join(".git/info/exclude");
    let before = std::fs::read_to_string(&exclude).unwrap_or_default();
    let out = env.run(&repo, &["spawn", "1"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("info/exclude changed while the agent ran"), "{out}");
    assert_eq!(
        std::fs::read_to_string(&exclude).unwrap_or_default(),
        before,
        "restored"
    );
    assert_eq!(state_of(&env, &repo, "a"), "blocked");
    // b's file was not hidden: it is on b's branch.
    assert_eq!(env.git(&repo, &["show", "agents/b:src/b/new"]), "b\n");
}

#[test]
fn merge_rechecks_ownership_of_what_it_lands() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    let plan = shell_plan(
        "echo a > docs/a.md; echo a > docs/guide.md",
        &task("a", "\"docs/**\"", ""),
    );
    std::fs::write(repo.join("agents.toml"), &plan).expect("plan");
    env.run(&repo, &["plan", "--yes", "-q"]).success();
    env.run(&repo, &["spawn", "1", "-q"]).success();
    // The plan changes under the done task: it now owns docs/a.md only.
    std::fs::write(repo.join("agents.toml"), plan.replace("\"docs/**\"", "\"docs/a.md\"")).expect("plan");
    env.run(&repo, &["plan", "--yes", "--force", "-q"]).success();
    let before = rev(&env, &repo, "main");
    let out = env.run(&repo, &["merge"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stdout
            .contains("refused a: it changes files outside its `owns`: docs/guide.md"),
        "{out}"
    );
    assert_eq!(rev(&env, &repo, "main"), before);
}
