//! The only module that starts child processes. git itself is used only
//! where gix cannot do the job (pushing, running the user's hooks); this
//! module checks once that the git on PATH is new enough.

use std::sync::OnceLock;

use crate::error::{Error, Result};

/// The oldest git we support: `merge-tree --write-tree` arrived in 2.38.
pub const MIN_GIT: (u32, u32) = (2, 38);

/// Fails with upgrade advice when git is missing or older than [`MIN_GIT`]; checks once per process.
pub fn check_git_version() -> Result<()> {
    static CHECKED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    let outcome = CHECKED.get_or_init(|| {
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
    });
    outcome.clone().map_err(|why| {
        Error::failure(why).hint(format!(
            "git-agents needs git {}.{} or newer on PATH; upgrade git (your package manager or https://git-scm.com)",
            MIN_GIT.0, MIN_GIT.1
        ))
    })
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
    use super::parse_git_version;

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
    check_git_version()?;
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
pub fn supervise(
    child: &Supervised<'_>,
    cancel: &std::sync::atomic::AtomicBool,
    mut tick: impl FnMut() -> bool,
) -> Result<Ended> {
    use std::os::unix::process::CommandExt;
    use std::sync::atomic::Ordering;

    let Some((program, args)) = child.argv.split_first() else {
        return Err(Error::usage("the agent command is empty").hint("give the program and its arguments"));
    };
    let open_log = || {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(child.log)
            .map_err(|e| Error::failure(format!("cannot open log {}", child.log.display())).cause(e))
    };
    let mut expr = duct::cmd(program, args)
        .dir(child.dir)
        .stdin_null()
        .stdout_file(open_log()?)
        .stderr_file(open_log()?)
        .unchecked()
        .before_spawn(|cmd| {
            cmd.process_group(0);
            Ok(())
        });
    for (k, v) in child.env {
        expr = expr.env(k, v);
    }
    let handle = expr.start().map_err(|e| {
        Error::failure(format!("cannot start `{program}`"))
            .cause(e)
            .hint(format!("check that `{program}` is installed and on PATH"))
    })?;
    let started = std::time::Instant::now();
    let mut last_tick = started;
    let mut keep_going = true;
    loop {
        match handle.try_wait() {
            Ok(Some(output)) => return Ok(Ended::Exited(output.status.code().unwrap_or(-1))),
            Ok(None) => {}
            Err(e) => return Err(Error::failure(format!("lost track of `{program}`")).cause(e)),
        }
        let verdict = if cancel.load(Ordering::SeqCst) || !keep_going {
            Some(Ended::Cancelled)
        } else if child.timeout.is_some_and(|t| started.elapsed() >= t) {
            Some(Ended::TimedOut)
        } else {
            None
        };
        if let Some(verdict) = verdict {
            let pids = handle.pids();
            for &pid in &pids {
                signal_group(pid, libc::SIGTERM);
            }
            let stopping = std::time::Instant::now();
            while stopping.elapsed() < child.grace && matches!(handle.try_wait(), Ok(None)) {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            // Also after the leader exited: its group may still hold children.
            for &pid in &pids {
                signal_group(pid, libc::SIGKILL);
            }
            let _ = handle.wait();
            return Ok(verdict);
        }
        if last_tick.elapsed() >= std::time::Duration::from_secs(1) {
            last_tick = std::time::Instant::now();
            keep_going = tick();
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// `signal` to the process group led by `pid`.
fn signal_group(pid: u32, signal: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: killpg only sends a signal; a stale pid at worst yields ESRCH.
        #[allow(unsafe_code)]
        unsafe {
            libc::killpg(pid, signal);
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
