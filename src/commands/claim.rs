//! `git agents claim`: take a task for an agent, atomically.

use clap::Args;

use crate::error::Result;
use crate::protocol::{self, Context, Target};
use crate::session::Session;

/// Claim a task for an agent
///
/// Moves the task from available to claimed in one compare-and-swap ref
/// transaction: of any number of agents racing for it, exactly one wins.
/// The claim holds a lease (plan `[agent] lease`, or `git config
/// agents.lease`); renew it with `git agents heartbeat`.
///
/// Prints the claimed task's id on stdout. Exits 5 when nothing is ready,
/// saying what is blocking.
///
/// Examples:
///
///   id=$(git agents claim --next --agent agent-1)
///   git agents claim auth --agent agent-2 --json
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct ClaimArgs {
    /// The task to claim
    #[arg(conflicts_with = "next", required_unless_present = "next")]
    pub task: Option<String>,
    /// Claim the first ready task in plan order
    #[arg(long)]
    pub next: bool,
    /// The agent claiming (default: $GIT_AGENTS_AGENT)
    #[arg(long)]
    pub agent: Option<String>,
    /// Print the new task record as JSON
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &ClaimArgs, session: &Session) -> Result<()> {
    let ui = session.ui;
    let repo = session.repo()?;
    let agent = protocol::agent_name(args.agent.as_deref(), repo.settings())?;
    let ctx = Context::load(repo)?;
    let target = match &args.task {
        Some(id) => Target::Task(id),
        None => Target::Next,
    };
    let (id, record) = protocol::claim(&ctx, &agent, target)?;
    if args.json {
        ui.json(&record);
    } else {
        ui.result(&id);
        ui.status(&format!(
            "{agent} claimed {id} (attempt {}, lease {})",
            record.attempts + 1,
            protocol::age(record.lease_until.unwrap_or(ctx.now) - ctx.now)
        ));
    }
    Ok(())
}
