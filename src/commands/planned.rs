//! Subcommands of the design that this release does not build yet. They are
//! part of the CLI so `--help` shows the whole surface, and each one fails
//! loudly (exit 1) instead of pretending to work.

use clap::Args;

use crate::error::{Error, Result};

/// The error every unbuilt subcommand returns.
pub fn not_yet(name: &str) -> Result<()> {
    Err(Error::failure(format!("`git agents {name}` is not implemented yet"))
        .hint("this build implements init, plan, spawn, demo, clean and the lock protocol (claim, done, fail, release, heartbeat, requeue, unlock, status, log); merge and hook are on their way"))
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Run this command after each merge; stop when it fails
    #[arg(long)]
    pub test: Option<String>,
    /// Squash each task into one commit
    #[arg(long)]
    pub squash: bool,
    /// The branch to merge into (default: the plan's base)
    #[arg(long)]
    pub into: Option<String>,
    /// Resume a merge stopped on a conflict after resolving it
    #[arg(long = "continue", conflicts_with = "abort")]
    pub continue_: bool,
    /// Give up a stopped merge and leave the target as it is
    #[arg(long)]
    pub abort: bool,
    /// Show the merge order without merging
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct HookArgs {
    /// `install`, or `pre-push` (what the installed hook runs)
    pub action: String,
    /// Arguments git passes to the hook
    pub args: Vec<String>,
}
