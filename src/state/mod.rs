//! The state layer: the only code that writes under `refs/agents/`. Every
//! write is one ref transaction with expected old values, so racing writers
//! never overwrite each other (the ref layout is in ARCHITECTURE.md).

mod agent_record;
pub mod backend;
mod objects;
mod plan_record;
pub mod remote;
mod store;
mod task_record;
mod transaction;
mod write_error;

pub use agent_record::{AgentRecord, AGENTS_PREFIX};
pub use objects::write_commit;
pub use plan_record::{load_prompts, read_plan, read_prompt, record_plan, PlanChange, Recorded, RecordedPlan};
pub use store::{Shared, Store};
pub use task_record::{initial_commit, TaskRecord};
pub use write_error::WriteError;

use std::collections::BTreeMap;

use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};
use gix::refs::Target;
use gix::ObjectId;

use crate::error::{Context, Result};

pub const PLAN_REF: &str = "refs/agents/plan";
pub const TASKS_PREFIX: &str = "refs/agents/tasks/";

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
            Ok(listing) => return Ok(listing),
            Err(e) => last_error = Some(e),
        }
    }
    Err(
        crate::error::Error::failure("cannot list refs under refs/agents: they keep changing")
            .cause(last_error.unwrap_or_default()),
    )
}

fn list_once(repo: &gix::Repository) -> Result<std::result::Result<Listing, String>> {
    let mut tasks: BTreeMap<String, Vec<(TaskState, ObjectId)>> = BTreeMap::new();
    let mut agents = BTreeMap::new();
    let platform = repo.references().context(|| "cannot list refs".into())?;
    let iter = platform
        .prefixed("refs/agents/")
        .context(|| "cannot list refs under refs/agents".into())?;
    for reference in iter {
        let reference = match reference {
            Ok(r) => r,
            Err(e) => return Ok(Err(format!("{e:#}"))),
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
    Ok(Ok((tasks, agents)))
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

/// Lock files in the git directory (refs, `packed-refs.lock`, worktrees'
/// `index.lock` and `HEAD.lock`; objects are not looked at) with their age,
/// oldest first. A crash can leave one behind; git and git-agents then
/// refuse to write what it locks.
pub fn lock_files(repo: &gix::Repository) -> Vec<(std::path::PathBuf, std::time::Duration)> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "objects") {
                    walk(&path, out);
                }
            } else if path.extension().is_some_and(|e| e == "lock") {
                out.push(path);
            }
        }
    }
    let mut paths = Vec::new();
    walk(repo.common_dir(), &mut paths);
    let now = std::time::SystemTime::now();
    let mut found: Vec<_> = paths
        .into_iter()
        .filter_map(|p| {
            let modified = std::fs::metadata(&p).and_then(|m| m.modified()).ok()?;
            Some((p, now.duration_since(modified).unwrap_or_default()))
        })
        .collect();
    found.sort_by_key(|f| std::cmp::Reverse(f.1));
    found
}

/// Applies ref edits built by other state modules.
fn expect(old: Option<ObjectId>) -> PreviousValue {
    match old {
        Some(oid) => PreviousValue::MustExistAndMatch(Target::Object(oid)),
        None => PreviousValue::MustNotExist,
    }
}

fn update(name: &str, new: ObjectId, expected: PreviousValue, message: &str) -> Result<RefEdit> {
    Ok(RefEdit {
        change: Change::Update {
            log: LogChange {
                mode: RefLog::AndReference,
                force_create_reflog: false,
                message: message.into(),
            },
            expected,
            new: Target::Object(new),
        },
        name: name
            .try_into()
            .context(|| format!("`{name}` is not a valid ref name"))?,
        deref: false,
    })
}

fn delete(name: &str, old: ObjectId) -> Result<RefEdit> {
    Ok(RefEdit {
        change: Change::Delete {
            expected: PreviousValue::MustExistAndMatch(Target::Object(old)),
            log: RefLog::AndReference,
        },
        name: name
            .try_into()
            .context(|| format!("`{name}` is not a valid ref name"))?,
        deref: false,
    })
}

pub const MERGE_REF: &str = "refs/agents/merge";
pub const NOTES_REF: &str = "refs/notes/agents";

/// `refs/agents/merge` while a merge runs or is stopped: one merge per
/// repository. Released (deleted, expecting our own value) when dropped,
/// unless [`MergeLock::stop`] turned it into a stopped merge.
pub struct MergeLock<'r> {
    repo: &'r Store,
    oid: ObjectId,
    keep: bool,
}

/// `merge.toml`: who holds the merge lock, and where a stopped merge stopped.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct MergeRecord {
    pub target: String,
    pub host: String,
    pub pid: u32,
    pub started: i64,
    /// Set while the merge is stopped on this task (conflict or red test).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_task: Option<String>,
    /// The target commit the stopped merge last saw.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "objects::oid_text")]
    pub seen: Option<ObjectId>,
    /// Why it stopped (`conflict` or `test failed`) and what it touched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// The options of the stopped run; `--continue` goes on with them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<MergeOptions>,
}

/// The options a stopped merge remembers for `--continue`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MergeOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<String>,
    #[serde(default)]
    pub squash: bool,
    #[serde(default)]
    pub retries: u32,
    #[serde(default)]
    pub no_cache: bool,
}

/// Where and why a merge stopped, for [`MergeLock::stop`].
pub struct StopPoint<'a> {
    pub task: &'a str,
    pub seen: ObjectId,
    pub why: &'a str,
    pub paths: Vec<String>,
    pub options: MergeOptions,
}

impl MergeRecord {
    fn running(target: &str) -> Self {
        MergeRecord {
            target: target.to_string(),
            host: crate::host::name(),
            pid: std::process::id(),
            started: crate::settings::now_seconds(),
            stopped_task: None,
            seen: None,
            why: None,
            paths: Vec::new(),
            options: None,
        }
    }

    /// Its process is gone (same host, pid not running).
    pub fn gone(&self) -> bool {
        self.host == crate::host::name() && !std::path::Path::new(&format!("/proc/{}", self.pid)).exists()
    }

    fn write(&self, repo: &gix::Repository) -> Result<ObjectId> {
        let text = toml::to_string(self).context(|| format!("cannot write the merge.toml of {MERGE_REF}"))?;
        let tree = objects::write_tree(repo, &[("merge.toml".into(), text.into_bytes())])?;
        objects::write_commit(repo, &format!("merge into {}", self.target), tree, None)
    }
}

/// The merge lock's value and record, if held.
pub fn read_merge(repo: &Store) -> Result<Option<(ObjectId, MergeRecord)>> {
    repo.backend().refresh(repo)?;
    let _ = repo.refs.force_refresh_packed_buffer();
    let Some(oid) = repo
        .try_find_reference(MERGE_REF)
        .context(|| format!("cannot read {MERGE_REF}"))?
        .and_then(|r| r.try_id().map(|i| i.detach()))
    else {
        return Ok(None);
    };
    let text = objects::read_file(repo, oid, "merge.toml").unwrap_or_default();
    Ok(Some((oid, toml::from_str(&text).unwrap_or_default())))
}

impl<'r> MergeLock<'r> {
    /// Takes the lock for a new run; with `force`, also from a run whose
    /// process is gone. A live run is never taken over, a stopped one only
    /// by `--continue` ([`Self::resume`]) or `--abort`.
    pub fn take(repo: &'r Store, target: &str, force: bool) -> Result<Self> {
        let mine = MergeRecord::running(target).write(repo)?;
        for _ in 0..10 {
            let held = read_merge(repo)?;
            if let Some((_, other)) = &held {
                if let Some(task) = &other.stopped_task {
                    return Err(crate::error::Error::usage(format!(
                        "a merge into {} is stopped at task `{task}`",
                        other.target
                    ))
                    .hint("resolve it in the integration worktree and run `git agents merge --continue`")
                    .hint("or give it up with `git agents merge --abort`"));
                }
                if !(force && other.gone()) {
                    let err = crate::error::Error::failure("another `git agents merge` holds refs/agents/merge")
                        .detail(format!(
                            "pid {} on {}, into {}, since {}",
                            other.pid, other.host, other.target, other.started
                        ));
                    return Err(if other.gone() {
                        err.hint("its process is gone: take over with `git agents merge --force`")
                    } else {
                        err.hint("wait for it to finish")
                    });
                }
            }
            let edit = update(MERGE_REF, mine, expect(held.map(|(o, _)| o)), "merge started")?;
            match repo.backend().commit(repo, vec![edit]) {
                Ok(()) => {
                    return Ok(MergeLock {
                        repo,
                        oid: mine,
                        keep: false,
                    })
                }
                Err(WriteError::Moved) => continue,
                Err(WriteError::Failed(e)) => return Err(e),
            }
        }
        Err(crate::error::Error::failure("refs/agents/merge keeps changing").hint("run `git agents merge` again"))
    }

    /// Takes over a stopped merge to continue it; returns where it stopped.
    pub fn resume(repo: &'r Store) -> Result<(Self, MergeRecord)> {
        let Some((held, record)) = read_merge(repo)? else {
            return Err(crate::error::Error::usage("no merge is stopped").hint("start one with `git agents merge`"));
        };
        if record.stopped_task.is_none() {
            return Err(
                crate::error::Error::usage("the merge in progress is not stopped; nothing to continue")
                    .hint("wait for it, or if its process is gone, rerun with `git agents merge --force`"),
            );
        }
        let mine = MergeRecord::running(&record.target).write(repo)?;
        match repo.backend().commit(
            repo,
            vec![update(MERGE_REF, mine, expect(Some(held)), "merge continued")?],
        ) {
            Ok(()) => Ok((
                MergeLock {
                    repo,
                    oid: mine,
                    keep: false,
                },
                record,
            )),
            Err(WriteError::Moved) => Err(crate::error::Error::failure("the stopped merge changed meanwhile")
                .hint("run `git agents merge --continue` again")),
            Err(WriteError::Failed(e)) => Err(e),
        }
    }

    /// Turns this run into a stopped merge (see [`StopPoint`]).
    pub fn stop(mut self, at: StopPoint<'_>) -> Result<()> {
        let record: MergeRecord = objects::read_file(self.repo, self.oid, "merge.toml")
            .ok()
            .and_then(|t| toml::from_str(&t).ok())
            .unwrap_or_default();
        let stopped = MergeRecord {
            stopped_task: Some(at.task.to_string()),
            seen: Some(at.seen),
            why: Some(at.why.to_string()),
            paths: at.paths,
            options: Some(at.options),
            ..record
        }
        .write(self.repo)?;
        let edit = update(MERGE_REF, stopped, expect(Some(self.oid)), "merge stopped")?;
        self.repo.backend().commit(self.repo, vec![edit]).map_err(|e| match e {
            WriteError::Moved => crate::error::Error::failure("refs/agents/merge was changed by someone else"),
            WriteError::Failed(e) => e,
        })?;
        self.keep = true;
        Ok(())
    }

    /// Removes a stopped merge, or one whose process is gone; returns it.
    pub fn abort(repo: &Store) -> Result<Option<MergeRecord>> {
        let Some((held, record)) = read_merge(repo)? else {
            return Ok(None);
        };
        if record.stopped_task.is_none() && !record.gone() {
            return Err(
                crate::error::Error::usage("a merge is running; it cannot be aborted from here")
                    .detail(format!("pid {} on {}", record.pid, record.host))
                    .hint("stop that process first (Ctrl-C)"),
            );
        }
        match repo.backend().commit(repo, vec![delete(MERGE_REF, held)?]) {
            Ok(()) => Ok(Some(record)),
            Err(WriteError::Moved) => Err(crate::error::Error::failure("refs/agents/merge changed meanwhile")
                .hint("run `git agents merge --abort` again")),
            Err(WriteError::Failed(e)) => Err(e),
        }
    }
}

impl Drop for MergeLock<'_> {
    fn drop(&mut self) {
        if !self.keep {
            let _ = delete(MERGE_REF, self.oid).map(|edit| self.repo.backend().commit(self.repo, vec![edit]));
        }
    }
}

/// Moves branch `full` from `seen` to `new` by compare-and-swap; `false`
/// when someone else moved it first.
pub fn move_branch(repo: &gix::Repository, full: &str, seen: ObjectId, new: ObjectId) -> Result<bool> {
    let edit = update(full, new, expect(Some(seen)), "git agents merge")?;
    match repo.edit_reference(edit) {
        Ok(_) => Ok(true),
        Err(e) => {
            let now = repo
                .try_find_reference(full)
                .ok()
                .flatten()
                .and_then(|r| r.try_id().map(|i| i.detach()));
            if now != Some(seen) {
                Ok(false)
            } else {
                Err(crate::error::Error::failure(format!("cannot move {full}")).cause(e))
            }
        }
    }
}

/// Adds `text` as the note of `commit` on refs/notes/agents.
pub fn add_note(repo: &gix::Repository, commit: ObjectId, text: &str) -> Result<()> {
    let message = format!("git agents: note on {}", short(commit));
    replace_note(repo, NOTES_REF, commit, text, &message)
        .map_err(|e| crate::error::Error::failure(format!("cannot write the note on {commit}")).cause(e))
        .map_err(|e| transaction::with_lock_hint(repo, NOTES_REF, e))
}

/// The note `git agents merge` left on `commit`, if any.
pub fn merge_note(repo: &gix::Repository, commit: ObjectId) -> Option<String> {
    read_note(repo, NOTES_REF, commit)
}

/// Test results per tree: a note on the tree object, one `ok <command>`
/// line per command that passed on it, followed by a tab and the time it
/// passed (seconds since the epoch; older notes have no time).
pub const TESTS_NOTES_REF: &str = "refs/notes/agents-tests";

/// When `command` passed on `tree`: `Some(Some(time))`, `Some(None)` for a
/// note without a time, `None` when it never passed.
pub fn tested_green(repo: &gix::Repository, tree: ObjectId, command: &str) -> Option<Option<i64>> {
    let text = read_note(repo, TESTS_NOTES_REF, tree)?;
    text.lines().find_map(|l| {
        let rest = l.strip_prefix("ok ")?;
        match rest.rsplit_once('\t') {
            Some((cmd, time)) if cmd == command => Some(time.parse().ok()),
            None if rest == command => Some(None),
            _ => None,
        }
    })
}

/// Records that `command` passed on `tree` now.
pub fn record_green(repo: &gix::Repository, tree: ObjectId, command: &str) -> Result<()> {
    if tested_green(repo, tree, command).is_some() {
        return Ok(());
    }
    let existing = read_note(repo, TESTS_NOTES_REF, tree).unwrap_or_default();
    let line = format!("ok {command}\t{}", crate::settings::now_seconds());
    replace_note(
        repo,
        TESTS_NOTES_REF,
        tree,
        &format!("{existing}{line}\n"),
        &format!("git agents: ok {command}"),
    )
    .map_err(|e| crate::error::Error::failure(format!("cannot record the test result of {tree}")).cause(e))
    .map_err(|e| transaction::with_lock_hint(repo, TESTS_NOTES_REF, e))
}

/// The note of `object` on `notes_ref`, if any.
fn read_note(repo: &gix::Repository, notes_ref: &str, object: ObjectId) -> Option<String> {
    repo.notes()
        .and_then(|n| n.with_refs([notes_ref]))
        .and_then(|mut n| {
            let notes = n.get(object)?;
            Ok(notes
                .first()
                .map(|note| String::from_utf8_lossy(&note.blob.data).into_owned()))
        })
        .ok()
        .flatten()
}

/// Sets the note of `object` on `notes_ref`. gix's notes update fails when
/// the notes ref moved meanwhile (it compares and swaps); that is retried.
fn replace_note(
    repo: &gix::Repository,
    notes_ref: &str,
    object: ObjectId,
    text: &str,
    message: &str,
) -> std::result::Result<(), String> {
    let mut last = String::new();
    for _ in 0..20 {
        let attempt = repo
            .notes()
            .map(|n| n.with_commit_message(message))
            .and_then(|mut n| n.replace(notes_ref, object, text).map(|_| ()));
        match attempt {
            Ok(()) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    Err(last)
}

pub const BACKUP_PREFIX: &str = "refs/agents/backup/";

/// Saves `oid` (hex) under `refs/agents/backup/<name>`, never overwriting an
/// older backup (a numbered name is picked instead); returns the ref name.
/// Backups stay in this repository, also with a shared remote: they hold
/// this clone's work, and fetches never prune them.
pub fn backup(repo: &gix::Repository, name: &str, oid: &str) -> Result<String> {
    let oid = ObjectId::from_hex(oid.as_bytes()).context(|| format!("`{oid}` is not an object id"))?;
    for n in 0..1000 {
        let full = if n == 0 {
            format!("{BACKUP_PREFIX}{name}")
        } else {
            format!("{BACKUP_PREFIX}{name}-{n}")
        };
        match transaction::commit_locally(repo, vec![update(&full, oid, expect(None), "git agents backup")?]) {
            Ok(()) => return Ok(full),
            Err(WriteError::Moved) => continue,
            Err(WriteError::Failed(e)) => return Err(e),
        }
    }
    Err(crate::error::Error::failure(format!("too many backups named {name}")))
}

/// Deletes every ref under refs/agents except backups; returns how many.
pub fn remove_all(repo: &Store) -> Result<usize> {
    repo.backend().refresh(repo)?;
    let platform = repo.references().context(|| "cannot list refs".into())?;
    let mut edits = Vec::new();
    for r in platform
        .prefixed("refs/agents/")
        .context(|| "cannot list refs under refs/agents".into())?
    {
        let r = r.context(|| "cannot read a ref under refs/agents".into())?;
        let name = r.name().as_bstr().to_string();
        if name.starts_with(BACKUP_PREFIX) {
            continue;
        }
        if let Some(oid) = r.try_id() {
            edits.push(delete(&name, oid.detach())?);
        }
    }
    let count = edits.len();
    if count == 0 {
        return Ok(0);
    }
    // Meant for when no agent is working: the state is being thrown away.
    match repo.backend().commit(repo, edits) {
        Ok(()) => Ok(count),
        Err(WriteError::Moved) => Err(crate::error::Error::failure(
            "refs under refs/agents changed while removing them",
        )
        .hint("stop the agents, then run `git agents clean --all` again")),
        Err(WriteError::Failed(e)) => Err(e),
    }
}

pub fn short(oid: ObjectId) -> String {
    oid.to_hex_with_len(7).to_string()
}
