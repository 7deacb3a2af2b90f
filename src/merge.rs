//! Integration: done task branches merged one at a time, in dependency
//! order, into the target branch, each merge tested before the target moves
//! to it (by compare-and-swap). The first conflict or red test stops the run
//! with a report; the target stays at the last tested commit. With
//! `--batch` the same steps run a batch at a time (see `batch`).

use std::path::Path;
use std::time::Instant;

use gix::ObjectId;
use serde::Serialize;

use crate::error::{Context as _, Error, Result};
use crate::plan::{graph, Plan, Task};
use crate::process::{self, Ended};
use crate::protocol::Context;
use crate::state::{self, Store, TaskState};
use crate::tree_merge::{apply_change, merge_trees, ConflictPath, Conflicted};

mod batch;
pub use batch::{BatchReport, BatchSize};

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
    /// `--batch`: merge this many tasks, test once on the last, bisect on red.
    pub batch: Option<BatchSize>,
}

#[derive(Debug, Serialize)]
pub struct Landed {
    pub task: String,
    pub commit: String,
    pub test: Option<String>,
    /// Set when the test was not run because the tree already passed it: when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached: Option<String>,
    /// Set for a commit inside a batch (not tested alone): the batch's
    /// commit the test passed on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tested_on: Option<String>,
    pub seconds: f64,
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
    /// Done tasks not landed because their work is not what was checked
    /// (and the tasks that depend on them).
    pub refused: Vec<Refused>,
    pub stop: Option<Stop>,
    /// With `--batch`: the batches formed, the test runs and the culprit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batches: Option<BatchReport>,
}

/// What a run reports while it works. `Now` is what runs at the moment (a
/// live line on a terminal, a status line in a pipe); `Line` is history;
/// `Landed` is a result, reported as it happens.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    Line(&'a str),
    Now(&'a str),
    Landed { landed: &'a Landed, dry_run: bool },
}

/// A done task merge will not land, and why.
#[derive(Debug, Serialize)]
pub struct Refused {
    pub task: String,
    pub reason: String,
}

/// The commit a done task's work is, as checked at `done`; an error text
/// when the branch moved since or never held the work.
fn checked_work(
    repo: &Store,
    id: &str,
    record: &state::TaskRecord,
) -> Result<std::result::Result<(ObjectId, Option<ObjectId>), String>> {
    let branch = record.branch.clone().unwrap_or_else(|| crate::layout::task_branch(id));
    let (recorded, start) = (record.head, record.start);
    let now = crate::repo::branch_tip(repo, &branch)?;
    Ok(match (recorded, now) {
        (Some(r), Some(n)) if r == n => Ok((r, start)),
        // The branch was deleted after `done`: the checked commit still is the work.
        (Some(r), None) if repo.find_commit(r).is_ok() => Ok((r, start)),
        (Some(r), Some(n)) => Err(format!(
            "{branch} moved since it was checked at done (checked {}, now {}): a late rewrite or a push; \
             `git agents requeue {id}` to check it again",
            state::short(r),
            state::short(n)
        )),
        (None, Some(_)) => Err(format!(
            "{branch} did not exist when `{id}` was marked done, so nothing was checked; `git agents requeue {id}`"
        )),
        _ => Err(match saved_branch(repo, id, recorded)?.first() {
            // `clean --force` saves an unmerged branch before deleting it.
            Some((backup, _)) if recorded.is_some() => format!(
                "{branch} is gone and so is the commit checked at done; its work was saved as {backup}: \
                 restore it with `git branch {branch} {backup}`, then `git agents requeue {id}` has it checked again"
            ),
            Some((backup, _)) => format!(
                "{branch} is gone and nothing was checked at done; its work was saved as {backup}: \
                 restore it with `git branch {branch} {backup}`, then `git agents requeue {id}` has it checked"
            ),
            None => format!(
                "task `{id}` is done but recorded no work and {branch} is gone; `git agents requeue {id}` has it done again"
            ),
        }),
    })
}

/// The backups `clean --force` made of the task branch `agents/<id>`
/// (`refs/agents/backup/agents-<id>`, then `-1`, `-2`, …), newest first; the
/// one holding `head`, the work recorded at done, comes first of all.
pub fn saved_branch(repo: &Store, id: &str, head: Option<ObjectId>) -> Result<Vec<(String, ObjectId)>> {
    let name = format!("{}agents-{id}", state::BACKUP_PREFIX);
    let platform = repo.references().context(|| "cannot list refs".into())?;
    let mut found: Vec<(u32, String, ObjectId)> = Vec::new();
    for r in platform
        .prefixed(name.as_str())
        .context(|| "cannot list the backups under refs/agents/backup".into())?
        .flatten()
    {
        let full = r.name().as_bstr().to_string();
        // `agents-<id>` or `agents-<id>-<n>`: not the backup of a task `<id>-x`.
        let n = match full.strip_prefix(&name) {
            Some("") => 0,
            Some(rest) => match rest.strip_prefix('-').and_then(|n| n.parse().ok()) {
                Some(n) => n,
                None => continue,
            },
            None => continue,
        };
        if let Some(oid) = r.try_id() {
            found.push((n, full, oid.detach()));
        }
    }
    found.sort_by_key(|(n, _, oid)| (Some(*oid) != head, std::cmp::Reverse(*n)));
    Ok(found.into_iter().map(|(_, name, oid)| (name, oid)).collect())
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
    /// The main worktree (to find, at landing time, where the target is checked out).
    workdir: &'a Path,
    /// With a shared remote: its name; the target lands there first.
    remote: Option<String>,
    integration: std::path::PathBuf,
    test: Option<String>,
    opts: &'a Options,
}

impl<'a> Run<'a> {
    fn new(ctx: &Context<'_>, workdir: &'a Path, opts: &'a Options, target: String) -> Result<Self> {
        Ok(Run {
            workdir,
            remote: ctx.repo.backend().remote_name().map(str::to_string),
            integration: crate::layout::integration_worktree(&crate::worktree::root(ctx.repo.settings(), workdir)),
            test: opts.test.clone().or_else(|| ctx.plan.plan.test.clone()),
            target,
            opts,
        })
    }
}

pub fn run(
    ctx: &Context<'_>,
    workdir: &Path,
    opts: &Options,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<Outcome> {
    let repo = ctx.repo;
    let plan = &ctx.plan.plan;
    let target = opts.into.clone().unwrap_or_else(|| plan.base.clone());
    let current = crate::repo::branch_tip(repo, &target)?.ok_or_else(|| {
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
        refused: Vec::new(),
        stop: None,
        batches: None,
    };
    let lock = lock_and_adopt(repo, &target, opts, &done, &mut progress)?;
    let run = Run::new(ctx, workdir, opts, target.clone())?;
    if !opts.dry_run {
        // Found now, not after all the merging and testing.
        if let Some(stop) = dirty_checkout(workdir, &target)? {
            outcome.stop = Some(stop);
            return Ok(outcome);
        }
        target_agrees_with_remote(repo, &target, current)?;
    }
    if let (Some(cmd), false) = (&run.test, opts.dry_run || order.is_empty()) {
        // Said once here, not once per task.
        let what = if opts.batch.is_some() {
            "each batch"
        } else {
            "each merge"
        };
        progress(Progress::Line(&format!("testing {what} with `{cmd}`")));
    }
    let total = order.len();
    let mut m = Merging {
        ctx,
        run,
        lock,
        outcome,
        current,
        progress,
        batch: opts.batch,
    };
    if let Some(size) = opts.batch {
        batch::run(&mut m, &order, &snap, size)?;
        return Ok(m.outcome);
    }
    for (k, task) in order.iter().enumerate() {
        let started = Instant::now();
        let step = format!("[{}/{total}]", k + 1);
        let record = state::TaskRecord::read(repo, snap.tasks[&task.id].oid)?;
        if let Next::Stop = merge_task(&mut m, task, &step, started, record)? {
            break;
        }
    }
    Ok(m.outcome)
}

/// The merge lock (none for a dry run) and, with it, what other machines
/// finished.
fn lock_and_adopt<'r>(
    repo: &'r Store,
    target: &str,
    opts: &Options,
    done: &[String],
    progress: &mut impl FnMut(Progress<'_>),
) -> Result<Option<state::MergeLock<'r>>> {
    let lock = if opts.dry_run {
        None
    } else {
        Some(state::MergeLock::take(repo, target, opts.force)?)
    };
    if lock.is_some() {
        // Done on other machines: their branches and notes come from the
        // shared remote, taken only by the run that holds the merge lock
        // (a dry run previews the branches this clone has).
        for saved in repo
            .backend()
            .adopt_task_branches(repo, &done.iter().map(String::as_str).collect::<Vec<_>>())?
        {
            progress(Progress::Line(&saved));
        }
        repo.backend().fetch_notes(repo)?;
    }
    Ok(lock)
}

/// Ends the run at `task` with `stop`; a red test also turns the lock into
/// a stopped merge there, so `--continue` knows where it stood.
fn stop_on_red<P>(m: &mut Merging<'_, '_, P>, task: &str, stop: Stop) -> Result<()> {
    if let (Some(lock), Stop::TestFailed { command, .. }) = (m.lock.take(), &stop) {
        lock.stop(state::StopPoint {
            task,
            seen: m.current,
            why: &format!("`{command}` failed"),
            paths: Vec::new(),
            options: remembered(m.run.opts, &m.run, m.batch),
        })?;
    }
    m.outcome.stop = Some(stop);
    Ok(())
}

/// What the steps of one merge run carry from task to task.
struct Merging<'a, 'r, P> {
    ctx: &'a Context<'r>,
    run: Run<'a>,
    lock: Option<state::MergeLock<'r>>,
    outcome: Outcome,
    current: ObjectId,
    progress: P,
    /// With `--batch`: the size of the batch being formed.
    batch: Option<BatchSize>,
}

/// Whether the run goes on to the next task.
enum Next {
    Continue,
    Stop,
}

/// Checks one done task's work and lands it (or refuses it, or stops the run).
fn merge_task<P: FnMut(Progress<'_>)>(
    m: &mut Merging<'_, '_, P>,
    task: &Task,
    step: &str,
    started: Instant,
    record: state::TaskRecord,
) -> Result<Next> {
    match merged_candidate(m, task, step, record, m.current)? {
        Candidate::Skipped => Ok(Next::Continue),
        Candidate::Conflict(c) => {
            let Conflict(record, branch, tip, conflicted) = *c;
            stop_on_conflict(m, task, record, branch, tip, conflicted)?;
            Ok(Next::Stop)
        }
        Candidate::Merged(candidate) => land_candidate(m, task, step, started, candidate),
    }
}

/// What merging one task on the head so far gave.
enum Candidate {
    /// Refused, or already on the target (marked merged): nothing to land.
    Skipped,
    Conflict(Box<Conflict>),
    Merged(ObjectId),
}

/// A conflict as [`stop_on_conflict`] reports it: the task's record, its
/// branch, its checked work and the conflicted paths.
struct Conflict(state::TaskRecord, String, ObjectId, Conflicted);

/// Checks one done task's work and merges it in memory on `on` (the
/// target's tip, or in a batch the merge before it).
fn merged_candidate<P: FnMut(Progress<'_>)>(
    m: &mut Merging<'_, '_, P>,
    task: &Task,
    step: &str,
    record: state::TaskRecord,
    on: ObjectId,
) -> Result<Candidate> {
    let repo = m.ctx.repo;
    let plan = &m.ctx.plan.plan;
    let refused_dep = task
        .depends_on
        .iter()
        .find(|d| m.outcome.refused.iter().any(|r| &r.task == *d))
        .cloned();
    let checked = match refused_dep {
        Some(dep) => Err(format!("it builds on `{dep}`, which was refused")),
        None => checked_work(repo, &task.id, &record)?,
    };
    let mut refuse = |reason: String| {
        (m.progress)(Progress::Line(&format!("{step} {}: refused: {reason}", task.id)));
        m.outcome.waiting.retain(|w| w != &task.id);
        m.outcome.refused.push(Refused {
            task: task.id.clone(),
            reason,
        });
    };
    let (tip, start) = match checked {
        Ok(work) => work,
        Err(reason) => {
            refuse(reason);
            return Ok(Candidate::Skipped);
        }
    };
    let branch = crate::layout::task_branch(&task.id);
    if !m.run.opts.dry_run && crate::repo::is_ancestor(repo, tip, m.current) {
        // Already on the target (landed by a run that was killed before
        // recording it, or merged by hand): record it, make no commit.
        crate::protocol::mark_merged(m.ctx, &task.id, m.current)?;
        m.outcome.waiting.retain(|w| w != &task.id);
        return Ok(Candidate::Skipped);
    }
    // What lands is re-checked here: a done recorded by hand, or state
    // written by something other than git-agents, proves nothing.
    let outside = owned_change_outside(m.ctx, task, start, tip, on)?;
    if !outside.is_empty() {
        refuse(format!("it changes files outside its `owns`: {}", outside.join(", ")));
        return Ok(Candidate::Skipped);
    }
    (m.progress)(Progress::Now(&format!(
        "{step} {}: merging {branch} into {}",
        task.id, m.run.target
    )));
    Ok(match merge_one(repo, plan, task, on, tip, start, m.run.opts.squash)? {
        Ok(commit) => Candidate::Merged(commit),
        Err(conflicted) => Candidate::Conflict(Box::new(Conflict(record, branch, tip, conflicted))),
    })
}

/// Stops the run at a conflict, leaving the conflicted merge for a person
/// to resolve.
fn stop_on_conflict<P>(
    m: &mut Merging<'_, '_, P>,
    task: &Task,
    record: state::TaskRecord,
    branch: String,
    tip: ObjectId,
    conflicted: Conflicted,
) -> Result<()> {
    let repo = m.ctx.repo;
    let base = repo.merge_base(m.current, tip).ok().flatten().map(|b| b.to_string());
    if let Some(lock) = m.lock.take() {
        // Leave the conflicted merge in the integration worktree for a person to resolve.
        prepare_resolution(repo, &m.run.integration, m.current, tip)?;
        lock.stop(state::StopPoint {
            task: &task.id,
            seen: m.current,
            why: "conflict",
            paths: conflicted.paths.iter().map(|p| p.path.clone()).collect(),
            options: remembered(m.run.opts, &m.run, m.batch),
        })?;
    }
    m.outcome.stop = Some(Stop::Conflict {
        task: task.id.clone(),
        agent: record.agent,
        branch,
        base,
        target: m.current.to_string(),
        task_head: tip.to_string(),
        paths: conflicted.paths,
        conflicted_tree: conflicted.tree,
        reproduce: format!("git merge-tree --write-tree {} {tip}", m.current),
    });
    Ok(())
}

/// Lands a merged candidate on the target (tested, unless a dry run), or
/// stops the run where its test failed.
fn land_candidate<P: FnMut(Progress<'_>)>(
    m: &mut Merging<'_, '_, P>,
    task: &Task,
    step: &str,
    started: Instant,
    candidate: ObjectId,
) -> Result<Next> {
    let mut cached = None;
    if m.run.opts.dry_run {
        m.current = candidate;
    } else {
        let landing = Landing {
            task,
            current: m.current,
            candidate,
            step,
            started,
        };
        match land_one(m.ctx, &m.run, &landing, &mut m.progress)? {
            Ok(when) => {
                m.current = candidate;
                cached = when;
            }
            Err(stop) => {
                stop_on_red(m, &task.id, stop)?;
                return Ok(Next::Stop);
            }
        }
    }
    m.outcome.waiting.retain(|w| w != &task.id);
    let landed = Landed {
        task: task.id.clone(),
        commit: candidate.to_string(),
        test: m.run.test.clone(),
        cached,
        tested_on: None,
        seconds: started.elapsed().as_secs_f64(),
    };
    (m.progress)(Progress::Landed {
        landed: &landed,
        dry_run: m.run.opts.dry_run,
    });
    m.outcome.landed.push(landed);
    Ok(Next::Continue)
}

/// The options a stopped merge keeps for `--continue`.
/// `batch` is the batch size now (`--batch auto` changes it as it goes).
fn remembered(opts: &Options, run: &Run<'_>, batch: Option<BatchSize>) -> state::MergeOptions {
    state::MergeOptions {
        test: run.test.clone(),
        squash: opts.squash,
        retries: opts.retries,
        no_cache: !opts.cache,
        batch: batch.map(|b| b.to_string()),
        batch_size: batch.and_then(BatchSize::auto_size),
    }
}

/// Paths the task's change touches outside its `owns`: `start..tip` when
/// the runner recorded the start, else its own commits (those not on the
/// target nor in its dependencies' recorded work).
fn owned_change_outside(
    ctx: &Context<'_>,
    task: &Task,
    start: Option<ObjectId>,
    tip: ObjectId,
    current: ObjectId,
) -> Result<Vec<String>> {
    let repo = ctx.repo;
    let ownership = crate::checks::Ownership::of(task);
    if let Some(start) = start.filter(|s| crate::repo::is_ancestor(repo, *s, tip)) {
        return ownership.outside(repo, start, tip);
    }
    let snap = state::snapshot(repo)?;
    let mut hidden = vec![current];
    for dep in &task.depends_on {
        if let Some(head) = snap
            .tasks
            .get(dep)
            .and_then(|t| state::TaskRecord::read(repo, t.oid).ok())
            .and_then(|r| r.head)
        {
            hidden.push(head);
        }
    }
    ownership.outside_commits(repo, tip, &hidden)
}

/// With a shared remote, merge lands on the remote's target as well (first
/// there, with a lease): both must start from the same commit, or the push
/// would publish commits nobody asked to publish, or be refused.
fn target_agrees_with_remote(repo: &Store, target: &str, current: ObjectId) -> Result<()> {
    let Some((remote, theirs)) = repo.backend().target_on_remote(repo, target)? else {
        return Ok(());
    };
    if theirs.is_none_or(|t| t == current) {
        return Ok(());
    }
    let theirs = theirs.map(state::short).unwrap_or_default();
    Err(Error::usage(format!(
        "{target} is at {} here and at {theirs} on `{remote}`: merge lands on both, so they must agree",
        state::short(current)
    ))
    .hint(format!(
        "bring them together first (`git pull {remote} {target}` or `git push {remote} {target}`), then merge again"
    )))
}

/// A stop when the target is checked out somewhere with uncommitted changes.
fn dirty_checkout(workdir: &Path, target: &str) -> Result<Option<Stop>> {
    let Some(wt) = checked_out_in(workdir, &format!("refs/heads/{target}"))? else {
        return Ok(None);
    };
    let dirty = !process::git_in(&wt, &["status", "--porcelain", "--untracked-files=no"])?
        .trim()
        .is_empty();
    Ok(dirty.then(|| Stop::TargetDirty {
        target: target.to_string(),
        worktree: wt.display().to_string(),
    }))
}

/// One task's turn to land: what [`land_one`] tests, notes and lands.
struct Landing<'a> {
    task: &'a Task,
    /// The target's tip the candidate was merged on.
    current: ObjectId,
    /// The merge of the task's work on `current`.
    candidate: ObjectId,
    /// The run's bookkeeping for the progress lines and the note: the
    /// step's label and when the task's turn began.
    step: &'a str,
    started: Instant,
}

/// Test (unless cached), note, land, mark merged: one task's `candidate`
/// from `current`. A stop leaves the target untouched. `Ok(Some(when))`:
/// the test was not run, the tree had passed it `when`.
fn land_one(
    ctx: &Context<'_>,
    run: &Run<'_>,
    landing: &Landing<'_>,
    progress: &mut impl FnMut(Progress<'_>),
) -> Result<std::result::Result<Option<String>, Stop>> {
    let Landing {
        task,
        current,
        candidate,
        step,
        started,
    } = *landing;
    let tested = match &run.test {
        None => Tested::default(),
        Some(cmd) => match test_candidate(ctx.repo, run, &task.id, cmd, candidate, step, progress)? {
            Ok(tested) => tested,
            Err(stop) => return Ok(Err(stop)),
        },
    };
    // The note goes on first: a run killed after landing must not leave a
    // landed commit without its test record.
    let note = note_text(ctx.repo, &task.id, run, &tested.result, started)?;
    state::add_note(ctx.repo, candidate, &note)?;
    if let Some(stop) = publish(ctx.repo, run, current, candidate)? {
        return Ok(Err(stop));
    }
    crate::protocol::mark_merged(ctx, &task.id, candidate)?;
    Ok(Ok(tested.cached))
}

/// How a candidate was tested: the note's `result:` text, when the test
/// was skipped because the tree had passed it, how many times the command
/// ran and how many of those runs were red before it passed.
struct Tested {
    result: String,
    cached: Option<String>,
    runs: u32,
    red_before_green: u32,
}

impl Default for Tested {
    fn default() -> Self {
        Tested {
            result: "not tested".into(),
            cached: None,
            runs: 0,
            red_before_green: 0,
        }
    }
}

/// Runs `cmd` on `candidate` (named after `task` in the progress and the
/// log), unless its tree already passed it and the cache is on.
fn test_candidate(
    repo: &Store,
    run: &Run<'_>,
    task: &str,
    cmd: &str,
    candidate: ObjectId,
    step: &str,
    progress: &mut impl FnMut(Progress<'_>),
) -> Result<std::result::Result<Tested, Stop>> {
    let tree = repo
        .find_commit(candidate)
        .and_then(|c| c.tree_id())
        .context(|| format!("cannot read commit {candidate}"))?
        .detach();
    let passed = if run.opts.cache {
        state::tested_green(repo, tree, cmd)
    } else {
        None
    };
    if let Some(when) = passed {
        let when = when.map_or("before".to_string(), |t| {
            format!("{} ago", crate::protocol::age(crate::settings::now_seconds() - t))
        });
        progress(Progress::Now(&format!(
            "{step} {task}: not tested again: the test already passed on this tree {when}"
        )));
        return Ok(Ok(Tested {
            result: format!("passed earlier on this tree ({when}; not run again)"),
            cached: Some(when),
            ..Tested::default()
        }));
    }
    progress(Progress::Now(&format!("{step} {task}: testing")));
    let red = match run_test(repo, &run.integration, task, cmd, candidate, run.opts.retries)? {
        Err(stop) => return Ok(Err(stop)),
        Ok(red) => red,
    };
    state::record_green(repo, tree, cmd)?;
    Ok(Ok(Tested {
        result: match red {
            0 => "passed".into(),
            n => format!("passed after {n} failed run(s)"),
        },
        cached: None,
        runs: red + 1,
        red_before_green: red,
    }))
}

/// The merge note of one landed task (its `result:` line says how it was tested).
fn note_text(repo: &Store, task: &str, run: &Run<'_>, result: &str, started: Instant) -> Result<String> {
    let agent = state::snapshot(repo)?
        .tasks
        .get(task)
        .and_then(|t| state::TaskRecord::read(repo, t.oid).ok())
        .and_then(|r| r.agent);
    Ok(format!(
        "task: {task}\nagent: {}\ntest: {}\nresult: {result}\nduration: {:.1}s\n",
        agent.unwrap_or_default(),
        run.test.as_deref().unwrap_or("(none)"),
        started.elapsed().as_secs_f64(),
    ))
}

/// Moves the target from `current` to `candidate`: on the shared remote
/// first (the local target and the states follow only what it took), then
/// here. `Some(stop)`: it did not move.
fn publish(repo: &Store, run: &Run<'_>, current: ObjectId, candidate: ObjectId) -> Result<Option<Stop>> {
    if let Some(remote) = &run.remote {
        if let Some(stop) = dirty_checkout(run.workdir, &run.target)? {
            return Ok(Some(stop));
        }
        if !repo.backend().push_target(repo, &run.target, candidate)? {
            return Ok(Some(Stop::TargetMoved {
                target: format!("{remote}/{}", run.target),
            }));
        }
    }
    land(repo, run.workdir, &run.target, current, candidate)
}

/// The integration worktree at `current` with the task's checked work `tip` merged in and its
/// conflicts left for a person (`git merge --no-commit`).
fn prepare_resolution(repo: &Store, dir: &Path, current: ObjectId, tip: ObjectId) -> Result<()> {
    integration_worktree(repo, dir, current)?;
    let _ = process::git_in(dir, &["merge", "--abort"]);
    crate::worktree::reset(dir, current)?;
    // Exits non-zero because of the conflicts it leaves; that is the point.
    let _ = process::git_in(dir, &["merge", "--no-ff", "--no-commit", "-q", &tip.to_string()]);
    Ok(())
}

/// The integration worktree, made (again) when missing or left half-made by
/// a killed run; its contents are throw-away, it only ever holds merges.
fn integration_worktree(repo: &Store, dir: &Path, at: ObjectId) -> Result<()> {
    if dir.exists() && process::git_in(dir, &["rev-parse", "--git-dir"]).is_ok() {
        return Ok(());
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir).context(|| format!("cannot remove the broken worktree {}", dir.display()))?;
    }
    // One merge at a time holds the merge lock: nobody to take turns with.
    crate::worktree::Registrations::default()
        .ensure(repo, dir, at)
        .map(|_| ())
}

/// Options given again on `--continue`; each overrides what the stopped
/// merge remembered.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub test: Option<String>,
    pub squash: bool,
    pub retries: Option<u32>,
    pub no_cache: bool,
    pub batch: Option<BatchSize>,
}

/// The stopped merge's options with `given` applied, and a line per
/// option saying where it came from.
fn continued_options(
    stopped: Option<&state::MergeOptions>,
    given: &Overrides,
    base: &Options,
) -> (Options, Vec<String>) {
    let kept = stopped.cloned().unwrap_or_default();
    let mut lines = Vec::new();
    let mut opts = Options {
        test: kept.test.clone(),
        squash: kept.squash,
        retries: kept.retries,
        cache: !kept.no_cache,
        batch: kept
            .batch
            .as_deref()
            .and_then(|b| BatchSize::remembered(b, kept.batch_size)),
        ..base.clone()
    };
    if let Some(test) = &given.test {
        if kept.test.as_ref() != Some(test) {
            lines.push(format!(
                "--test `{test}` overrides the stopped merge's {}",
                kept.test
                    .as_deref()
                    .map_or("(no test)".to_string(), |t| format!("`{t}`"))
            ));
        }
        opts.test = Some(test.clone());
    }
    if given.squash && !kept.squash {
        lines.push("--squash overrides the stopped merge's merge commits".into());
        opts.squash = true;
    }
    if let Some(n) = given.retries.filter(|n| *n != kept.retries) {
        lines.push(format!("--retries {n} overrides the stopped merge's {}", kept.retries));
        opts.retries = n;
    }
    if given.no_cache && !kept.no_cache {
        lines.push("--no-cache overrides the stopped merge's cache".into());
        opts.cache = false;
    }
    if let Some(b) = given
        .batch
        .filter(|b| kept.batch.as_deref() != Some(b.to_string().as_str()))
    {
        let was = kept
            .batch
            .as_deref()
            .map_or("one task at a time".to_string(), |k| format!("--batch {k}"));
        lines.push(format!("--batch {b} overrides the stopped merge's {was}"));
        opts.batch = Some(b);
    }
    let mut same = Vec::new();
    if let Some(t) = &opts.test {
        same.push(format!("--test `{t}`"));
    }
    if opts.squash {
        same.push("--squash".into());
    }
    if opts.retries > 0 {
        same.push(format!("--retries {}", opts.retries));
    }
    if !opts.cache {
        same.push("--no-cache".into());
    }
    if let Some(b) = opts.batch {
        same.push(format!("--batch {b}"));
    }
    if !same.is_empty() {
        lines.insert(0, format!("continuing with {}", same.join(" ")));
    }
    (opts, lines)
}

/// `--continue`: the stopped task's resolution (committed in the
/// integration worktree) is tested and landed, then the run goes on, with
/// the options the stopped run had (or those given again).
pub fn resume(
    ctx: &Context<'_>,
    workdir: &Path,
    base: &Options,
    given: &Overrides,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<Outcome> {
    let repo = ctx.repo;
    let (lock, stopped) = state::MergeLock::resume(repo)?;
    let (opts, lines) = continued_options(stopped.options.as_ref(), given, base);
    for line in &lines {
        progress(Progress::Line(line));
    }
    let opts = &opts;
    let task_id = stopped.stopped_task.clone().unwrap_or_default();
    let seen = stopped
        .seen
        .ok_or_else(|| Error::failure("the stopped merge does not say where the target was"))?;
    let run = Run::new(ctx, workdir, opts, stopped.target.clone())?;
    // Giving the lock back keeps the stop as it was, options included.
    let give_back = |lock: state::MergeLock<'_>, err: Error| -> Result<Outcome> {
        lock.stop(state::StopPoint {
            task: &task_id,
            seen,
            why: stopped.why.as_deref().unwrap_or("stopped"),
            paths: stopped.paths.clone(),
            options: stopped.options.clone().unwrap_or_default(),
        })?;
        Err(err)
    };
    let (candidate, task) = match committed_resolution(ctx, &run, &task_id, seen)? {
        Ok(resolution) => resolution,
        Err(err) => return give_back(lock, err),
    };
    let started = Instant::now();
    let step = "[resolved]";
    progress(Progress::Now(&format!("{step} {task_id}: landing the resolved merge")));
    let candidate = if opts.squash {
        squashed_resolution(repo, &task, candidate, seen)?
    } else {
        candidate
    };
    let landing = Landing {
        task: &task,
        current: seen,
        candidate,
        step,
        started,
    };
    let cached = match land_one(ctx, &run, &landing, &mut progress)? {
        Ok(when) => when,
        Err(stop) => return stopped_again(lock, &run, task_id, seen, stop),
    };
    drop(lock);
    let landed = Landed {
        task: task_id,
        commit: candidate.to_string(),
        test: run.test.clone(),
        cached,
        tested_on: None,
        seconds: started.elapsed().as_secs_f64(),
    };
    progress(Progress::Landed {
        landed: &landed,
        dry_run: false,
    });
    let rest = Options {
        into: Some(run.target.clone()),
        force: false,
        ..opts.clone()
    };
    let mut outcome = self::run(ctx, workdir, &rest, progress)?;
    outcome.landed.insert(0, landed);
    Ok(outcome)
}

/// What `--continue` lands: the resolution committed in the integration
/// worktree, and its task; the error to stop with again when the target,
/// its checkout or the resolution is not ready for it.
fn committed_resolution(
    ctx: &Context<'_>,
    run: &Run<'_>,
    task_id: &str,
    seen: ObjectId,
) -> Result<std::result::Result<(ObjectId, Task), Error>> {
    let repo = ctx.repo;
    let dir = &run.integration;
    if crate::repo::branch_tip(repo, &run.target)? != Some(seen) {
        return Ok(Err(Error::failure(format!(
            "{} moved since the merge stopped",
            run.target
        ))
        .hint(
            "give this merge up with `git agents merge --abort`, then run `git agents merge` again",
        )));
    }
    if let Some(stop) = dirty_checkout(run.workdir, &run.target)? {
        let Stop::TargetDirty { worktree, .. } = &stop else {
            unreachable!()
        };
        return Ok(Err(Error::usage(format!(
            "{} is checked out in {worktree} with uncommitted changes",
            run.target
        ))
        .hint("commit or stash them, then `git agents merge --continue`")));
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
        return Ok(Err(err.hint(format!(
            "resolve, `git -C {} commit`, then `git agents merge --continue`",
            dir.display()
        ))));
    }
    let candidate = crate::worktree::head(dir)?;
    let snap = state::snapshot(repo)?;
    let work = match snap.tasks.get(task_id) {
        Some(t) => checked_work(repo, task_id, &state::TaskRecord::read(repo, t.oid)?)?,
        None => Err(format!("task `{task_id}` has no state")),
    };
    let tip = match work {
        Ok((tip, _)) => tip,
        Err(reason) => return Ok(Err(Error::usage(format!("cannot continue: {reason}")))),
    };
    let descends = |a: ObjectId, b: ObjectId| crate::repo::is_ancestor(repo, b, a);
    if candidate == seen || !descends(candidate, seen) || !descends(candidate, tip) {
        return Ok(Err(Error::usage(format!(
            "HEAD of {} is not a merge of agents/{task_id} into {}",
            dir.display(),
            run.target
        ))
        .hint(
            "commit the resolved merge there (git commit), then `git agents merge --continue`",
        )));
    }
    let Some(task) = ctx.plan.plan.tasks.iter().find(|t| t.id == task_id).cloned() else {
        return Ok(Err(Error::failure(format!(
            "task `{task_id}` is not in the recorded plan"
        ))));
    };
    Ok(Ok((candidate, task)))
}

/// A squash run lands the resolution as one commit on the target, like the rest.
fn squashed_resolution(repo: &Store, task: &Task, candidate: ObjectId, seen: ObjectId) -> Result<ObjectId> {
    let tree = repo
        .find_commit(candidate)
        .and_then(|c| c.tree_id())
        .context(|| format!("cannot read commit {candidate}"))?
        .detach();
    let message = format!(
        "{}: {}\n\n(conflict resolved by hand)\n\nAgent-Task: {}\n",
        task.id, task.title, task.id
    );
    state::write_commit(repo, &message, tree, [seen])
}

/// The resolved task did not land: a failed test stops the merge there again.
fn stopped_again(
    lock: state::MergeLock<'_>,
    run: &Run<'_>,
    task_id: String,
    seen: ObjectId,
    stop: Stop,
) -> Result<Outcome> {
    if let Stop::TestFailed { command, .. } = &stop {
        lock.stop(state::StopPoint {
            task: &task_id,
            seen,
            why: &format!("`{command}` failed"),
            paths: Vec::new(),
            options: remembered(run.opts, run, run.opts.batch),
        })?;
    }
    Ok(Outcome {
        target: run.target.clone(),
        dry_run: false,
        landed: Vec::new(),
        waiting: vec![task_id],
        refused: Vec::new(),
        stop: Some(stop),
        batches: None,
    })
}

/// `--abort`: the stopped merge is given up; the target stays where it is.
pub fn abort(ctx: &Context<'_>, workdir: &Path) -> Result<Option<state::MergeRecord>> {
    let Some(record) = state::MergeLock::abort(ctx.repo)? else {
        return Ok(None);
    };
    let dir = crate::layout::integration_worktree(&crate::worktree::root(ctx.repo.settings(), workdir));
    if dir.exists() {
        let _ = process::git_in(&dir, &["merge", "--abort"]);
        if let Some(seen) = record.seen {
            crate::worktree::reset(&dir, seen)?;
        }
    }
    Ok(Some(record))
}

/// Merges `tip` into `current` in memory; the new commit, or the conflicted
/// paths. A squash applies the task's own change (`start..tip`) when its
/// start point is known, so a dependent's branch, which carries its
/// dependency's original commits, lands cleanly after the dependency was
/// squashed; a merge commit keeps both histories and needs no such help.
fn merge_one(
    repo: &Store,
    plan: &Plan,
    task: &Task,
    current: ObjectId,
    tip: ObjectId,
    start: Option<ObjectId>,
    squash: bool,
) -> Result<std::result::Result<ObjectId, Conflicted>> {
    let start = start.filter(|s| crate::repo::is_ancestor(repo, *s, tip));
    let tree = match (squash, start) {
        (true, Some(start)) => apply_change(repo, start, current, tip, &plan.base, &task.id)?,
        _ => merge_trees(repo, current, tip, &plan.base, &task.id)?,
    };
    let tree = match tree {
        Ok(tree) => tree,
        Err(paths) => return Ok(Err(paths)),
    };
    let trailer = format!("Agent-Task: {}", task.id);
    let commit = if squash {
        let subjects = branch_subjects(repo, start.unwrap_or(current), tip)?;
        let message = format!("{}: {}\n\n{}\n\n{trailer}\n", task.id, task.title, subjects.join("\n"));
        state::write_commit(repo, &message, tree, [current])?
    } else {
        let message = format!(
            "Merge {}: {}\n\n{trailer}\n",
            crate::layout::task_branch(&task.id),
            task.title
        );
        state::write_commit(repo, &message, tree, [current, tip])?
    };
    Ok(Ok(commit))
}

/// Subjects of the commits on the task branch that the target lacks, oldest first.
fn branch_subjects(repo: &Store, current: ObjectId, tip: ObjectId) -> Result<Vec<String>> {
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
    repo: &Store,
    dir: &Path,
    task: &str,
    cmd: &str,
    candidate: ObjectId,
    retries: u32,
) -> Result<std::result::Result<u32, Stop>> {
    integration_worktree(repo, dir, candidate)?;
    let log = crate::layout::merge_test_log(repo, task)?;
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

/// Moves the target from `seen` to `candidate`. Where the target is
/// checked out is decided now, not when the run started (a person may have
/// switched branches during the test): in that worktree by a fast-forward
/// (only when clean, so its files follow and a kill leaves it consistent),
/// else by compare-and-swap of the ref. What is left is the moment between
/// this check and git's own, milliseconds, not a test's duration.
fn land(repo: &Store, workdir: &Path, target: &str, seen: ObjectId, candidate: ObjectId) -> Result<Option<Stop>> {
    let full = format!("refs/heads/{target}");
    if let Some(wt) = checked_out_in(workdir, &full)? {
        if let Some(stop) = dirty_checkout(workdir, target)? {
            return Ok(Some(stop));
        }
        if crate::repo::branch_tip(repo, target)? != Some(seen) {
            return Ok(Some(Stop::TargetMoved {
                target: target.to_string(),
            }));
        }
        // `git merge` moves whatever HEAD names: make sure it still names the target.
        if crate::worktree::current_branch(&wt)?.as_deref() == Some(full.as_str()) {
            process::git_in(&wt, &["merge", "--ff-only", "-q", &candidate.to_string()])?;
            return Ok(None);
        }
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
