//! `task.toml`: the state a task's history commit carries.

use gix::ObjectId;
use serde::{Deserialize, Serialize};

use super::objects::{read_file, FixedCommit};
use super::TaskState;
use crate::error::{Error, Result};

pub const TASK_FILE: &str = "task.toml";

/// One link of a task's history. The ref's namespace is authoritative for
/// the state; the copy here makes `git log` of the ref readable on its own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub id: String,
    pub state: TaskState,
    pub attempts: u32,
    /// Seconds since the epoch when this link was written (0 for the first).
    pub updated_at: i64,
    /// Who made this transition: an agent, or a person for requeue and unlock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    /// The commit the work started from (base tip with dependencies merged
    /// in), when the runner made it: the task's change is `start..head`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// Set when `done --no-verify` skipped the acceptance command.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unverified: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<String>,
    /// Set when an operation overrode the claim holder (`--force`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forced: bool,
}

impl TaskRecord {
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    pub fn read(repo: &gix::Repository, commit: ObjectId) -> Result<Self> {
        let text = read_file(repo, commit, TASK_FILE)?;
        toml::from_str(&text).map_err(|e| {
            Error::failure(format!(
                "task commit {commit} holds a task.toml this version cannot read"
            ))
            .cause(e.message())
        })
    }

    /// The next link: same task, fields carried over, transition facts cleared.
    pub fn next(&self, state: TaskState, by: &str, now: i64) -> Self {
        TaskRecord {
            state,
            updated_at: now,
            by: Some(by.to_string()),
            forced: false,
            ..self.clone()
        }
    }

    /// Forget who held the task (after a release, failure or requeue).
    pub fn unclaimed(mut self) -> Self {
        self.agent = None;
        self.host = None;
        self.pid = None;
        self.claimed_at = None;
        self.lease_until = None;
        self
    }
}

/// The first link of every task's history. Its content depends only on the
/// id, so its commit id is computable: a task whose ref still points at it
/// has never been touched, and listings know that without reading objects.
pub fn initial_commit(hash: gix::hash::Kind, id: &str) -> Result<FixedCommit> {
    let record = TaskRecord {
        id: id.to_string(),
        state: TaskState::Available,
        ..TaskRecord::default()
    };
    FixedCommit::new(hash, TASK_FILE, &record.to_toml(), &format!("add {id}\n"))
}
