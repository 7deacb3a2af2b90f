//! `git agents log TASK`: a task's transitions, read from its ref's history.

use clap::Args;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::protocol::Context;
use crate::state;
use crate::ui::Ui;

/// Show a task's history
///
/// Every transition (claim, heartbeat, done, fail, release, requeue,
/// unlock), oldest first, with who made it, when, and why; then the path
/// and tail of the agent's newest output log. The same history is a plain
/// git log: `git log refs/agents/tasks/<state>/<task>`.
///
/// Examples:
///
///   git agents log auth
///   git agents log auth --json | jq '.[].message'
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct LogArgs {
    /// The task whose history to show
    pub task: String,
    /// Print the history as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Entry {
    commit: String,
    time: i64,
    state: state::TaskState,
    attempts: u32,
    by: Option<String>,
    message: String,
}

pub fn run(args: &LogArgs, ui: &Ui) -> Result<()> {
    let repo = crate::repo::open()?;
    Context::load(&repo)?;
    let snap = state::snapshot(&repo)?;
    let Some(task) = snap.tasks.get(&args.task) else {
        return Err(Error::usage(format!("no task `{}` under refs/agents/tasks", args.task))
            .hint("`git agents status` lists the tasks"));
    };
    let mut entries: Vec<Entry> = state::history(&repo, task.oid)?
        .into_iter()
        .map(|(oid, record, message, committed)| Entry {
            commit: oid.to_string(),
            // The transition's own clock; the commit time is the fallback.
            time: if record.updated_at != 0 {
                record.updated_at
            } else {
                committed
            },
            state: record.state,
            attempts: record.attempts,
            by: record.by,
            message: message.trim_end().to_string(),
        })
        .collect();
    entries.reverse();
    if args.json {
        ui.json(&entries);
        return Ok(());
    }
    let mut out = String::new();
    for e in &entries {
        let when = gix::date::Time::new(e.time, 0).format_or_unix(gix::date::time::format::ISO8601);
        let when = if e.time == 0 { "(plan)".to_string() } else { when };
        out.push_str(&format!("{when:<25}  {:<9}  {}\n", e.state.as_str(), e.message));
    }
    let logs = attempt_logs(&repo, &args.task);
    if let Some(newest) = logs.last() {
        out.push_str(&format!("\nagent output: {}\n", newest.display()));
        for line in crate::process::tail(newest, 5).lines() {
            out.push_str(&format!("  | {line}\n"));
        }
    }
    ui.result(&out);
    Ok(())
}

/// The task's attempt logs, oldest first (`<task>.<attempt>.log`).
fn attempt_logs(repo: &gix::Repository, task: &str) -> Vec<std::path::PathBuf> {
    let common = repo.common_dir();
    let dir = common
        .canonicalize()
        .unwrap_or_else(|_| common.to_path_buf())
        .join("agents")
        .join("logs");
    let mut logs: Vec<(u32, std::path::PathBuf)> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let attempt = name
                .strip_prefix(task)?
                .strip_prefix('.')?
                .strip_suffix(".log")?
                .parse()
                .ok()?;
            Some((attempt, e.path()))
        })
        .collect();
    logs.sort();
    logs.into_iter().map(|(_, p)| p).collect()
}
