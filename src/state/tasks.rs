//! Task refs: the states, one listing of refs/agents/ as a `Snapshot`, a
//! task's history, and `move_task`, the one transition every protocol
//! decision ends in.

use std::collections::BTreeMap;

use gix::ObjectId;

use super::store::Store;
use super::{agent_record, objects, task_record};
use super::{delete, expect, update, AgentRecord, TaskRecord, WriteError, AGENTS_PREFIX, TASKS_PREFIX};
use crate::error::{Context, Result};

/// The states a task ref can be in; the state is the ref's namespace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    #[default]
    Available,
    Claimed,
    Done,
    Blocked,
    Merged,
}

impl TaskState {
    pub const ALL: [TaskState; 5] = [
        TaskState::Available,
        TaskState::Claimed,
        TaskState::Done,
        TaskState::Blocked,
        TaskState::Merged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Available => "available",
            TaskState::Claimed => "claimed",
            TaskState::Done => "done",
            TaskState::Blocked => "blocked",
            TaskState::Merged => "merged",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    pub fn ref_name(self, id: &str) -> String {
        format!("{TASKS_PREFIX}{}/{id}", self.as_str())
    }

    /// Done or merged: dependents may start.
    pub fn is_complete(self) -> bool {
        matches!(self, TaskState::Done | TaskState::Merged)
    }
}

/// The state's one word, the same in messages as in ref names; `pad`
/// keeps widths such as `{:<9}` working.
impl std::fmt::Display for TaskState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// Where a task stands, as one listing of refs shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRef {
    pub state: TaskState,
    pub oid: ObjectId,
    /// Refs of the same task under other states, left by a crash in the
    /// middle of a transaction; the next write of this task deletes them.
    pub leftovers: Vec<(TaskState, ObjectId)>,
}

/// Everything under refs/agents/ that one listing tells, without reading objects
/// (except to settle the rare task listed under two states).
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub tasks: BTreeMap<String, TaskRef>,
    pub agents: BTreeMap<String, ObjectId>,
}

/// Every task ref, unresolved: a task can show under two states.
pub fn list_tasks(repo: &Store) -> Result<BTreeMap<String, Vec<(TaskState, ObjectId)>>> {
    Ok(list(repo)?.0)
}

type Listing = (BTreeMap<String, Vec<(TaskState, ObjectId)>>, BTreeMap<String, ObjectId>);

/// Lists refs/agents/. A ref deleted by a concurrent transaction between
/// the directory scan and the read makes the listing unreliable, so it is
/// taken again (a transaction that moved a task may have added its new ref
/// where the scan had already passed).
fn list(repo: &Store) -> Result<Listing> {
    repo.backend().refresh(repo)?;
    let mut last_error = None;
    for _ in 0..20 {
        match list_once(repo)? {
            Scan::Listed(listing) => return Ok(listing),
            Scan::Vanished(e) => last_error = Some(e),
        }
    }
    Err(
        crate::error::Error::failure("cannot list refs under refs/agents: they keep changing")
            .cause(last_error.unwrap_or_default()),
    )
}

/// One scan of refs/agents/.
enum Scan {
    Listed(Listing),
    /// A ref vanished between the directory scan and its read (gix's
    /// message): the listing cannot be trusted, take it again.
    Vanished(String),
}

fn list_once(repo: &gix::Repository) -> Result<Scan> {
    let mut tasks: BTreeMap<String, Vec<(TaskState, ObjectId)>> = BTreeMap::new();
    let mut agents = BTreeMap::new();
    let platform = repo.references().context(|| "cannot list refs".into())?;
    let iter = platform
        .prefixed("refs/agents/")
        .context(|| "cannot list refs under refs/agents".into())?;
    for reference in iter {
        let reference = match reference {
            Ok(r) => r,
            Err(e) => return Ok(Scan::Vanished(format!("{e:#}"))),
        };
        let Some(oid) = reference.try_id().map(|id| id.detach()) else {
            continue;
        };
        let name = reference.name().as_bstr().to_string();
        if let Some(rest) = name.strip_prefix(TASKS_PREFIX) {
            let Some((state, id)) = rest.split_once('/') else {
                continue;
            };
            let Some(state) = TaskState::parse(state) else { continue };
            tasks.entry(id.to_string()).or_default().push((state, oid));
        } else if let Some(agent) = name.strip_prefix(AGENTS_PREFIX) {
            agents.insert(agent.to_string(), oid);
        }
    }
    Ok(Scan::Listed((tasks, agents)))
}

/// Lists refs/agents/ once and resolves every task to one state.
pub fn snapshot(repo: &Store) -> Result<Snapshot> {
    let (tasks, agents) = list(repo)?;
    let mut out = Snapshot {
        agents,
        ..Snapshot::default()
    };
    for (id, mut refs) in tasks {
        if refs.len() > 1 {
            // The newest link descends from the others (each transition's commit
            // has the previous one as parent); put it first.
            let newest = (0..refs.len())
                .find(|&i| (0..refs.len()).all(|j| i == j || descends(repo, refs[i].1, refs[j].1)))
                .unwrap_or(0);
            refs.swap(0, newest);
        }
        let (state, oid) = refs[0];
        out.tasks.insert(
            id,
            TaskRef {
                state,
                oid,
                leftovers: refs[1..].to_vec(),
            },
        );
    }
    Ok(out)
}

/// Whether `ancestor` is on the first-parent chain of `commit`.
fn descends(repo: &gix::Repository, commit: ObjectId, ancestor: ObjectId) -> bool {
    let mut current = commit;
    for _ in 0..10_000 {
        let Ok(c) = repo.find_commit(current) else { return false };
        let parent = c.parent_ids().next().map(|p| p.detach());
        match parent {
            Some(p) if p == ancestor => return true,
            Some(p) => current = p,
            None => return false,
        }
    }
    false
}

/// A task's history commits, newest first: (commit, record, message, time).
pub fn history(repo: &gix::Repository, head: ObjectId) -> Result<Vec<(ObjectId, TaskRecord, String, i64)>> {
    let mut out = Vec::new();
    let mut current = Some(head);
    while let Some(oid) = current {
        let commit = repo
            .find_commit(oid)
            .context(|| format!("cannot read task commit {oid}"))?;
        let message = commit.message_raw_sloppy().to_string();
        let time = commit.time().map(|t| t.seconds).unwrap_or(0);
        current = commit.parent_ids().next().map(|p| p.detach());
        out.push((oid, TaskRecord::read(repo, oid)?, message, time));
    }
    Ok(out)
}

/// One task transition: the task moves from `from` to `record.state`.
pub struct Move<'a> {
    pub id: &'a str,
    pub from: &'a TaskRef,
    pub record: TaskRecord,
    pub message: String,
    /// Register or refresh an agent in the same transaction: its new record
    /// and the ref value we read (`None`: not registered yet).
    pub agent: Option<(AgentRecord, Option<ObjectId>)>,
}

/// Writes the next link of a task's history and moves its ref, all in one
/// transaction that fails with [`WriteError::Moved`] if anyone got there first.
pub fn move_task(repo: &Store, m: Move<'_>) -> std::result::Result<ObjectId, WriteError> {
    let tree = objects::write_tree(
        repo,
        &[(task_record::TASK_FILE.into(), m.record.to_toml()?.into_bytes())],
    )?;
    let commit = objects::write_commit(repo, &m.message, tree, [m.from.oid])?;
    let mut edits = Vec::new();
    let to = m.record.state;
    if to == m.from.state {
        edits.push(update(
            &to.ref_name(m.id),
            commit,
            expect(Some(m.from.oid)),
            &m.message,
        )?);
    } else {
        edits.push(delete(&m.from.state.ref_name(m.id), m.from.oid)?);
        edits.push(update(&to.ref_name(m.id), commit, expect(None), &m.message)?);
    }
    for &(state, oid) in &m.from.leftovers {
        if state != to {
            edits.push(delete(&state.ref_name(m.id), oid)?);
        }
    }
    if let Some((agent, old)) = &m.agent {
        let tree = objects::write_tree(
            repo,
            &[(agent_record::AGENT_FILE.into(), agent.to_toml()?.into_bytes())],
        )?;
        let parents: Vec<ObjectId> = old.iter().copied().collect();
        let message = format!("agent {} at {}", agent.name, agent.heartbeat);
        let agent_commit = objects::write_commit(repo, &message, tree, parents)?;
        edits.push(update(
            &AgentRecord::ref_name(&agent.name),
            agent_commit,
            expect(*old),
            &message,
        )?);
    }
    repo.backend().commit(repo, edits)?;
    Ok(commit)
}

/// Deletes the refs a crash left for task `id` under other states than its
/// resolved one (see [`snapshot`]), each expecting the value listed.
pub fn drop_leftovers(repo: &Store, id: &str, task: &TaskRef) -> std::result::Result<(), WriteError> {
    let edits = task
        .leftovers
        .iter()
        .map(|&(state, oid)| delete(&state.ref_name(id), oid))
        .collect::<Result<Vec<_>>>()?;
    if edits.is_empty() {
        return Ok(());
    }
    repo.backend().commit(repo, edits)
}
