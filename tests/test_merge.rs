//! `git agents merge`: done tasks land one by one, tested, in order; the
//! first conflict or red test stops with a report and the target stays at
//! the last tested commit.

use std::path::PathBuf;

use crate::common::{TestEnv, BIN};

/// Five independent tasks t1..t5, each writing docs/tN.md, all done.
fn five_done(env: &TestEnv) -> PathBuf {
    env.done_tasks(5)
}

fn subjects(env: &TestEnv, repo: &std::path::Path) -> String {
    env.git(repo, &["log", "--format=%s", "--first-parent", "main"])
}

#[test]
fn five_tasks_land_as_five_tested_merges_with_notes() {
    let env = TestEnv::new();
    let repo = five_done(&env);
    let dry = env.run(&repo, &["merge", "--dry-run"]);
    dry.success();
    assert_eq!(
        dry.stdout.lines().filter(|l| l.starts_with("would land")).count(),
        5,
        "{dry}"
    );
    assert_eq!(subjects(&env, &repo), "initial\n", "a dry run moves nothing");

    let out = env.run(&repo, &["merge", "--test", "test -d docs"]);
    out.success();
    assert_eq!(
        subjects(&env, &repo),
        "Merge agents/t5: Task 5\nMerge agents/t4: Task 4\nMerge agents/t3: Task 3\nMerge agents/t2: Task 2\nMerge agents/t1: Task 1\ninitial\n"
    );
    // Each step says where it is in the run, the test command is said once,
    // and the run ends with a summary and what to run next.
    assert!(out.stderr.contains("[1/5] t1: merging agents/t1 into main\n"), "{out}");
    assert!(out.stderr.contains("[5/5] t5: testing\n"), "{out}");
    assert_eq!(out.to_string().matches("test -d docs").count(), 1, "{out}");
    assert_eq!(
        out.stdout
            .lines()
            .filter(|l| l.starts_with("landed t") && l.ends_with('s'))
            .count(),
        5,
        "each landed line ends with its time: {out}"
    );
    assert!(out.stderr.contains("summary: 5 landed, nothing stopped; "), "{out}");
    assert!(out.stderr.contains("\n  per task: t1 "), "{out}");
    assert!(
        out.stderr
            .contains("next: `git log --oneline --graph --notes=agents main`, then `git agents clean`"),
        "{out}"
    );
    let note = env.git(&repo, &["notes", "--ref=agents", "show", "main"]);
    assert!(note.starts_with("task: t5\nagent: agent-"), "{note}");
    assert!(note.contains("test: test -d docs\nresult: passed\n"), "{note}");
    let refs = env.git(&repo, &["for-each-ref", "--format=%(refname)", "refs/agents/tasks"]);
    assert!(
        refs.lines().all(|r| r.starts_with("refs/agents/tasks/merged/")),
        "{refs}"
    );
    assert!(
        !env.refs(&repo).contains("refs/agents/merge "),
        "the merge lock is released"
    );
    // The user's checkout followed: main is checked out and clean.
    assert!(repo.join("docs/t5.md").exists());
    let again = env.run(&repo, &["merge"]);
    assert_eq!(again.stdout, "nothing to merge: no task is done\n", "{again}");
}

#[test]
fn squash_makes_one_commit_per_task() {
    let env = TestEnv::new();
    let repo = five_done(&env);
    env.run(&repo, &["merge", "--squash"]).success();
    assert_eq!(env.git(&repo, &["rev-list", "--count", "--merges", "main"]), "0\n");
    let message = env.git(&repo, &["log", "-1", "--format=%B", "main"]);
    assert!(
        message.starts_with("t5: Task 5\n\n- t5: Task 5\n\nAgent-Task: t5\n"),
        "{message}"
    );
    let files = env.git(&repo, &["show", "--format=", "--name-only", "main"]);
    assert_eq!(files, "docs/t5.md\n", "a squashed commit holds only its task's changes");
}

#[test]
fn a_conflict_stops_with_exit_3_and_a_report() {
    let env = TestEnv::new();
    let repo = five_done(&env);
    // After the tasks were done, main gets its own docs/t3.md.
    crate::common::write_files(&repo, &[("docs/t3.md", "written on main\n")]);
    env.git(&repo, &["add", "docs/t3.md"]);
    env.git(&repo, &["commit", "-q", "-m", "main: t3 notes"]);
    let out = env.run(&repo, &["merge"]);
    assert_eq!(out.code, 3, "{out}");
    assert!(
        out.stdout.contains("landed t1") && out.stdout.contains("landed t2"),
        "{out}"
    );
    assert!(
        out.stderr.contains("merge stopped: task `t3` conflicts with main"),
        "{out}"
    );
    assert!(
        out.stderr.contains("conflict (add/add): docs/t3.md  [stages 2:"),
        "{out}"
    );
    assert!(out.stderr.contains("conflicted tree: "), "{out}");
    assert!(out.stderr.contains("reproduce: git merge-tree --write-tree "), "{out}");
    assert!(out.stderr.contains("still waiting: t3, t4, t5"), "{out}");
    assert!(out.stderr.contains("git agents merge --continue"), "{out}");
    assert!(out.stderr.contains("git agents requeue t3"), "{out}");
    assert_eq!(
        env.git(&repo, &["log", "-1", "--format=%s", "main"]),
        "Merge agents/t2: Task 2\n"
    );
    assert!(env.refs(&repo).contains("refs/agents/tasks/done/t3 "));
    let stopped = env.git(&repo, &["cat-file", "-p", "refs/agents/merge:merge.toml"]);
    assert!(
        stopped.contains("stopped_task = \"t3\""),
        "the stopped merge is recorded: {stopped}"
    );
}

#[test]
fn a_red_test_stops_with_exit_4_and_the_target_stays_green() {
    let env = TestEnv::new();
    let repo = five_done(&env);
    let out = env.run(&repo, &["merge", "--test", "echo checking; test ! -e docs/t4.md"]);
    assert_eq!(out.code, 4, "{out}");
    assert!(
        out.stderr
            .contains("`echo checking; test ! -e docs/t4.md` failed after merging `t4`"),
        "{out}"
    );
    assert!(out.stderr.contains("| checking"), "the output's tail is shown: {out}");
    assert_eq!(
        env.git(&repo, &["log", "-1", "--format=%s", "main"]),
        "Merge agents/t3: Task 3\n"
    );
    assert!(
        !repo.join("docs/t4.md").exists(),
        "the checkout stays at the last green merge"
    );
}

/// A stop's JSON carries the commands to run next, as the error text does.
#[test]
fn a_stop_in_json_names_the_next_commands() {
    let env = TestEnv::new();
    let repo = five_done(&env);
    crate::common::write_files(&repo, &[("docs/t3.md", "written on main\n")]);
    env.git(&repo, &["add", "docs/t3.md"]);
    env.git(&repo, &["commit", "-q", "-m", "main: t3 notes"]);
    let out = env.run(&repo, &["merge", "--json"]);
    assert_eq!(out.code, 3, "{out}");
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(json["stop"]["stop"], "conflict", "{out}");
    let integration = repo.with_file_name("repo.agents").join("integration");
    let next: Vec<&str> = json["next"]
        .as_array()
        .expect("next")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(
        next,
        [
            format!("git -C {} status", integration.display()),
            format!("git -C {} commit", integration.display()),
            "git agents merge --continue".to_string(),
        ],
        "{out}"
    );
    let or: Vec<&str> = json["or"]
        .as_array()
        .expect("or")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(
        or,
        [
            "git agents merge --abort",
            "git agents merge --abort && git agents requeue t3"
        ],
        "{out}"
    );
    // The commands are real: resolving as they say lands the rest.
    std::fs::write(integration.join("docs/t3.md"), "written on main\ntask 3\n").expect("resolve");
    env.git(&integration, &["add", "docs/t3.md"]);
    env.git(&integration, &["commit", "-q", "--no-edit"]);
    let red = env.run(
        &repo,
        &["merge", "--continue", "--json", "--test", "test ! -e docs/t4.md"],
    );
    assert_eq!(red.code, 4, "{red}");
    let json: serde_json::Value = serde_json::from_str(&red.stdout).expect("json");
    assert_eq!(json["stop"]["stop"], "test_failed", "{red}");
    assert_eq!(json["next"][1], "git agents merge --continue", "{red}");
    assert_eq!(
        env.git(&repo, &["show", "main:docs/t3.md"]),
        "written on main\ntask 3\n",
        "t3 landed before t4's test failed"
    );
}

/// `clean --force` deletes a done task's unmerged branch after saving it:
/// merge and doctor point at the backup instead of only saying it is gone.
#[test]
fn a_done_branch_deleted_by_clean_force_is_found_in_its_backup() {
    let env = TestEnv::new();
    let plan = "[[task]]\nid = \"x\"\nowns = [\"docs/x.md\"]\nprompt = \"write docs/x.md\"\n\n[[task]]\nid = \"y\"\nowns = [\"docs/y.md\"]\nprompt = \"write docs/y.md\"\n";
    let repo = env.planned_repo(plan);
    let work = |id: &str| {
        env.git(&repo, &["checkout", "-q", "-b", &format!("agents/{id}")]);
        crate::common::write_files(&repo, &[(&format!("docs/{id}.md") as &str, id)]);
        env.git(&repo, &["add", "docs"]);
        env.git(&repo, &["commit", "-q", "-m", id]);
        env.git(&repo, &["checkout", "-q", "main"]);
    };
    // x: the usual order, its work checked and recorded at done.
    env.run(&repo, &["claim", "x", "--agent", "me"]).success();
    work("x");
    env.run(&repo, &["done", "x", "--agent", "me"]).success();
    // y: done before its branch existed, so nothing was recorded.
    env.run(&repo, &["claim", "y", "--agent", "me"]).success();
    env.run(&repo, &["done", "y", "--agent", "me"]).success();
    work("y");
    env.run(&repo, &["clean", "--force"]).success();
    let refs = env.refs(&repo);
    assert!(refs.contains("refs/agents/backup/agents-x "), "{refs}");
    assert!(refs.contains("refs/agents/backup/agents-y "), "{refs}");

    let doctor = env.run(&repo, &["doctor"]);
    assert_eq!(doctor.code, 1, "y cannot land without its branch: {doctor}");
    assert!(
        doctor.stdout.contains(
            "note     task x: done but agents/x is gone (merge still lands the commit checked at done); it is saved as refs/agents/backup/agents-x"
        ),
        "{doctor}"
    );
    assert!(
        doctor
            .stdout
            .contains("problem  task y: done but agents/y is gone; its work is saved as refs/agents/backup/agents-y"),
        "{doctor}"
    );
    assert!(
        doctor
            .stdout
            .contains("`git branch agents/y refs/agents/backup/agents-y`"),
        "{doctor}"
    );

    let merge = env.run(&repo, &["merge"]);
    assert_eq!(merge.code, 1, "{merge}");
    assert!(
        merge.stdout.contains("landed x as "),
        "x lands from its recorded head: {merge}"
    );
    assert!(
        merge.stdout.contains(
            "refused y: agents/y is gone and nothing was checked at done; its work was saved as refs/agents/backup/agents-y: restore it with `git branch agents/y refs/agents/backup/agents-y`"
        ),
        "{merge}"
    );
    assert!(env.refs(&repo).contains("refs/agents/tasks/done/y "));

    // doctor --fix puts back only a backup of exactly the checked work (none is left
    // here: x merged), so y's is for a person; the restore command it names works.
    let fixed = env.run(&repo, &["doctor", "--fix"]);
    assert_eq!(fixed.code, 1, "{fixed}");
    env.git(&repo, &["branch", "agents/y", "refs/agents/backup/agents-y"]);
    assert_eq!(
        env.git(&repo, &["rev-parse", "agents/y"]),
        env.git(&repo, &["rev-parse", "refs/agents/backup/agents-y"])
    );
}

/// Five done tasks, with main's tip and the refs/agents state saved for [`restore`].
fn five_done_saved(env: &TestEnv) -> (PathBuf, String, String) {
    let repo = five_done(env);
    let initial = env.git(&repo, &["rev-parse", "main"]).trim().to_string();
    let saved = env.git(
        &repo,
        &[
            "for-each-ref",
            "--format=create %(refname) %(objectname)",
            "refs/agents",
        ],
    );
    (repo, initial, saved)
}

/// Main back at `initial`, refs/agents back to `saved`, no notes.
fn restore(env: &TestEnv, repo: &std::path::Path, initial: &str, saved: &str) {
    env.git(repo, &["reset", "-q", "--hard", initial]);
    let current = env.git(
        repo,
        &[
            "for-each-ref",
            "--format=delete %(refname)",
            "refs/agents",
            "refs/notes/agents",
        ],
    );
    for (input, what) in [(current, "delete"), (saved.to_string(), "restore")] {
        let mut git = env
            .command("git", repo)
            .args(["update-ref", "--stdin"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect(what);
        std::io::Write::write_all(&mut git.stdin.take().expect("stdin"), input.as_bytes()).expect(what);
        assert!(git.wait().expect(what).success(), "{what}");
    }
}

/// Clears the lock files a kill left, as a person would: `doctor --fix`.
fn doctor_fix(env: &TestEnv, repo: &std::path::Path) {
    env.run(repo, &["doctor", "--fix", "--older-than", "0s", "-q"]);
}

/// Every commit between `initial` and main's tip (first parents) carries a passed test note.
fn every_landed_commit_was_tested(env: &TestEnv, repo: &std::path::Path, initial: &str) -> usize {
    let commits = env.git(repo, &["rev-list", "--first-parent", &format!("{initial}..main")]);
    for commit in commits.lines() {
        let note = env.git(repo, &["notes", "--ref=agents", "show", commit]);
        assert!(
            note.contains("result: passed"),
            "main reached {commit} without a passed test: {note}"
        );
    }
    commits.lines().count()
}

#[test]
fn a_killed_merge_never_leaves_the_target_at_an_untested_commit() {
    let env = TestEnv::new();
    let (repo, initial, saved) = five_done_saved(&env);
    let test = "sleep 0.02; test -d docs";
    for trial in 0..30u64 {
        // Back to five done tasks and an untouched main. A kill can leave lock
        // files on refs no later command touched; doctor clears them.
        doctor_fix(&env, &repo);
        restore(&env, &repo, &initial, &saved);
        let mut merge = env
            .command(BIN, &repo)
            .args(["merge", "--test", test])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("merge");
        std::thread::sleep(std::time::Duration::from_millis(trial * 37 % 400));
        merge.kill().expect("SIGKILL");
        merge.wait().expect("reap");
        every_landed_commit_was_tested(&env, &repo, &initial);
        // The next merge proceeds, or says what is in the way: a lock file a
        // kill left (doctor removes it), or the target moved meanwhile (the
        // killed run's `git merge --ff-only` child outlived it).
        let mut out = env.run(&repo, &["merge", "--force", "--test", test]);
        if out.code != 0 {
            let named = out
                .stderr
                .split(|c: char| c.is_whitespace() || c == '\'' || c == '"')
                .map(|t| t.trim_end_matches([':', '.', ',']))
                .any(|t| t.ends_with(".lock") && repo.join(t).exists());
            let moved = out.stderr.contains("main moved since merge started")
                && out.stderr.contains("hint: run `git agents merge` again");
            assert!(named || moved, "trial {trial}: the failure says nothing to do: {out}");
            doctor_fix(&env, &repo);
            out = env.run(&repo, &["merge", "--force", "--test", test]);
        }
        out.success();
        assert_eq!(
            every_landed_commit_was_tested(&env, &repo, &initial),
            5,
            "trial {trial}: {out}"
        );
        // A kill inside a transaction can leave a task listed under two states;
        // readers resolve it to the newer one (see `state`), so ask status.
        let status = env.run(&repo, &["status", "--json"]).stdout;
        let json: serde_json::Value = serde_json::from_str(&status).expect("json");
        let states: Vec<&str> = json["tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .filter_map(|t| t["state"].as_str())
            .collect();
        assert_eq!(states, ["merged"; 5], "trial {trial}");
    }
}

#[test]
fn retries_and_the_per_tree_test_cache() {
    let env = TestEnv::new();
    let (repo, initial, saved) = five_done_saved(&env);
    let runs = env.root().join("runs");
    let flaky = env.root().join("flaky");
    // Fails on its first run only, and counts every run.
    let test = format!(
        "echo run >> {}; test -e {} || {{ touch {}; exit 1; }}",
        runs.display(),
        flaky.display(),
        flaky.display()
    );
    let count = || std::fs::read_to_string(&runs).map_or(0, |t| t.lines().count());
    let out = env.run(&repo, &["merge", "--test", &test]);
    assert_eq!(out.code, 4, "without --retries the flaky run stops the merge: {out}");
    env.run(&repo, &["merge", "--abort"]).success();
    std::fs::remove_file(&flaky).expect("reset flakiness");
    let out = env.run(&repo, &["merge", "--test", &test, "--retries", "1"]);
    out.success();
    let note = env.git(&repo, &["notes", "--ref=agents", "show", "main~4"]);
    assert!(note.contains("result: passed after 1 failed run(s)"), "{note}");
    let before = count();
    // The same trees again: every test result is cached.
    restore(&env, &repo, &initial, &saved);
    env.run(&repo, &["merge", "--test", &test]).success();
    assert_eq!(count(), before, "no test ran on trees that already passed");
    let note = env.git(&repo, &["notes", "--ref=agents", "show", "main"]);
    assert!(note.contains("result: passed earlier on this tree ("), "{note}");
    assert!(note.contains("not run again)"), "{note}");
    restore(&env, &repo, &initial, &saved);
    env.run(&repo, &["merge", "--test", &test, "--no-cache"]).success();
    assert_eq!(count(), before + 5, "--no-cache tests every merge");
}

/// Five done tasks, then main gets its own docs/t3.md: merge stops at t3.
fn stopped_at_t3(env: &TestEnv) -> PathBuf {
    let repo = five_done(env);
    crate::common::write_files(&repo, &[("docs/t3.md", "written on main\n")]);
    env.git(&repo, &["add", "docs/t3.md"]);
    env.git(&repo, &["commit", "-q", "-m", "main: t3 notes"]);
    let out = env.run(&repo, &["merge", "--test", "test -d docs"]);
    assert_eq!(out.code, 3, "{out}");
    repo
}

#[test]
fn continue_lands_a_resolved_conflict_and_goes_on() {
    let env = TestEnv::new();
    let repo = stopped_at_t3(&env);
    let integration = repo.with_file_name("repo.agents").join("integration");
    let again = env.run(&repo, &["merge"]);
    assert_eq!(again.code, 2, "a stopped merge blocks a new one: {again}");
    assert!(again.stderr.contains("stopped at task `t3`"), "{again}");
    let early = env.run(&repo, &["merge", "--continue"]);
    assert_eq!(early.code, 2, "{early}");
    assert!(early.stderr.contains("still conflicted: docs/t3.md"), "{early}");
    // A person resolves the conflict in the integration worktree and commits.
    std::fs::write(integration.join("docs/t3.md"), "written on main\ntask 3\n").expect("resolve");
    env.git(&integration, &["add", "docs/t3.md"]);
    env.git(&integration, &["commit", "-q", "--no-edit"]);
    let out = env.run(&repo, &["merge", "--continue", "--test", "test -d docs"]);
    out.success();
    assert_eq!(
        out.stdout.lines().filter(|l| l.starts_with("landed ")).count(),
        3,
        "t3, t4, t5: {out}"
    );
    assert_eq!(
        env.git(&repo, &["show", "main:docs/t3.md"]),
        "written on main\ntask 3\n"
    );
    let note = env.git(&repo, &["notes", "--ref=agents", "show", "main~2"]);
    assert!(
        note.starts_with("task: t3\n") && note.contains("result: passed"),
        "{note}"
    );
    assert!(!env.refs(&repo).contains("refs/agents/merge "));
}

#[test]
fn abort_leaves_the_target_at_the_last_landed_task() {
    let env = TestEnv::new();
    let repo = stopped_at_t3(&env);
    let before = env.git(&repo, &["rev-parse", "main"]);
    let out = env.run(&repo, &["merge", "--abort"]);
    out.success();
    assert!(out.stdout.contains("stopped at `t3`"), "{out}");
    assert_eq!(env.git(&repo, &["rev-parse", "main"]), before);
    assert_eq!(
        env.git(&repo, &["log", "-1", "--format=%s", "main"]),
        "Merge agents/t2: Task 2\n"
    );
    assert!(!env.refs(&repo).contains("refs/agents/merge "));
    assert_eq!(env.run(&repo, &["merge", "--abort"]).code, 2, "nothing left to abort");
}

#[test]
fn a_dirty_checkout_of_the_target_is_not_moved() {
    let env = TestEnv::new();
    let repo = five_done(&env);
    std::fs::write(repo.join("README.md"), "local edit\n").expect("dirty");
    let before = env.git(&repo, &["rev-parse", "main"]);
    let out = env.run(&repo, &["merge"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr.contains("with uncommitted changes; it was not moved"),
        "{out}"
    );
    assert_eq!(env.git(&repo, &["rev-parse", "main"]), before);
    assert_eq!(
        std::fs::read_to_string(repo.join("README.md")).expect("read"),
        "local edit\n",
        "nothing lost"
    );
}
