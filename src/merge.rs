//! Integration: done task branches merged one at a time, in dependency
//! order, into the target branch, each merge tested before the target moves
//! to it (by compare-and-swap). The first conflict or red test stops the run
//! with a report; the target stays at the last tested commit.

use std::path::Path;
use std::time::Instant;

use gix::ObjectId;
use serde::Serialize;

use crate::error::{Context as _, Error, Result};
use crate::plan::{graph, Plan, Task};
use crate::process::{self, Ended};
use crate::protocol::Context;
use crate::state::{self, TaskState};

#[derive(Clone)]
pub struct Options {
    pub test: Option<String>,
    pub squash: bool,
    pub into: Option<String>,
    pub dry_run: bool,
    /// Take over the merge lock of a merge whose process is gone.
    pub force: bool,
    /// Re-run a red test up to this many times before stopping.
    pub retries: u32,
    /// Skip the test on a tree that already passed the same command.
    pub cache: bool,
}

#[derive(Debug, Serialize)]
pub struct Landed {
    pub task: String,
    pub commit: String,
    pub test: Option<String>,
    pub seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct ConflictPath {
    pub path: String,
    pub kind: &'static str,
    /// Index stages as `stage:object`: 1 base, 2 ours (the target), 3 theirs (the task).
    pub stages: Vec<String>,
}

/// Why a run stopped before merging everything.
#[derive(Debug, Serialize)]
#[serde(tag = "stop", rename_all = "snake_case")]
pub enum Stop {
    Conflict {
        task: String,
        agent: Option<String>,
        branch: String,
        base: Option<String>,
        target: String,
        task_head: String,
        paths: Vec<ConflictPath>,
        conflicted_tree: String,
        reproduce: String,
    },
    TestFailed {
        task: String,
        command: String,
        exit: String,
        tree: String,
        tail: String,
        log: String,
    },
    TargetMoved {
        target: String,
    },
    TargetDirty {
        target: String,
        worktree: String,
    },
}

#[derive(Debug, Serialize)]
pub struct Outcome {
    pub target: String,
    pub dry_run: bool,
    pub landed: Vec<Landed>,
    pub waiting: Vec<String>,
    pub stop: Option<Stop>,
}

/// Done tasks in merge order: dependencies first, then plan order.
fn merge_order(plan: &Plan, done: &[String]) -> Vec<Task> {
    let index = |id: &str| plan.tasks.iter().position(|t| t.id == id);
    let deps: Vec<Vec<usize>> = plan
        .tasks
        .iter()
        .map(|t| t.depends_on.iter().filter_map(|d| index(d)).collect())
        .collect();
    let (waves, _) = graph::waves(&deps);
    let mut order: Vec<(usize, usize)> = plan
        .tasks
        .iter()
        .enumerate()
        .filter(|(_, t)| done.contains(&t.id))
        .map(|(i, _)| (waves.get(i).copied().unwrap_or(0), i))
        .collect();
    order.sort();
    order.into_iter().map(|(_, i)| plan.tasks[i].clone()).collect()
}

/// What every step of one run shares.
struct Run<'a> {
    target: String,
    /// The worktree that has the target checked out, if any (asked once per run).
    checkout: Option<std::path::PathBuf>,
    integration: std::path::PathBuf,
    test: Option<String>,
    opts: &'a Options,
}

impl<'a> Run<'a> {
    fn new(ctx: &Context<'_>, workdir: &Path, opts: &'a Options, target: String) -> Result<Self> {
        Ok(Run {
            checkout: checked_out_in(workdir, &format!("refs/heads/{target}"))?,
            integration: crate::worktree::root(ctx.repo, workdir).join("integration"),
            test: opts.test.clone().or_else(|| ctx.plan.plan.test.clone()),
            target,
            opts,
        })
    }
}

pub fn run(ctx: &Context<'_>, workdir: &Path, opts: &Options, mut progress: impl FnMut(&str)) -> Result<Outcome> {
    let repo = ctx.repo;
    let plan = &ctx.plan.plan;
    let target = opts.into.clone().unwrap_or_else(|| plan.base.clone());
    let mut current = crate::repo::branch_tip(repo, &target)?.ok_or_else(|| {
        Error::usage(format!("target branch `{target}` does not exist")).hint("pass an existing branch with `--into`")
    })?;
    let snap = state::snapshot(repo)?;
    let done: Vec<String> = snap
        .tasks
        .iter()
        .filter(|(_, t)| t.state == TaskState::Done)
        .map(|(id, _)| id.clone())
        .collect();
    let order = merge_order(plan, &done);
    let mut outcome = Outcome {
        target: target.clone(),
        dry_run: opts.dry_run,
        landed: Vec::new(),
        waiting: order.iter().map(|t| t.id.clone()).collect(),
        stop: None,
    };
    let lock = if opts.dry_run {
        None
    } else {
        Some(state::MergeLock::take(repo, &target, opts.force)?)
    };
    if lock.is_some() {
        // Done on other machines: their branches and notes come from the
        // shared remote, taken only by the run that holds the merge lock
        // (a dry run previews the branches this clone has).
        for saved in state::remote::adopt_task_branches(repo, &done.iter().map(String::as_str).collect::<Vec<_>>())? {
            progress(&saved);
        }
        state::remote::fetch_notes(repo)?;
    }
    let run = Run::new(ctx, workdir, opts, target.clone())?;
    for task in &order {
        let started = Instant::now();
        let branch = format!("agents/{}", task.id);
        let tip = crate::repo::branch_tip(repo, &branch)?
            .ok_or_else(|| Error::failure(format!("task `{}` is done but its branch {branch} is gone", task.id)))?;
        if !opts.dry_run && crate::repo::is_ancestor(repo, tip, current) {
            // Already on the target (landed by a run that was killed before
            // recording it, or merged by hand): record it, make no commit.
            crate::protocol::mark_merged(ctx, &task.id, current)?;
            outcome.waiting.retain(|w| w != &task.id);
            continue;
        }
        progress(&format!("{}: merging {branch} into {target}", task.id));
        let candidate = match merge_one(repo, plan, task, current, tip, opts.squash)? {
            Ok(commit) => commit,
            Err(conflicted) => {
                let record = state::TaskRecord::read(repo, snap.tasks[&task.id].oid)?;
                let base = repo.merge_base(current, tip).ok().flatten().map(|b| b.to_string());
                if let Some(lock) = lock {
                    // Leave the conflicted merge in the integration worktree for a person to resolve.
                    prepare_resolution(repo, &run.integration, current, &branch)?;
                    lock.stop(&task.id, current)?;
                }
                outcome.stop = Some(Stop::Conflict {
                    task: task.id.clone(),
                    agent: record.agent,
                    branch,
                    base,
                    target: current.to_string(),
                    task_head: tip.to_string(),
                    paths: conflicted.paths,
                    conflicted_tree: conflicted.tree,
                    reproduce: format!("git merge-tree --write-tree {current} {tip}"),
                });
                return Ok(outcome);
            }
        };
        if opts.dry_run {
            current = candidate;
        } else {
            match land_one(ctx, &run, task, current, candidate, started, &mut progress)? {
                Ok(()) => current = candidate,
                Err(stop) => {
                    if let (Some(lock), Stop::TestFailed { .. }) = (lock, &stop) {
                        lock.stop(&task.id, current)?;
                    }
                    outcome.stop = Some(stop);
                    return Ok(outcome);
                }
            }
        }
        outcome.waiting.retain(|w| w != &task.id);
        outcome.landed.push(Landed {
            task: task.id.clone(),
            commit: candidate.to_string(),
            test: run.test.clone(),
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    Ok(outcome)
}

/// Test (unless cached), note, land, mark merged: one task's `candidate`
/// from `current`. A stop leaves the target untouched.
fn land_one(
    ctx: &Context<'_>,
    run: &Run<'_>,
    task: &Task,
    current: ObjectId,
    candidate: ObjectId,
    started: Instant,
    progress: &mut impl FnMut(&str),
) -> Result<std::result::Result<(), Stop>> {
    let repo = ctx.repo;
    let mut result = "not tested".to_string();
    if let Some(cmd) = &run.test {
        let tree = repo
            .find_commit(candidate)
            .and_then(|c| c.tree_id())
            .context(|| format!("cannot read commit {candidate}"))?
            .detach();
        if run.opts.cache && state::tested_green(repo, tree, cmd) {
            progress(&format!("{}: `{cmd}` already passed on this tree", task.id));
            result = "passed (cached for this tree)".into();
        } else {
            progress(&format!("{}: testing `{cmd}`", task.id));
            match run_test(repo, &run.integration, &task.id, cmd, candidate, run.opts.retries)? {
                Err(stop) => return Ok(Err(stop)),
                Ok(0) => result = "passed".into(),
                Ok(runs) => result = format!("passed after {runs} failed run(s)"),
            }
            state::record_green(repo, tree, cmd)?;
        }
    }
    // The note goes on first: a run killed after landing must not leave a
    // landed commit without its test record.
    let agent = state::snapshot(repo)?
        .tasks
        .get(&task.id)
        .and_then(|t| state::TaskRecord::read(repo, t.oid).ok())
        .and_then(|r| r.agent);
    let note = format!(
        "task: {}\nagent: {}\ntest: {}\nresult: {result}\nduration: {:.1}s\n",
        task.id,
        agent.unwrap_or_default(),
        run.test.as_deref().unwrap_or("(none)"),
        started.elapsed().as_secs_f64(),
    );
    state::add_note(repo, candidate, &note)?;
    if let Some(stop) = land(repo, run.checkout.as_deref(), &run.target, current, candidate)? {
        return Ok(Err(stop));
    }
    crate::protocol::mark_merged(ctx, &task.id, candidate)?;
    Ok(Ok(()))
}

/// The integration worktree at `current` with `branch` merged in and its
/// conflicts left for a person (`git merge --no-commit`).
fn prepare_resolution(repo: &gix::Repository, dir: &Path, current: ObjectId, branch: &str) -> Result<()> {
    integration_worktree(repo, dir, current)?;
    let _ = process::git_in(dir, &["merge", "--abort"]);
    crate::worktree::reset(dir, current)?;
    // Exits non-zero because of the conflicts it leaves; that is the point.
    let _ = process::git_in(dir, &["merge", "--no-ff", "--no-commit", "-q", branch]);
    Ok(())
}

/// The integration worktree, made (again) when missing or left half-made by
/// a killed run; its contents are throw-away, it only ever holds merges.
fn integration_worktree(repo: &gix::Repository, dir: &Path, at: ObjectId) -> Result<()> {
    if dir.exists() && process::git_in(dir, &["rev-parse", "--git-dir"]).is_ok() {
        return Ok(());
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir).context(|| format!("cannot remove the broken worktree {}", dir.display()))?;
    }
    crate::worktree::ensure(repo, dir, at).map(|_| ())
}

/// `--continue`: the stopped task's resolution (committed in the
/// integration worktree) is tested and landed, then the run goes on.
pub fn resume(ctx: &Context<'_>, workdir: &Path, opts: &Options, mut progress: impl FnMut(&str)) -> Result<Outcome> {
    let repo = ctx.repo;
    let (lock, stopped) = state::MergeLock::resume(repo)?;
    let task_id = stopped.stopped_task.clone().unwrap_or_default();
    let seen = stopped
        .seen
        .as_deref()
        .and_then(|s| ObjectId::from_hex(s.as_bytes()).ok())
        .ok_or_else(|| Error::failure("the stopped merge does not say where the target was"))?;
    let run = Run::new(ctx, workdir, opts, stopped.target.clone())?;
    let dir = &run.integration;
    let give_back = |lock: state::MergeLock<'_>, err: Error| -> Result<Outcome> {
        lock.stop(&task_id, seen)?;
        Err(err)
    };
    if crate::repo::branch_tip(repo, &run.target)? != Some(seen) {
        return give_back(
            lock,
            Error::failure(format!("{} moved since the merge stopped", run.target))
                .hint("give this merge up with `git agents merge --abort`, then run `git agents merge` again"),
        );
    }
    let unmerged = process::git_in(dir, &["diff", "--name-only", "--diff-filter=U"])?;
    let dirty = process::git_in(dir, &["status", "--porcelain", "--untracked-files=no"])?;
    if !unmerged.trim().is_empty() || !dirty.trim().is_empty() {
        let mut err = Error::usage(format!(
            "the resolution of `{task_id}` is not committed yet in {}",
            dir.display()
        ));
        for path in unmerged.lines() {
            err = err.detail(format!("still conflicted: {path}"));
        }
        return give_back(
            lock,
            err.hint(format!(
                "resolve, `git -C {} commit`, then `git agents merge --continue`",
                dir.display()
            )),
        );
    }
    let candidate = crate::worktree::head(dir)?;
    let tip = crate::repo::branch_tip(repo, &format!("agents/{task_id}"))?;
    let descends = |a: ObjectId, b: ObjectId| crate::repo::is_ancestor(repo, b, a);
    if candidate == seen || !descends(candidate, seen) || !tip.is_some_and(|t| descends(candidate, t)) {
        return give_back(
            lock,
            Error::usage(format!(
                "HEAD of {} is not a merge of agents/{task_id} into {}",
                dir.display(),
                run.target
            ))
            .hint("commit the resolved merge there (git commit), then `git agents merge --continue`"),
        );
    }
    let Some(task) = ctx.plan.plan.tasks.iter().find(|t| t.id == task_id).cloned() else {
        return give_back(
            lock,
            Error::failure(format!("task `{task_id}` is not in the recorded plan")),
        );
    };
    let started = Instant::now();
    progress(&format!("{task_id}: landing the resolved merge"));
    match land_one(ctx, &run, &task, seen, candidate, started, &mut progress)? {
        Ok(()) => {}
        Err(stop) => {
            if matches!(stop, Stop::TestFailed { .. }) {
                lock.stop(&task_id, seen)?;
            }
            return Ok(Outcome {
                target: run.target.clone(),
                dry_run: false,
                landed: Vec::new(),
                waiting: vec![task_id],
                stop: Some(stop),
            });
        }
    }
    drop(lock);
    let landed = Landed {
        task: task_id,
        commit: candidate.to_string(),
        test: run.test.clone(),
        seconds: started.elapsed().as_secs_f64(),
    };
    let rest = Options {
        into: Some(run.target.clone()),
        force: false,
        ..opts.clone()
    };
    let mut outcome = self::run(ctx, workdir, &rest, progress)?;
    outcome.landed.insert(0, landed);
    Ok(outcome)
}

/// `--abort`: the stopped merge is given up; the target stays where it is.
pub fn abort(ctx: &Context<'_>, workdir: &Path) -> Result<Option<state::MergeRecord>> {
    let Some(record) = state::MergeLock::abort(ctx.repo)? else {
        return Ok(None);
    };
    let dir = crate::worktree::root(ctx.repo, workdir).join("integration");
    if dir.exists() {
        let _ = process::git_in(&dir, &["merge", "--abort"]);
        if let Some(seen) = record
            .seen
            .as_deref()
            .and_then(|s| ObjectId::from_hex(s.as_bytes()).ok())
        {
            crate::worktree::reset(&dir, seen)?;
        }
    }
    Ok(Some(record))
}

/// Merges `tip` into `current` in memory; the new commit, or the conflicted paths.
fn merge_one(
    repo: &gix::Repository,
    plan: &Plan,
    task: &Task,
    current: ObjectId,
    tip: ObjectId,
    squash: bool,
) -> Result<std::result::Result<ObjectId, Conflicted>> {
    let tree = match merge_trees(repo, current, tip, &plan.base, &task.id)? {
        Ok(tree) => tree,
        Err(paths) => return Ok(Err(paths)),
    };
    let trailer = format!("Agent-Task: {}", task.id);
    let commit = if squash {
        let subjects = branch_subjects(repo, current, tip)?;
        let message = format!("{}: {}\n\n{}\n\n{trailer}\n", task.id, task.title, subjects.join("\n"));
        state::write_commit(repo, &message, tree, [current])?
    } else {
        let message = format!("Merge agents/{}: {}\n\n{trailer}\n", task.id, task.title);
        state::write_commit(repo, &message, tree, [current, tip])?
    };
    Ok(Ok(commit))
}

/// The outcome of a merge that left conflicts.
pub struct Conflicted {
    pub paths: Vec<ConflictPath>,
    /// The conflicted tree (with markers), for inspection.
    pub tree: String,
}

/// Merges commit `theirs` into `ours` in memory (gix, the same trees as
/// `git merge-tree`): the merged tree, or the paths left in conflict.
pub fn merge_trees(
    repo: &gix::Repository,
    ours: ObjectId,
    theirs: ObjectId,
    our_label: &str,
    their_label: &str,
) -> Result<std::result::Result<ObjectId, Conflicted>> {
    let labels = gix::merge::blob::builtin_driver::text::Labels {
        ancestor: None,
        current: Some(our_label.into()),
        other: Some(their_label.into()),
    };
    let options = repo
        .tree_merge_options()
        .context(|| "cannot read merge options".into())?
        .into();
    let mut merged = repo
        .merge_commits(ours, theirs, labels, options)
        .context(|| format!("cannot merge {their_label} into {our_label}"))?;
    let unresolved = gix::merge::tree::TreatAsUnresolved::git();
    if merged.tree_merge.has_unresolved_conflicts(unresolved) {
        let paths = merged
            .tree_merge
            .conflicts
            .iter()
            .filter(|c| c.is_unresolved(unresolved))
            .map(|c| ConflictPath {
                path: c.ours.location().to_string(),
                kind: conflict_kind(c),
                stages: c
                    .entries()
                    .iter()
                    .enumerate()
                    .filter_map(|(i, e)| e.map(|e| format!("{}:{}", i + 1, e.id.to_hex_with_len(7))))
                    .collect(),
            })
            .collect();
        // The tree with conflict markers, as `git merge-tree --write-tree` would print it.
        let tree = merged
            .tree_merge
            .tree
            .write()
            .map(|t| t.to_string())
            .unwrap_or_default();
        return Ok(Err(Conflicted { paths, tree }));
    }
    let tree = merged
        .tree_merge
        .tree
        .write()
        .context(|| "cannot write the merged tree".into())?;
    Ok(Ok(tree.detach()))
}

fn conflict_kind(c: &gix::merge::tree::Conflict) -> &'static str {
    use gix::diff::tree_with_rewrites::Change;
    if c.ours.location() != c.theirs.location() {
        return "rename";
    }
    match (&c.ours, &c.theirs) {
        (Change::Addition { .. }, Change::Addition { .. }) => "add/add",
        (Change::Deletion { .. }, _) | (_, Change::Deletion { .. }) => "modify/delete",
        (Change::Rewrite { .. }, _) | (_, Change::Rewrite { .. }) => "rename",
        _ => "content",
    }
}

/// Subjects of the commits on the task branch that the target lacks, oldest first.
fn branch_subjects(repo: &gix::Repository, current: ObjectId, tip: ObjectId) -> Result<Vec<String>> {
    let walk = repo
        .rev_walk([tip])
        .with_hidden([current])
        .all()
        .context(|| "cannot walk the task branch".into())?;
    let mut out = Vec::new();
    for info in walk {
        let info = info.context(|| "cannot walk the task branch".into())?;
        let commit = repo
            .find_commit(info.id)
            .context(|| "cannot read a task commit".into())?;
        let message = commit.message_raw_sloppy().to_string();
        out.push(format!("- {}", message.lines().next().unwrap_or("")));
    }
    out.reverse();
    Ok(out)
}

/// Runs the test on `candidate` in the integration worktree, up to
/// `1 + retries` times; `Ok(n)`: passed after `n` red runs.
fn run_test(
    repo: &gix::Repository,
    dir: &Path,
    task: &str,
    cmd: &str,
    candidate: ObjectId,
    retries: u32,
) -> Result<std::result::Result<u32, Stop>> {
    integration_worktree(repo, dir, candidate)?;
    let log = crate::runner::log_dir(repo)?.join(format!("merge-{task}.log"));
    let _ = std::fs::remove_file(&log);
    let never = std::sync::atomic::AtomicBool::new(false);
    let mut ended = Ended::Exited(0);
    for run in 0..=retries {
        crate::worktree::reset(dir, candidate)?;
        ended = process::shell(cmd, dir, &log, &never)?;
        if ended == Ended::Exited(0) {
            return Ok(Ok(run));
        }
    }
    let tree = repo
        .find_commit(candidate)
        .and_then(|c| c.tree_id())
        .map(|t| t.to_string())
        .unwrap_or_default();
    Ok(Err(Stop::TestFailed {
        task: task.to_string(),
        command: cmd.to_string(),
        exit: match ended {
            Ended::Exited(code) => code.to_string(),
            other => format!("{other:?}"),
        },
        tree,
        tail: process::tail(&log, 10),
        log: log.display().to_string(),
    }))
}

/// Moves the target from `seen` to `candidate`: in the worktree that has it
/// checked out (fast-forward, only when clean), else by compare-and-swap.
fn land(
    repo: &gix::Repository,
    checkout: Option<&Path>,
    target: &str,
    seen: ObjectId,
    candidate: ObjectId,
) -> Result<Option<Stop>> {
    let full = format!("refs/heads/{target}");
    if let Some(wt) = checkout {
        if !process::git_in(wt, &["status", "--porcelain", "--untracked-files=no"])?
            .trim()
            .is_empty()
        {
            return Ok(Some(Stop::TargetDirty {
                target: target.to_string(),
                worktree: wt.display().to_string(),
            }));
        }
        if crate::repo::branch_tip(repo, target)? != Some(seen) {
            return Ok(Some(Stop::TargetMoved {
                target: target.to_string(),
            }));
        }
        process::git_in(wt, &["merge", "--ff-only", "-q", &candidate.to_string()])?;
        return Ok(None);
    }
    if state::move_branch(repo, &full, seen, candidate)? {
        Ok(None)
    } else {
        Ok(Some(Stop::TargetMoved {
            target: target.to_string(),
        }))
    }
}

/// The worktree whose HEAD is `full_ref`, if any.
fn checked_out_in(workdir: &Path, full_ref: &str) -> Result<Option<std::path::PathBuf>> {
    Ok(crate::worktree::list(workdir)?
        .into_iter()
        .find(|(_, branch)| branch.as_deref() == Some(full_ref))
        .map(|(path, _)| path))
}
