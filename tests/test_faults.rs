//! Fault injection: SIGKILL at arbitrary moments of a claim/done loop and
//! of an agent runner, a plan rewritten while agents claim, and a `.git`
//! that turns read-only or full. After each fault: `git fsck` is clean,
//! every task is in exactly one state once `doctor --fix` ran, no task is
//! lost or done twice, and the next command proceeds or names the fix.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::common::{TestEnv, BIN};
use crate::test_concurrency::{claimer, join_exactly_once, plan_with, start_claimers};

/// A pseudo-random delay for trial `n` (no clock: trials are repeatable).
fn delay(n: u64, max_ms: u64) -> Duration {
    Duration::from_millis(n.wrapping_mul(2_654_435_761) % max_ms)
}

/// Starts `script` under `sh` in its own process group, so a kill takes
/// every process it started.
fn start_group(env: &TestEnv, repo: &Path, script: &str) -> std::process::Child {
    env.command("sh", repo)
        .args(["-c", script])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start")
}

fn kill_group(child: &mut std::process::Child) {
    let pid = libc::pid_t::try_from(child.id()).expect("pid");
    #[allow(unsafe_code)]
    // SAFETY: kill(2) with a process group id we created; no memory is involved.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
    child.wait().expect("reap");
}

/// Task ids by state, as the refs say (after `doctor --fix`: one ref each).
fn states(env: &TestEnv, repo: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = env
        .git(repo, &["for-each-ref", "--format=%(refname)", "refs/agents/tasks"])
        .lines()
        .filter_map(|r| r.strip_prefix("refs/agents/tasks/"))
        .filter_map(|r| r.split_once('/'))
        .map(|(state, id)| (id.to_string(), state.to_string()))
        .collect();
    out.sort();
    out
}

/// The checks every trial ends with.
fn intact(env: &TestEnv, repo: &Path, tasks: usize, trial: u64) -> Vec<(String, String)> {
    // Reads never need a lock: status works whatever the kill left.
    env.run(repo, &["status", "--json"]).success();
    // Anything left is something doctor repairs.
    let fixed = env.run(repo, &["doctor", "--fix", "--older-than", "0s", "--json"]);
    assert!(fixed.code == 0, "trial {trial}: doctor could not repair: {fixed}");
    env.git(repo, &["fsck", "--no-progress", "--no-dangling"]);
    let now = states(env, repo);
    assert_eq!(
        now.len(),
        tasks,
        "trial {trial}: every task in exactly one state: {now:?}"
    );
    now
}

/// How many `done` and `claim` links each task's history has.
fn transitions(env: &TestEnv, repo: &Path, id: &str, state: &str) -> (usize, usize) {
    let log = env.git(
        repo,
        &["log", "--format=%s", &format!("refs/agents/tasks/{state}/{id}")],
    );
    let count = |word: &str| log.lines().filter(|l| l.starts_with(word)).count();
    (count("claim "), count("done "))
}

#[test]
fn killing_a_claim_done_loop_loses_no_task_and_does_none_twice() {
    let env = TestEnv::new();
    // Each kill can cost a task an attempt (unlock --stale counts it).
    let plan = format!("[agent]\nmax_attempts = 100\n\n{}", plan_with(40));
    let repo = env.planned_repo(&plan);
    let script = format!(
        "while id=$('{BIN}' claim --next --agent looper); do '{BIN}' done \"$id\" --agent looper || exit 1; done"
    );
    for trial in 0..30u64 {
        let mut looper = start_group(&env, &repo, &script);
        std::thread::sleep(Duration::from_millis(20) + delay(trial, 120));
        kill_group(&mut looper);
        // The next command proceeds, or names the lock file in its way.
        let next = env.run(&repo, &["claim", "--next", "--agent", "next"]);
        match next.code {
            0 => {
                let id = next.stdout.trim();
                env.run(&repo, &["release", id, "--agent", "next", "-q"]).success();
            }
            5 => {}
            _ => assert!(
                next.stderr.contains(".lock") && next.stderr.contains("hint:"),
                "trial {trial}: {next}"
            ),
        }
        intact(&env, &repo, 40, trial);
        // The killed loop's claim is stale once its lease is over.
        env.run_with(&repo, &["unlock", "--stale", "-q"], &[("GIT_AGENTS_NOW", "9999999999")])
            .success();
    }
    // What is left gets done; then every task was done exactly once.
    claimer(env.vars(), &repo, "finisher", 40);
    for (id, state) in intact(&env, &repo, 40, 99) {
        assert_eq!(state, "done", "{id}");
        let (_, done) = transitions(&env, &repo, &id, &state);
        assert_eq!(done, 1, "{id} was done {done} times");
    }
}

#[test]
fn killing_an_agent_runner_mid_task_loses_no_work() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    let mut plan =
        format!("[agent]\ncommand = [\"{BIN}\", \"scripted-agent\"]\nlease = \"10m\"\nmax_attempts = 100\n\n");
    for i in 0..12 {
        plan.push_str(&format!(
            "[[task]]\nid = \"w{i:02}\"\nowns = [\"work/w{i:02}/**\"]\nprompt = \"\"\"\nagent: write work/w{i:02}/a.txt first\nagent: sleep 0.05\nagent: write work/w{i:02}/b.txt second\n\"\"\"\n\n"
        ));
    }
    std::fs::write(repo.join("agents.toml"), plan).expect("plan");
    env.git(&repo, &["update-index", "--refresh"]);
    env.run(&repo, &["plan", "--yes", "-q"]).success();
    let spawn = format!("exec '{BIN}' spawn 2 -q");
    for trial in 0..30u64 {
        let mut runner = start_group(&env, &repo, &spawn);
        std::thread::sleep(Duration::from_millis(30) + delay(trial, 400));
        kill_group(&mut runner);
        // Agents the runner started are in their own groups; let them end.
        std::thread::sleep(Duration::from_millis(80));
        intact(&env, &repo, 12, trial);
        env.run_with(&repo, &["unlock", "--stale", "-q"], &[("GIT_AGENTS_NOW", "9999999999")])
            .success();
        discard_abandoned_work(&env, &repo);
    }
    // A last run finishes what is left, in the worktrees the kills left.
    discard_abandoned_work(&env, &repo);
    let out = env.run(&repo, &["spawn", "2", "-q"]);
    out.success();
    for (id, state) in intact(&env, &repo, 12, 99) {
        assert_eq!(state, "done", "{id}: {out}");
        let (_, done) = transitions(&env, &repo, &id, &state);
        assert_eq!(done, 1, "{id} was done {done} times");
        // The work that was marked done is whole.
        for file in ["a.txt", "b.txt"] {
            env.git(&repo, &["cat-file", "-e", &format!("agents/{id}:work/{id}/{file}")]);
        }
    }
}

/// A killed runner's agent may have written files after the kill; spawn
/// refuses such a worktree ("commit or discard them, then spawn again").
/// Do what it says: the attempt is abandoned, so discard.
fn discard_abandoned_work(env: &TestEnv, repo: &Path) {
    let root = repo.with_file_name("repo.agents");
    for entry in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        let dir = entry.path();
        // A folder whose registration doctor removed is spawn's to replace.
        let registered = env
            .command("git", &dir)
            .args(["status"])
            .output()
            .is_ok_and(|o| o.status.success());
        if registered && !env.git(&dir, &["status", "--porcelain"]).is_empty() {
            env.git(&dir, &["reset", "-q", "--hard"]);
            env.git(&dir, &["clean", "-q", "-fd"]);
        }
    }
}

#[test]
fn work_an_abandoned_attempt_left_in_a_worktree_is_not_overwritten() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    let plan = format!("[agent]\ncommand = [\"{BIN}\", \"scripted-agent\"]\n\n{}", plan_with(1));
    std::fs::write(repo.join("agents.toml"), plan).expect("plan");
    env.git(&repo, &["update-index", "--refresh"]);
    env.run(&repo, &["plan", "--yes", "-q"]).success();
    // The worktree of agent-1 as a killed run leaves it: files written, not committed.
    let wt = env.root().join("repo.agents/agent-1");
    env.git(&repo, &["worktree", "add", "-q", "--detach", &wt.display().to_string()]);
    std::fs::write(wt.join("half-done.txt"), "work in progress\n").expect("dirty");
    let out = env.run(&repo, &["spawn", "1", "-q"]);
    assert_ne!(out.code, 0, "{out}");
    assert!(
        out.stderr.contains("has uncommitted changes")
            && out.stderr.contains("commit or discard them, then spawn again"),
        "the worktree is named with the fix: {out}"
    );
    assert_eq!(
        std::fs::read_to_string(wt.join("half-done.txt")).expect("kept"),
        "work in progress\n"
    );
    let status = env.run(&repo, &["status"]);
    assert!(
        status.stdout.starts_with("0 completed / 1 total (0 in progress"),
        "the claim was given back: {status}"
    );
}

#[test]
fn a_plan_rewritten_while_agents_claim_loses_and_doubles_nothing() {
    let env = TestEnv::new();
    let repo = env.planned_repo(&plan_with(60));
    let claimers = start_claimers(&env.vars(), std::slice::from_ref(&repo), 4, 100);
    // Meanwhile the plan grows by ten tasks at a time, recorded each time.
    for tasks in (70..=100).step_by(10) {
        std::fs::write(repo.join("agents.toml"), plan_with(tasks)).expect("plan");
        let out = env.run(&repo, &["plan", "--yes", "-q"]);
        assert_eq!(out.code, 0, "re-recording while agents claim: {out}");
        std::thread::sleep(Duration::from_millis(50));
    }
    join_exactly_once(claimers, 100);
    for (id, state) in intact(&env, &repo, 100, 0) {
        assert_eq!(state, "done", "{id}");
        assert_eq!(transitions(&env, &repo, &id, &state), (1, 1), "{id}");
    }
}

/// A tmpfs of `size` mounted at `dir`, unmounted on drop. Needs root (CI
/// here runs as root); elsewhere the tests that need it say so and pass.
struct Mount(std::path::PathBuf);

impl Mount {
    fn tmpfs(dir: &Path, size: &str) -> Option<Mount> {
        std::fs::create_dir_all(dir).expect("mount point");
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Mount(dir.to_path_buf()))
    }

    fn remount(&self, mode: &str) {
        let status = std::process::Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(&self.0)
            .status()
            .expect("remount");
        assert!(status.success(), "remount {mode}");
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A recorded plan in a repository on its own small filesystem.
fn repo_on_tmpfs(env: &TestEnv, size: &str) -> Option<(Mount, std::path::PathBuf)> {
    let Some(mount) = Mount::tmpfs(&env.root().join("fs"), size) else {
        #[allow(clippy::print_stderr)] // a skipped test says so
        {
            eprintln!("skipped: mounting a tmpfs needs root");
        }
        return None;
    };
    let repo = mount.0.join("repo");
    std::fs::create_dir_all(&repo).expect("repo dir");
    env.git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("agents.toml"), plan_with(3)).expect("plan");
    env.git(&repo, &["add", "-A"]);
    env.git(&repo, &["commit", "-q", "-m", "initial"]);
    env.run(&repo, &["plan", "--yes", "-q"]).success();
    Some((mount, repo))
}

fn lock_files(repo: &Path) -> Vec<String> {
    let out = std::process::Command::new("find")
        .arg(repo.join(".git"))
        .args(["-name", "*.lock"])
        .output()
        .expect("find");
    String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect()
}

#[test]
fn a_read_only_git_dir_gets_a_clear_error_and_nothing_half_written() {
    let env = TestEnv::new();
    let Some((mount, repo)) = repo_on_tmpfs(&env, "4m") else {
        return;
    };
    let before = env.refs(&repo);
    mount.remount("ro");
    let out = env.run(&repo, &["claim", "--next", "--agent", "a"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr.contains("Read-only file system"),
        "the cause is shown: {out}"
    );
    env.run(&repo, &["status"]).success();
    mount.remount("rw");
    assert_eq!(env.refs(&repo), before);
    assert!(lock_files(&repo).is_empty(), "{:?}", lock_files(&repo));
    env.run(&repo, &["claim", "--next", "--agent", "a"]).success();
}

#[test]
fn a_full_disk_gets_a_clear_error_and_nothing_half_written() {
    let env = TestEnv::new();
    let Some((mount, repo)) = repo_on_tmpfs(&env, "1m") else {
        return;
    };
    let before = env.refs(&repo);
    // Fill the filesystem to the last block.
    let filler = mount.0.join("filler");
    let _ = std::process::Command::new("dd")
        .args(["if=/dev/zero", "bs=4k"])
        .arg(format!("of={}", filler.display()))
        .stderr(Stdio::null())
        .status();
    let out = env.run(&repo, &["claim", "--next", "--agent", "a"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr.contains("No space left on device"),
        "the cause is shown: {out}"
    );
    std::fs::remove_file(&filler).expect("make room");
    assert_eq!(env.refs(&repo), before);
    assert!(lock_files(&repo).is_empty(), "{:?}", lock_files(&repo));
    env.git(&repo, &["fsck", "--no-progress", "--no-dangling"]);
    env.run(&repo, &["claim", "--next", "--agent", "a"]).success();
}
