//! Committing ref transactions under refs/agents, and telling a lost race
//! (someone else moved a ref first) from a real failure.

use std::time::Duration;

use gix::lock::acquire::Fail;
use gix::refs::transaction::{Change, PreviousValue, RefEdit};
use gix::refs::Target;

use crate::error::Error;

/// How long to wait for another writer's lock before giving up. Transitions
/// hold locks for milliseconds; a lock older than this is likely stale.
const LOCK_WAIT: Duration = Duration::from_secs(3);

/// Why a transaction did not apply.
#[derive(Debug)]
pub enum WriteError {
    /// A ref no longer holds the value we read: another writer won. Retry on fresh state.
    Moved,
    /// Anything else, ready to show.
    Failed(Error),
}

impl From<Error> for WriteError {
    fn from(e: Error) -> Self {
        WriteError::Failed(e)
    }
}

/// Applies `edits` atomically: all or none.
pub fn commit(repo: &gix::Repository, edits: Vec<RefEdit>) -> Result<(), WriteError> {
    let committer = repo.committer().and_then(Result::ok);
    let outcome = repo
        .refs
        .transaction()
        .prepare(
            edits.clone(),
            Fail::AfterDurationWithBackoff(LOCK_WAIT),
            Fail::AfterDurationWithBackoff(LOCK_WAIT),
        )
        .and_then(|t| t.commit(committer));
    match outcome {
        Ok(_) => Ok(()),
        Err(e) => Err(classify(repo, &edits, e)),
    }
}

fn classify(repo: &gix::Repository, edits: &[RefEdit], err: impl std::fmt::Display) -> WriteError {
    for edit in edits {
        let current = repo
            .try_find_reference(edit.name.as_ref())
            .ok()
            .flatten()
            .and_then(|r| r.try_id().map(|id| id.detach()));
        let expected = match &edit.change {
            Change::Update { expected, .. } | Change::Delete { expected, .. } => expected,
        };
        let holds = match expected {
            PreviousValue::MustNotExist => current.is_none(),
            PreviousValue::MustExistAndMatch(Target::Object(oid)) => current == Some(*oid),
            PreviousValue::ExistingMustMatch(Target::Object(oid)) => current.is_none() || current == Some(*oid),
            PreviousValue::MustExist => current.is_some(),
            _ => true,
        };
        if !holds {
            return WriteError::Moved;
        }
    }
    let dir = repo.common_dir();
    let mut locks: Vec<String> = edits
        .iter()
        .map(|e| dir.join(format!("{}.lock", e.name.as_bstr())))
        .chain(std::iter::once(dir.join("packed-refs.lock")))
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .collect();
    locks.dedup();
    let err = Error::failure("could not update refs under refs/agents").cause(err);
    WriteError::Failed(match locks.first() {
        Some(lock) => err.hint(format!(
            "{lock} is held; if no git or git-agents process is running, it was left by a crash: remove it and retry"
        )),
        None => err.hint("retry; if it keeps failing, check that the repository is writable"),
    })
}
