//! `git agents clean`: remove agent worktrees and merged task branches
//! without ever losing work.

use clap::Args;

use crate::error::{Error, Result};
use crate::process::git_in;
use crate::session::Session;
use crate::state::Store;
use crate::ui::Ui;

/// Remove agent worktrees and merged task branches, keep the history
///
/// Removes the agents' linked worktrees and the task branches
/// (agents/<task>) already merged into the base. Work is never lost: a
/// worktree with uncommitted changes and a branch not merged into the base
/// are kept and listed. With --force they go too, but first their work is
/// saved under refs/agents/backup/ and the command prints how to restore
/// it. The task history under refs/agents/ stays; --all removes it as well
/// (after confirmation, or with --yes).
///
/// Examples:
///
///   git agents clean
///   git agents clean --force
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct CleanArgs {
    /// Also remove dirty worktrees and unmerged branches (their work is backed up first)
    #[arg(long)]
    pub force: bool,
    /// Also remove the state under refs/agents (plan, tasks, agents)
    #[arg(long)]
    pub all: bool,
    /// Do not ask before removing the state with --all
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Print what was removed, backed up and kept as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

/// What `clean --json` prints. Every entry is a worktree (`path`) or a
/// branch (`branch`); `backup` is the ref its work was saved under.
#[derive(Debug, Default, serde::Serialize)]
struct Cleaned {
    removed: Vec<Item>,
    kept: Vec<Item>,
    /// Refs removed under refs/agents with --all.
    #[serde(skip_serializing_if = "Option::is_none")]
    state_refs_removed: Option<usize>,
}

#[derive(Debug, serde::Serialize)]
struct Item {
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    branch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    backup: Option<String>,
    /// Why it was kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    why: Option<String>,
}

impl Item {
    fn worktree(path: &std::path::Path) -> Self {
        Item {
            kind: "worktree",
            path: Some(path.display().to_string()),
            branch: None,
            backup: None,
            why: None,
        }
    }

    fn branch(name: &str) -> Self {
        Item {
            kind: "branch",
            path: None,
            branch: Some(name.to_string()),
            backup: None,
            why: None,
        }
    }
}

pub fn run(args: &CleanArgs, session: &Session) -> Result<()> {
    let ui = session.ui;
    let repo = session.repo()?;
    let workdir = crate::repo::workdir(repo)?;
    let root = crate::worktree::root(repo.settings(), &workdir);
    let base = crate::state::read_plan(repo)?.map(|p| p.plan.base);
    let mut clean = Clean {
        args,
        ui,
        repo,
        workdir,
        kept: Vec::new(),
        done: Cleaned::default(),
    };
    for path in agent_worktrees(&clean.workdir, &root)? {
        clean.remove_worktree(&path)?;
    }
    let _ = std::fs::remove_dir(&root);
    clean.remove_branches(base.as_deref())?;
    if args.all {
        clean.remove_state()?;
    }
    clean.report()
}

/// One `clean`: what it was asked, and what it removed and kept so far.
struct Clean<'a> {
    args: &'a CleanArgs,
    ui: &'a Ui,
    repo: &'a Store,
    workdir: std::path::PathBuf,
    /// Why each kept item was kept, for the error.
    kept: Vec<String>,
    done: Cleaned,
}

impl Clean<'_> {
    fn say(&self, text: &str) {
        // With --json, stdout holds the JSON alone: the lines go to stderr.
        if self.args.json {
            self.ui.status(text)
        } else {
            self.ui.result(text)
        }
    }

    /// Removes the agent worktree at `path`, kept when it is dirty unless
    /// --force, which saves its uncommitted work first.
    fn remove_worktree(&mut self, path: &std::path::Path) -> Result<()> {
        let (repo, ui) = (self.repo, self.ui);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dirty = !git_in(path, &["status", "--porcelain"])?.trim().is_empty();
        if dirty && !self.args.force {
            self.kept
                .push(format!("worktree {} has uncommitted changes", path.display()));
            self.done.kept.push(Item {
                why: Some("uncommitted changes".into()),
                ..Item::worktree(path)
            });
            return Ok(());
        }
        let mut item = Item::worktree(path);
        if dirty {
            let identity = crate::worktree::identity_overrides(repo);
            let saved = crate::worktree::snapshot_commit(
                path,
                "uncommitted work saved by git agents clean --force",
                &identity,
            )?;
            let backup = crate::state::backup(repo, &format!("worktree-{name}"), &saved)?;
            ui.status(&format!(
                "saved the uncommitted work of {} as {backup}; see it with `git show {backup}`, restore it with `git checkout {backup} -- .`",
                path.display()
            ));
            item.backup = Some(backup);
        }
        git_in(
            &self.workdir,
            &["worktree", "remove", "--force", &path.display().to_string()],
        )?;
        self.say(&format!("removed worktree {}", path.display()));
        self.done.removed.push(item);
        Ok(())
    }

    /// Deletes the task branches merged into `base`; the others are kept
    /// unless --force, which saves each under refs/agents/backup/ first.
    fn remove_branches(&mut self, base: Option<&str>) -> Result<()> {
        let (repo, ui) = (self.repo, self.ui);
        let base_tip = match base {
            Some(base) => crate::repo::branch_tip(repo, base)?,
            None => None,
        };
        for (id, tip) in crate::repo::task_branches(repo)? {
            let branch = crate::layout::task_branch(&id);
            let tip_hex = tip.to_string();
            let merged = base_tip.is_some_and(|b| crate::repo::is_ancestor(repo, tip, b));
            let base_name = base.unwrap_or("the base");
            if !merged && !self.args.force {
                self.kept
                    .push(format!("branch {branch} is not merged into {base_name}"));
                self.done.kept.push(Item {
                    why: Some(format!("not merged into {base_name}")),
                    ..Item::branch(&branch)
                });
                continue;
            }
            let mut item = Item::branch(&branch);
            if !merged {
                let backup = crate::state::backup(repo, &branch.replace('/', "-"), &tip_hex)?;
                ui.status(&format!(
                    "saved {branch} as {backup}; restore it with `git branch {branch} {backup}`"
                ));
                item.backup = Some(backup);
            }
            git_in(&self.workdir, &["branch", "-D", "-q", &branch])?;
            self.say(&format!("deleted branch {branch}"));
            self.done.removed.push(item);
        }
        Ok(())
    }

    /// --all: removes the state under refs/agents, once confirmed.
    fn remove_state(&mut self) -> Result<()> {
        let (args, ui) = (self.args, self.ui);
        if !(args.yes || ui.confirm("Remove the plan and every task's history under refs/agents?")) {
            if args.json {
                ui.json(&self.done);
            }
            return Err(Error::usage("not removing refs/agents without confirmation").hint("rerun with `--all --yes`"));
        }
        let removed = crate::state::remove_all(self.repo)?;
        self.say(&format!(
            "removed {removed} refs under refs/agents (backups under refs/agents/backup stay)"
        ));
        self.done.state_refs_removed = Some(removed);
        Ok(())
    }

    /// Prints what went and what stayed; an error when work was kept.
    fn report(self) -> Result<()> {
        // Printed before a "kept" error too: a script sees what went and what stayed.
        if self.args.json {
            self.ui.json(&self.done);
        }
        if !self.kept.is_empty() {
            let mut err = Error::failure(format!("kept {} item(s) that hold work", self.kept.len()));
            for k in self.kept {
                err = err.detail(k);
            }
            return Err(err.hint(
                "commit or merge that work, or rerun with `--force` (it is backed up under refs/agents/backup first)",
            ));
        }
        Ok(())
    }
}

/// Linked worktrees under the agents' folder.
fn agent_worktrees(workdir: &std::path::Path, root: &std::path::Path) -> Result<Vec<std::path::PathBuf>> {
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    Ok(crate::worktree::list(workdir)?
        .into_iter()
        .map(|(path, _)| path)
        .filter(|path| path.starts_with(&root))
        .collect())
}
