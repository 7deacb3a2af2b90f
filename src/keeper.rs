//! The keeper: the hidden `keeper` subcommand that `process::supervise`
//! runs every agent, setup and acceptance command through, so nothing an
//! agent starts outlives its attempt or its runner. It makes itself a
//! child subreaper (every orphaned descendant, setsid'd or not, becomes its
//! child instead of init's), asks to be signalled when the runner dies,
//! starts the command in its own process group, and once the command ends
//! or it is told to stop (the runner's SIGTERM, or the runner's death) it
//! stops every descendant left (SIGTERM, the grace period, SIGKILL) and
//! exits as the command did.

use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::error::Result;
// The handshake words live in `process`, which reads them, so that
// `process` never imports the keeper it starts.
use crate::process::{self, KEEPER_FAILED as FAILED, KEEPER_STARTED as STARTED};

#[derive(Debug, clap::Args)]
pub struct KeeperArgs {
    /// The runner's pid: the keeper starts nothing once it is gone
    #[arg(long)]
    pub parent: u32,
    /// Milliseconds between SIGTERM and SIGKILL
    #[arg(long)]
    pub grace_ms: u64,
    /// The command (no shell)
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

/// Set by SIGTERM, SIGINT or SIGHUP (the runner stopping us, or dying).
static STOP: AtomicBool = AtomicBool::new(false);

pub fn run(args: &KeeperArgs) -> Result<()> {
    let _ = ctrlc::set_handler(|| STOP.store(true, Ordering::SeqCst));
    #[allow(unsafe_code)]
    // SAFETY: prctl with integer arguments (and a static C string) only
    // changes this process's flags. The death signal is tied to the runner
    // thread that started us, which waits for us (`process::supervise`).
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong, 0, 0, 0);
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong, 0, 0, 0);
        // Named so in `ps`, and never `git-agents`: the ref guard lets a git
        // whose parent is git-agents with GIT_AGENTS_TASK set (`git agents
        // done` run by an agent) move any ref, and an agent command that is
        // git itself has the keeper as its parent.
        libc::prctl(libc::PR_SET_NAME, c"git-agents-keep".as_ptr(), 0, 0, 0);
    }
    // A runner that died before the death signal was armed sends none.
    if std::os::unix::process::parent_id() != args.parent {
        tell(&format!("{FAILED}the runner (pid {}) is gone", args.parent));
        std::process::exit(1);
    }
    let agent = match std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .and_then(|log| process::start_in_group(&args.command, log))
    {
        Ok(child) => child.id(),
        Err(e) => {
            tell(&format!("{FAILED}{e}"));
            std::process::exit(1);
        }
    };
    tell(STARTED);
    let mut status = None;
    // A short poll: the runner waits on this loop after every command.
    while status.is_none() && !STOP.load(Ordering::SeqCst) {
        reap(agent, &mut status);
        std::thread::sleep(Duration::from_millis(5));
    }
    // Ended or told to stop: what the command started goes too, wherever
    // it went (its group, a new session, the background).
    let me = std::process::id();
    process::stop_all(
        || process::descendants(me),
        Duration::from_millis(args.grace_ms),
        || reap(agent, &mut status),
    );
    exit_like(status)
}

/// One line to the runner; it reads only the first.
fn tell(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

/// Collects every child that ended (orphans included: a subreaper must
/// reap them), noting the command's own status.
fn reap(agent: u32, status: &mut Option<ExitStatus>) {
    loop {
        let mut raw = 0;
        #[allow(unsafe_code)]
        // SAFETY: waitpid writes only the status integer we pass.
        let pid = unsafe { libc::waitpid(-1, &mut raw, libc::WNOHANG) };
        if pid <= 0 {
            return;
        }
        if u32::try_from(pid) == Ok(agent) {
            *status = Some(ExitStatus::from_raw(raw));
        }
    }
}

/// Exits with the command's code, or dies of the signal that killed it, so
/// the runner sees what it would have seen without a keeper.
fn exit_like(status: Option<ExitStatus>) -> ! {
    match status.map(|s| (s.code(), s.signal())) {
        Some((Some(code), _)) => std::process::exit(code),
        Some((None, Some(signal))) => {
            #[allow(unsafe_code)]
            // SAFETY: integer-only calls on this process: no core file (it
            // would land in the worktree), default action, then the signal.
            unsafe {
                let none = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                libc::setrlimit(libc::RLIMIT_CORE, &none);
                libc::signal(signal, libc::SIG_DFL);
                libc::raise(signal);
            }
            std::process::exit(128 + signal)
        }
        // The command could not be reaped (stuck in the kernel after SIGKILL).
        _ => std::process::exit(1),
    }
}
