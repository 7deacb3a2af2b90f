//! `git agents merge --batch`: done tasks merged a batch at a time and
//! tested once on the batch's tip; a red batch is bisected to its culprit,
//! the green prefix lands, and the target is only ever at a tested commit.

use std::path::Path;

use crate::common::{TestEnv, BIN};

/// A test command that appends a line to `runs` each time it runs and
/// fails once `culprit`'s file is merged.
fn counting_test(runs: &Path, culprit: &str) -> String {
    format!("echo run >> {}; test ! -e docs/{culprit}.md", runs.display())
}

fn count(runs: &Path) -> usize {
    std::fs::read_to_string(runs).map_or(0, |t| t.lines().count())
}

/// The tasks landed on main, oldest first (from the merge subjects).
fn landed(env: &TestEnv, repo: &Path) -> Vec<String> {
    let log = env.git(repo, &["log", "--format=%s", "--first-parent", "--reverse", "main"]);
    log.lines()
        .filter_map(|l| l.strip_prefix("Merge agents/"))
        .map(|l| l.split(':').next().unwrap_or_default().to_string())
        .collect()
}

fn note(env: &TestEnv, repo: &Path, rev: &str) -> String {
    env.git(repo, &["notes", "--ref=agents", "show", rev])
}

/// Main's tip carries a passed note, and every commit landed since
/// `initial` either passed itself or names a passed tip it lies below.
fn target_is_tested(env: &TestEnv, repo: &Path, initial: &str) {
    let tip = env.git(repo, &["rev-parse", "main"]).trim().to_string();
    if tip == initial {
        return;
    }
    assert!(
        note(env, repo, "main").contains("result: passed"),
        "main is at an untested commit: {}",
        note(env, repo, "main")
    );
    let commits = env.git(repo, &["rev-list", "--first-parent", &format!("{initial}..main")]);
    for commit in commits.lines() {
        let text = note(env, repo, commit);
        if text.contains("result: passed") {
            continue;
        }
        let on = text
            .lines()
            .find_map(|l| l.strip_prefix("tested-on: "))
            .unwrap_or_else(|| panic!("{commit} landed untested: {text}"));
        assert!(text.contains("result: not tested alone"), "{text}");
        assert!(note(env, repo, on).contains("result: passed"), "{on} did not pass");
        env.git(repo, &["merge-base", "--is-ancestor", on, "main"]);
    }
}

#[test]
fn a_red_batch_is_bisected_to_its_culprit_and_the_green_prefix_lands() {
    let env = TestEnv::new();
    let repo = env.done_tasks(10);
    let runs = env.root().join("runs");
    let out = env.run(
        &repo,
        &["merge", "--batch", "10", "--test", &counting_test(&runs, "t7")],
    );
    assert_eq!(out.code, 4, "{out}");
    assert_eq!(landed(&env, &repo), ["t1", "t2", "t3", "t4", "t5", "t6"], "{out}");
    assert!(
        out.stderr.contains("failed after merging `t7`"),
        "the stop names the culprit: {out}"
    );
    assert!(out.stderr.contains("still waiting: t7, t8, t9, t10"), "{out}");
    assert!(out.stderr.contains("culprit: `t7`"), "{out}");
    // One run on the whole batch, then a bisection: at most ⌈log2 10⌉ more.
    let ran = count(&runs);
    assert!(ran <= 1 + 4 + 1, "{ran} test runs: {out}");
    assert_eq!(ran, 4, "the batch, then the first 5 (green), 7 (red), 6 (green): {out}");
    assert!(
        out.stderr.contains(&format!("{ran} test run(s) for 6 landed task(s)")),
        "{out}"
    );
    let tip = note(&env, &repo, "main");
    assert!(
        tip.starts_with("task: t6\n") && tip.contains("result: passed\n"),
        "{tip}"
    );
    let inner = note(&env, &repo, "main~1");
    let main = env.git(&repo, &["rev-parse", "main"]);
    assert!(
        inner.contains("result: not tested alone (its batch passed on "),
        "{inner}"
    );
    assert!(inner.contains(&format!("tested-on: {main}")), "{inner}");
    let initial = env.git(&repo, &["rev-parse", "main~6"]).trim().to_string();
    target_is_tested(&env, &repo, &initial);
    assert!(env.refs(&repo).contains("refs/agents/tasks/done/t7 "));
    let stopped = env.git(&repo, &["cat-file", "-p", "refs/agents/merge:merge.toml"]);
    assert!(
        stopped.contains("stopped_task = \"t7\"") && stopped.contains("batch = \"10\""),
        "{stopped}"
    );
    // What waits in the integration worktree is the culprit's merge, to fix.
    let integration = repo.with_file_name("repo.agents").join("integration");
    assert!(integration.join("docs/t7.md").exists() && !integration.join("docs/t8.md").exists());
}

#[test]
fn a_green_queue_lands_in_growing_batches_with_one_test_run_each() {
    let env = TestEnv::new();
    let repo = env.done_tasks(10);
    let runs = env.root().join("runs");
    let dry = env.run(&repo, &["merge", "--batch", "auto", "--dry-run", "--test", "true"]);
    dry.success();
    for line in [
        "batch 1 (size 2, auto): 2 task(s): t1, t2",
        "batch 2 (size 4, auto): 4 task(s): t3, t4, t5, t6",
        "batch 3 (size 8, auto): 4 task(s): t7, t8, t9, t10",
    ] {
        assert!(dry.stderr.contains(line), "{line}: {dry}");
    }
    assert_eq!(count(&runs), 0, "a dry run tests nothing");
    let out = env.run(
        &repo,
        &[
            "merge",
            "--batch",
            "auto",
            "--json",
            "--test",
            &counting_test(&runs, "none"),
        ],
    );
    out.success();
    assert_eq!(landed(&env, &repo).len(), 10, "{out}");
    assert_eq!(count(&runs), 3, "one run per batch: {out}");
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    let batches = &json["batches"];
    assert_eq!(batches["test_runs"], 3, "{json}");
    let sizes: Vec<u64> = batches["batches"]
        .as_array()
        .expect("batches")
        .iter()
        .filter_map(|b| b["size"].as_u64())
        .collect();
    assert_eq!(sizes, [2, 4, 8], "{json}");
    assert!(batches["culprit"].is_null(), "{json}");
    assert_eq!(
        json["landed"][0]["tested_on"].as_str().map(str::len),
        Some(40),
        "{json}"
    );
}

#[test]
fn a_conflict_inside_a_batch_lands_the_tested_prefix_and_continue_goes_on_in_batches() {
    let env = TestEnv::new();
    let repo = env.done_tasks(8);
    let runs = env.root().join("runs");
    // After the tasks were done, main gets its own docs/t4.md.
    crate::common::write_files(&repo, &[("docs/t4.md", "written on main\n")]);
    env.git(&repo, &["add", "docs/t4.md"]);
    env.git(&repo, &["commit", "-q", "-m", "main: t4 notes"]);
    let test = counting_test(&runs, "none");
    let out = env.run(&repo, &["merge", "--batch", "8", "--test", &test]);
    assert_eq!(out.code, 3, "{out}");
    assert_eq!(landed(&env, &repo), ["t1", "t2", "t3"], "{out}");
    assert_eq!(count(&runs), 1, "the prefix before the conflict was tested once: {out}");
    assert!(note(&env, &repo, "main").contains("task: t3\n"), "{out}");
    assert!(note(&env, &repo, "main").contains("result: passed\n"), "{out}");
    assert!(
        out.stderr.contains("merge stopped: task `t4` conflicts with main"),
        "{out}"
    );
    assert!(out.stderr.contains("still waiting: t4, t5, t6, t7, t8"), "{out}");

    let integration = repo.with_file_name("repo.agents").join("integration");
    std::fs::write(integration.join("docs/t4.md"), "written on main\ntask 4\n").expect("resolve");
    env.git(&integration, &["add", "docs/t4.md"]);
    env.git(&integration, &["commit", "-q", "--no-edit"]);
    let out = env.run(&repo, &["merge", "--continue"]);
    out.success();
    assert!(
        out.stderr.contains("--batch 8"),
        "continued with the same options: {out}"
    );
    assert!(
        out.stderr.contains("batch 1 (size 8): 4 task(s): t5, t6, t7, t8"),
        "{out}"
    );
    // t4's merge is the commit made by hand in the integration worktree.
    assert_eq!(landed(&env, &repo), ["t1", "t2", "t3", "t5", "t6", "t7", "t8"]);
    assert!(note(&env, &repo, "main~4").starts_with("task: t4\n"), "{out}");
    let refs = env.git(&repo, &["for-each-ref", "--format=%(refname)", "refs/agents/tasks"]);
    assert_eq!(
        refs.lines()
            .filter(|r| r.starts_with("refs/agents/tasks/merged/"))
            .count(),
        8,
        "{refs}"
    );
    assert_eq!(count(&runs), 3, "the resolution once, the rest as one batch: {out}");
    assert!(!env.refs(&repo).contains("refs/agents/merge "));
}

/// Main back at `initial`, refs/agents back to `saved`, no notes; lock
/// files a kill left cleared as a person would (`doctor --fix`).
fn restore(env: &TestEnv, repo: &Path, initial: &str, saved: &str) {
    env.run(repo, &["doctor", "--fix", "--older-than", "0s", "-q"]);
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
    for input in [current, saved.to_string()] {
        let mut git = env
            .command("git", repo)
            .args(["update-ref", "--stdin"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("update-ref");
        std::io::Write::write_all(&mut git.stdin.take().expect("stdin"), input.as_bytes()).expect("feed");
        assert!(git.wait().expect("update-ref").success());
    }
}

#[test]
fn a_merge_killed_while_bisecting_never_leaves_the_target_untested() {
    let env = TestEnv::new();
    let repo = env.done_tasks(6);
    let initial = env.git(&repo, &["rev-parse", "main"]).trim().to_string();
    let saved = env.git(
        &repo,
        &[
            "for-each-ref",
            "--format=create %(refname) %(objectname)",
            "refs/agents",
        ],
    );
    // Four trials per run (the batch, then 3, 4, 5 of 6), each a real process.
    let test = "sleep 0.2; test ! -e docs/t5.md";
    let merge = ["merge", "--batch", "6", "--no-cache", "--test", test];
    let forced = [&merge[..], &["--force"][..]].concat();
    let mut killed = 0;
    for trial in 0..8u64 {
        restore(&env, &repo, &initial, &saved);
        let mut child = env
            .command(BIN, &repo)
            .args(merge)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("merge");
        std::thread::sleep(std::time::Duration::from_millis(150 + trial * 131 % 900));
        let ended = child.try_wait().expect("wait").is_some();
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        target_is_tested(&env, &repo, &initial);
        if ended {
            // It finished first (the machine was quick): nothing was killed.
            env.run(&repo, &["merge", "--abort"]).success();
            continue;
        }
        killed += 1;
        let mut out = env.run(&repo, &forced);
        if out.code != 4 {
            // A lock file the kill left (doctor removes it), or the killed
            // run's `git merge --ff-only` child moved main meanwhile.
            assert!(
                out.stderr.contains(".lock") || out.stderr.contains("main moved since merge started"),
                "trial {trial}: {out}"
            );
            env.run(&repo, &["doctor", "--fix", "--older-than", "0s", "-q"]);
            out = env.run(&repo, &forced);
        }
        assert_eq!(out.code, 4, "trial {trial}: {out}");
        assert!(out.stderr.contains("failed after merging `t5`"), "trial {trial}: {out}");
        assert_eq!(landed(&env, &repo), ["t1", "t2", "t3", "t4"], "trial {trial}: {out}");
        target_is_tested(&env, &repo, &initial);
        env.run(&repo, &["merge", "--abort"]).success();
    }
    assert!(killed >= 4, "only {killed} of 8 trials killed a running merge");
}

#[test]
fn the_pre_push_guard_lets_out_a_batch_only_with_its_tested_tip() {
    let env = TestEnv::new();
    let repo = env.done_tasks(4);
    env.git(env.root(), &["init", "-q", "--bare", "shared.git"]);
    env.git(&repo, &["remote", "add", "origin", "../shared.git"]);
    env.git(&repo, &["push", "-q", "origin", "main"]);
    env.run(&repo, &["hook", "install"]).success();
    env.run(&repo, &["merge", "-q", "--batch", "4", "--test", "test -d docs"])
        .success();
    let push = |rev: &str| {
        env.command("git", &repo)
            .args(["push", "-q", "origin", &format!("{rev}:refs/heads/main")])
            .output()
            .expect("git push")
    };
    // main~1 lies inside the batch: it was never tested alone.
    let inner = push("main~1");
    assert!(!inner.status.success(), "an untested commit of a batch went out");
    let stderr = String::from_utf8_lossy(&inner.stderr);
    assert!(stderr.contains("its batch's tested tip"), "{stderr}");
    let whole = push("main");
    assert!(
        whole.status.success(),
        "the batch with its tested tip is refused: {}",
        String::from_utf8_lossy(&whole.stderr)
    );
    assert_eq!(
        env.git(&repo, &["rev-parse", "origin/main"]),
        env.git(&repo, &["rev-parse", "main"])
    );
}

#[test]
fn retries_apply_to_every_bisection_trial_and_a_pass_on_retry_is_reported_flaky() {
    let env = TestEnv::new();
    let repo = env.done_tasks(4);
    let runs = env.root().join("runs");
    // Red once t3 is merged; the third run (the bisection's first trial) is
    // red by chance as well, and passes on its retry.
    let test = format!(
        "echo run >> {r}; n=$(wc -l < {r}); test \"$n\" -ne 3 && test ! -e docs/t3.md",
        r = runs.display()
    );
    let out = env.run(&repo, &["merge", "--batch", "4", "--retries", "1", "--test", &test]);
    assert_eq!(out.code, 4, "{out}");
    assert_eq!(landed(&env, &repo), ["t1", "t2"], "{out}");
    assert!(out.stderr.contains("failed after merging `t3`"), "{out}");
    // The batch twice, the first half twice (red, then green), t1..t3 twice.
    assert_eq!(count(&runs), 6, "{out}");
    assert!(
        out.stderr.contains("flaky: `")
            && out
                .stderr
                .contains("passed on the merge of `t2` only after 1 red run(s) (while bisecting)"),
        "{out}"
    );
    assert!(note(&env, &repo, "main").contains("result: passed after 1 failed run(s)\n"));
}

#[test]
fn with_a_shared_remote_each_landed_batch_is_one_push() {
    let env = TestEnv::new();
    let src = env.repo("src", crate::common::BASIC_FILES);
    std::fs::write(src.join("agents.toml"), crate::test_concurrency::plan_with(5)).expect("plan");
    env.git(&src, &["add", "agents.toml"]);
    env.git(&src, &["commit", "-q", "-m", "plan"]);
    let bare = env.root().join("shared.git");
    env.git(env.root(), &["clone", "-q", "--bare", "src", "shared.git"]);
    // The bare repository logs every move of main: one entry per push.
    env.git(&bare, &["config", "core.logAllRefUpdates", "always"]);
    env.git(env.root(), &["clone", "-q", "shared.git", "machine"]);
    let a = env.root().join("machine");
    env.git(&a, &["config", "agents.remote", "origin"]);
    env.git(&a, &["config", "agents.mergeBatch", "auto"]);
    env.run(&a, &["plan", "--yes", "-q"]).success();
    for i in 0..5 {
        let id = format!("t{i:03}");
        env.run(&a, &["claim", &id, "--agent", "bob"]).success();
        env.git(&a, &["switch", "-q", "-c", &format!("agents/{id}"), "main"]);
        crate::common::write_files(&a, &[(&format!("work/{id}/out.txt"), "done\n")]);
        env.git(&a, &["add", "work"]);
        env.git(&a, &["commit", "-q", "-m", &format!("{id} work")]);
        env.git(&a, &["switch", "-q", "main"]);
        env.run(&a, &["done", &id, "--agent", "bob"]).success();
    }
    let reflog = || {
        env.git(&bare, &["reflog", "show", "--format=%H", "refs/heads/main"])
            .lines()
            .count()
    };
    let before = reflog();
    // `agents.mergeBatch auto`: 2 tasks, then the 3 left (within half of 4).
    let out = env.run(&a, &["merge", "--test", "test -d work"]);
    out.success();
    assert!(out.stderr.contains("batch 2 (size 4, auto): 3 task(s)"), "{out}");
    assert_eq!(reflog() - before, 2, "one push per batch: {out}");
    assert_eq!(
        env.git(&bare, &["rev-parse", "main"]),
        env.git(&a, &["rev-parse", "main"])
    );
    let merged = env.git(
        &bare,
        &["for-each-ref", "--format=%(refname)", "refs/agents/tasks/merged"],
    );
    assert_eq!(merged.lines().count(), 5, "{merged}");
}
