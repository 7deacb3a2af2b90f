//! `git agents status --watch`: the status redrawn in place, with what each
//! agent is doing right now, until q or Ctrl-C.

use std::io::{IsTerminal, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::gather::{counts_line, gather, Status};
use super::human::human;
use crate::error::Result;
use crate::plan::duration::Given;
use crate::protocol::{self, Context};
use crate::session::Session;
use crate::state::Store;

static QUIT: AtomicBool = AtomicBool::new(false);

pub fn run(interval: &Given, session: &Session) -> Result<()> {
    let ui = session.ui;
    let every = interval.duration();
    let repo = session.repo()?;
    // A bad threshold fails before the first draw, with what to set.
    let quiet_after = repo.settings().quiet_after_seconds()? as i64;
    let live = ui.stdout_is_terminal();
    let _ = ctrlc::set_handler(|| QUIT.store(true, Ordering::SeqCst));
    // On a terminal, q quits: read single keys without echo, restored on the way out.
    let keys = live && std::io::stdin().is_terminal() && crate::process::stty(&["-icanon", "-echo"]);
    if keys {
        std::thread::spawn(|| {
            let mut byte = [0u8; 1];
            while std::io::stdin().read(&mut byte).is_ok_and(|n| n == 1) {
                if byte[0] == b'q' || byte[0] == b'Q' {
                    QUIT.store(true, Ordering::SeqCst);
                    return;
                }
            }
        });
    }
    let outcome = (|| -> Result<()> {
        while !QUIT.load(Ordering::SeqCst) {
            let started = Instant::now();
            let ctx = Context::load(repo)?;
            let status = gather(&ctx)?;
            let mut text = human(&status, ctx.now);
            let lease = ctx.lease_seconds()? as i64;
            text.push_str(&activity(repo, &status, ctx.now, Thresholds { quiet_after, lease }));
            let took = started.elapsed();
            if live {
                let footer = format!(
                    "\nrefreshed every {interval} (took {} ms); q or Ctrl-C quits\n",
                    took.as_millis()
                );
                ui.redraw(&format!("{text}{footer}"));
            } else {
                let when = gix::date::Time::new(ctx.now, 0).format_or_unix(gix::date::time::format::ISO8601);
                ui.result(&format!("--- {when}: {}\n{text}", counts_line(&status)));
            }
            while started.elapsed() < every && !QUIT.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(())
    })();
    if keys {
        crate::process::stty(&["icanon", "echo"]);
    }
    outcome
}

/// When a running task earns a mark.
#[derive(Clone, Copy)]
struct Thresholds {
    /// Seconds without output or a progress report that make an agent quiet.
    quiet_after: i64,
    /// The lease length: a claim with less than half of it left is late.
    lease: i64,
}

/// One line per task in progress: its marks, how long it has run, its
/// lease, the work on its branch, and how long since the agent last wrote
/// output (a busy agent writes; a stuck or waiting one goes quiet).
fn activity(repo: &Store, status: &Status, now: i64, limits: Thresholds) -> String {
    let mut out = String::new();
    for t in status
        .tasks
        .iter()
        .filter(|t| t.state == crate::state::TaskState::Claimed)
    {
        let elapsed = t.claimed_at.map_or("?".into(), |at| protocol::age(now - at));
        let lease = match t.lease_until {
            Some(until) if until < now => "STALE".to_string(),
            Some(until) => format!("lease {}", protocol::age(until - now)),
            None => String::new(),
        };
        let subject = crate::repo::branch_tip(repo, &crate::layout::task_branch(&t.id))
            .ok()
            .flatten()
            .and_then(|tip| repo.find_commit(tip).ok())
            .and_then(|c| c.message().ok().map(|m| m.summary().to_string()))
            .unwrap_or_default();
        let output = last_output(repo, &t.id);
        let quiet = output.map_or("no output yet".to_string(), |at| {
            format!("output {} ago", protocol::age((now - at).max(0)))
        });
        out.push_str(&format!(
            "  {}  {}  {}{elapsed}, {lease}, +{} commits, {quiet}, last: {subject}\n",
            t.agent.as_deref().unwrap_or("?"),
            t.id,
            marks(t, output, now, limits),
            t.ahead.unwrap_or(0),
        ));
    }
    if out.is_empty() {
        out
    } else {
        format!("\nnow working:\n{out}")
    }
}

/// `[quiet] ` when the agent has neither written output nor reported
/// progress for longer than the threshold (counted from the claim when it
/// has done neither yet), `[late] ` when its claim has less than half its
/// lease left: the runner renews it every third of the lease, so a late
/// claim has missed heartbeats and heads for stale.
fn marks(t: &super::gather::TaskLine, output: Option<i64>, now: i64, limits: Thresholds) -> String {
    let mut marks = String::new();
    let last_sign = [output, t.progress_at, t.claimed_at].into_iter().flatten().max();
    if last_sign.is_some_and(|at| now - at > limits.quiet_after) {
        marks.push_str("[quiet] ");
    }
    if t.lease_until
        .is_some_and(|until| until >= now && 2 * (until - now) < limits.lease)
    {
        marks.push_str("[late] ");
    }
    marks
}

/// When the newest attempt log of `task` was last written, in seconds since the epoch.
fn last_output(repo: &Store, task: &str) -> Option<i64> {
    let dir = crate::layout::logs(repo.common_dir());
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&format!("{task}.")))
        .filter_map(|e| e.metadata().and_then(|m| m.modified()).ok())
        .max()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
}
