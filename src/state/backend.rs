//! Where the state lives: this clone's refs (`Local`) or a shared remote
//! (`Remote`), chosen once per run (ARCHITECTURE.md, `state::backend`); the run's `Store` holds it.
//!
//! Every operation that differs between the two is a method here, so a
//! call site shows when it may touch the network, and the local side of
//! each is written out (most are "nothing to do": the local refs are the
//! truth). An enum, not a trait: there are exactly two backends, both
//! known here, and a `match` keeps each operation's two sides next to each
//! other; nothing outside `state` implements one.

use std::sync::Arc;

use gix::refs::transaction::RefEdit;
use gix::ObjectId;

use super::remote::Remote;
use super::transaction;
use super::write_error::WriteError;
use crate::error::{Error, Result};
use crate::settings::{RemoteName, Settings, Source};

/// Where the state of refs/agents/* is held.
#[derive(Debug)]
pub enum Backend {
    /// This clone's refs are the truth.
    Local,
    /// A shared remote is the truth; the local refs are its mirror.
    Remote(Remote),
}

impl Backend {
    /// The backend `remote` names (`--remote`, `GIT_AGENTS_REMOTE` or
    /// `git config agents.remote`, resolved by the settings); `Local` when
    /// none names a remote. A name that is not a configured remote is an error.
    pub fn resolve(repo: &gix::Repository, settings: &Arc<Settings>) -> Result<Backend> {
        let Some(RemoteName { name, source }) = &settings.remote else {
            return Ok(Backend::Local);
        };
        if repo.find_remote(name.as_str()).is_err() {
            let err = Error::usage(format!(
                "{source} names `{name}`, which is not a remote of this repository"
            ))
            .hint("list the remotes with `git remote -v`; add one with `git remote add NAME URL`");
            return Err(if *source == Source::Config {
                err.hint("or stop sharing state through a remote: `git config --unset agents.remote`")
            } else {
                err
            });
        }
        Ok(Backend::Remote(Remote::new(name.clone(), settings.clone())))
    }

    /// The shared remote's name, `None` for the local backend.
    pub fn remote_name(&self) -> Option<&str> {
        match self {
            Backend::Local => None,
            Backend::Remote(remote) => Some(remote.name()),
        }
    }

    /// Applies `edits` atomically: all or none. With a remote, the remote
    /// decides: the edits are pushed with a lease each, and applied to the
    /// local mirror only once accepted.
    pub fn commit(&self, repo: &gix::Repository, edits: Vec<RefEdit>) -> std::result::Result<(), WriteError> {
        match self {
            Backend::Local => transaction::commit_locally(repo, edits),
            Backend::Remote(remote) => {
                remote.push(repo, &edits)?;
                remote.apply_locally(repo, || transaction::commit_locally(repo, edits))?;
                Ok(())
            }
        }
    }

    /// Brings the local refs/agents/* up to the truth before a read: nothing
    /// locally, a fetch (unless one just happened) with a remote.
    pub fn refresh(&self, repo: &gix::Repository) -> Result<()> {
        match self {
            Backend::Local => Ok(()),
            Backend::Remote(remote) => remote.refresh(repo),
        }
    }

    /// Makes the work of done task `id` (its `head`) reachable where
    /// `merge` and dependents run: it already is locally; with a remote it
    /// is pushed as `agents/<id>`.
    pub fn publish_branch(&self, repo: &gix::Repository, id: &str, head: ObjectId) -> Result<()> {
        match self {
            Backend::Local => Ok(()),
            Backend::Remote(remote) => remote.publish_branch(repo, id, head),
        }
    }

    /// Makes the local branches `agents/<id>` of done tasks `ids` the work
    /// they were marked done with: they are locally; with a remote they are
    /// fetched from it (a differing local branch backed up first). The
    /// returned lines say what was backed up.
    pub fn adopt_task_branches(&self, repo: &gix::Repository, ids: &[&str]) -> Result<Vec<String>> {
        match self {
            Backend::Local => Ok(Vec::new()),
            Backend::Remote(remote) => remote.adopt_task_branches(repo, ids),
        }
    }

    /// With a shared remote, where its `target` branch is now (fetched):
    /// `Some((remote, tip))`, `tip` `None` when the remote has no such
    /// branch; `None` locally, where there is no other copy to agree with.
    pub fn target_on_remote(&self, repo: &gix::Repository, target: &str) -> Result<Option<(String, Option<ObjectId>)>> {
        match self {
            Backend::Local => Ok(None),
            Backend::Remote(remote) => Ok(Some((remote.name().to_string(), remote.target_tip(repo, target)?))),
        }
    }

    /// Moves the remote's `target` to `new` with a lease on where it was
    /// seen (the remote's own compare-and-swap): `false` when it moved
    /// meanwhile. Locally there is no other copy: nothing to move, `true`.
    pub fn push_target(&self, repo: &gix::Repository, target: &str, new: ObjectId) -> Result<bool> {
        match self {
            Backend::Local => Ok(true),
            Backend::Remote(remote) => remote.push_target(repo, target, new),
        }
    }

    /// Shares the merge notes, so the pre-push guard elsewhere sees which
    /// commits were tested: locally they are already where the guard reads;
    /// with a remote they are pushed (fast-forward only).
    pub fn push_notes(&self, repo: &gix::Repository) -> Result<()> {
        match self {
            Backend::Local => Ok(()),
            Backend::Remote(remote) => remote.push_notes(repo),
        }
    }

    /// Takes in the merge notes others wrote: none locally; with a remote
    /// they are fetched (fast-forward only).
    pub fn fetch_notes(&self, repo: &gix::Repository) -> Result<()> {
        match self {
            Backend::Local => Ok(()),
            Backend::Remote(remote) => remote.fetch_notes(repo),
        }
    }
}
