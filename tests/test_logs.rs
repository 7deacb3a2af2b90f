//! `git agents logs [-f]`: an attempt's output from any terminal, printed
//! once or followed live from a real running agent until its attempt ends.

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::{TestEnv, BIN, T0};

const PLAN: &str = r#"
[agent]
max_attempts = 2
lease = "10m"

[[task]]
id = "a"
owns = ["docs/a.md"]
prompt = "Write docs/a.md."
"#;

/// Kills what a test started, should the test fail half way.
struct Killed(Vec<Child>);

impl Drop for Killed {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits (a hang guard, not a timing claim) until `done` holds.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "{what} never happened");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn state_ref(env: &TestEnv, repo: &Path) -> String {
    env.git(repo, &["for-each-ref", "--format=%(refname)", "refs/agents/tasks/"])
}

#[test]
fn logs_shows_a_tasks_output_after_a_spawn() {
    let env = TestEnv::new();
    let repo = env.planned_repo(PLAN);
    let agent = "echo hello from the agent; echo working on docs; echo a > docs/a.md";
    env.run(&repo, &["spawn", "1", "--", "sh", "-c", agent]).success();
    assert!(state_ref(&env, &repo).contains("refs/agents/tasks/done/a"));

    let out = env.run(&repo, &["logs", "a"]);
    out.success();
    assert!(out.stdout.contains("hello from the agent\nworking on docs\n"), "{out}");
    let json = env.run(&repo, &["logs", "a", "--json"]);
    json.success();
    let value: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    assert_eq!(value["task"], "a");
    assert_eq!(value["attempt"], 1);
    let path = value["path"].as_str().expect("path");
    assert!(path.ends_with(".git/agents/logs/a.1.log"), "{path}");
    assert_eq!(value["text"].as_str(), std::fs::read_to_string(path).ok().as_deref());

    // An agent that holds nothing, and a name that is neither: errors that
    // say what to do, and nothing written.
    let before = env.refs(&repo);
    let idle = env.run(&repo, &["logs", "agent-1"]);
    assert_ne!(idle.code, 0, "{idle}");
    assert!(idle.stderr.contains("agent `agent-1` holds no task now"), "{idle}");
    let unknown = env.run(&repo, &["logs", "nobody"]);
    assert_ne!(unknown.code, 0, "{unknown}");
    assert!(unknown.stderr.contains("no task or agent `nobody`"), "{unknown}");
    assert!(unknown.stderr.contains("git agents status"), "{unknown}");
    let both = env.run(&repo, &["logs", "-f", "a", "--json"]);
    assert_eq!(both.code, 2, "--json does not follow: {both}");
    assert_eq!(env.refs(&repo), before);
}

#[test]
fn logs_follow_prints_lines_as_they_come_and_ends_with_the_attempt() {
    let env = TestEnv::new();
    let repo = env.planned_repo(PLAN);
    // The agent prints a line, waits for the test to open a gate, prints
    // another and finishes: the second line cannot exist before the gate.
    let gate = env.root().join("gate");
    let agent = format!(
        "echo first line; while [ ! -e '{}' ]; do sleep 0.05; done; echo second line; echo a > docs/a.md",
        gate.display()
    );
    let spawn = env
        .command(BIN, &repo)
        .args(["spawn", "1", "--", "sh", "-c", &agent])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut started = Killed(vec![spawn]);
    wait_until("the claim", || {
        state_ref(&env, &repo).contains("refs/agents/tasks/claimed/a")
    });

    let mut follow = env
        .command(BIN, &repo)
        .args(["logs", "-f", "agent-1"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("logs -f");
    let stdout = follow.stdout.take().expect("stdout");
    started.0.push(follow);
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let next = || {
        received
            .recv_timeout(Duration::from_secs(60))
            .expect("a line from logs -f")
    };
    assert_eq!(next(), "first line");
    // Still following while the agent waits.
    assert!(
        started.0[1].try_wait().expect("try_wait").is_none(),
        "logs -f ended early"
    );
    std::fs::write(&gate, "").expect("gate");
    assert_eq!(next(), "second line");

    // The attempt ends (the task is done) and logs -f ends by itself.
    let spawn_ok = started.0[0].wait().expect("wait spawn");
    assert!(spawn_ok.success());
    assert!(state_ref(&env, &repo).contains("refs/agents/tasks/done/a"));
    let mut ended = None;
    wait_until("logs -f ending", || {
        ended = started.0[1].try_wait().expect("try_wait");
        ended.is_some()
    });
    assert!(ended.expect("ended").success());
    assert!(received.try_recv().is_err(), "nothing after the agent's last line");
}

const TWO_TASKS: &str = r#"
[agent]
lease = "10m"

[[task]]
id = "a"
owns = ["docs/a.md"]
prompt = "Write docs/a.md."

[[task]]
id = "b"
owns = ["docs/b.md"]
prompt = "Write docs/b.md."
"#;

fn at(env: &TestEnv, repo: &Path, seconds: i64, args: &[&str]) {
    let now = (T0 + seconds).to_string();
    env.run_with(repo, args, &[("GIT_AGENTS_NOW", now.as_str())]).success();
}

/// The "now working" lines of the first report `status --watch` prints into a pipe at `T0 + seconds`.
fn first_watch_report(env: &TestEnv, repo: &Path, seconds: i64, working: usize) -> Vec<String> {
    let mut watch = env
        .command(BIN, repo)
        .args(["status", "--watch", "--interval", "1s"])
        .env("GIT_AGENTS_NOW", (T0 + seconds).to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("watch");
    let stdout = watch.stdout.take().expect("stdout");
    let mut lines = std::io::BufReader::new(stdout).lines().map_while(Result::ok);
    let mut shown = Vec::new();
    for line in lines.by_ref() {
        if line == "now working:" {
            break;
        }
    }
    shown.extend(lines.by_ref().take(working));
    let _ = watch.kill();
    let _ = watch.wait();
    shown
}

#[test]
fn status_watch_marks_quiet_and_late_agents() {
    let env = TestEnv::new();
    let repo = env.planned_repo(TWO_TASKS);
    at(&env, &repo, 0, &["claim", "a", "--agent", "ann"]);
    at(&env, &repo, 300, &["claim", "b", "--agent", "bob"]);
    at(
        &env,
        &repo,
        390,
        &["progress", "halfway", "--task", "b", "--agent", "bob"],
    );
    // ann's agent wrote its last output at T0+60.
    let logs = repo.join(".git/agents/logs");
    std::fs::create_dir_all(&logs).expect("logs");
    let log = std::fs::File::create(logs.join("a.1.log")).expect("log");
    let written = std::time::UNIX_EPOCH + Duration::from_secs((T0 + 60) as u64);
    log.set_modified(written).expect("mtime");

    // At T0+400: ann silent for 5m40s (over the default 5m) with 3m20s of
    // her 10m lease left; bob reported 10s ago and holds a fresh lease.
    let shown = first_watch_report(&env, &repo, 400, 2);
    assert_eq!(shown.len(), 2, "{shown:?}");
    assert!(shown[0].starts_with("  ann  a  [quiet] [late] "), "{shown:?}");
    assert!(shown[0].contains("output 5m ago"), "{shown:?}");
    assert!(shown[1].starts_with("  bob  b  "), "{shown:?}");
    assert!(!shown[1].contains('['), "bob is neither quiet nor late: {shown:?}");

    // A longer threshold from git config: late still, quiet no more.
    env.git(&repo, &["config", "agents.quietAfter", "10m"]);
    let shown = first_watch_report(&env, &repo, 400, 2);
    assert!(shown[0].starts_with("  ann  a  [late] "), "{shown:?}");
    // A bad one says what to set, before drawing anything.
    env.git(&repo, &["config", "agents.quietAfter", "soon"]);
    let out = env.run(&repo, &["status", "--watch"]);
    assert_ne!(out.code, 0, "{out}");
    assert!(out.stdout.is_empty(), "{out}");
    assert!(out.stderr.contains("git config agents.quietAfter \"soon\""), "{out}");
    assert!(out.stderr.contains("git config agents.quietAfter 10m"), "{out}");
}

/// A tmux server of the test's own (its socket under the test's folder),
/// ended with the test.
struct Tmux {
    dir: String,
}

impl Tmux {
    fn new(env: &TestEnv) -> Tmux {
        let dir = env.root().join("tmux");
        std::fs::create_dir_all(&dir).expect("tmux dir");
        Tmux {
            dir: dir.display().to_string(),
        }
    }

    fn vars(&self) -> [(&str, &str); 1] {
        [("TMUX_TMPDIR", self.dir.as_str())]
    }

    fn run(&self, env: &TestEnv, args: &[&str]) -> (bool, String) {
        let out = env
            .command("tmux", env.root())
            .env("TMUX_TMPDIR", &self.dir)
            .args(args)
            .output()
            .expect("tmux");
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = std::process::Command::new("tmux")
            .env("TMUX_TMPDIR", &self.dir)
            .arg("kill-server")
            .output();
    }
}

/// `spawn 2 --tmux` in the background, each agent running `script`.
fn spawn_in_tmux(env: &TestEnv, repo: &Path, tmux: &Tmux, script: &str) -> Child {
    env.command(BIN, repo)
        .envs(tmux.vars())
        .args(["spawn", "2", "--tmux", "--", "sh", "-c", script])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn")
}

const SESSION: &str = "git-agents-repo";

#[test]
fn spawn_tmux_runs_each_agent_in_a_window_that_attach_targets() {
    let env = TestEnv::new();
    let repo = env.planned_repo(TWO_TASKS);
    let tmux = Tmux::new(&env);
    let gate = env.root().join("gate");
    let script = format!(
        "echo working on $GIT_AGENTS_TASK; while [ ! -e '{}' ]; do sleep 0.05; done; \
         echo $GIT_AGENTS_TASK > docs/$GIT_AGENTS_TASK.md; echo finished",
        gate.display()
    );
    let mut started = Killed(vec![spawn_in_tmux(&env, &repo, &tmux, &script)]);
    // Each agent's window shows its output live, and the log has it too.
    for agent in ["agent-1", "agent-2"] {
        let window = format!("={SESSION}:{agent}");
        wait_until("the agent's output in its window", || {
            tmux.run(&env, &["capture-pane", "-p", "-t", &window])
                .1
                .contains("working on ")
        });
    }
    for task in ["a", "b"] {
        wait_until("the output in the log", || {
            env.run(&repo, &["logs", task])
                .stdout
                .contains(&format!("working on {task}"))
        });
    }
    // attach, not on a terminal, names the window: of an agent, or of the
    // agent that runs a task.
    let out = env.run_with(&repo, &["attach", "agent-2"], &tmux.vars());
    out.success();
    assert_eq!(out.stdout, format!("tmux attach -t '={SESSION}:agent-2'\n"), "{out}");
    let record = env.git(&repo, &["show", "refs/agents/tasks/claimed/a:task.toml"]);
    let holder = if record.contains("agent = \"agent-1\"") {
        "agent-1"
    } else {
        "agent-2"
    };
    let out = env.run_with(&repo, &["attach", "a"], &tmux.vars());
    assert_eq!(out.stdout, format!("tmux attach -t '={SESSION}:{holder}'\n"), "{out}");
    let none = env.run_with(&repo, &["attach", "agent-9"], &tmux.vars());
    assert_ne!(none.code, 0, "{none}");
    assert!(none.stderr.contains("agent `agent-9` has no window"), "{none}");

    // The agents finish; the runner checks and records their work as
    // without tmux, and merge lands it.
    std::fs::write(&gate, "").expect("gate");
    assert!(started.0[0].wait().expect("spawn").success());
    let refs = state_ref(&env, &repo);
    assert!(refs.contains("tasks/done/a") && refs.contains("tasks/done/b"), "{refs}");
    assert!(env
        .run(&repo, &["logs", "b"])
        .stdout
        .contains("working on b\nfinished\n"));
    env.run(&repo, &["merge"]).success();
    assert_eq!(env.git(&repo, &["show", "main:docs/a.md"]), "a\n");
    assert_eq!(env.git(&repo, &["show", "main:docs/b.md"]), "b\n");
    // Their windows closed with their attempts.
    let (_, windows) = tmux.run(&env, &["list-windows", "-a", "-F", "#{window_name}"]);
    assert!(!windows.contains("agent-"), "{windows}");
}

#[test]
fn killing_the_tmux_session_releases_the_claims_like_ctrl_c() {
    let env = TestEnv::new();
    let repo = env.planned_repo(TWO_TASKS);
    let tmux = Tmux::new(&env);
    let mut started = Killed(vec![spawn_in_tmux(&env, &repo, &tmux, "echo waiting; sleep 600")]);
    wait_until("two claims", || {
        let refs = state_ref(&env, &repo);
        refs.contains("tasks/claimed/a") && refs.contains("tasks/claimed/b")
    });
    for agent in ["agent-1", "agent-2"] {
        let window = format!("={SESSION}:{agent}");
        wait_until("the agent's window", || {
            tmux.run(&env, &["capture-pane", "-p", "-t", &window])
                .1
                .contains("waiting")
        });
    }
    assert!(tmux.run(&env, &["kill-session", "-t", &format!("={SESSION}")]).0);
    started.0[0].wait().expect("spawn ends by itself");
    let refs = state_ref(&env, &repo);
    assert!(!refs.contains("tasks/claimed/"), "{refs}");
    assert!(
        refs.contains("tasks/available/a") && refs.contains("tasks/available/b"),
        "{refs}"
    );
    // Released, not failed: no attempt counted.
    let record = env.git(&repo, &["show", "refs/agents/tasks/available/a:task.toml"]);
    assert!(record.contains("attempts = 0"), "{record}");
}

#[test]
fn without_tmux_on_path_tmux_commands_say_how_to_get_it() {
    let env = TestEnv::new();
    let repo = env.planned_repo(TWO_TASKS);
    // A PATH with git and nothing else.
    let bin = env.root().join("only-git");
    std::fs::create_dir_all(&bin).expect("bin");
    let git = String::from_utf8(
        env.command("sh", env.root())
            .args(["-c", "command -v git"])
            .output()
            .expect("git")
            .stdout,
    )
    .expect("utf-8");
    std::os::unix::fs::symlink(git.trim(), bin.join("git")).expect("symlink");
    let path = bin.display().to_string();
    let before = env.refs(&repo);
    let out = env.run_with(
        &repo,
        &["spawn", "1", "--tmux", "--", "git", "--version"],
        &[("PATH", path.as_str())],
    );
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("--tmux needs tmux, which is not on PATH"), "{out}");
    assert!(out.stderr.contains("apt install tmux"), "{out}");
    assert_eq!(env.refs(&repo), before, "nothing ran");
    // With tmux but no agents in it, attach says how to start them.
    let tmux = Tmux::new(&env);
    let out = env.run_with(&repo, &["attach"], &tmux.vars());
    assert_ne!(out.code, 0, "{out}");
    assert!(out.stderr.contains("no tmux session `git-agents-repo`"), "{out}");
    assert!(out.stderr.contains("spawn N --tmux"), "{out}");
}
