//! `refs/agents/backup/<name>`: work `clean --force` and the remote
//! backend saved before removing or replacing it; never overwritten.

use gix::ObjectId;

use super::{expect, update};
use super::{transaction, WriteError};
use crate::error::{Context, Result};

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
