//! `git agents unlock --stale`: take back claims whose lease ran out.

use clap::Args;
use serde::Serialize;

use crate::error::Result;
use crate::protocol::{self, Context};
use crate::ui::Ui;

/// Release stale claims
///
/// Every claimed task whose lease has expired (its agent crashed or hangs)
/// returns to available with the attempt counted, or becomes blocked when
/// its attempts are used up. Prints each task freed.
///
/// Examples:
///
///   git agents status          # stale claims are flagged
///   git agents unlock --stale
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct UnlockArgs {
    /// Release every claim whose lease has expired
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
}

pub fn run(args: &UnlockArgs, ui: &Ui) -> Result<()> {
    let repo = crate::repo::open()?;
    let ctx = Context::load(&repo)?;
    let freed = protocol::unlock_stale(&ctx)?;
    if args.json {
        let list: Vec<Freed<'_>> = freed
            .iter()
            .map(|(id, r, holder)| Freed {
                task: id,
                agent: holder,
                state: r.state.as_str(),
                attempts: r.attempts,
            })
            .collect();
        ui.json(&list);
        return Ok(());
    }
    for (id, record, holder) in &freed {
        ui.result(&format!("{id} {} (lease of {holder} expired)", record.state.as_str()));
    }
    if freed.is_empty() {
        ui.status("no stale claims");
    }
    Ok(())
}
