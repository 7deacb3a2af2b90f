//! A shared remote that accepts connections and never answers: every
//! network call has a deadline, so `spawn` still stops its agent on its
//! `--timeout` and returns, naming the remote and the setting to change.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{TestEnv, BASIC_FILES, BIN};
use crate::test_fairness::kill_group;

/// A TCP listener on 127.0.0.1 that accepts every connection and never
/// sends a byte; it keeps the connections open until dropped.
struct Silent {
    port: u16,
    stop: Arc<AtomicBool>,
    accepted: Arc<Mutex<Vec<TcpStream>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Silent {
    fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let (stop2, accepted2) = (stop.clone(), accepted.clone());
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => accepted2.lock().expect("lock").push(stream),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Silent {
            port,
            stop,
            accepted,
            thread: Some(thread),
        }
    }

    /// Whether every connection made to it was closed by its client (a git
    /// still waiting would hold its connection open).
    fn all_closed(&self) -> (usize, bool) {
        let mut streams = self.accepted.lock().expect("lock");
        let all = streams.iter_mut().all(|s| {
            s.set_nonblocking(false).expect("blocking");
            // Generous: only a client that never lets go exceeds it.
            s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
            let mut byte = [0u8; 4096];
            loop {
                match s.read(&mut byte) {
                    Ok(0) => return true,
                    // A request the client sent before it gave up.
                    Ok(_) => continue,
                    Err(e) => return e.kind() == std::io::ErrorKind::ConnectionReset,
                }
            }
        });
        (streams.len(), all)
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A clone `machine` of a bare `shared.git` (a plain path, which answers),
/// sharing its state through it, with a one-task plan recorded.
fn machine(env: &TestEnv) -> PathBuf {
    let src = env.repo("src", BASIC_FILES);
    std::fs::write(
        src.join("agents.toml"),
        "[[task]]\nid = \"slow\"\nowns = [\"work/**\"]\nprompt = \"Take your time.\"\n",
    )
    .expect("plan");
    env.git(&src, &["add", "agents.toml"]);
    env.git(&src, &["commit", "-q", "-m", "plan"]);
    env.git(env.root(), &["clone", "-q", "--bare", "src", "shared.git"]);
    env.git(env.root(), &["clone", "-q", "shared.git", "machine"]);
    let clone = env.root().join("machine");
    env.git(&clone, &["config", "agents.remote", "origin"]);
    // Heartbeats every second; every network call gives up after 2s.
    env.git(&clone, &["config", "agents.lease", "3s"]);
    env.git(&clone, &["config", "agents.networkTimeout", "2s"]);
    env.run(&clone, &["plan", "--yes", "-q"]).success();
    clone
}

/// `spawn 1 --timeout 5s` whose agent turns the remote's URL to `url` (a
/// remote gone silent while it works), then sleeps a minute. Returns
/// spawn's exit code, its stderr and the agent's pid.
fn spawn_while_remote_goes_silent(env: &TestEnv, clone: &Path, url: &str) -> (Option<i32>, String, u32) {
    let pid_file = env.root().join("agent.pid");
    let err_file = env.root().join("spawn.err");
    let script = "echo $$ > \"$PID_FILE\"; git remote set-url origin \"$SILENT_URL\"; exec sleep 60";
    let mut spawn = env
        .command(BIN, clone)
        .args(["spawn", "1", "--timeout", "5s", "--", "sh", "-c", script])
        .env("PID_FILE", &pid_file)
        .env("SILENT_URL", url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err_file).expect("stderr file"))
        .process_group(0)
        .spawn()
        .expect("start spawn");
    // Only stops a hung test; nothing here asserts how long spawn took.
    let bound = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = spawn.try_wait().expect("poll spawn") {
            break status;
        }
        if Instant::now() > bound {
            kill_group(&mut spawn);
            panic!(
                "spawn still running after 3 minutes:\n{}",
                std::fs::read_to_string(&err_file).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::fs::read_to_string(&err_file).unwrap_or_default();
    let pid = std::fs::read_to_string(&pid_file)
        .unwrap_or_else(|_| panic!("the agent never started:\n{stderr}"))
        .trim()
        .parse()
        .expect("pid");
    (status.code(), stderr, pid)
}

fn assert_returned_and_named_the_setting(env: &TestEnv, scheme: &str) {
    let silent = Silent::start();
    let clone = machine(env);
    let url = format!("{scheme}://127.0.0.1:{}/shared.git", silent.port);
    let (code, stderr, pid) = spawn_while_remote_goes_silent(env, &clone, &url);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "the agent (pid {pid}) still runs:\n{stderr}"
    );
    assert!(stderr.contains("remote `origin`"), "the remote is named:\n{stderr}");
    assert!(stderr.contains(&url), "its URL too:\n{stderr}");
    assert!(
        stderr.contains("git config agents.networkTimeout"),
        "the setting to change is named:\n{stderr}"
    );
    let (connections, closed) = silent.all_closed();
    assert!(connections > 0, "nothing ever reached the silent remote:\n{stderr}");
    assert!(closed, "a git process still holds a connection to the silent remote");
    // The failed attempt could not be recorded: the remote still holds the claim.
    let claimed = env.git(
        &env.root().join("shared.git"),
        &["for-each-ref", "--format=%(refname)", "refs/agents/tasks"],
    );
    assert_eq!(claimed, "refs/agents/tasks/claimed/slow\n");
}

#[test]
fn spawn_returns_when_a_git_daemon_remote_goes_silent() {
    let env = TestEnv::new();
    assert_returned_and_named_the_setting(&env, "git");
}

#[test]
fn spawn_returns_when_an_http_remote_goes_silent() {
    let env = TestEnv::new();
    assert_returned_and_named_the_setting(&env, "http");
}

#[test]
fn a_claim_from_a_silent_remote_fails_and_names_the_setting() {
    let env = TestEnv::new();
    let silent = Silent::start();
    let clone = machine(&env);
    let before = env.refs(&clone);
    for scheme in ["git", "http"] {
        let url = format!("{scheme}://127.0.0.1:{}/shared.git", silent.port);
        env.git(&clone, &["remote", "set-url", "origin", &url]);
        let mut claim = env
            .command(BIN, &clone)
            .args(["claim", "--next", "--agent", "a"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("start claim");
        let bound = Instant::now() + Duration::from_secs(120);
        while claim.try_wait().expect("poll claim").is_none() {
            if Instant::now() > bound {
                kill_group(&mut claim);
                panic!("claim from a silent {scheme}:// remote still running after 2 minutes");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = claim.wait_with_output().expect("claim output");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("remote `origin`"), "{stderr}");
        assert!(stderr.contains("git config agents.networkTimeout"), "{stderr}");
        assert_eq!(env.refs(&clone), before, "a failed read records nothing");
    }
    let (_, closed) = silent.all_closed();
    assert!(closed, "a git process still holds a connection to the silent remote");
}

#[test]
fn a_network_timeout_that_is_no_duration_is_refused_and_writes_nothing() {
    let env = TestEnv::new();
    let clone = machine(&env);
    env.git(&clone, &["config", "agents.networkTimeout", "soon"]);
    let before = env.refs(&clone);
    let out = env.run(&clone, &["claim", "--next", "--agent", "a"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr.contains("git config agents.networkTimeout \"soon\""),
        "{out}"
    );
    assert!(out.stderr.contains("`git config agents.networkTimeout 2m`"), "{out}");
    assert_eq!(env.refs(&clone), before);
    let remote = env.git(&env.root().join("shared.git"), &["for-each-ref", "refs/agents/tasks"]);
    assert!(remote.contains("refs/agents/tasks/available/slow"), "{remote}");
}
