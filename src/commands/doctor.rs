//! `git agents doctor`: find what a crash can leave behind and, with
//! `--fix`, repair it.

use std::time::Duration;

use clap::Args;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::plan::duration;
use crate::state;
use crate::ui::Ui;

/// Find and repair what crashes leave behind
///
/// Checks for lock files under the ref store (a killed git or git-agents
/// leaves `<ref>.lock`, and every later write of that ref fails), tasks
/// listed under two states (a kill in the middle of a transition), a merge
/// lock whose process is gone, worktree registrations a kill cut short,
/// and claims whose lease expired.
///
/// With --fix it removes lock files older than --older-than (a live writer
/// holds one for milliseconds), deletes the older ref of a task under two
/// states (the newer one descends from it), releases a merge lock whose
/// process is gone, and removes cut-short worktree registrations. Expired claims are reported, not freed: that is
/// `git agents unlock --stale`, which counts the attempt.
///
/// Exits 0 when nothing is wrong (or all was fixed), 1 otherwise.
///
/// Examples:
///
///   git agents doctor
///   git agents doctor --fix
///   git agents doctor --fix --older-than 0s   # no agent or git is running
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct DoctorArgs {
    /// Repair what can be repaired safely
    #[arg(long)]
    pub fix: bool,
    /// Remove only lock files at least this old
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub older_than: String,
    /// Print the findings as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct Finding {
    /// `lock-file`, `two-states`, `dead-merge`, `stopped-merge`,
    /// `worktree-registration`, `stale-claim`.
    kind: &'static str,
    subject: String,
    problem: String,
    fix: String,
    /// Whether it counts against a clean bill of health.
    serious: bool,
    fixed: bool,
}

pub fn run(args: &DoctorArgs, ui: &Ui) -> Result<()> {
    let threshold = duration::parse_duration(&args.older_than)
        .map(Duration::from_secs)
        .map_err(|why| {
            Error::usage(format!("--older-than \"{}\" {why}", args.older_than))
                .hint("pass a duration such as 30s or 5m")
        })?;
    let repo = crate::repo::open()?;
    let mut findings = Vec::new();
    lock_files(&repo, args.fix, threshold, &mut findings);
    tasks(&repo, args.fix, &mut findings)?;
    merge_lock(&repo, args.fix, &mut findings)?;
    registrations(&repo, args.fix, &mut findings);

    let remaining = findings.iter().filter(|f| f.serious && !f.fixed).count();
    if args.json {
        ui.json(&findings);
    } else {
        for f in &findings {
            let label = match (f.fixed, f.serious) {
                (true, _) => "fixed",
                (false, true) => "problem",
                (false, false) => "note",
            };
            ui.result(&format!("{label:<8} {}: {}", f.subject, f.problem));
            if !f.fixed {
                ui.result(&format!("         {}", f.fix));
            }
        }
        if findings.is_empty() {
            ui.result("no problems found");
        }
    }
    if remaining > 0 {
        let err = Error::failure(format!(
            "{remaining} problem{} left",
            if remaining == 1 { "" } else { "s" }
        ));
        return Err(if args.fix {
            err.hint("the lines above say what to do for each")
        } else {
            err.hint("repair them with `git agents doctor --fix`")
        });
    }
    Ok(())
}

fn lock_files(repo: &gix::Repository, fix: bool, threshold: Duration, out: &mut Vec<Finding>) {
    let root = repo.common_dir();
    for (path, age) in state::lock_files(repo) {
        let relative = path.strip_prefix(root).unwrap_or(&path);
        let shown = relative.display().to_string();
        // Locks of refs, packed-refs and the linked worktrees git-agents
        // makes; anything else (the main checkout's index.lock while a
        // `git commit` waits for its editor, config.lock) is only reported.
        let ours = relative.starts_with("refs") || relative.starts_with("worktrees") || shown == "packed-refs.lock";
        if !ours {
            out.push(Finding {
                kind: "lock-file",
                subject: shown,
                problem: format!("lock file, {} old", age_text(age)),
                fix: "a git command in this repository may hold it; if none runs, remove it by hand".into(),
                serious: true,
                fixed: false,
            });
            continue;
        }
        let old = age >= threshold;
        let mut finding = Finding {
            kind: "lock-file",
            subject: shown,
            problem: format!(
                "lock file, {} old; writes of this ref fail while it is there",
                age_text(age)
            ),
            fix: if old {
                "if no git or git-agents process is running, remove it: `git agents doctor --fix`".into()
            } else {
                "young: a writer may hold it right now; look again in a moment".into()
            },
            serious: true,
            fixed: false,
        };
        if fix && old {
            match std::fs::remove_file(&path) {
                Ok(()) => finding.fixed = true,
                Err(e) => finding.fix = format!("cannot remove it: {e}; remove {} by hand", path.display()),
            }
        }
        out.push(finding);
    }
}

fn tasks(repo: &gix::Repository, fix: bool, out: &mut Vec<Finding>) -> Result<()> {
    let snap = state::snapshot(repo)?;
    for (id, task) in &snap.tasks {
        if task.leftovers.is_empty() {
            continue;
        }
        let others: Vec<&str> = task.leftovers.iter().map(|(s, _)| s.as_str()).collect();
        let mut finding = Finding {
            kind: "two-states",
            subject: format!("task {id}"),
            problem: format!(
                "listed as {} and also as {} (a transition was cut short); it counts as {}",
                task.state.as_str(),
                others.join(", "),
                task.state.as_str()
            ),
            fix: "delete the older ref: `git agents doctor --fix` (its next transition does it too)".into(),
            serious: true,
            fixed: false,
        };
        if fix {
            match state::drop_leftovers(repo, id, task) {
                Ok(()) => finding.fixed = true,
                Err(state::WriteError::Moved) => {
                    finding.fix = "it changed meanwhile (an agent is working); run doctor again".into()
                }
                Err(state::WriteError::Failed(e)) => finding.fix = format!("cannot repair it: {}", e.message),
            }
        }
        out.push(finding);
    }
    // Expired leases need a decision that counts an attempt: reported only.
    if let Some(plan) = state::read_plan(repo)? {
        let now = state::now_seconds();
        for (id, task) in &snap.tasks {
            if task.state != state::TaskState::Claimed || !plan.plan.tasks.iter().any(|t| &t.id == id) {
                continue;
            }
            let record = state::TaskRecord::read(repo, task.oid)?;
            if crate::protocol::is_stale(&record, now) {
                out.push(Finding {
                    kind: "stale-claim",
                    subject: format!("task {id}"),
                    problem: format!(
                        "claimed by {} whose lease expired",
                        record.agent.as_deref().unwrap_or("?")
                    ),
                    fix: "free it with `git agents unlock --stale` (counts as a failed attempt)".into(),
                    serious: false,
                    fixed: false,
                });
            }
        }
    }
    Ok(())
}

fn merge_lock(repo: &gix::Repository, fix: bool, out: &mut Vec<Finding>) -> Result<()> {
    let Some((_, record)) = state::read_merge(repo)? else {
        return Ok(());
    };
    if let Some(task) = &record.stopped_task {
        out.push(Finding {
            kind: "stopped-merge",
            subject: format!("merge into {}", record.target),
            problem: format!("stopped at task `{task}`"),
            fix: "resolve it and run `git agents merge --continue`, or `git agents merge --abort`".into(),
            serious: false,
            fixed: false,
        });
        return Ok(());
    }
    if !record.gone() {
        return Ok(()); // a merge is running
    }
    let mut finding = Finding {
        kind: "dead-merge",
        subject: format!("merge into {}", record.target),
        problem: format!(
            "refs/agents/merge is held by pid {} on {}, which is gone",
            record.pid, record.host
        ),
        fix: "release it with `git agents doctor --fix`, or take over with `git agents merge --force`".into(),
        serious: true,
        fixed: false,
    };
    if fix {
        match state::MergeLock::abort(repo) {
            Ok(_) => finding.fixed = true,
            Err(e) => finding.fix = format!("cannot release it: {}", e.message),
        }
    }
    out.push(finding);
    Ok(())
}

fn registrations(repo: &gix::Repository, fix: bool, out: &mut Vec<Finding>) {
    for registration in crate::worktree::half_made_registrations(repo) {
        let shown = registration
            .strip_prefix(repo.common_dir())
            .unwrap_or(&registration)
            .display()
            .to_string();
        let mut finding = Finding {
            kind: "worktree-registration",
            subject: shown,
            problem:
                "a worktree registration cut short (a file in it is missing or empty); git fsck and new worktrees fail"
                    .into(),
            fix: "remove it: `git agents doctor --fix` (the next spawn recreates the worktree)".into(),
            serious: true,
            fixed: false,
        };
        if fix {
            match std::fs::remove_dir_all(&registration) {
                Ok(()) => finding.fixed = true,
                Err(e) => finding.fix = format!("cannot remove it: {e}; remove {} by hand", registration.display()),
            }
        }
        out.push(finding);
    }
}

fn age_text(age: Duration) -> String {
    crate::protocol::age(age.as_secs() as i64)
}
