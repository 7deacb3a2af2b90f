//! The command line: one `enum Command`, one dispatch `match`, one file per
//! subcommand.

pub mod init;
pub mod plan;
pub mod planned;

use clap::{Parser, Subcommand};

use crate::error::Result;
use crate::ui::Ui;

/// Run several coding agents on one repository in parallel
///
/// Write a plan (agents.toml), record it with `git agents plan`, start
/// agents with `git agents spawn`, watch with `git agents status` and bring
/// the work back with `git agents merge`. All state lives in git refs under
/// refs/agents/.
#[derive(Debug, Parser)]
#[command(name = "git-agents", bin_name = "git agents", version)]
pub struct Cli {
    /// Print only results and errors, no status lines
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Init(init::InitArgs),
    Plan(plan::PlanArgs),
    /// Start N agents, each in its own worktree, working through the plan
    Spawn(planned::SpawnArgs),
    /// Claim a task for an agent
    Claim(planned::ClaimArgs),
    /// Mark a claimed task as done
    Done(planned::TaskArgs),
    /// Mark a claimed task as failed
    Fail(planned::TaskArgs),
    /// Give a claimed task back without a verdict
    Release(planned::TaskArgs),
    /// Extend the lease of a claimed task
    Heartbeat(planned::TaskArgs),
    /// Show tasks, agents and progress
    Status(planned::StatusArgs),
    /// Show a task's history
    Log(planned::LogArgs),
    /// Merge finished tasks into the base, testing after each
    Merge(planned::MergeArgs),
    /// Make a blocked or done task available again
    Requeue(planned::RequeueArgs),
    /// Release stale claims
    Unlock(planned::UnlockArgs),
    /// Install or run the pre-push guard
    Hook(planned::HookArgs),
    /// Remove agent worktrees and finished branches, keep the history
    Clean,
    /// Run the whole workflow on a throw-away repository
    Demo,
}

pub fn dispatch(cli: &Cli, ui: &Ui) -> Result<()> {
    match &cli.command {
        Command::Init(args) => init::run(args, ui),
        Command::Plan(args) => plan::run(args, ui),
        Command::Spawn(_) => planned::not_yet("spawn"),
        Command::Claim(_) => planned::not_yet("claim"),
        Command::Done(_) => planned::not_yet("done"),
        Command::Fail(_) => planned::not_yet("fail"),
        Command::Release(_) => planned::not_yet("release"),
        Command::Heartbeat(_) => planned::not_yet("heartbeat"),
        Command::Status(_) => planned::not_yet("status"),
        Command::Log(_) => planned::not_yet("log"),
        Command::Merge(_) => planned::not_yet("merge"),
        Command::Requeue(_) => planned::not_yet("requeue"),
        Command::Unlock(_) => planned::not_yet("unlock"),
        Command::Hook(_) => planned::not_yet("hook"),
        Command::Clean => planned::not_yet("clean"),
        Command::Demo => planned::not_yet("demo"),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn verify_app() {
        super::Cli::command().debug_assert();
    }
}
