//! Git notes git-agents writes: one per landed merge (refs/notes/agents)
//! and the test commands that passed per tree (refs/notes/agents-tests).

use gix::ObjectId;

use super::{short, transaction};
use crate::error::Result;

/// Notes of merged commits: task, agent, test, result, duration.
pub const NOTES_REF: &str = "refs/notes/agents";

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
