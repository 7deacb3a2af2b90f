//! `git agents plan`: validate `agents.toml`, show its waves and ownership,
//! and record it under `refs/agents/plan` once the user confirms.

use std::path::{Path, PathBuf};

use clap::Args;
use serde::Serialize;

use crate::error::{Context, Error, Result};
use crate::plan::report::{self, Summary};
use crate::plan::validate::{validate, Workspace};
use crate::plan::Problem;
use crate::state::{self, Recorded};
use crate::ui::Ui;

/// Check a plan file and record it for agents to work on
///
/// Validates task ids, dependencies (no cycles) and ownership: tasks that
/// may run at the same time must not own a common file, checked against the
/// files tracked at the base branch and glob against glob for new files.
/// Prints the tasks as dependency waves.
///
/// The plan is recorded under refs/agents/plan only after confirmation:
/// answer the prompt on a terminal, or pass --yes. Re-recording a changed
/// plan adds new tasks and refuses to change or drop claimed or done tasks
/// unless --force.
///
/// Examples:
///
///   git agents plan                 # check agents.toml, ask to record it
///   git agents plan --yes           # check and record without asking
///   git agents plan --dot | dot -Tsvg > plan.svg
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct PlanArgs {
    /// The plan file (default: agents.toml at the repository root)
    pub file: Option<PathBuf>,
    /// Record the plan without asking
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Print the result as JSON
    #[arg(long, conflicts_with = "dot")]
    pub json: bool,
    /// Print the dependency graph in Graphviz DOT
    #[arg(long)]
    pub dot: bool,
    /// Record even if it changes or drops tasks that are claimed or done
    #[arg(long)]
    pub force: bool,
}

/// The JSON document `--json` prints.
#[derive(Serialize)]
struct JsonReport<'a> {
    file: &'a str,
    valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    problems: Option<&'a [Problem]>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    summary: Option<&'a Summary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    recorded: Option<&'a Recorded>,
}

pub fn run(args: &PlanArgs, ui: &Ui) -> Result<()> {
    let repo = crate::repo::open()?;
    let root = crate::repo::workdir(&repo)?;
    let (path, shown) = match &args.file {
        Some(f) => (f.clone(), f.display().to_string()),
        None => (root.join("agents.toml"), "agents.toml".to_string()),
    };
    let source = read_plan_file(&path, &shown)?;
    let ws = RepoWorkspace {
        repo: &repo,
        root: &root,
        plan_dir: path.parent().map(Path::to_path_buf).unwrap_or_else(|| root.clone()),
    };
    let checked = match validate(&source, &ws)? {
        Ok(checked) => checked,
        Err(problems) => {
            if args.json {
                ui.json(&JsonReport {
                    file: &shown,
                    valid: false,
                    problems: Some(&problems),
                    summary: None,
                    recorded: None,
                });
            }
            return Err(invalid(&shown, &problems));
        }
    };
    let summary = report::summarize(&checked);

    if args.json {
        let recorded = if args.yes {
            Some(state::record_plan(&repo, &checked.plan, args.force)?)
        } else {
            None
        };
        ui.json(&JsonReport {
            file: &shown,
            valid: true,
            problems: None,
            summary: Some(&summary),
            recorded: recorded.as_ref(),
        });
        return Ok(());
    }

    for warning in &summary.warnings {
        ui.warn(warning);
    }
    ui.result(&if args.dot {
        report::dot(&summary)
    } else {
        report::human(&summary)
    });
    let confirmed = args.yes || (!args.dot && ui.confirm("Record this plan?"));
    if !confirmed {
        if args.dot {
            return Ok(());
        }
        ui.status("not recorded; run `git agents plan --yes` to record this plan");
        return Ok(());
    }
    let recorded = state::record_plan(&repo, &checked.plan, args.force)?;
    ui.status(&recorded_line(&recorded));
    Ok(())
}

fn read_plan_file(path: &Path, shown: &str) -> Result<String> {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map_err(|_| Error::usage(format!("{shown} is not UTF-8 text")).hint("save the plan file as UTF-8")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::usage(format!("no plan file at {shown}"))
            .hint("create one with `git agents init`, or name the file: `git agents plan path/to/plan.toml`")),
        Err(e) => Err(e).context(|| format!("cannot read {shown}")),
    }
}

fn invalid(shown: &str, problems: &[Problem]) -> Error {
    let count = problems.len();
    let mut err = Error::usage(format!(
        "{shown} is not a valid plan ({count} problem{})",
        if count == 1 { "" } else { "s" }
    ));
    for p in problems {
        err = err.detail(p.render(shown));
        if let Some(hint) = &p.hint {
            err = err.detail(format!("  = {hint}"));
        }
    }
    err.hint("fix the problems above and run `git agents plan` again; nothing was recorded")
}

fn recorded_line(recorded: &Recorded) -> String {
    let Some(commit) = &recorded.commit else {
        return "plan already recorded; nothing changed".into();
    };
    let c = &recorded.change;
    format!(
        "recorded plan {} in refs/agents/plan: {} added, {} changed, {} dropped",
        &commit[..7.min(commit.len())],
        c.added.len(),
        c.changed.len(),
        c.dropped.len()
    )
}

struct RepoWorkspace<'a> {
    repo: &'a gix::Repository,
    root: &'a Path,
    plan_dir: PathBuf,
}

impl Workspace for RepoWorkspace<'_> {
    fn current_branch(&self) -> Option<String> {
        crate::repo::current_branch(self.repo)
    }

    fn tracked_files(&self, name: &str) -> Result<Option<Vec<String>>> {
        crate::repo::tracked_files(self.repo, name)
    }

    fn read_prompt(&self, path: &str) -> std::result::Result<String, String> {
        let full = self.plan_dir.join(path);
        // Prompt files must stay inside the repository, even through symlinks.
        let real = full.canonicalize().map_err(|e| e.to_string())?;
        let root = self.root.canonicalize().map_err(|e| e.to_string())?;
        if !real.starts_with(&root) {
            return Err("it resolves to a path outside the repository".into());
        }
        std::fs::read_to_string(&real).map_err(|e| e.to_string())
    }
}
