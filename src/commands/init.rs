//! `git agents init`: write a commented `agents.toml` to start from.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use crate::error::{Context, Error, Result};
use crate::session::Session;

/// Write a commented agents.toml template
///
/// The template is a valid plan with two example tasks; edit it, then run
/// `git agents plan` to check it.
///
/// Examples:
///
///   git agents init && $EDITOR agents.toml && git agents plan
///   git agents init --force     # overwrite an existing agents.toml
///   git agents init --json      # say what was written where, for scripts
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct InitArgs {
    /// Where to write the plan (default: agents.toml at the repository root)
    pub file: Option<PathBuf>,
    /// Overwrite an existing file
    #[arg(long)]
    pub force: bool,
    /// Print what was written as JSON (path, base, tasks, replaced, next)
    #[arg(long)]
    pub json: bool,
}

/// The JSON document `--json` prints.
#[derive(Serialize)]
struct Written {
    /// The file written, absolute when the default place was used.
    path: String,
    /// The base branch the template names.
    base: String,
    /// Example tasks in the template.
    tasks: usize,
    /// Whether an existing file was overwritten (`--force`).
    replaced: bool,
    /// The command to run next.
    next: &'static str,
}

pub const TEMPLATE: &str = include_str!("../../fixtures/plans/template.toml");

pub fn run(args: &InitArgs, session: &Session) -> Result<()> {
    let ui = session.ui;
    let repo = session.repo()?;
    let root = crate::repo::workdir(repo)?;
    let path = args.file.clone().unwrap_or_else(|| root.join("agents.toml"));
    if path.exists() && !args.force {
        return Err(Error::usage(format!("{} already exists", path.display()))
            .hint("edit it, or rerun with `--force` to replace it with the template"));
    }
    let replaced = path.exists();
    // The template says `base` defaults to the branch you are on: write that one.
    let base = crate::repo::current_branch(repo).unwrap_or_else(|| "main".into());
    let text = if base == "main" {
        TEMPLATE.to_string()
    } else {
        TEMPLATE.replacen("base = \"main\"", &format!("base = {base:?}"), 1)
    };
    std::fs::write(&path, &text).context(|| format!("cannot write {}", path.display()))?;
    if args.json {
        ui.json(&Written {
            path: path.display().to_string(),
            base,
            tasks: text.matches("\n[[task]]\n").count(),
            replaced,
            next: "git agents plan",
        });
        return Ok(());
    }
    ui.status(&format!("wrote {}", path.display()));
    ui.status("next: edit the tasks, then run `git agents plan` to check the plan");
    Ok(())
}
