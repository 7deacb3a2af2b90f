//! `git agents plan`: validate `agents.toml`, show its waves and ownership,
//! and record it under `refs/agents/plan` once the user confirms; `--from`
//! imports markdown task files and `--draft` has an agent write the plan
//! (`crate::draft`), both written for review, never recorded.

use std::path::{Path, PathBuf};

use clap::Args;
use serde::Serialize;

use crate::error::{Context, Error, Exit, Result};
use crate::plan::report::{self, Summary};
use crate::plan::validate::validate;
use crate::plan::Problem;
use crate::plan_workspace::RepoWorkspace;
use crate::session::Session;
use crate::state::Store;
use crate::state::{self, Recorded};
use crate::ui::Ui;

/// Check a plan file and record it for agents to work on
///
/// Validates task ids, dependencies (no cycles) and ownership: tasks that
/// may run at the same time must not own a common file, checked against the
/// files tracked at the base branch and glob against glob for new files.
/// A glob owns what it matches and everything under the folders it
/// matches (`src/auth`), unless it picks files by extension (`src/*.rs`).
/// Prints the tasks as dependency waves; a task whose globs match no
/// tracked file yet shows "new files".
///
/// The plan is recorded under refs/agents/plan only after confirmation:
/// answer the prompt on a terminal, or pass --yes. Re-recording a changed
/// plan adds new tasks and refuses to change or drop claimed or done tasks
/// unless --force. With --quiet it prints nothing but errors.
///
/// Exit status: 0 when the plan was recorded (or drawn with --dot), 2 when
/// it is invalid, 6 when it is valid but was not recorded (no --yes and no
/// terminal to ask on, or the answer was no). --json says the same in
/// `recorded` (true or false).
///
/// --draft GOAL has an agent write the plan: it runs once (per round) in a
/// scratch worktree at the base with a planning brief (the goal, the
/// tracked files, the schema, the rules), and writes its draft to
/// {draft_file} ($GIT_AGENTS_DRAFT_FILE). The agent is --agent PRESET, or
/// the command after `--` (spawn's placeholders and {draft_file}), or
/// `git config agents.command`. The draft is checked as above;
/// its problems go back to the agent, up to --rounds. A valid draft is
/// shown as waves and written to --write FILE (default agents.toml; an
/// existing file only with --force), never recorded: check and record it
/// with `git agents plan`. A draft that never validates exits 2 and writes
/// nothing. A first line `# sequential: WHY`, one task, or one task per
/// wave means the work cannot be split: the output suggests one agent.
///
/// Examples:
///
///   git agents plan --draft "Add OAuth login with tests" --agent claude
///   git agents plan --draft "Split the parser" -- my-planner --out {draft_file}
///   git agents plan                 # check agents.toml, ask to record it
///   git agents plan --yes           # check and record without asking
///   git agents plan --dot | dot -Tsvg > plan.svg
///   git agents plan --from work/ --write agents.toml   # from markdown task files
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
    /// (with --draft: replace an existing --write FILE)
    #[arg(long)]
    pub force: bool,
    /// Generate a plan from a folder of markdown task files (task-N-*.md,
    /// or available/*.md) instead of checking one; nothing is recorded
    #[arg(long, value_name = "DIR", group = "generate", conflicts_with_all = ["yes", "json", "dot", "file"])]
    pub from: Option<PathBuf>,
    /// With --draft GOAL (an agent drafts the plan): its options
    #[command(flatten)]
    pub drafting: DraftArgs,
    /// Write the generated plan to FILE (--from: instead of printing it;
    /// --draft: default agents.toml)
    #[arg(long, value_name = "FILE", requires = "generate")]
    pub write: Option<PathBuf>,
}

/// `plan --draft`'s options, apart so that a caller building [`PlanArgs`]
/// (the demo) leaves them at their defaults.
#[derive(Debug, Args, Default)]
pub struct DraftArgs {
    /// Have an agent draft the plan for GOAL, checked round by round; written, never recorded
    #[arg(long, value_name = "GOAL", group = "generate", conflicts_with_all = ["yes", "dot", "file", "from"])]
    pub draft: Option<String>,
    /// With --draft: the planning agent's preset (claude, codex, aider, gemini)
    #[arg(long, value_name = "PRESET", requires = "draft")]
    pub agent: Option<String>,
    /// With --draft: how many drafts the agent may write before giving up [default: 3]
    #[arg(long, value_name = "N", requires = "draft")]
    pub rounds: Option<u32>,
    /// With --draft: the planning agent's command and arguments, after `--`
    #[arg(last = true, requires = "draft")]
    pub command: Vec<String>,
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
    /// Whether this run recorded the plan (the exit status says it too).
    recorded: bool,
    /// What recording changed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    record: Option<&'a Recorded>,
}

pub fn run(args: &PlanArgs, session: &Session) -> Result<()> {
    let ui = session.ui;
    let repo = session.repo()?;
    let root = crate::repo::workdir(repo)?;
    if let Some(dir) = &args.from {
        return import(dir, args.write.as_deref(), &root, ui);
    }
    let d = &args.drafting;
    if let Some(goal) = &d.draft {
        let request = crate::draft::Request {
            goal,
            agent: d.agent.as_deref(),
            command: &d.command,
            write: args.write.as_deref(),
            rounds: d.rounds.unwrap_or(crate::draft::DEFAULT_ROUNDS),
            force: args.force,
            json: args.json,
        };
        return crate::draft::run(&request, repo, ui);
    }
    let (path, shown) = match &args.file {
        Some(f) => (f.clone(), f.display().to_string()),
        None => (root.join("agents.toml"), "agents.toml".to_string()),
    };
    let source = read_plan_file(&path, &shown)?;
    let ws = RepoWorkspace {
        repo,
        root: &root,
        plan_dir: path.parent().map(Path::to_path_buf).unwrap_or_else(|| root.clone()),
    };
    let checked = match validate(&source, &ws)? {
        Ok(checked) => checked,
        Err(problems) => return Err(reject(args, ui, &shown, &problems)),
    };
    let summary = report::summarize(&checked);
    let valid = ValidPlan {
        args,
        ui,
        repo,
        shown: &shown,
        plan: &checked.plan,
        summary: &summary,
    };
    if args.json {
        return valid.answer_json();
    }
    valid.show_and_record()
}

/// An invalid plan: its JSON report with --json, and the error listing its problems.
fn reject(args: &PlanArgs, ui: &Ui, shown: &str, problems: &[Problem]) -> Error {
    if args.json {
        ui.json(&JsonReport {
            file: shown,
            valid: false,
            problems: Some(problems),
            summary: None,
            recorded: false,
            record: None,
        });
    }
    invalid(shown, problems)
}

/// A valid plan and what the steps that show and record it share.
struct ValidPlan<'a> {
    args: &'a PlanArgs,
    ui: &'a Ui,
    repo: &'a Store,
    shown: &'a str,
    plan: &'a crate::plan::Plan,
    summary: &'a Summary,
}

impl ValidPlan<'_> {
    /// --json: records only with --yes, never asks.
    fn answer_json(&self) -> Result<()> {
        let (args, ui) = (self.args, self.ui);
        let record = if args.yes {
            Some(state::record_plan(self.repo, self.plan, args.force)?)
        } else {
            None
        };
        ui.json(&JsonReport {
            file: self.shown,
            valid: true,
            problems: None,
            summary: Some(self.summary),
            recorded: record.is_some(),
            record: record.as_ref(),
        });
        match record {
            Some(_) => Ok(()),
            None => Err(not_recorded("pass --yes to record it")),
        }
    }

    /// Prints the warnings and the waves (or the --dot graph), then
    /// records the plan with --yes or once the user confirms.
    fn show_and_record(&self) -> Result<()> {
        let (args, ui, summary) = (self.args, self.ui, self.summary);
        // --quiet: nothing but errors; a graph asked for with --dot is the result.
        if !ui.is_quiet() {
            for warning in &summary.warnings {
                ui.warn(warning);
            }
        }
        if args.dot {
            ui.result(&report::dot(summary));
        } else if !ui.is_quiet() {
            ui.result(&report::human(summary));
        }
        let asked = !args.yes && !args.dot && ui.is_interactive();
        let confirmed = args.yes || (!args.dot && ui.confirm("Record this plan?"));
        if !confirmed {
            if args.dot {
                return Ok(());
            }
            return Err(not_recorded(if asked {
                "the answer was no; run `git agents plan --yes` to record it without asking"
            } else {
                "there is no terminal to ask on: run `git agents plan --yes` to record it"
            }));
        }
        let recorded = state::record_plan(self.repo, self.plan, args.force)?;
        ui.status(&recorded_line(&recorded));
        Ok(())
    }
}

/// A valid plan that was not recorded: its own exit status, so a script
/// that meant to record it can tell.
fn not_recorded(hint: &str) -> Error {
    Error::new(Exit::NotRecorded, "the plan is valid but was not recorded").hint(hint)
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

/// `plan --from DIR`: markdown task files to a plan for review, never recorded.
fn import(dir: &Path, write: Option<&Path>, root: &Path, ui: &Ui) -> Result<()> {
    let folder = dir
        .canonicalize()
        .map_err(|e| Error::usage(format!("cannot read folder {}", dir.display())).cause(e))?;
    let top = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    if !folder.starts_with(&top) {
        return Err(Error::usage(format!("{} is outside the repository", dir.display()))
            .hint("the generated plan points at the task files as prompt_file, so they must be in the repository"));
    }
    let list = |d: &Path, pick: &dyn Fn(&str) -> bool| -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(d)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.file_name().and_then(|n| n.to_str()).is_some_and(pick))
            .collect();
        // task-2 before task-10: compare the numbers, then the names.
        files.sort_by_key(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let number: u64 = name
                .trim_start_matches("task-")
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .unwrap_or(u64::MAX);
            (number, name)
        });
        files
    };
    let mut files = list(&folder, &|n| n.starts_with("task-") && n.ends_with(".md"));
    if files.is_empty() {
        files = list(&folder.join("available"), &|n| n.ends_with(".md"));
    }
    if files.is_empty() {
        return Err(Error::usage(format!("no task files in {}", dir.display()))
            .hint("expected task-N-name.md files, or .md files in an available/ subfolder"));
    }
    let sources = files
        .iter()
        .map(|p| {
            Ok(crate::plan::import::Source {
                file_name: p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                relative_path: p.strip_prefix(&top).unwrap_or(p).display().to_string(),
                text: std::fs::read_to_string(p).context(|| format!("cannot read {}", p.display()))?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let imported = crate::plan::import::import(&sources);
    for note in &imported.notes {
        ui.warn(note);
    }
    match write {
        None => ui.result(&imported.toml),
        Some(target) => {
            if target.exists() {
                return Err(Error::usage(format!("{} already exists", target.display()))
                    .hint("write to another file, or move it away first; nothing was written"));
            }
            std::fs::write(target, &imported.toml).context(|| format!("cannot write {}", target.display()))?;
            ui.result(&format!(
                "wrote {} tasks to {}; review it, then check and record it with `git agents plan {} --yes`",
                sources.len(),
                target.display(),
                target.display()
            ));
        }
    }
    Ok(())
}
