//! Agents do not outlive their runner: a SIGKILLed spawn takes its agents
//! (and their background and setsid'd children) with it, an agent's
//! leftovers end with its attempt, and what an earlier, killed run left
//! working in a worktree is ended before the next spawn uses it.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{TestEnv, BIN};

/// Set on every process a test starts, so clean-up kills only those.
const MARK: &str = "GIT_AGENTS_ORPHANS_TEST";

/// A plan whose one task `one` (owning `src/one/**`) runs `sh -c SCRIPT`.
fn shell_plan(script: &str) -> String {
    format!(
        "[agent]\ncommand = [\"sh\", \"-c\", '''{script}''']\nmax_attempts = 1\nlease = \"10m\"\n\n\
         [[task]]\nid = \"one\"\nowns = [\"src/one/**\"]\nprompt = \"Make src/one/f.\"\n"
    )
}

/// The folder where agents write their pid files, and the marker's value.
fn pid_dir(env: &TestEnv) -> PathBuf {
    let dir = env.root().join("pids");
    std::fs::create_dir_all(&dir).expect("pid dir");
    dir
}

fn pid_in(file: &Path) -> Option<i32> {
    std::fs::read_to_string(file).ok()?.trim().parse().ok()
}

/// Whether `pid` still runs: `kill -0` answers and it is not a zombie (the
/// init of a container may never reap what it inherits).
fn running(pid: i32) -> bool {
    #[allow(unsafe_code)]
    // SAFETY: kill(2) with signal 0 only checks that the process exists.
    let exists = unsafe { libc::kill(pid, 0) } == 0;
    exists
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z')))
            .unwrap_or(false)
}

/// Waits up to `within` for `done`; says whether it happened (no timing
/// is asserted: the limit only keeps a broken build from hanging).
fn eventually(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    done()
}

/// Kills, on drop, every process still running that carries this test's
/// marker, so a failing test leaves no `sleep 300` behind.
struct Sweep(String);

impl Drop for Sweep {
    fn drop(&mut self) {
        let needle = format!("{MARK}={}", self.0);
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
                continue;
            };
            let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
            if environ.split(|b| *b == 0).any(|v| v == needle.as_bytes()) {
                #[allow(unsafe_code)]
                // SAFETY: kill(2) of a process this test started (it carries the marker).
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
    }
}

fn sweep(env: &TestEnv) -> Sweep {
    Sweep(env.root().display().to_string())
}

fn marked(env: &TestEnv, cmd: &mut std::process::Command) {
    cmd.env(MARK, env.root().display().to_string());
}

/// An agent that writes its pid, starts a background loop and a setsid'd
/// loop (pids written too), and beats into `beat` every 50 ms until killed.
fn beating_agent(pids: &Path, beat: &Path) -> String {
    let (p, b) = (pids.display(), beat.display());
    format!(
        "echo $$ > {p}/agent; \
         (while :; do sleep 0.05; done) & echo $! > {p}/background; \
         setsid sh -c 'echo $$ > {p}/setsid; while :; do sleep 0.05; done' & \
         while :; do echo beat >> {b}; sleep 0.05; done"
    )
}

#[test]
fn a_sigkilled_runner_takes_its_agents_with_it() {
    for group in [false, true] {
        let env = TestEnv::new();
        let _sweep = sweep(&env);
        let pids = pid_dir(&env);
        let beat = env.root().join("beat");
        let repo = env.planned_repo(&shell_plan(&beating_agent(&pids, &beat)));
        let mut cmd = env.command(BIN, &repo);
        marked(&env, &mut cmd);
        let mut spawn = cmd
            .args(["spawn", "1", "-q"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start spawn");
        let files: Vec<PathBuf> = ["agent", "background", "setsid"].iter().map(|f| pids.join(f)).collect();
        assert!(
            eventually(Duration::from_secs(60), || {
                files.iter().all(|f| pid_in(f).is_some()) && beat.exists()
            }),
            "the agent never started"
        );
        let agent: Vec<i32> = files.iter().filter_map(|f| pid_in(f)).collect();
        let pid = libc::pid_t::try_from(spawn.id()).expect("pid");
        #[allow(unsafe_code)]
        // SAFETY: kill(2) of the spawn this test started (or its own group).
        unsafe {
            libc::kill(if group { -pid } else { pid }, libc::SIGKILL);
        }
        spawn.wait().expect("reap spawn");
        assert!(
            eventually(Duration::from_secs(20), || agent.iter().all(|&p| !running(p))),
            "killing the runner (group: {group}) left agent processes running: {:?}",
            agent.iter().filter(|&&p| running(p)).collect::<Vec<_>>()
        );
        let size = || std::fs::metadata(&beat).map(|m| m.len()).unwrap_or(0);
        let before = size();
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(size(), before, "the heartbeat file still grows (group: {group})");
    }
}

#[test]
fn an_agents_background_and_setsid_children_end_with_its_attempt() {
    let env = TestEnv::new();
    let _sweep = sweep(&env);
    let pids = pid_dir(&env);
    let p = pids.display();
    let script = format!(
        "sleep 300 & echo $! > {p}/background; \
         setsid sh -c 'echo $$ > {p}/setsid; exec sleep 300' & \
         while [ ! -s {p}/setsid ]; do sleep 0.01; done; \
         mkdir -p src/one; echo made > src/one/f"
    );
    let repo = env.planned_repo(&shell_plan(&script));
    let root = env.root().display().to_string();
    let out = env.run_with(&repo, &["spawn", "1", "-q"], &[(MARK, &root)]);
    out.success();
    for name in ["background", "setsid"] {
        let pid = pid_in(&pids.join(name)).unwrap_or_else(|| panic!("no {name} pid: {out}"));
        assert!(!running(pid), "the agent's {name} child {pid} outlived its attempt");
    }
    // The attempt itself was judged as before.
    assert_eq!(env.git(&repo, &["show", "agents/one:src/one/f"]), "made\n");
}

#[test]
fn what_a_killed_run_left_in_a_worktree_is_ended_before_the_worktree_is_used() {
    let env = TestEnv::new();
    let _sweep = sweep(&env);
    let pids = pid_dir(&env);
    let p = pids.display();
    // The agent notes whether the leftover still ran when it started.
    let script = format!(
        "echo \"state:$(cut -d' ' -f3 /proc/$(cat {p}/leftover)/stat 2>/dev/null)\" > {p}/seen; \
         mkdir -p src/one; echo made > src/one/f"
    );
    let repo = env.planned_repo(&shell_plan(&script));
    // The worktree of agent-1 as an earlier run made it.
    let wt = env.root().join("repo.agents/agent-1");
    env.git(&repo, &["worktree", "add", "-q", "--detach", &wt.display().to_string()]);
    // What that run's agent left behind, environment and all, started
    // here outside any runner; and a process of the user's in the same
    // folder, which is not an agent's.
    let mut leftover_cmd = env.command("sh", &wt);
    marked(&env, &mut leftover_cmd);
    let mut leftover = leftover_cmd
        .args(["-c", &format!("echo $$ > {p}/leftover; while :; do sleep 0.05; done")])
        .env("GIT_AGENTS_TASK", "earlier")
        .env("GIT_AGENTS_AGENT", "agent-1")
        .env("GIT_AGENTS_WORKTREE", wt.display().to_string())
        .process_group(0)
        .spawn()
        .expect("start leftover");
    let mut users_cmd = env.command("sleep", &wt);
    marked(&env, &mut users_cmd);
    let mut users = users_cmd
        .arg("300")
        .process_group(0)
        .spawn()
        .expect("start user's process");
    assert!(
        eventually(Duration::from_secs(20), || pid_in(&pids.join("leftover")).is_some()),
        "the leftover never started"
    );
    let leftover_pid = pid_in(&pids.join("leftover")).expect("leftover pid");

    let out = env.run(&repo, &["spawn", "1"]);
    out.success();
    let seen = std::fs::read_to_string(pids.join("seen")).expect("the agent ran");
    assert!(
        seen == "state:\n" || seen == "state:Z\n",
        "the leftover still ran when the agent started ({seen:?}): {out}"
    );
    assert!(leftover.try_wait().expect("wait").is_some(), "the leftover was ended");
    assert!(
        out.stderr.contains("warning:") && out.stderr.contains(&format!("{leftover_pid} (sh)")),
        "spawn says what it ended: {out}"
    );
    // Not an agent's: named, and left alone.
    assert!(users.try_wait().expect("wait").is_none(), "the user's process runs on");
    assert!(
        out.stderr.contains(&format!("{} (sleep)", users.id())),
        "spawn names the process it left running: {out}"
    );
    let _ = users.kill();
    let _ = users.wait();
}

#[test]
fn an_agent_command_that_is_git_itself_is_still_refused_by_the_ref_guard() {
    // Its parent is now the keeper, a git-agents process with the agent's
    // environment: the guard must not take it for `git agents done`.
    let env = TestEnv::new();
    let plan = "[agent]\ncommand = [\"git\", \"update-ref\", \"refs/heads/forged\", \"HEAD\"]\nmax_attempts = 1\n\n\
                [[task]]\nid = \"one\"\nowns = [\"src/one/**\"]\nprompt = \"Make src/one/f.\"\n";
    let repo = env.planned_repo(plan);
    let out = env.run(&repo, &["spawn", "1"]);
    assert_ne!(out.code, 0, "{out}");
    assert!(
        !env.refs(&repo).contains("refs/heads/forged"),
        "the ref guard let it through: {out}"
    );
    let log = std::fs::read_to_string(repo.join(".git/agents/logs/one.1.log")).unwrap_or_default();
    assert!(log.contains("refusing to update refs/heads/forged"), "{log}");
}
