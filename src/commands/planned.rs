//! Subcommands of the design that this release does not build yet. They are
//! part of the CLI so `--help` shows the whole surface, and each one fails
//! loudly (exit 1) instead of pretending to work.

use clap::Args;

use crate::error::{Error, Result};

/// The error every unbuilt subcommand returns.
pub fn not_yet(name: &str) -> Result<()> {
    Err(Error::failure(format!("`git agents {name}` is not implemented yet"))
        .hint("every other subcommand is built; the pre-push guard is on its way"))
}

#[derive(Debug, Args)]
pub struct HookArgs {
    /// `install`, or `pre-push` (what the installed hook runs)
    pub action: String,
    /// Arguments git passes to the hook
    pub args: Vec<String>,
}
