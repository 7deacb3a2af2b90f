//! The command line: one `enum Command`, one dispatch `match`, one file per
//! subcommand.

pub mod attach;
pub mod claim;
pub mod clean;
pub mod demo;
pub mod docs;
pub mod doctor;
pub mod hook;
pub mod init;
pub mod log;
pub mod logs;
pub mod merge;
pub mod plan;
pub mod presets;
pub mod requeue;
pub mod spawn;
pub mod status;
pub mod unlock;
pub mod verdict;

use clap::{Parser, Subcommand};

use crate::error::Result;
use crate::protocol::Verdict;
use crate::session::Session;

/// Run several coding agents on one repository in parallel
///
/// Write a plan (agents.toml), record it with `git agents plan`, start
/// agents with `git agents spawn`, watch with `git agents status` and bring
/// the work back with `git agents merge`. All state lives in git refs under
/// refs/agents/.
#[derive(Debug, Parser)]
#[command(name = "git-agents", bin_name = "git agents", version)]
#[command(mut_subcommands(quiet_globals))]
pub struct Cli {
    /// Print only results and errors, no status lines
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Share the state through this remote (default: `git config agents.remote`)
    ///
    /// Every change is pushed there with a lease, so agents on several
    /// machines share one queue; reads fetch refs/agents/* first.
    #[arg(long, global = true, value_name = "NAME")]
    pub remote: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Init(init::InitArgs),
    Plan(plan::PlanArgs),
    Spawn(spawn::SpawnArgs),
    Presets(presets::PresetsArgs),
    Claim(claim::ClaimArgs),
    Done(verdict::DoneArgs),
    Fail(verdict::FailArgs),
    Release(verdict::ReleaseArgs),
    Heartbeat(verdict::HeartbeatArgs),
    Progress(verdict::ProgressArgs),
    Status(status::StatusArgs),
    Log(log::LogArgs),
    Logs(logs::LogsArgs),
    Attach(attach::AttachArgs),
    Merge(merge::MergeArgs),
    Requeue(requeue::RequeueArgs),
    Unlock(unlock::UnlockArgs),
    Hook(hook::HookArgs),
    Clean(clean::CleanArgs),
    Doctor(doctor::DoctorArgs),
    Demo(demo::DemoArgs),
    InstallMan(docs::InstallManArgs),
    Completions(docs::CompletionsArgs),
    /// A scripted stand-in for a coding agent (used by the demo and tests)
    #[command(hide = true)]
    ScriptedAgent,
    /// Runs a command so that nothing it starts outlives it or the runner (used by spawn)
    #[command(name = crate::process::KEEPER, hide = true)]
    Keeper(crate::keeper::KeeperArgs),
}

/// What every subcommand's help says instead of repeating the global options.
const GLOBAL_OPTIONS: &str = "Global options: -q/--quiet, --remote NAME (see `git agents --help`)";

/// Gives `sub` hidden copies of the global options, so its help does not
/// repeat them (only the top-level help shows them in full) while they
/// still parse after it and reach `Cli`: clap propagates a global option
/// only to subcommands that lack one of that id, and hands the value of a
/// global id up to the top-level matches. Each copy must parse like the
/// original (same long, short, action).
fn quiet_globals(sub: clap::Command) -> clap::Command {
    use clap::{Arg, ArgAction};
    // An argument of that id already there (`hook pre-push REMOTE`) keeps
    // the global out, as clap's own propagation would.
    let has = |sub: &clap::Command, id: &str| sub.get_arguments().any(|a| a.get_id() == id);
    let mut sub = sub;
    if !has(&sub, "quiet") {
        sub = sub.arg(
            Arg::new("quiet")
                .long("quiet")
                .short('q')
                .action(ArgAction::SetTrue)
                .global(true)
                .hide(true),
        );
    }
    let remote_taken = has(&sub, "remote");
    if !remote_taken {
        sub = sub.arg(
            Arg::new("remote")
                .long("remote")
                .value_name("NAME")
                .action(ArgAction::Set)
                .global(true)
                .hide(true),
        );
    }
    let footer = if remote_taken {
        "Global options: -q/--quiet (see `git agents --help`)"
    } else {
        GLOBAL_OPTIONS
    };
    sub.after_help(footer).mut_subcommands(quiet_globals)
}

/// Runs the parsed command line in `session`.
pub fn dispatch(cli: &Cli, session: &Session) -> Result<()> {
    let s = session;
    match &cli.command {
        Command::Init(args) => init::run(args, s),
        Command::Plan(args) => plan::run(args, s),
        Command::Spawn(args) => spawn::run(args, s),
        Command::Presets(args) => presets::run(args, s.ui),
        Command::Claim(args) => claim::run(args, s),
        Command::Done(args) => verdict::done(args, s),
        Command::Fail(args) => verdict::run(&args.held, args.verdict(), s),
        Command::Progress(args) => verdict::progress(args, s),
        Command::Release(args) => verdict::run(&args.held, Verdict::Release, s),
        Command::Heartbeat(args) => verdict::run(&args.held, Verdict::Heartbeat, s),
        Command::Status(args) => status::run(args, s),
        Command::Log(args) => log::run(args, s),
        Command::Logs(args) => logs::run(args, s),
        Command::Attach(args) => attach::run(args, s),
        Command::Merge(args) => merge::run(args, s),
        Command::Requeue(args) => requeue::run(args, s),
        Command::Unlock(args) => unlock::run(args, s),
        Command::Hook(args) => hook::run(args, s),
        Command::Clean(args) => clean::run(args, s),
        Command::Doctor(args) => doctor::run(args, s),
        Command::Demo(args) => demo::run(args, s),
        Command::InstallMan(args) => docs::install_man(args, s.ui),
        Command::Completions(args) => docs::completions(args, s.ui),
        Command::ScriptedAgent => crate::scripted_agent::run(),
        Command::Keeper(args) => crate::keeper::run(args),
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
