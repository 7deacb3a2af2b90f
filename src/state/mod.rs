//! The state layer: the only code that writes under `refs/agents/`. Every
//! write is one ref transaction with expected old values, so racing writers
//! never overwrite each other (the ref layout is in ARCHITECTURE.md).

mod agent_record;
pub mod backend;
mod backups;
mod merge_lock;
mod notes;
mod objects;
mod plan_record;
pub mod remote;
mod store;
mod task_record;
mod tasks;
mod transaction;
mod write_error;

pub use agent_record::{AgentRecord, AGENTS_PREFIX};
pub use backups::{backup, BACKUP_PREFIX};
pub use merge_lock::{read_merge, MergeLock, MergeOptions, MergeRecord, StopPoint, MERGE_REF};
pub use notes::{add_note, merge_note, record_green, tested_green, NOTES_REF, TESTS_NOTES_REF};
pub use objects::write_commit;
pub use plan_record::{load_prompts, read_plan, read_prompt, record_plan, PlanChange, Recorded, RecordedPlan};
pub use store::{Shared, Store};
pub use task_record::{initial_commit, TaskRecord};
pub use tasks::{drop_leftovers, history, list_tasks, move_task, snapshot, Move, Snapshot, TaskRef, TaskState};
pub use write_error::WriteError;

use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};
use gix::refs::Target;
use gix::ObjectId;

use crate::error::{Context, Result};

pub const PLAN_REF: &str = "refs/agents/plan";
pub const TASKS_PREFIX: &str = "refs/agents/tasks/";

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
