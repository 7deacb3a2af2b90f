//! The only module that starts child processes. git itself is used only
//! where gix cannot do the job (pushing, running the user's hooks);
//! [`check_git_version`] says whether the git on PATH is new enough (the
//! session asks once, before it opens the repository).

use crate::error::{Error, Result};

/// The oldest git we support: `merge-tree --write-tree` arrived in 2.38.
pub const MIN_GIT: (u32, u32) = (2, 38);

/// Fails with upgrade advice when git is missing or older than [`MIN_GIT`].
pub fn check_git_version() -> Result<()> {
    git_version_problem().map_err(|why| {
        Error::failure(why).hint(format!(
            "git-agents needs git {}.{} or newer on PATH; upgrade git (your package manager or https://git-scm.com)",
            MIN_GIT.0, MIN_GIT.1
        ))
    })
}

/// What is wrong with the git on PATH, if anything.
fn git_version_problem() -> std::result::Result<(), String> {
    let path = which::which("git").map_err(|_| "git is not on PATH".to_string())?;
    let text = duct::cmd(&path, ["--version"])
        .read()
        .map_err(|e| format!("cannot run {}: {e}", path.display()))?;
    match parse_git_version(&text) {
        Some(v) if v >= MIN_GIT => Ok(()),
        Some((major, minor)) => Err(format!("git {major}.{minor} at {} is too old", path.display())),
        None => Err(format!(
            "cannot read the version of git at {}: {text:?}",
            path.display()
        )),
    }
}

/// `git version 2.47.3` (or `git version 2.39.2.windows.1`) → (2, 47).
pub fn parse_git_version(text: &str) -> Option<(u32, u32)> {
    let version = text.trim().strip_prefix("git version ")?;
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts
        .next()?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::{parse_git_version, parse_stat};

    #[test]
    fn reads_state_and_parent_from_proc_stat() {
        assert_eq!(parse_stat("42 (sh) S 7 42 42 0 -1"), Some(('S', 7)));
        // A program may name itself anything, spaces and parentheses too.
        assert_eq!(parse_stat("42 (a) Z 1 (b) R 9 42 42"), Some(('R', 9)));
        assert_eq!(parse_stat("42 (sh"), None);
    }

    #[test]
    fn reads_git_versions() {
        assert_eq!(parse_git_version("git version 2.47.3\n"), Some((2, 47)));
        assert_eq!(parse_git_version("git version 2.39.2.windows.1"), Some((2, 39)));
        assert_eq!(parse_git_version("git version 2.37.1 (Apple Git-137.1)"), Some((2, 37)));
        assert_eq!(parse_git_version("hub version 2.14"), None);
    }
}

/// Runs `git args` in `dir` and returns its stdout; a failure carries git's stderr.
pub fn git_in(dir: &std::path::Path, args: &[&str]) -> Result<String> {
    git_in_env(dir, args, &[])
}

/// Runs `git args` in `dir` and returns all it printed and its status,
/// failed or not (for callers that read git's verdict, like `push --porcelain`).
pub fn git_output(dir: &std::path::Path, args: &[&str]) -> Result<std::process::Output> {
    git_output_env(dir, args, &[])
}

fn git_output_env(
    dir: &std::path::Path,
    args: &[&str],
    env: &[(&str, &std::ffi::OsStr)],
) -> Result<std::process::Output> {
    let mut expr = duct::cmd("git", args);
    for (k, v) in env {
        expr = expr.env(k, v);
    }
    expr.dir(dir)
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()
        .map_err(|e| Error::failure(format!("cannot run git {}", args.join(" "))).cause(e))
}

/// [`git_in`] with extra environment variables.
pub fn git_in_env(dir: &std::path::Path, args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> Result<String> {
    let output = git_output_env(dir, args, env)?;
    if !output.status.success() {
        return Err(
            Error::failure(format!("git {} failed in {}", args.join(" "), dir.display()))
                .cause(String::from_utf8_lossy(&output.stderr).trim()),
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// How a supervised child ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    Exited(i32),
    /// Killed after running longer than its timeout.
    TimedOut,
    /// Killed because the whole run was interrupted.
    Cancelled,
}

/// A child to supervise: argv (no shell), folder, extra environment, log file.
pub struct Supervised<'a> {
    pub argv: &'a [String],
    pub dir: &'a std::path::Path,
    pub env: &'a [(String, String)],
    pub log: &'a std::path::Path,
    pub timeout: Option<std::time::Duration>,
    /// Between SIGTERM and SIGKILL when the child is stopped.
    pub grace: std::time::Duration,
}

/// The grace period of a stop when none is configured.
pub const DEFAULT_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs a child in its own process group with stdout and stderr appended
/// to the log, calling `tick` about once a second (heartbeats; returning
/// false stops the child). The whole group is stopped on timeout, when
/// `cancel` becomes true or `tick` says stop, so a hung agent's own
/// children go too: SIGTERM first (agent CLIs save their session and
/// end their tools), SIGKILL after the grace period.
///
/// The child runs under a keeper (`git-agents keeper`, see `keeper`):
/// whatever it starts, in the background or in a new session, ends with
/// it, and all of it ends when this process dies, even by SIGKILL.
pub fn supervise(
    child: &Supervised<'_>,
    cancel: &std::sync::atomic::AtomicBool,
    tick: impl FnMut() -> bool,
) -> Result<Ended> {
    let Some(program) = child.argv.first() else {
        return Err(Error::usage("the agent command is empty").hint("give the program and its arguments"));
    };
    let mut keeper = start_keeper(child, program)?;
    watch(&mut keeper, child, program, cancel, tick)
}

/// Starts `child` under a keeper with its output appended to the log, and
/// returns the keeper once it says the command started.
fn start_keeper(child: &Supervised<'_>, program: &str) -> Result<std::process::Child> {
    use std::io::BufRead;
    use std::os::unix::process::CommandExt;

    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(child.log)
        .map_err(|e| Error::failure(format!("cannot open log {}", child.log.display())).cause(e))?;
    let cannot_start = |why: &dyn std::fmt::Display| {
        Error::failure(format!("cannot start `{program}`"))
            .cause(why.to_string())
            .hint(format!("check that `{program}` is installed and on PATH"))
    };
    // /proc/self/exe rather than current_exe(): it still runs this very
    // program after the file was rebuilt or removed.
    let mut keeper = std::process::Command::new("/proc/self/exe");
    keeper
        .arg0("git-agents")
        .arg(KEEPER)
        .args(["--parent", &std::process::id().to_string()])
        .args(["--grace-ms", &child.grace.as_millis().to_string()])
        .arg("--")
        .args(child.argv)
        .current_dir(child.dir)
        .envs(child.env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(log)
        .process_group(0);
    let mut keeper = keeper.spawn().map_err(|e| cannot_start(&e))?;
    // The keeper says whether the command started (std reports a failed
    // exec to the keeper, not to us).
    let mut said = String::new();
    if let Some(out) = keeper.stdout.take() {
        let _ = std::io::BufReader::new(out).read_line(&mut said);
    }
    if said.trim_end() != KEEPER_STARTED {
        let _ = keeper.wait();
        let why = said
            .trim_end()
            .strip_prefix(KEEPER_FAILED)
            .unwrap_or("its keeper ended first");
        return Err(cannot_start(&why));
    }
    Ok(keeper)
}

/// Waits for the keeper to end, calling `tick` about once a second, and
/// stops it on timeout, when `cancel` becomes true or `tick` says stop.
fn watch(
    keeper: &mut std::process::Child,
    child: &Supervised<'_>,
    program: &str,
    cancel: &std::sync::atomic::AtomicBool,
    mut tick: impl FnMut() -> bool,
) -> Result<Ended> {
    use std::sync::atomic::Ordering;

    let started = std::time::Instant::now();
    let mut last_tick = started;
    let mut keep_going = true;
    loop {
        match keeper.try_wait() {
            Ok(Some(status)) => return Ok(Ended::Exited(status.code().unwrap_or(-1))),
            Ok(None) => {}
            Err(e) => return Err(Error::failure(format!("lost track of `{program}`")).cause(e)),
        }
        let verdict = stop_now(cancel.load(Ordering::SeqCst) || !keep_going, child.timeout, started);
        if let Some(verdict) = verdict {
            stop_keeper(keeper, child.grace);
            return Ok(verdict);
        }
        if last_tick.elapsed() >= std::time::Duration::from_secs(1) {
            last_tick = std::time::Instant::now();
            keep_going = tick();
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Stops a keeper and what it keeps, and reaps it.
fn stop_keeper(keeper: &mut std::process::Child, grace: std::time::Duration) {
    // The keeper does the SIGTERM, the grace period and the SIGKILL.
    signal(keeper.id(), libc::SIGTERM);
    let stopping = std::time::Instant::now();
    while stopping.elapsed() < grace + KEEPER_MARGIN && matches!(keeper.try_wait(), Ok(None)) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    if matches!(keeper.try_wait(), Ok(None)) {
        // A keeper that cannot finish: end what it keeps, then it.
        for pid in descendants(keeper.id()) {
            signal(pid, libc::SIGKILL);
        }
        signal(keeper.id(), libc::SIGKILL);
    }
    let _ = keeper.wait();
}

/// The hidden subcommand [`supervise`] runs every command through.
pub const KEEPER: &str = "keeper";

/// The keeper's first line on its stdout (a pipe to the runner; the
/// command's output goes to the log on stderr): the command started, or
/// `KEEPER_FAILED` and why not. Here rather than in `keeper`, which
/// writes them, because this side reads them and must not import it.
pub const KEEPER_STARTED: &str = "started";
pub const KEEPER_FAILED: &str = "failed: ";

/// How long past the grace period a stopping keeper may take (its SIGKILL
/// rounds) before the runner ends it and what it keeps itself.
const KEEPER_MARGIN: std::time::Duration = std::time::Duration::from_secs(10);

/// How many times a stop sends SIGKILL to what is left (a process stuck in
/// the kernel may take a while to die) before giving up.
const KILL_ROUNDS: usize = 500;

/// For the keeper: starts `argv` (no shell) in a process group of its own,
/// stdin from /dev/null, stdout and stderr to `log`.
pub fn start_in_group(argv: &[String], log: std::os::fd::OwnedFd) -> std::io::Result<std::process::Child> {
    use std::os::unix::process::CommandExt;
    let Some((program, args)) = argv.split_first() else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the command is empty",
        ));
    };
    std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
}

/// Stops every process `targets` names (asked again each round: processes
/// fork while they are being stopped): SIGTERM, once to each, with SIGCONT
/// (a stopped process must run to handle it), then, once the grace period
/// is over, SIGKILL until none is left. `between` runs between rounds (the
/// keeper reaps its children there).
pub fn stop_all(mut targets: impl FnMut() -> Vec<u32>, grace: std::time::Duration, mut between: impl FnMut()) {
    let mut told: Vec<u32> = Vec::new();
    let stopping = std::time::Instant::now();
    loop {
        between();
        let left = targets();
        if left.is_empty() {
            return;
        }
        if stopping.elapsed() >= grace {
            break;
        }
        for pid in left {
            if !told.contains(&pid) {
                signal(pid, libc::SIGTERM);
                signal(pid, libc::SIGCONT);
                told.push(pid);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    for _ in 0..KILL_ROUNDS {
        let left = targets();
        if left.is_empty() {
            return;
        }
        for pid in left {
            signal(pid, libc::SIGKILL);
        }
        between();
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Living processes as (pid, parent pid), from one pass over /proc
/// (`/proc/PID/task/*/children` needs CONFIG_PROC_CHILDREN, which not
/// every kernel has). Zombies are left out: they are already dead.
fn processes() -> Vec<(u32, u32)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let (state, ppid) = stat_of(pid)?;
            (!matches!(state, 'Z' | 'X')).then_some((pid, ppid))
        })
        .collect()
}

/// State and parent pid from `/proc/PID/stat` (`pid (comm) S ppid …`,
/// where comm may hold spaces and parentheses).
fn stat_of(pid: u32) -> Option<(char, u32)> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

fn parse_stat(text: &str) -> Option<(char, u32)> {
    let mut rest = text.rsplit_once(')')?.1.split_whitespace();
    let state = rest.next()?.chars().next()?;
    Some((state, rest.next()?.parse().ok()?))
}

/// Every living process below `root`: its children, theirs, and so on.
pub fn descendants(root: u32) -> Vec<u32> {
    below(&processes(), &[root])
}

fn below(all: &[(u32, u32)], roots: &[u32]) -> Vec<u32> {
    let mut found: Vec<u32> = Vec::new();
    let mut frontier: Vec<u32> = roots.to_vec();
    while let Some(parent) = frontier.pop() {
        for &(pid, ppid) in all {
            if ppid == parent && !found.contains(&pid) && !roots.contains(&pid) {
                found.push(pid);
                frontier.push(pid);
            }
        }
    }
    found
}

/// Ends what an earlier run left working in `dir`, an agent worktree about
/// to be used: each process whose current folder is inside it and that is
/// an agent's (`GIT_AGENTS_TASK` in its environment; a runner older than
/// the keeper, or killed with its keeper, leaves such) or below a keeper
/// whose runner is gone, with everything below it. A process under a live
/// runner's keeper, or no agent's at all (someone's shell), is left
/// running. Returns the warnings to show.
pub fn end_leftovers(dir: &std::path::Path, grace: std::time::Duration) -> Vec<String> {
    let Ok(dir) = dir.canonicalize() else {
        return Vec::new();
    };
    let all = processes();
    let (roots, others) = working_in(&all, &dir);
    let doomed = below(&all, &roots);
    let mut warnings = left_running(&dir, others, &doomed);
    if roots.is_empty() {
        return warnings;
    }
    let named: Vec<String> = roots.iter().chain(&doomed).map(|&p| describe_pid(p)).collect();
    stop_all(
        || {
            let now = processes();
            let mut left: Vec<u32> = roots
                .iter()
                .copied()
                .filter(|r| now.iter().any(|(p, _)| p == r))
                .collect();
            left.extend(below(&now, &roots));
            left
        },
        grace,
        || {},
    );
    warnings.insert(
        0,
        format!(
            "ended what an earlier run left working in {}: {}",
            dir.display(),
            named.join(", ")
        ),
    );
    warnings
}

/// The processes whose current folder is inside `dir`, sorted for
/// [`end_leftovers`]: those to end (each with what is below it), and the
/// others to leave running, each with the runner it is an agent of, if any.
fn working_in(all: &[(u32, u32)], dir: &std::path::Path) -> (Vec<u32>, Vec<(u32, Option<u32>)>) {
    // Never this process or what it runs under (spawn started from inside).
    let mut mine = vec![std::process::id()];
    while let Some(ppid) = mine
        .last()
        .and_then(|&p| parent_of(all, p))
        .filter(|p| *p > 0 && !mine.contains(p))
    {
        mine.push(ppid);
    }
    let mut roots = Vec::new();
    let mut others = Vec::new();
    for &(pid, _) in all {
        let Ok(cwd) = std::fs::read_link(format!("/proc/{pid}/cwd")) else {
            continue;
        };
        // A folder removed since still names where the process writes.
        let cwd = cwd.to_string_lossy().trim_end_matches(" (deleted)").to_string();
        if mine.contains(&pid) || !std::path::Path::new(&cwd).starts_with(dir) {
            continue;
        }
        match keeper_runner(all, pid) {
            Some(None) => roots.push(pid),
            None if has_env(pid, "GIT_AGENTS_TASK") => roots.push(pid),
            Some(Some(runner)) if runner == std::process::id() => {}
            owner => others.push((pid, owner.flatten())),
        }
    }
    (roots, others)
}

/// The parent of `pid` in `all`.
fn parent_of(all: &[(u32, u32)], pid: u32) -> Option<u32> {
    all.iter().find(|(p, _)| *p == pid).map(|&(_, ppid)| ppid)
}

/// The runner of the nearest keeper at or above `pid`: `None` when there
/// is no keeper, `Some(None)` when its runner is gone (the keeper is no
/// longer the runner's child), `Some(Some(runner))` when it is alive.
fn keeper_runner(all: &[(u32, u32)], pid: u32) -> Option<Option<u32>> {
    let mut runner = None;
    let mut at = pid;
    for _ in 0..all.len() {
        if let Some(parent) = keeper_parent(at) {
            runner = Some((parent_of(all, at) == Some(parent)).then_some(parent));
            break;
        }
        match parent_of(all, at) {
            Some(ppid) if ppid > 1 => at = ppid,
            _ => break,
        }
    }
    runner
}

/// A warning for each process in `dir` that is left running (`others` not
/// below one that is ended), with the runner it is an agent of, if any.
fn left_running(dir: &std::path::Path, others: Vec<(u32, Option<u32>)>, doomed: &[u32]) -> Vec<String> {
    let mut warnings = Vec::new();
    for (pid, runner) in others.into_iter().filter(|(pid, _)| !doomed.contains(pid)) {
        warnings.push(match runner {
            Some(runner) => format!(
                "{} in {} is an agent of another `git agents spawn` (pid {runner}) using the same worktree; left running",
                describe_pid(pid),
                dir.display()
            ),
            None => format!(
                "{} runs in {}, which spawn now uses; it is not an agent's, so it was left running",
                describe_pid(pid),
                dir.display()
            ),
        });
    }
    warnings
}

/// `pid 123 (sh)`.
fn describe_pid(pid: u32) -> String {
    let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    format!("pid {pid} ({})", name.trim())
}

/// The runner pid a keeper was started for, when `pid` is a keeper.
fn keeper_parent(pid: u32) -> Option<u32> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    if args.get(1) != Some(&KEEPER.as_bytes()) {
        return None;
    }
    let at = args
        .iter()
        .take_while(|a| **a != b"--")
        .position(|a| *a == b"--parent")?;
    std::str::from_utf8(args.get(at + 1)?).ok()?.parse().ok()
}

/// Whether the environment of `pid` sets `name`.
fn has_env(pid: u32, name: &str) -> bool {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    let prefix = format!("{name}=");
    environ.split(|b| *b == 0).any(|v| v.starts_with(prefix.as_bytes()))
}

/// `signal` to the process `pid`.
pub fn signal(pid: u32, signal: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill only sends a signal; a stale pid at worst yields ESRCH.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

/// Runs `script` through `sh -c` in `dir` like [`supervise`], without heartbeats.
pub fn shell(
    script: &str,
    dir: &std::path::Path,
    log: &std::path::Path,
    cancel: &std::sync::atomic::AtomicBool,
) -> Result<Ended> {
    let argv = ["sh".to_string(), "-c".to_string(), script.to_string()];
    supervise(
        &Supervised {
            argv: &argv,
            dir,
            env: &[],
            log,
            timeout: None,
            grace: DEFAULT_GRACE,
        },
        cancel,
        || true,
    )
}

/// The last `lines` lines of a log file, for failure reports.
pub fn tail(path: &std::path::Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Sets terminal modes with `stty ARGS` on the controlling terminal (a live
/// view reads single keys); `false` when there is no terminal or stty fails.
pub fn stty(args: &[&str]) -> bool {
    duct::cmd("stty", args)
        .stdin_path("/dev/tty")
        .stdout_null()
        .stderr_null()
        .unchecked()
        .run()
        .is_ok_and(|o| o.status.success())
}

/// Where `program` is on PATH (or the path itself when it names a file).
pub fn find_program(program: &str) -> Option<std::path::PathBuf> {
    which::which(program).ok()
}

/// The first line `program --version` prints (stdout, else stderr), or
/// `None` when it does not answer within `within` or fails.
pub fn version_of(program: &std::path::Path, within: std::time::Duration) -> Option<String> {
    let handle = duct::cmd(program, ["--version"])
        .stdin_null()
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .start()
        .ok()?;
    let started = std::time::Instant::now();
    loop {
        match handle.try_wait() {
            Ok(Some(out)) if out.status.success() => {
                let text = String::from_utf8_lossy(if out.stdout.is_empty() {
                    &out.stderr
                } else {
                    &out.stdout
                });
                return text.lines().map(str::trim).find(|l| !l.is_empty()).map(String::from);
            }
            Ok(Some(_)) | Err(_) => return None,
            Ok(None) if started.elapsed() >= within => {
                let _ = handle.kill();
                return None;
            }
            Ok(None) => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    }
}

/// Runs `git args` in `dir` like [`git_output`], but stops it once it has
/// run for `within`: `Ok(None)` then. A remote that accepts the connection
/// and never answers would otherwise hold git, and whoever waits on it,
/// forever (git:// and ssh have no timeout of their own). What git started
/// (git-remote-https, ssh, upload-pack) is stopped with it. The child stays
/// in this process group, so a password prompt can still read the terminal
/// and Ctrl-C still reaches it.
pub fn git_output_with_deadline(
    dir: &std::path::Path,
    args: &[&str],
    within: std::time::Duration,
) -> Result<Option<std::process::Output>> {
    let cannot = |e: std::io::Error| Error::failure(format!("cannot run git {}", args.join(" "))).cause(e);
    let handle = duct::cmd("git", args)
        .dir(dir)
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .start()
        .map_err(cannot)?;
    if handle
        .wait_deadline(std::time::Instant::now() + within)
        .map_err(cannot)?
        .is_some()
    {
        return handle.into_output().map(Some).map_err(cannot);
    }
    for pid in handle.pids() {
        // Stopped first, so it starts nothing new while its children are listed.
        signal(pid, libc::SIGSTOP);
        let below = descendants(pid);
        signal(pid, libc::SIGKILL);
        for child in below {
            signal(child, libc::SIGKILL);
        }
    }
    // Reaps git; the pipes close as its children die.
    let _ = handle.wait();
    Ok(None)
}

/// How a running agent command is to end now, if it is: cancelled (Ctrl-C,
/// a lost claim), or out of time.
fn stop_now(cancelled: bool, timeout: Option<std::time::Duration>, started: std::time::Instant) -> Option<Ended> {
    if cancelled {
        Some(Ended::Cancelled)
    } else if timeout.is_some_and(|t| started.elapsed() >= t) {
        Some(Ended::TimedOut)
    } else {
        None
    }
}

/// A tmux window an agent command runs in (`spawn --tmux`): one session
/// per repository, one window per agent, named after it.
pub struct TmuxWindow<'a> {
    pub session: &'a str,
    pub window: &'a str,
}

impl TmuxWindow<'_> {
    /// The target tmux commands take (`=` matches the session name exactly).
    pub fn target(&self) -> String {
        format!("={}:{}", self.session, self.window)
    }
}

/// tmux is on PATH, or the error says how to get it.
pub fn tmux_on_path() -> Result<()> {
    match find_program("tmux") {
        Some(_) => Ok(()),
        None => Err(Error::usage("--tmux needs tmux, which is not on PATH")
            .hint("install it (`apt install tmux`, `brew install tmux`) or run without --tmux")),
    }
}

/// Runs tmux with `args`, its output captured.
fn tmux(args: &[&str]) -> std::io::Result<std::process::Output> {
    std::process::Command::new("tmux")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
}

/// What a tmux command printed, when it succeeded.
fn tmux_says(args: &[&str]) -> Option<String> {
    tmux(args)
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim_end().to_string())
}

/// [`supervise`] with the command in a tmux window, where a person can
/// watch and answer it (`git agents attach`); its output is still appended
/// to the log, through `pipe-pane`. The pane's processes are tmux's
/// children, not a keeper's: a stop ends the pane's process tree
/// (SIGTERM, the grace period, SIGKILL) and then the window. A window or
/// session closed from tmux ends the attempt as Ctrl-C does.
pub fn supervise_in_tmux(
    child: &Supervised<'_>,
    window: &TmuxWindow<'_>,
    cancel: &std::sync::atomic::AtomicBool,
    mut tick: impl FnMut() -> bool,
) -> Result<Ended> {
    use std::sync::atomic::Ordering;
    let pane = open_pane(child, window)?;
    let started = std::time::Instant::now();
    let mut last_tick = started;
    let mut keep_going = true;
    loop {
        let Some(said) = tmux_says(&["display-message", "-p", "-t", &pane, "#{pane_dead} #{pane_dead_status}"]) else {
            // The window or its session was closed from tmux.
            return Ok(Ended::Cancelled);
        };
        if let Some(status) = said.strip_prefix("1 ") {
            close_pane(&pane, child.log);
            return Ok(Ended::Exited(status.trim().parse().unwrap_or(-1)));
        }
        let verdict = stop_now(cancel.load(Ordering::SeqCst) || !keep_going, child.timeout, started);
        if let Some(verdict) = verdict {
            if let Some(pid) =
                tmux_says(&["display-message", "-p", "-t", &pane, "#{pane_pid}"]).and_then(|p| p.parse().ok())
            {
                stop_all(
                    || {
                        std::iter::once(pid)
                            .chain(descendants(pid))
                            .filter(|p| alive(*p))
                            .collect()
                    },
                    child.grace,
                    || {},
                );
            }
            close_pane(&pane, child.log);
            return Ok(verdict);
        }
        if last_tick.elapsed() >= std::time::Duration::from_secs(1) {
            last_tick = std::time::Instant::now();
            keep_going = tick();
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Whether `pid` still runs (a zombie does not).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z')))
        .unwrap_or(false)
}

/// Opens the agent's window, its output piped to the log before the
/// command starts (it waits on a tmux channel until then); returns the pane.
fn open_pane(child: &Supervised<'_>, window: &TmuxWindow<'_>) -> Result<String> {
    let gate = format!("git-agents-{}-{}", std::process::id(), window.window);
    let dir = child.dir.display().to_string();
    let env: Vec<String> = child.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut args: Vec<&str> = vec!["-d", "-P", "-F", "#{pane_id}", "-n", window.window, "-c", &dir];
    for e in &env {
        args.extend(["-e", e.as_str()]);
    }
    let script = "tmux wait-for \"$0\" && exec \"$@\"";
    let command: Vec<&str> = ["sh", "-c", script, &gate]
        .into_iter()
        .chain(child.argv.iter().map(String::as_str))
        .collect();
    let session_target = format!("={}:", window.session);
    let cannot = |why: String| {
        Error::failure(format!("cannot open a tmux window for {}", window.window))
            .cause(why)
            .hint("check that `tmux new-session` works here, or run without --tmux")
    };
    // Two agents may find no session at once: one creates it, the other's
    // new-session fails as a duplicate and its new-window then succeeds.
    let mut pane = None;
    let mut last_error = String::new();
    for _ in 0..3 {
        let new_window: Vec<&str> = ["new-window", "-t", &session_target]
            .into_iter()
            .chain(args.iter().copied())
            .chain(["--"])
            .chain(command.iter().copied())
            .collect();
        let new_session: Vec<&str> = ["new-session", "-s", window.session]
            .into_iter()
            .chain(args.iter().copied())
            .chain(["--"])
            .chain(command.iter().copied())
            .collect();
        for attempt in [new_window, new_session] {
            let out = tmux(&attempt).map_err(|e| cannot(e.to_string()))?;
            if out.status.success() {
                pane = Some(String::from_utf8_lossy(&out.stdout).trim().to_string());
                break;
            }
            last_error = String::from_utf8_lossy(&out.stderr).trim().to_string();
        }
        if pane.is_some() {
            break;
        }
    }
    let Some(pane) = pane else {
        return Err(cannot(last_error));
    };
    // Kept after the command exits, so its exit status can be read.
    let _ = tmux(&["set-option", "-w", "-t", &pane, "remain-on-exit", "on"]);
    // The pipe's shell runs in the tmux server's folder, not ours.
    let log = std::path::absolute(child.log).unwrap_or_else(|_| child.log.to_path_buf());
    let log = shell_quote(&log.display().to_string());
    // `cat` writes what it reads at once (a `tr` or `sed` would buffer it):
    // the log has the terminal's CR LF line ends, which `logs` shows as LF.
    let piped = tmux(&["pipe-pane", "-t", &pane, &format!("cat >> {log}")]);
    let _ = tmux(&["wait-for", "-S", &gate]);
    match piped {
        Ok(out) if out.status.success() => Ok(pane),
        _ => {
            let _ = tmux(&["kill-pane", "-t", &pane]);
            Err(cannot("tmux pipe-pane failed".into()))
        }
    }
}

/// Ends the output pipe and the window, once the pipe wrote what it had.
fn close_pane(pane: &str, log: &std::path::Path) {
    let _ = tmux(&["pipe-pane", "-t", pane]);
    let _ = tmux(&["kill-pane", "-t", pane]);
    // The pipe's `cat` drains on its own: wait until the log stops growing.
    let size = || std::fs::metadata(log).map_or(0, |m| m.len());
    let mut last = size();
    for _ in 0..20 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        let now = size();
        if now == last {
            break;
        }
        last = now;
    }
}

/// `text` quoted for `sh`.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// The agents' windows in `session`, or `None` when there is no such session.
pub fn tmux_windows(session: &str) -> Option<Vec<String>> {
    tmux_says(&["list-windows", "-t", &format!("={session}"), "-F", "#{window_name}"])
        .map(|names| names.lines().map(str::to_string).collect())
}

/// Attaches this terminal to the tmux `target` (switches to it when
/// already inside tmux) until the person detaches; the agents go on running.
pub fn tmux_attach(target: &str) -> Result<()> {
    let inside_tmux = std::env::var_os("TMUX").is_some_and(|v| !v.is_empty());
    let verb = if inside_tmux { "switch-client" } else { "attach-session" };
    let status = std::process::Command::new("tmux")
        .args([verb, "-t", target])
        .status()
        .map_err(|e| Error::failure("cannot run tmux").cause(e))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::failure(format!("tmux could not attach to {target}")).hint("`tmux ls` lists the sessions"))
    }
}
