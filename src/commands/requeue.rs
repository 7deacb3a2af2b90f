//! `git agents requeue`: a person puts a blocked or done task back in the queue.

use clap::Args;

use crate::error::Result;
use crate::protocol::{self, Context};
use crate::session::Session;

/// Make a blocked or done task available again
///
/// Resets its attempts; the transition is recorded with your name. Use it
/// to retry a blocked task after fixing its cause, or to redo a done task.
///
/// Examples:
///
///   git agents requeue auth
///   git agents log auth && git agents requeue auth   # see why it failed first
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct RequeueArgs {
    /// The blocked or done task
    pub task: String,
    /// Print the new task record as JSON
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &RequeueArgs, session: &Session) -> Result<()> {
    let ui = session.ui;
    let repo = session.repo()?;
    let ctx = Context::load(repo)?;
    let record = protocol::requeue(&ctx, &args.task)?;
    if args.json {
        ui.json(&record);
    } else {
        ui.result(&format!("{} {}", args.task, record.state.as_str()));
    }
    Ok(())
}
