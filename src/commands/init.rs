//! `git agents init`: write a commented `agents.toml` to start from.

use std::path::PathBuf;

use clap::Args;

use crate::error::{Context, Error, Result};
use crate::ui::Ui;

/// Write a commented agents.toml template
///
/// The template is a valid plan with two example tasks; edit it, then run
/// `git agents plan` to check it.
///
/// Examples:
///
///   git agents init && $EDITOR agents.toml && git agents plan
///   git agents init --force     # overwrite an existing agents.toml
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct InitArgs {
    /// Where to write the plan (default: agents.toml at the repository root)
    pub file: Option<PathBuf>,
    /// Overwrite an existing file
    #[arg(long)]
    pub force: bool,
}

pub const TEMPLATE: &str = include_str!("../../fixtures/plans/template.toml");

pub fn run(args: &InitArgs, ui: &Ui) -> Result<()> {
    let repo = crate::repo::open()?;
    let root = crate::repo::workdir(&repo)?;
    let path = args.file.clone().unwrap_or_else(|| root.join("agents.toml"));
    if path.exists() && !args.force {
        return Err(Error::usage(format!("{} already exists", path.display()))
            .hint("edit it, or rerun with `--force` to replace it with the template"));
    }
    // The template says `base` defaults to the branch you are on: write that one.
    let text = match crate::repo::current_branch(&repo) {
        Some(branch) if branch != "main" => TEMPLATE.replacen("base = \"main\"", &format!("base = {branch:?}"), 1),
        _ => TEMPLATE.to_string(),
    };
    std::fs::write(&path, text).context(|| format!("cannot write {}", path.display()))?;
    ui.status(&format!("wrote {}", path.display()));
    ui.status("next: edit the tasks, then run `git agents plan` to check the plan");
    Ok(())
}
