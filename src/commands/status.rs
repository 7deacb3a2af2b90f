//! `git agents status`: counts, agents and tasks, from one ref listing and
//! the few task objects that must be read (touched tasks only).

use std::collections::BTreeMap;

use clap::Args;
use serde::Serialize;

use crate::error::Result;
use crate::protocol::{self, Context, Readiness};
use crate::state::{self, TaskRecord, TaskState};
use crate::ui::Ui;

/// Show tasks, agents and progress
///
/// The first line counts tasks: `N completed / M total (K in progress, F
/// failed, B blocked)`, where completed is done or merged and failed counts
/// tasks with a failed attempt that are not done. Then one line per agent
/// (its task, lease, STALE when the lease ran out) and one per task. A
/// task's attempts (--json, --markdown) count every attempt made, the
/// running one included; failed_attempts (--json) only those that failed.
///
/// --markdown writes the same as a report to paste into an issue or commit
/// as status.md: overview, agents, tasks, blocked tasks with their
/// reasons, and next steps.
///
/// Examples:
///
///   git agents status
///   git agents status --json | jq .completed
///   git agents status --markdown > status.md
///   git agents status --watch --interval 5s
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct StatusArgs {
    /// Print the status as JSON
    #[arg(long, conflicts_with = "markdown")]
    pub json: bool,
    /// Print the status as a markdown report
    #[arg(long, conflicts_with = "watch")]
    pub markdown: bool,
    /// Keep showing the status, redrawn every --interval (q or Ctrl-C quits)
    #[arg(long, conflicts_with = "json")]
    pub watch: bool,
    /// How often --watch refreshes
    #[arg(long, value_name = "DURATION", default_value = "2s", requires = "watch")]
    pub interval: String,
}

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

/// The merge lock as people need to see it.
fn merge_line(repo: &gix::Repository) -> Result<Option<MergeLine>> {
    let Some((_, record)) = state::read_merge(repo)? else {
        return Ok(None);
    };
    let integration = crate::repo::workdir(repo)
        .map(|w| {
            crate::worktree::root(repo, &w)
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

#[derive(Debug, Serialize)]
pub(crate) struct AgentLine {
    pub(crate) name: String,
    pub(crate) tasks: Vec<String>,
    pub(crate) claimed_at: Option<i64>,
    pub(crate) lease_until: Option<i64>,
    pub(crate) stale: bool,
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
}

pub fn run(args: &StatusArgs, ui: &Ui) -> Result<()> {
    if args.watch {
        return super::status_watch::run(&args.interval, ui);
    }
    let repo = crate::repo::open()?;
    let ctx = Context::load(&repo)?;
    let status = gather(&ctx)?;
    if args.json {
        ui.json(&status);
    } else if args.markdown {
        ui.result(&super::status_markdown::render(&status, ctx.now, &ctx.plan.plan.base));
    } else {
        ui.result(&human(&status, ctx.now));
    }
    Ok(())
}

pub fn gather(ctx: &Context<'_>) -> Result<Status> {
    let repo = ctx.repo;
    let plan = &ctx.plan.plan;
    let mut snap = state::snapshot(repo)?;
    // A task is in no state for an instant while a transition commits; look again.
    for _ in 0..10 {
        if plan.tasks.iter().all(|t| snap.tasks.contains_key(&t.id)) {
            break;
        }
        snap = state::snapshot(repo)?;
    }
    let branches = crate::repo::task_branches(repo)?;
    let base = crate::repo::branch_tip(repo, &plan.base)?;
    let mut tasks = Vec::with_capacity(plan.tasks.len());
    for def in &plan.tasks {
        let Some(tref) = snap.tasks.get(&def.id) else { continue };
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
        let readiness = protocol::readiness_of(def, &snap);
        let tip = branches.get(&def.id);
        // The task's own commits: not the base's, and not those of the start
        // point the runner made (its dependencies' merged work).
        let start = record
            .start
            .as_deref()
            .and_then(|s| gix::ObjectId::from_hex(s.as_bytes()).ok());
        let ahead = match (tip, base) {
            (Some(&tip), Some(base)) => Some(own_commits(repo, tip, base, start)?),
            _ => None,
        };
        tasks.push(TaskLine {
            id: def.id.clone(),
            state: tref.state,
            attempts: record.attempts_made(tref.state),
            failed_attempts: record.attempts,
            agent: record.agent.clone().filter(|_| tref.state != TaskState::Available),
            // A branch only counts once it exists or the task is held.
            branch: match (tip, tref.state) {
                (Some(_), _) => Some(format!("agents/{}", def.id)),
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
        });
    }
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
        .map(|(name, _)| {
            let line = AgentLine {
                name: name.clone(),
                tasks: Vec::new(),
                claimed_at: None,
                lease_until: None,
                stale: false,
            };
            (name.clone(), line)
        })
        .collect();
    for t in tasks.iter().filter(|t| t.state == TaskState::Claimed) {
        let Some(name) = &t.agent else { continue };
        let line = agents.entry(name.clone()).or_insert_with(|| AgentLine {
            name: name.clone(),
            tasks: Vec::new(),
            claimed_at: None,
            lease_until: None,
            stale: false,
        });
        line.tasks.push(t.id.clone());
        line.claimed_at = t.claimed_at;
        line.lease_until = t.lease_until;
        line.stale |= t.stale;
    }
    let count = |f: &dyn Fn(&TaskLine) -> bool| tasks.iter().filter(|t| f(t)).count();
    Ok(Status {
        total: plan.tasks.len(),
        completed: count(&|t| t.state.is_complete()),
        in_progress: count(&|t| t.state == TaskState::Claimed),
        // Failed at least once and still to be retried; blocked ones count apart.
        failed: count(&|t| t.failed_attempts > 0 && !t.state.is_complete() && t.state != TaskState::Blocked),
        blocked: count(&|t| t.state == TaskState::Blocked),
        available: count(&|t| t.state == TaskState::Available),
        agents: agents.into_values().collect(),
        tasks,
        merge: merge_line(repo)?,
    })
}

/// `N completed / M total (K in progress, F failed, B blocked)`
pub fn counts_line(s: &Status) -> String {
    format!(
        "{} completed / {} total ({} in progress, {} failed, {} blocked)",
        s.completed, s.total, s.in_progress, s.failed, s.blocked
    )
}

pub(crate) fn human(s: &Status, now: i64) -> String {
    let mut out = format!("{}\n", counts_line(s));
    if !s.agents.is_empty() {
        out.push('\n');
        let rows: Vec<Vec<String>> = s
            .agents
            .iter()
            .map(|a| {
                let work = if a.tasks.is_empty() {
                    "idle".to_string()
                } else {
                    a.tasks.join(", ")
                };
                let lease = match (a.claimed_at, a.lease_until) {
                    (Some(at), Some(until)) if until < now => format!(
                        "claimed {} ago, STALE: lease expired {} ago",
                        protocol::age(now - at),
                        protocol::age(now - until)
                    ),
                    (Some(at), Some(until)) => format!(
                        "claimed {} ago, lease {} left",
                        protocol::age(now - at),
                        protocol::age(until - now)
                    ),
                    _ => String::new(),
                };
                vec![a.name.clone(), work, lease]
            })
            .collect();
        out.push_str(&table(&rows));
    }
    out.push('\n');
    let rows: Vec<Vec<String>> = s
        .tasks
        .iter()
        .map(|t| {
            let state = if t.stale {
                "claimed STALE".to_string()
            } else {
                t.state.as_str().to_string()
            };
            let mut notes = Vec::new();
            match t.state {
                TaskState::Available if t.ready => notes.push("ready".to_string()),
                TaskState::Available => notes.push(format!("waits for {}", t.waiting_for.join(", "))),
                _ => {}
            }
            if t.failed_attempts > 0 && !t.state.is_complete() {
                let plural = if t.failed_attempts == 1 { "" } else { "s" };
                let why = t.last_failure.as_deref().unwrap_or("?");
                notes.push(format!("{} failed attempt{plural}, last: {why}", t.failed_attempts));
            }
            vec![
                t.id.clone(),
                state,
                t.agent.clone().unwrap_or_else(|| "-".into()),
                t.branch.clone().unwrap_or_else(|| "-".into()),
                t.ahead.map_or_else(String::new, |n| format!("+{n}")),
                notes.join("; "),
            ]
        })
        .collect();
    out.push_str(&table(&rows));
    if let Some(m) = &s.merge {
        out.push('\n');
        out.push_str(&merge_text(m));
    }
    out
}

/// Commits on `tip` that neither the base nor the task's start point has:
/// with dependencies merged into the start, `base..tip` would also count
/// every commit of theirs ("+9" for a task that made one).
fn own_commits(
    repo: &gix::Repository,
    tip: gix::ObjectId,
    base: gix::ObjectId,
    start: Option<gix::ObjectId>,
) -> Result<usize> {
    use crate::error::Context as _;
    let Some(start) = start.filter(|s| repo.find_commit(*s).is_ok()) else {
        return crate::repo::commits_ahead(repo, tip, base);
    };
    let walk = repo
        .rev_walk([tip])
        .with_hidden([base, start])
        .all()
        .context(|| format!("cannot walk history from {tip}"))?;
    let mut count = 0;
    for info in walk {
        info.context(|| format!("cannot walk history from {tip}"))?;
        count += 1;
    }
    Ok(count)
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

/// Left-aligned columns, two spaces apart, no trailing spaces.
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::from("  ");
        for (c, cell) in row.iter().enumerate() {
            line.push_str(cell);
            line.push_str(&" ".repeat(widths[c] - cell.chars().count() + 2));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
