//! A fleet that survives: a killed `spawn`'s claims are stale at once (its
//! process is gone), while live holders and holders on other hosts keep
//! theirs until the lease; two spawns never run the same agent names.
//! Real processes throughout: spawns are started and SIGKILLed.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::{TestEnv, BIN};
use crate::test_concurrency::plan_with;

/// Generous: only a spawn that hangs (waits out a 30-minute lease) gets near it.
const PATIENCE: Duration = Duration::from_secs(120);

/// Processes killed when the test ends, however it ends.
#[derive(Default)]
struct Reaper(Vec<i32>);

impl Reaper {
    /// SIGKILLs the process group `child` leads, now, and reaps it.
    fn kill_group(&self, child: &mut Child) {
        signal(-pid_of(child), libc::SIGKILL);
        child.wait().expect("reap");
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        for &pid in &self.0 {
            signal(pid, libc::SIGKILL);
        }
    }
}

fn pid_of(child: &Child) -> i32 {
    i32::try_from(child.id()).expect("pid")
}

fn signal(pid: i32, sig: libc::c_int) {
    #[allow(unsafe_code)]
    // SAFETY: kill(2) on a process or group this test started; no memory is involved.
    unsafe {
        libc::kill(pid, sig);
    }
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("hostname")
        .trim()
        .to_string()
}

/// `git-agents args` in its own process group, output into `<root>/<log>.out`/`.err`.
fn start(env: &TestEnv, repo: &Path, args: &[&str], log: &str, reaper: &mut Reaper) -> Child {
    let file = |ext: &str| std::fs::File::create(env.root().join(format!("{log}.{ext}"))).expect("log");
    let child = env
        .command(BIN, repo)
        .args(args)
        .stdin(Stdio::null())
        .stdout(file("out"))
        .stderr(file("err"))
        .process_group(0)
        .spawn()
        .expect("start git-agents");
    reaper.0.push(-pid_of(&child));
    child
}

/// Waits for `child`; a hang past [`PATIENCE`] fails the test with its output.
fn finish(env: &TestEnv, mut child: Child, log: &str) -> (i32, String, String) {
    let started = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status.code().unwrap_or(-1);
        }
        if started.elapsed() > PATIENCE {
            signal(-pid_of(&child), libc::SIGKILL);
            let _ = child.wait();
            break -1;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let read = |ext: &str| std::fs::read_to_string(env.root().join(format!("{log}.{ext}"))).unwrap_or_default();
    let (out, err) = (read("out"), read("err"));
    assert!(
        code != -1,
        "`{log}` still ran after {PATIENCE:?} (waiting out a lease?)\n{out}{err}"
    );
    (code, out, err)
}

/// Polls until `path` holds a pid (an agent wrote it when it started).
fn wait_for_pid(path: &Path) -> i32 {
    let started = Instant::now();
    loop {
        if let Some(pid) = std::fs::read_to_string(path).ok().and_then(|t| t.trim().parse().ok()) {
            return pid;
        }
        assert!(started.elapsed() < PATIENCE, "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An agent command whose first attempt at t000 records its pid in
/// `<root>/t000.pid` and hangs; every other attempt writes `work/<task>/a.txt`.
fn hanging_first_attempt(root: &Path) -> String {
    format!(
        "[agent]\nmax_attempts = 3\ncommand = ['sh', '-c', 'if [ \"$GIT_AGENTS_ATTEMPT-$GIT_AGENTS_TASK\" = 1-t000 ]; then echo $$ > {}/t000.pid; exec sleep 600; fi; mkdir -p work/$GIT_AGENTS_TASK && echo done > work/$GIT_AGENTS_TASK/a.txt']\n\n",
        root.display()
    )
}

/// Polls, for a while, until `path` holds `text`.
fn wait_for_text(path: &Path, text: &str) -> bool {
    let started = Instant::now();
    while !std::fs::read_to_string(path).is_ok_and(|t| t.contains(text)) {
        if started.elapsed() > Duration::from_secs(30) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

fn state_of(env: &TestEnv, repo: &Path, id: &str) -> String {
    let refs = env.git(repo, &["for-each-ref", "--format=%(refname)", "refs/agents/tasks"]);
    let states: Vec<&str> = refs
        .lines()
        .filter_map(|r| r.strip_prefix("refs/agents/tasks/")?.strip_suffix(&format!("/{id}")))
        .collect();
    assert_eq!(states.len(), 1, "{id} is in one state: {states:?}");
    states[0].to_string()
}

/// The task.toml the task's ref holds now.
fn record(env: &TestEnv, repo: &Path, id: &str) -> String {
    let state = state_of(env, repo, id);
    env.git(repo, &["show", &format!("refs/agents/tasks/{state}/{id}:task.toml")])
}

fn field(record: &str, key: &str) -> Option<String> {
    record
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key} = ")))
        .map(|v| v.trim_matches('"').to_string())
}

fn task_refs(env: &TestEnv, repo: &Path) -> String {
    env.git(
        repo,
        &["for-each-ref", "--format=%(refname) %(objectname)", "refs/agents/tasks"],
    )
}

/// A repository with `tasks` tasks and the hanging first attempt, and a
/// spawn of one agent killed while that agent hangs on t000.
/// Returns the repository, the killed spawn's pid and the claim's record
/// as it was while the spawn ran.
fn killed_spawn(env: &TestEnv, tasks: &str, reaper: &mut Reaper) -> (PathBuf, i32, String) {
    let repo = env.planned_repo(&format!("{}{tasks}", hanging_first_attempt(env.root())));
    let mut spawn = start(env, &repo, &["spawn", "1", "-q"], "killed", reaper);
    let agent = wait_for_pid(&env.root().join("t000.pid"));
    reaper.0.push(agent);
    let held = record(env, &repo, "t000");
    reaper.kill_group(&mut spawn);
    (repo, pid_of(&spawn), held)
}

/// The claim named the spawn itself, the process that would have given it
/// back, with what tells it from a later process with its pid.
fn names_the_spawn(held: &str, spawn: i32) {
    assert_eq!(field(held, "pid"), Some(spawn.to_string()), "{held}");
    assert!(
        field(held, "pid_start").is_some() && field(held, "boot_id").is_some(),
        "{held}"
    );
}

#[test]
fn a_killed_spawns_claim_is_reported_and_freed_at_once() {
    let env = TestEnv::new();
    let mut reaper = Reaper::default();
    let (repo, dead, held) = killed_spawn(&env, &plan_with(1), &mut reaper);
    let gone = format!("pid {dead} on {}", host());

    let doctor = env.run(&repo, &["doctor"]);
    assert_eq!(doctor.code, 1, "a claim no one will give back is a problem: {doctor}");
    assert!(
        doctor.stdout.contains(&format!(
            "task t000: claimed by agent-1, whose process is gone ({gone})"
        )),
        "{doctor}"
    );
    let status = env.run(&repo, &["status"]);
    assert!(status.stdout.contains("STALE"), "{status}");

    // No clock tricks: the lease has 30 minutes to go.
    let unlock = env.run(&repo, &["unlock", "--stale"]);
    assert_eq!(
        unlock.stdout,
        format!("t000 available (process of agent-1 is gone ({gone}))\n"),
        "{unlock}"
    );
    assert_eq!(state_of(&env, &repo, "t000"), "available");
    assert_eq!(field(&record(&env, &repo, "t000"), "attempts").as_deref(), Some("1"));
    env.run(&repo, &["doctor"]).success();

    let next = start(&env, &repo, &["spawn", "1", "-q"], "next", &mut reaper);
    let (code, out, err) = finish(&env, next, "next");
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(state_of(&env, &repo, "t000"), "done");
    env.git(&repo, &["cat-file", "-e", "agents/t000:work/t000/a.txt"]);
    names_the_spawn(&held, dead);
}

#[test]
fn the_next_spawn_takes_over_a_killed_spawns_claim_without_waiting() {
    let env = TestEnv::new();
    let mut reaper = Reaper::default();
    let (repo, dead, held) = killed_spawn(&env, &plan_with(1), &mut reaper);
    // Same names, same worktree: the killed spawn's lock on them died with it.
    let next = start(&env, &repo, &["spawn", "1", "-q"], "next", &mut reaper);
    let (code, out, err) = finish(&env, next, "next");
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains(&format!("freed t000 (process of agent-1 is gone (pid {dead} on")),
        "{err}"
    );
    assert_eq!(state_of(&env, &repo, "t000"), "done");
    assert_eq!(field(&record(&env, &repo, "t000"), "attempts").as_deref(), Some("1"));
    env.git(&repo, &["cat-file", "-e", "agents/t000:work/t000/a.txt"]);
    names_the_spawn(&held, dead);
}

#[test]
fn a_running_spawn_takes_over_the_claim_of_one_killed_beside_it() {
    let env = TestEnv::new();
    let mut reaper = Reaper::default();
    // t001 needs t000: the second spawn has nothing to do but wait for it.
    let tasks = "[[task]]\nid = \"t000\"\nowns = [\"work/t000/**\"]\nprompt = \"first\"\n\n\
                 [[task]]\nid = \"t001\"\nowns = [\"work/t001/**\"]\ndepends_on = [\"t000\"]\nprompt = \"second\"\n";
    let repo = env.planned_repo(&format!("{}{tasks}", hanging_first_attempt(env.root())));
    let mut first = start(
        &env,
        &repo,
        &["spawn", "1", "-q", "--name-prefix", "b-"],
        "first",
        &mut reaper,
    );
    reaper.0.push(wait_for_pid(&env.root().join("t000.pid")));
    let second = start(
        &env,
        &repo,
        &["spawn", "1", "-q", "--name-prefix", "a-"],
        "second",
        &mut reaper,
    );
    // Once it holds its name it is past its own start-up look at the claims
    // (most likely); then it waits for t000, and the kill comes while it
    // does. (Either way, it must not wait for the lease.)
    let _ = wait_for_text(&repo.join(".git/agents/spawn/a-1.flock"), "pid = ");
    std::thread::sleep(Duration::from_millis(500));
    reaper.kill_group(&mut first);
    let (code, out, err) = finish(&env, second, "second");
    assert_eq!(code, 0, "{out}{err}");
    for id in ["t000", "t001"] {
        assert_eq!(state_of(&env, &repo, id), "done", "{id}");
    }
    let log = env.git(&repo, &["log", "--format=%s", "refs/agents/tasks/done/t000"]);
    assert!(
        log.contains("claim t000 by a-1") && log.contains("process of b-1 is gone"),
        "{log}"
    );
}

/// Rewrites the claimed task's record as if another machine wrote it.
fn as_if_from(env: &TestEnv, repo: &Path, id: &str, other_host: &str) {
    let name = format!("refs/agents/tasks/claimed/{id}");
    let old = env.git(repo, &["rev-parse", &name]).trim().to_string();
    let text = record(env, repo, id).replace(&format!("host = \"{}\"", host()), &format!("host = \"{other_host}\""));
    assert!(text.contains(other_host), "{text}");
    let path = env.root().join("task.toml");
    std::fs::write(&path, text).expect("record");
    let blob = env.git(repo, &["hash-object", "-w", &path.display().to_string()]);
    let tree = env
        .command("git", repo)
        .args(["mktree"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn();
    let mut tree = tree.expect("mktree");
    std::io::Write::write_all(
        tree.stdin.as_mut().expect("stdin"),
        format!("100644 blob {}\ttask.toml\n", blob.trim()).as_bytes(),
    )
    .expect("feed mktree");
    let tree = String::from_utf8(tree.wait_with_output().expect("mktree").stdout).expect("utf8");
    let commit = env.git(
        repo,
        &["commit-tree", tree.trim(), "-p", &old, "-m", &format!("heartbeat {id}")],
    );
    env.git(repo, &["update-ref", &name, commit.trim(), &old]);
}

#[test]
fn live_holders_and_other_hosts_keep_their_claims_until_the_lease() {
    let env = TestEnv::new();
    let mut reaper = Reaper::default();
    let repo = env.planned_repo(&format!("{}{}", hanging_first_attempt(env.root()), plan_with(4)));
    // t000: held by a live spawn.
    let mut spawn = start(&env, &repo, &["spawn", "1", "-q"], "live", &mut reaper);
    reaper.0.push(wait_for_pid(&env.root().join("t000.pid")));
    // t001: `git agents claim` from a script, whose shell is gone right after.
    let script = format!("'{BIN}' claim t001 --agent script -q >/dev/null");
    let ran = env.command("sh", &repo).args(["-c", &script]).status().expect("sh");
    assert!(ran.success());
    // t002 and t003: held by a process a script named, which then ends.
    let mut holders = Vec::new();
    for id in ["t002", "t003"] {
        let holder = env.command("sleep", &repo).arg("600").spawn().expect("sleep");
        reaper.0.push(pid_of(&holder));
        env.run_with(
            &repo,
            &["claim", id, "--agent", "named"],
            &[("GIT_AGENTS_PID", &holder.id().to_string())],
        )
        .success();
        holders.push(holder);
    }
    for mut holder in holders {
        holder.kill().expect("kill");
        holder.wait().expect("reap");
    }
    // On this host both are gone; t003's record then says it comes from another host.
    let doctor = env.run(&repo, &["doctor"]);
    assert!(
        doctor
            .stdout
            .contains("task t002: claimed by named, whose process is gone"),
        "{doctor}"
    );
    assert!(
        doctor
            .stdout
            .contains("task t003: claimed by named, whose process is gone"),
        "{doctor}"
    );
    as_if_from(&env, &repo, "t003", "another-machine");

    let before = task_refs(&env, &repo);
    let unlock = env.run(&repo, &["unlock", "--stale"]);
    assert!(
        unlock
            .stdout
            .starts_with("t002 available (process of named is gone (pid ")
            && unlock.stdout.lines().count() == 1,
        "{unlock}"
    );
    let after = task_refs(&env, &repo);
    for id in ["t000", "t001", "t003"] {
        assert_eq!(state_of(&env, &repo, id), "claimed", "{id}: {unlock}");
        let line = |refs: &str| refs.lines().find(|l| l.ends_with(&format!("/{id}"))).map(String::from);
        assert_eq!(line(&before), line(&after), "{id} untouched");
    }
    let doctor = env.run(&repo, &["doctor"]);
    assert_eq!(doctor.code, 0, "{doctor}");
    assert!(!doctor.stdout.contains("stale"), "{doctor}");

    // Their leases still decide.
    let late = env.run_with(&repo, &["unlock", "--stale"], &[("GIT_AGENTS_NOW", "9999999999")]);
    for line in [
        "t001 available (lease of script expired)",
        "t003 available (lease of named expired)",
    ] {
        assert!(late.stdout.contains(line), "{late}");
    }
    reaper.kill_group(&mut spawn);
}

#[test]
fn two_spawns_under_the_same_names_never_share_a_worktree() {
    let env = TestEnv::new();
    let mut reaper = Reaper::default();
    // One attempt each: an attempt spoilt by another agent's files blocks its task.
    let mut plan = format!("[agent]\ncommand = [\"{BIN}\", \"scripted-agent\"]\nmax_attempts = 1\n\n");
    for i in 0..4 {
        plan.push_str(&format!(
            "[[task]]\nid = \"w{i}\"\nowns = [\"work/w{i}/**\"]\nprompt = \"\"\"\nagent: write work/w{i}/a.txt first\nagent: sleep 0.3\nagent: write work/w{i}/b.txt second\n\"\"\"\n\n"
        ));
    }
    let repo = env.planned_repo(&plan);
    let one = start(&env, &repo, &["spawn", "2", "-q"], "one", &mut reaper);
    let two = start(&env, &repo, &["spawn", "2", "-q"], "two", &mut reaper);
    let (one_pid, two_pid) = (one.id(), two.id());
    let ends = [finish(&env, one, "one"), finish(&env, two, "two")];
    let refused: Vec<usize> = (0..2).filter(|&i| ends[i].0 != 0).collect();
    // One of them refuses, naming the other; or, had it taken other names, both succeed.
    if let [i] = refused[..] {
        let other = if i == 0 { two_pid } else { one_pid };
        let err = &ends[i].2;
        assert!(
            err.contains("another `git agents spawn` already runs agent-1, agent-2 in this repository")
                && err.contains(&format!("pid {other} on {}", host()))
                && err.contains("--name-prefix"),
            "{err}"
        );
        assert_eq!(ends[1 - i].0, 0, "{}{}", ends[1 - i].1, ends[1 - i].2);
    } else {
        assert!(refused.is_empty(), "{ends:?}");
    }
    for i in 0..4 {
        let id = format!("w{i}");
        assert_eq!(state_of(&env, &repo, &id), "done", "{id}: {}", record(&env, &repo, &id));
        let changed = env.git(&repo, &["diff", "--name-only", "main", &format!("agents/{id}")]);
        assert_eq!(
            changed,
            format!("work/{id}/a.txt\nwork/{id}/b.txt\n"),
            "{id} holds only its own files"
        );
    }
}
