//! `git agents status`: the arguments, and which form to show. The files
//! point down only: `human`, `markdown` and `watch` render what `gather`
//! collects (`watch` reuses `human`'s text), and `gather` knows none of them.

pub mod gather;
mod human;
mod markdown;
mod watch;

use clap::Args;

use crate::error::Result;
use crate::protocol::Context;
use crate::session::Session;

/// Show tasks, agents and progress
///
/// The first line counts tasks: `N completed / M total (K in progress, F
/// failed, B blocked)`, where completed is done or merged and failed counts
/// tasks with a failed attempt that are not done. Then one line per agent
/// (its task, lease, STALE when the lease ran out) and one per task. A
/// task's attempts (--json, --markdown) count every attempt made, the
/// running one included; failed_attempts (--json) only those that failed.
///
/// --markdown writes the same as a report to paste into an issue or commit
/// as status.md: overview, agents, tasks, blocked tasks with their
/// reasons, and next steps.
///
/// Examples:
///
///   git agents status
///   git agents status --json | jq .completed
///   git agents status --markdown > status.md
///   git agents status --watch --interval 5s
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct StatusArgs {
    /// Print the status as JSON
    #[arg(long, conflicts_with = "markdown")]
    pub json: bool,
    /// Print the status as a markdown report
    #[arg(long, conflicts_with = "watch")]
    pub markdown: bool,
    /// Keep showing the status, redrawn every --interval (q or Ctrl-C quits)
    #[arg(long, conflicts_with = "json")]
    pub watch: bool,
    /// How often --watch refreshes
    #[arg(long, value_name = "DURATION", default_value = "2s", requires = "watch")]
    pub interval: crate::plan::duration::Given,
}

pub fn run(args: &StatusArgs, session: &Session) -> Result<()> {
    let ui = session.ui;
    if args.watch {
        return watch::run(&args.interval, session);
    }
    let repo = session.repo()?;
    let ctx = Context::load(repo)?;
    let status = gather::gather(&ctx)?;
    if args.json {
        ui.json(&status);
    } else if args.markdown {
        ui.result(&markdown::render(&status, ctx.now, &ctx.plan.plan.base));
    } else {
        ui.result(&human::human(&status, ctx.now));
    }
    Ok(())
}
