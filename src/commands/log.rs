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
/// unlock), oldest first, with who made it, when, and why. The same history
/// is a plain git log: `git log refs/agents/tasks/<state>/<task>`.
///
/// Example:
///
///   git agents log auth
#[derive(Debug, Args)]
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
    ui.result(&out);
    Ok(())
}
