//! Committing ref transactions under refs/agents in this clone's refs, and
//! telling a lost race (someone else moved a ref first) from a real failure.

use std::time::Duration;

use gix::lock::acquire::Fail;
use gix::refs::file::transaction::PackedRefs;
use gix::refs::transaction::{Change, PreviousValue, RefEdit};
use gix::refs::Target;

use super::write_error::WriteError;
use crate::error::Error;

/// How long to wait for another writer's lock before giving up. Transitions
/// hold locks for milliseconds; a lock older than this is likely stale.
const LOCK_WAIT: Duration = Duration::from_secs(3);

/// Applies `edits` atomically: all or none.
///
/// Refs under refs/agents live in `packed-refs` (one file to read for a
/// listing, however many tasks). Every transaction carries at least one
/// update, which makes gix lock `packed-refs` *before* reading it; and it
/// runs on a fresh ref store, so that read is not a cached copy whose
/// staleness an mtime of coarse resolution could hide. Together this keeps
/// the compare-and-swap exact under concurrent writers.
///
/// These are this clone's refs only: a transition goes through
/// [`super::backend`], which with a shared remote calls this only for what
/// the remote accepted.
pub(super) fn commit_locally(repo: &gix::Repository, edits: Vec<RefEdit>) -> Result<(), WriteError> {
    let committer = repo.committer().and_then(Result::ok);
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    let mut round: u64 = 0;
    let mut unexplained = 0;
    loop {
        let store = gix::refs::file::Store::at(repo.common_dir().to_path_buf(), repo.object_hash());
        // Fail at once on a held lock and retry here with short waits: gix's own
        // backoff grows towards a second, which idles agents long after the
        // lock is free when many of them write at once.
        let outcome = store
            .transaction()
            .packed_refs(PackedRefs::DeletionsAndNonSymbolicUpdatesRemoveLooseSourceReference(
                Box::new(repo.objects.clone()),
            ))
            .prepare(edits.clone(), Fail::Immediately, Fail::Immediately)
            .and_then(|t| t.commit(committer));
        let err = match outcome {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        match classify(repo, &edits, &err) {
            WriteError::Failed(_) if held_locks(repo, &edits).is_empty() => {}
            WriteError::Failed(_) if std::time::Instant::now() < deadline => {
                round += 1;
                std::thread::sleep(Duration::from_micros(500 + jitter(round) % 4_000));
                continue;
            }
            other => return Err(other),
        }
        // No lock explains it; a lock may just have been released: look again a few times.
        unexplained += 1;
        if unexplained < 5 {
            round += 1;
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        return Err(classify(repo, &edits, &err));
    }
}

/// A few microseconds of spread so racing writers do not retry in lockstep.
fn jitter(round: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64);
    (nanos ^ (std::process::id() as u64).rotate_left(17)).wrapping_mul(round | 1)
}

/// Lock files that currently block any of `edits`.
fn held_locks(repo: &gix::Repository, edits: &[RefEdit]) -> Vec<String> {
    held_locks_of(repo, edits.iter().map(|e| e.name.as_bstr().to_string()))
}

/// Lock files that currently block any of the refs `names` (or packed-refs).
fn held_locks_of(repo: &gix::Repository, names: impl IntoIterator<Item = String>) -> Vec<String> {
    let dir = repo.common_dir();
    let mut locks: Vec<String> = names
        .into_iter()
        .map(|name| dir.join(format!("{name}.lock")))
        .chain(std::iter::once(dir.join("packed-refs.lock")))
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .collect();
    locks.dedup();
    locks
}

fn classify(repo: &gix::Repository, edits: &[RefEdit], err: &impl std::fmt::Display) -> WriteError {
    // Judge by what is on disk now, not by a cached packed-refs.
    let _ = repo.refs.force_refresh_packed_buffer();
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
    let err = Error::failure("could not update refs under refs/agents").cause(err);
    WriteError::Failed(match held_locks(repo, edits).first() {
        Some(lock) => err.hint(lock_held(lock)),
        None => err.hint("retry; if it keeps failing, check that the repository is writable"),
    })
}

/// Adds to `err` the hint that names a leftover lock file of `reference`, if one is there.
pub(super) fn with_lock_hint(repo: &gix::Repository, reference: &str, err: Error) -> Error {
    match held_locks_of(repo, [reference.to_string()]).first() {
        Some(lock) => err.hint(lock_held(lock)),
        None => err,
    }
}

fn lock_held(lock: &str) -> String {
    format!("{lock} is held; if no git or git-agents process is running, it was left by a crash: remove it and retry")
}
