//! `git agents done`, `fail`, `release` and `heartbeat`: what an agent says
//! about the task it holds. One file because they differ in one argument.

use clap::Args;

use crate::error::Result;
use crate::protocol::{self, Context, Verdict};
use crate::ui::Ui;

/// Who is speaking and about which task; shared by every verdict.
#[derive(Debug, Args)]
pub struct HeldTask {
    /// The claimed task
    pub task: String,
    /// The agent holding the claim (default: $GIT_AGENTS_AGENT)
    #[arg(long)]
    pub agent: Option<String>,
    /// Act even if another agent holds the claim (recorded in the history)
    #[arg(long)]
    pub force: bool,
    /// Print the new task record as JSON
    #[arg(long)]
    pub json: bool,
}

/// Mark a claimed task as done
///
/// Records the task branch (default agents/<task>) and its head, and moves
/// the task to done; tasks that depend on it become ready.
///
/// Examples:
///
///   git agents done auth --agent agent-1            # branch agents/auth
///   git agents done auth --agent agent-1 --branch my-auth-work
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct DoneArgs {
    #[command(flatten)]
    pub held: HeldTask,
    /// The branch holding the work (must exist when given)
    #[arg(long)]
    pub branch: Option<String>,
}

/// Mark a claimed task as failed
///
/// The task returns to available with one more failed attempt, or becomes
/// blocked when its attempts reach `max_attempts` (plan `[agent]`).
///
/// Examples:
///
///   git agents fail auth --agent agent-1 --reason "tests red"
///   git agents fail auth --agent agent-1 --reason "gave up" --force   # as a person
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct FailArgs {
    #[command(flatten)]
    pub held: HeldTask,
    /// Why it failed (kept in the task's history)
    #[arg(long)]
    pub reason: String,
}

/// Give a claimed task back without a verdict
///
/// The task returns to available; its attempts are not counted.
///
/// Examples:
///
///   git agents release auth --agent agent-1
///   git agents release auth --agent agent-1 --force   # someone else's claim
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct ReleaseArgs {
    #[command(flatten)]
    pub held: HeldTask,
}

/// Extend the lease of a claimed task
///
/// A claim whose lease runs out counts as stale and can be taken back with
/// `git agents unlock --stale`; long-running agents renew it.
///
/// Examples:
///
///   git agents heartbeat auth --agent agent-1
///   while sleep 60; do git agents heartbeat auth --agent agent-1 -q; done &
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct HeartbeatArgs {
    #[command(flatten)]
    pub held: HeldTask,
}

pub fn run(held: &HeldTask, verdict: Verdict, ui: &Ui) -> Result<()> {
    let repo = crate::repo::open()?;
    let agent = protocol::agent_name(held.agent.as_deref())?;
    let ctx = Context::load(&repo)?;
    let record = protocol::finish(&ctx, &agent, &held.task, verdict, held.force)?;
    if held.json {
        ui.json(&record);
        return Ok(());
    }
    ui.result(&format!("{} {}", held.task, record.state.as_str()));
    if let Some(lease) = record
        .lease_until
        .filter(|_| record.state == crate::state::TaskState::Claimed)
    {
        ui.status(&format!("lease renewed: {} left", protocol::age(lease - ctx.now)));
    }
    if record.state == crate::state::TaskState::Blocked {
        ui.warn(&format!(
            "{} is blocked after {} failed attempts; `git agents requeue {}` makes it available again",
            held.task, record.attempts, held.task
        ));
    }
    Ok(())
}
