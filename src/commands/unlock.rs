//! `git agents unlock --stale`: take back claims whose lease ran out or
//! whose process is gone.

use clap::Args;
use serde::Serialize;

use crate::error::Result;
use crate::protocol::{self, Context};
use crate::session::Session;

/// Release stale claims
///
/// Every claimed task whose lease has expired (its agent crashed or hangs),
/// or whose holder on this host is a process that is gone (a killed
/// `spawn`, or the `$GIT_AGENTS_PID` of a script), returns to available
/// with the attempt counted, or becomes blocked when its attempts are used
/// up. Holders on other hosts and `git agents claim` without
/// `$GIT_AGENTS_PID` have only their lease. Prints each task freed.
///
/// Examples:
///
///   git agents status          # stale claims are flagged
///   git agents unlock --stale
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct UnlockArgs {
    /// Release every claim whose lease has expired or whose process is gone
    #[arg(long, required = true)]
    pub stale: bool,
    /// Print the freed tasks as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Freed<'a> {
    task: &'a str,
    agent: &'a str,
    state: &'a str,
    attempts: u32,
    /// Why it was stale: its lease expired, or its process is gone.
    reason: &'a str,
}

pub fn run(args: &UnlockArgs, session: &Session) -> Result<()> {
    let ui = session.ui;
    let repo = session.repo()?;
    let ctx = Context::load(repo)?;
    let freed = protocol::unlock_stale(&ctx)?;
    if args.json {
        let list: Vec<Freed<'_>> = freed
            .iter()
            .map(|(id, r, holder)| Freed {
                task: id,
                agent: holder,
                state: r.state.as_str(),
                attempts: r.attempts,
                reason: r.last_failure.as_deref().unwrap_or_default(),
            })
            .collect();
        ui.json(&list);
        return Ok(());
    }
    for (id, record, _) in &freed {
        let why = record.last_failure.as_deref().unwrap_or("stale");
        ui.result(&format!("{id} {} ({why})", record.state));
    }
    if freed.is_empty() {
        ui.status("no stale claims");
    }
    Ok(())
}
