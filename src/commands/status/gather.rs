//! The status as a value: counts, agents and tasks, from one ref listing and
//! the few task objects that must be read (touched tasks only), plus the
//! text pieces every form shares. Nothing here prints; `spawn` uses it too.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::Result;
use crate::protocol::{self, Context, Readiness};
use crate::state::Store;
use crate::state::{self, Snapshot, TaskRecord, TaskRef, TaskState};

#[derive(Debug, Serialize)]
pub struct Status {
    pub(crate) total: usize,
    pub(crate) completed: usize,
    pub(crate) in_progress: usize,
    pub(crate) failed: usize,
    pub(crate) blocked: usize,
    pub(crate) available: usize,
    pub(crate) agents: Vec<AgentLine>,
    pub tasks: Vec<TaskLine>,
    /// A merge that is running or waits for a person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) merge: Option<MergeLine>,
}

#[derive(Debug, Serialize)]
pub(crate) struct MergeLine {
    pub(crate) target: String,
    /// `running`, or `stopped` on a conflict or a red test.
    pub(crate) state: &'static str,
    pub(crate) task: Option<String>,
    pub(crate) why: Option<String>,
    pub(crate) paths: Vec<String>,
    pub(crate) integration: String,
    pub(crate) next: Vec<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct AgentLine {
    pub(crate) name: String,
    pub(crate) tasks: Vec<String>,
    pub(crate) claimed_at: Option<i64>,
    pub(crate) lease_until: Option<i64>,
    pub(crate) stale: bool,
}

impl AgentLine {
    fn idle(name: &str) -> Self {
        AgentLine {
            name: name.to_string(),
            tasks: Vec::new(),
            claimed_at: None,
            lease_until: None,
            stale: false,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct TaskLine {
    pub id: String,
    pub state: TaskState,
    /// Attempts made: the failed ones plus the running or successful one.
    pub(crate) attempts: u32,
    /// Attempts that failed (what `max_attempts` counts).
    pub(crate) failed_attempts: u32,
    pub(crate) agent: Option<String>,
    pub(crate) branch: Option<String>,
    /// The task's own commits: on its branch, not on the base, not in its start point.
    pub(crate) ahead: Option<usize>,
    pub(crate) ready: bool,
    pub(crate) waiting_for: Vec<String>,
    pub(crate) stale: bool,
    pub(crate) claimed_at: Option<i64>,
    pub(crate) lease_until: Option<i64>,
    pub last_failure: Option<String>,
    /// The holding agent's newest `git agents progress` message, and when.
    pub(crate) progress: Option<String>,
    pub(crate) progress_at: Option<i64>,
}

pub fn gather(ctx: &Context<'_>) -> Result<Status> {
    let repo = ctx.repo;
    let plan = &ctx.plan.plan;
    let snap = settled_snapshot(repo, plan)?;
    let branches = crate::repo::task_branches(repo)?;
    let base = crate::repo::branch_tip(repo, &plan.base)?;
    let mut tasks = Vec::with_capacity(plan.tasks.len());
    for def in &plan.tasks {
        let Some(tref) = snap.tasks.get(&def.id) else { continue };
        tasks.push(task_line(ctx, &snap, def, tref, branches.get(&def.id).copied(), base)?);
    }
    let agents = agent_lines(repo, &snap, &tasks);
    let count = |f: &dyn Fn(&TaskLine) -> bool| tasks.iter().filter(|t| f(t)).count();
    Ok(Status {
        total: plan.tasks.len(),
        completed: count(&|t| t.state.is_complete()),
        in_progress: count(&|t| t.state == TaskState::Claimed),
        // Failed at least once and still to be retried; blocked ones count apart.
        failed: count(&|t| t.failed_attempts > 0 && !t.state.is_complete() && t.state != TaskState::Blocked),
        blocked: count(&|t| t.state == TaskState::Blocked),
        available: count(&|t| t.state == TaskState::Available),
        agents,
        tasks,
        merge: merge_line(repo)?,
    })
}

/// A listing in which every planned task has a state.
fn settled_snapshot(repo: &Store, plan: &crate::plan::Plan) -> Result<Snapshot> {
    let mut snap = state::snapshot(repo)?;
    // A task is in no state for an instant while a transition commits; look again.
    for _ in 0..10 {
        if plan.tasks.iter().all(|t| snap.tasks.contains_key(&t.id)) {
            break;
        }
        snap = state::snapshot(repo)?;
    }
    Ok(snap)
}

/// One task's line: its record (read only once the task was touched), its
/// readiness and the commits on its branch.
fn task_line(
    ctx: &Context<'_>,
    snap: &Snapshot,
    def: &crate::plan::Task,
    tref: &TaskRef,
    tip: Option<gix::ObjectId>,
    base: Option<gix::ObjectId>,
) -> Result<TaskLine> {
    let repo = ctx.repo;
    // An untouched task still points at its computable first commit.
    let untouched = tref.state == TaskState::Available
        && tref.leftovers.is_empty()
        && state::initial_commit(repo.object_hash(), &def.id)?.id(repo.object_hash())? == tref.oid;
    let record = if untouched {
        None
    } else {
        Some(TaskRecord::read(repo, tref.oid)?)
    };
    let record = record.unwrap_or_default();
    let readiness = protocol::readiness_of(def, snap);
    // The task's own commits: not the base's, and not those of the start
    // point the runner made (its dependencies' merged work).
    let start = record.start;
    let ahead = match (tip, base) {
        (Some(tip), Some(base)) => Some(own_commits(repo, tip, base, start)?),
        _ => None,
    };
    Ok(TaskLine {
        id: def.id.clone(),
        state: tref.state,
        attempts: record.attempts_made(tref.state),
        failed_attempts: record.attempts,
        agent: record.agent.clone().filter(|_| tref.state != TaskState::Available),
        // A branch only counts once it exists or the task is held.
        branch: match (tip, tref.state) {
            (Some(_), _) => Some(crate::layout::task_branch(&def.id)),
            (None, TaskState::Claimed | TaskState::Done) => record.branch.clone(),
            _ => None,
        },
        ahead,
        ready: readiness == Readiness::Ready,
        waiting_for: match readiness {
            Readiness::Waiting(deps) => deps,
            _ => Vec::new(),
        },
        stale: protocol::is_stale(&record, ctx.now),
        claimed_at: record.claimed_at.filter(|_| tref.state == TaskState::Claimed),
        lease_until: record.lease_until.filter(|_| tref.state == TaskState::Claimed),
        last_failure: record.last_failure.clone(),
        progress: record.progress.clone().filter(|_| tref.state == TaskState::Claimed),
        progress_at: record.progress_at.filter(|_| tref.state == TaskState::Claimed),
    })
}

/// Every agent with a record, and every agent a claimed task names, with
/// the tasks it holds.
fn agent_lines(repo: &Store, snap: &Snapshot, tasks: &[TaskLine]) -> Vec<AgentLine> {
    // An agent whose worktree `clean` removed is gone, not idle (agents
    // that drive the lock protocol themselves record no worktree).
    let mut agents: BTreeMap<String, AgentLine> = snap
        .agents
        .iter()
        .filter(|(_, oid)| {
            state::AgentRecord::read(repo, **oid)
                .ok()
                .and_then(|r| r.worktree)
                .is_none_or(|w| std::path::Path::new(&w).exists())
        })
        .map(|(name, _)| (name.clone(), AgentLine::idle(name)))
        .collect();
    for t in tasks.iter().filter(|t| t.state == TaskState::Claimed) {
        let Some(name) = &t.agent else { continue };
        let line = agents.entry(name.clone()).or_insert_with(|| AgentLine::idle(name));
        line.tasks.push(t.id.clone());
        line.claimed_at = t.claimed_at;
        line.lease_until = t.lease_until;
        line.stale |= t.stale;
    }
    agents.into_values().collect()
}

/// The merge lock as people need to see it.
fn merge_line(repo: &Store) -> Result<Option<MergeLine>> {
    let Some((_, record)) = state::read_merge(repo)? else {
        return Ok(None);
    };
    let integration = crate::repo::workdir(repo)
        .map(|w| {
            crate::worktree::root(repo.settings(), &w)
                .join("integration")
                .display()
                .to_string()
        })
        .unwrap_or_default();
    let (state, next) = match &record.stopped_task {
        Some(task) => (
            "stopped",
            vec![
                format!("resolve in {integration}, `git commit` there, then `git agents merge --continue`"),
                format!("or give it up: `git agents merge --abort` (then `git agents requeue {task}` to redo it)"),
            ],
        ),
        None if record.gone() => (
            "stale",
            vec!["its process is gone: `git agents merge --force` takes over".into()],
        ),
        None => ("running", vec![format!("pid {} on {}", record.pid, record.host)]),
    };
    Ok(Some(MergeLine {
        target: record.target,
        state,
        task: record.stopped_task,
        why: record.why,
        paths: record.paths,
        integration,
        next,
    }))
}

/// Commits on `tip` that neither the base nor the task's start point has:
/// with dependencies merged into the start, `base..tip` would also count
/// every commit of theirs ("+9" for a task that made one).
fn own_commits(repo: &Store, tip: gix::ObjectId, base: gix::ObjectId, start: Option<gix::ObjectId>) -> Result<usize> {
    match start.filter(|s| repo.find_commit(*s).is_ok()) {
        Some(start) => crate::repo::commits_ahead_of_all(repo, tip, &[base, start]),
        None => crate::repo::commits_ahead(repo, tip, base),
    }
}

/// `N completed / M total (K in progress, F failed, B blocked)`
pub fn counts_line(s: &Status) -> String {
    format!(
        "{} completed / {} total ({} in progress, {} failed, {} blocked)",
        s.completed, s.total, s.in_progress, s.failed, s.blocked
    )
}

/// The merge lock in a few lines (human and markdown output share it).
pub(crate) fn merge_text(m: &MergeLine) -> String {
    let mut out = match (&m.task, &m.why) {
        (Some(task), why) => format!(
            "merge into {} stopped at `{task}`: {}\n",
            m.target,
            why.as_deref().unwrap_or("stopped")
        ),
        (None, _) => format!("merge into {}: {}\n", m.target, m.state),
    };
    if !m.paths.is_empty() {
        out.push_str(&format!("  paths: {}\n", m.paths.join(", ")));
    }
    for step in &m.next {
        out.push_str(&format!("  {step}\n"));
    }
    out
}
