//! Concurrency and crash claims, proven with real processes: many claimers
//! at once, and an agent killed while holding a claim.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::{TestEnv, BIN};

pub fn plan_with(tasks: usize) -> String {
    let mut plan = String::new();
    for i in 0..tasks {
        plan.push_str(&format!(
            "[[task]]\nid = \"t{i:03}\"\nowns = [\"work/t{i:03}/**\"]\nprompt = \"Task {i}.\"\n\n"
        ));
    }
    plan
}

/// Runs a claim-then-done loop as `agent` until all `total` tasks are done; returns the tasks it claimed.
pub fn claimer(env_vars: Vec<(String, String)>, repo: &Path, agent: &str, total: usize) -> Vec<String> {
    let mut claimed = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "{agent}: not all {total} tasks done after 5 minutes"
        );
        let out = Command::new(BIN)
            .args(["claim", "--next", "--agent", agent])
            .current_dir(repo)
            .env_clear()
            .envs(env_vars.iter().cloned())
            .output()
            .expect("run claim");
        match out.status.code() {
            Some(0) => {
                let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
                let done = Command::new(BIN)
                    .args(["done", &id, "--agent", agent])
                    .current_dir(repo)
                    .env_clear()
                    .envs(env_vars.iter().cloned())
                    .output()
                    .expect("run done");
                assert!(
                    done.status.success(),
                    "done {id}: {}",
                    String::from_utf8_lossy(&done.stderr)
                );
                claimed.push(id);
            }
            Some(5) => {
                let stderr = String::from_utf8_lossy(&out.stderr);
                if stderr.contains(&format!("all {total} tasks are done")) {
                    return claimed;
                }
                // Everything left is claimed by others right now; look again.
            }
            _ => panic!("claim failed: {}", String::from_utf8_lossy(&out.stderr)),
        }
    }
}

/// Starts `n` claimer threads, agent `i` working in `repos[i % repos.len()]`.
pub fn start_claimers(
    vars: &[(String, String)],
    repos: &[std::path::PathBuf],
    n: usize,
    total: usize,
) -> Vec<std::thread::JoinHandle<Vec<String>>> {
    (0..n)
        .map(|i| {
            let (vars, repo) = (vars.to_vec(), repos[i % repos.len()].clone());
            std::thread::spawn(move || claimer(vars, &repo, &format!("agent-{i}"), total))
        })
        .collect()
}

/// Joins every claimer (so no process outlives the repository), then checks
/// that together they claimed each of `total` tasks exactly once.
pub fn join_exactly_once(claimers: Vec<std::thread::JoinHandle<Vec<String>>>, total: usize) {
    let results: Vec<_> = claimers.into_iter().map(|h| h.join()).collect();
    let mut all: Vec<String> = results.into_iter().flat_map(|r| r.expect("claimer thread")).collect();
    assert_eq!(all.len(), total, "the sum of claims is the number of tasks");
    all.sort();
    all.dedup();
    assert_eq!(all.len(), total, "no task was claimed twice");
}

#[test]
fn eight_claimers_take_every_task_exactly_once() {
    let env = TestEnv::new();
    let repo = env.planned_repo(&plan_with(200));
    join_exactly_once(start_claimers(&env.vars(), std::slice::from_ref(&repo), 8, 200), 200);
    let refs = env.git(&repo, &["for-each-ref", "--format=%(refname)", "refs/agents/tasks"]);
    assert_eq!(refs.lines().count(), 200);
    assert!(refs.lines().all(|r| r.starts_with("refs/agents/tasks/done/")), "{refs}");
    for i in (0..200).step_by(7) {
        let log = env.git(
            &repo,
            &["log", "--format=%s", &format!("refs/agents/tasks/done/t{i:03}")],
        );
        let claims = log.lines().filter(|l| l.starts_with("claim ")).count();
        assert_eq!(claims, 1, "t{i:03} history:\n{log}");
    }
    env.git(&repo, &["fsck", "--no-progress"]);
    env.git(&repo, &["gc", "--quiet", "--prune=now"]);
    env.git(&repo, &["fsck", "--no-progress"]);
    let out = env.run(&repo, &["status", "--json"]);
    assert!(out.stdout.contains("\"completed\": 200"), "{out}");
    let log = env.run(&repo, &["log", "t100"]);
    assert_eq!(log.stdout.lines().count(), 3, "add, claim, done survive gc: {log}");
}

#[test]
fn a_killed_agent_leaves_a_stale_claim_that_unlock_frees() {
    let env = TestEnv::new();
    let repo = env.planned_repo(&plan_with(2));
    env.git(&repo, &["config", "agents.lease", "1s"]);
    // The agent claims, then hangs until it is killed with SIGKILL.
    let script = format!("'{BIN}' claim t000 --agent doomed >/dev/null && echo claimed && exec sleep 600");
    let mut agent = env
        .command("sh", &repo)
        .args(["-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start agent");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(agent.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("read");
    assert_eq!(line, "claimed\n");
    agent.kill().expect("SIGKILL");
    agent.wait().expect("reap");
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let out = env.run(&repo, &["status"]);
    assert!(out.stdout.contains("STALE"), "{out}");
    assert!(env.run(&repo, &["claim", "t000", "--agent", "rescuer"]).code == 5);
    let out = env.run(&repo, &["unlock", "--stale"]);
    assert_eq!(out.stdout, "t000 available (lease of doomed expired)\n", "{out}");
    let out = env.run(&repo, &["claim", "t000", "--agent", "rescuer"]);
    assert_eq!(out.stdout, "t000\n", "{out}");
    let log = env.run(&repo, &["log", "t000"]).stdout;
    assert!(
        log.contains("unlocked by Test Committer: lease of doomed expired"),
        "{log}"
    );
    env.git(&repo, &["fsck", "--no-progress"]);
}
