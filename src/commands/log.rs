//! `git agents log [TASK]`: a task's transitions, or every task's as one
//! timeline, read from the refs' history.

use clap::Args;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::plan::duration;
use crate::protocol::Context;
use crate::session::Session;
use crate::state;
use crate::state::Store;

/// Show a task's history, or the whole run as a timeline
///
/// With a task: every transition (claim, heartbeat, done, fail, release,
/// requeue, unlock, merge), oldest first, with who made it, when, and why;
/// then the path and tail of the agent's newest output log. The same
/// history is a plain git log: `git log refs/agents/tasks/<state>/<task>`.
///
/// Without a task: the transitions of every task in one timeline, newest
/// last. --since and --agent narrow either form.
///
/// Examples:
///
///   git agents log auth
///   git agents log --since 2h
///   git agents log --agent agent-1 --json | jq -r '.[].message'
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct LogArgs {
    /// The task whose history to show (default: every task)
    pub task: Option<String>,
    /// Only transitions newer than this long ago (e.g. 30m, 2h, 1d)
    #[arg(long, value_name = "DURATION")]
    pub since: Option<String>,
    /// Only transitions made by this agent (or person)
    #[arg(long, value_name = "NAME")]
    pub agent: Option<String>,
    /// Print the history as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Entry {
    task: String,
    commit: String,
    time: i64,
    state: state::TaskState,
    attempts: u32,
    by: Option<String>,
    message: String,
}

pub fn run(args: &LogArgs, session: &Session) -> Result<()> {
    let ui = session.ui;
    let repo = session.repo()?;
    let ctx = Context::load(repo)?;
    let snap = state::snapshot(repo)?;
    let since = since(args, ctx.now)?;
    let ids = chosen_tasks(args, &snap)?;
    let mut entries = transitions(repo, args, &snap, ids)?;
    entries
        .retain(|e| since.is_none_or(|s| e.time >= s) && args.agent.as_ref().is_none_or(|a| e.by.as_ref() == Some(a)));
    // One timeline, oldest first; a stable sort keeps each task's own order
    // (and, within one second, tasks in id order).
    entries.sort_by_key(|e| e.time);
    if args.json {
        ui.json(&entries);
        return Ok(());
    }
    ui.result(&human(repo, args, &entries));
    Ok(())
}

/// The oldest time --since lets through, when given.
fn since(args: &LogArgs, now: i64) -> Result<Option<i64>> {
    Ok(match &args.since {
        None => None,
        Some(text) => Some(
            now - duration::parse_duration(text).map_err(|why| {
                Error::usage(format!("--since \"{text}\" {why}")).hint("pass a duration such as 30m, 2h or 1d")
            })? as i64,
        ),
    })
}

/// The tasks whose history is shown: the one asked for, or all.
fn chosen_tasks<'a>(args: &'a LogArgs, snap: &'a state::Snapshot) -> Result<Vec<&'a String>> {
    Ok(match &args.task {
        Some(id) => {
            if !snap.tasks.contains_key(id) {
                return Err(Error::usage(format!("no task `{id}` under refs/agents/tasks"))
                    .hint("`git agents status` lists the tasks; `git agents log` without a task shows them all"));
            }
            vec![id]
        }
        None => snap.tasks.keys().collect(),
    })
}

/// The transitions of the tasks `ids`, each task's oldest first.
fn transitions(repo: &Store, args: &LogArgs, snap: &state::Snapshot, ids: Vec<&String>) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for id in ids {
        // History comes newest first; the log reads oldest first.
        for (oid, record, message, committed) in state::history(repo, snap.tasks[id].oid)?.into_iter().rev() {
            // The transition's own clock; the commit time is the fallback.
            let time = if record.updated_at != 0 {
                record.updated_at
            } else {
                committed
            };
            // The timeline leaves out the fixed first link every task has.
            if args.task.is_none() && time == 0 {
                continue;
            }
            entries.push(Entry {
                task: id.clone(),
                commit: oid.to_string(),
                time,
                state: record.state,
                attempts: record.attempts,
                by: record.by,
                message: message.trim_end().to_string(),
            });
        }
    }
    Ok(entries)
}

/// The log as a person reads it: a line a transition, then the tail of
/// the newest agent output of a single task.
fn human(repo: &Store, args: &LogArgs, entries: &[Entry]) -> String {
    let mut out = String::new();
    // The timeline names each line's task in a column of its own; one task's
    // history needs no task column.
    let id_width = if args.task.is_none() {
        entries.iter().map(|e| e.task.chars().count()).max().unwrap_or(0)
    } else {
        0
    };
    for e in entries {
        let when = gix::date::Time::new(e.time, 0).format_or_unix(gix::date::time::format::ISO8601);
        let when = if e.time == 0 { "(plan)".to_string() } else { when };
        let task = if args.task.is_none() {
            format!("{:<id_width$}  ", e.task)
        } else {
            String::new()
        };
        let line = format!(
            "{when:<25}  {task}{:<9}  {}",
            e.state,
            shown(&e.message, &e.task, e.state)
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if let Some(task) = &args.task {
        let logs = attempt_logs(repo, task);
        if let Some(newest) = logs.last() {
            out.push_str(&format!("\nagent output: {}\n", newest.display()));
            for line in crate::process::tail(newest, 5).lines() {
                out.push_str(&format!("  | {line}\n"));
            }
        }
    } else if entries.is_empty() {
        out.push_str("no transitions yet");
    }
    out
}

/// A transition's commit message as a log line shows it next to the task
/// and its state: "claim docs by agent-1" under `claimed` says only "by
/// agent-1", "fail div by bob: red" under `available` says "failed by bob:
/// red". The commit keeps the whole message (`git log` of the ref reads on
/// its own); each line a person reads says one thing once.
fn shown(message: &str, task: &str, state: state::TaskState) -> String {
    let Some((verb, rest)) = message.split_once(' ') else {
        return message.to_string();
    };
    let rest = match rest.strip_prefix(task) {
        Some(after) if after.is_empty() || after.starts_with(' ') => after.trim_start(),
        _ => return message.to_string(),
    };
    let did = match verb {
        "add" => "added to the plan",
        "claim" => "claimed",
        "done" => "done",
        "fail" => "failed",
        "block" => "blocked",
        "release" => "released",
        "merge" => "merged",
        "requeue" => "requeued",
        "unlock" => "unlocked",
        "heartbeat" => "heartbeat",
        _ => return message.to_string(),
    };
    // The state column already says it: "done  by ann", not "done  done by ann".
    if did == state.as_str() {
        rest.to_string()
    } else if rest.is_empty() {
        did.to_string()
    } else {
        format!("{did} {rest}")
    }
}

/// The task's attempt logs, oldest first (`<task>.<attempt>.log`).
fn attempt_logs(repo: &Store, task: &str) -> Vec<std::path::PathBuf> {
    let common = repo.common_dir();
    let common = common.canonicalize().unwrap_or_else(|_| common.to_path_buf());
    crate::layout::attempts_logged(&common, task)
        .into_iter()
        .map(|attempt| crate::layout::attempt_log_in(&common, task, attempt))
        .collect()
}
