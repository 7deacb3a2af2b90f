//! `task.toml`: the state a task's history commit carries.

use serde::{Deserialize, Serialize};

use super::TaskState;

/// One link of a task's history. The ref's namespace is authoritative for
/// the state; the copy here makes `git log` of the ref readable on its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub id: String,
    pub state: TaskState,
    pub attempts: u32,
    /// The plan commit this task was defined in.
    pub plan: String,
    /// Seconds since the epoch when this link was written.
    pub updated_at: i64,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<String>,
}

impl TaskRecord {
    /// A task as a plan first records it.
    pub fn available(id: &str, plan: gix::ObjectId, now: i64) -> Self {
        TaskRecord {
            id: id.to_string(),
            state: TaskState::Available,
            attempts: 0,
            plan: plan.to_string(),
            updated_at: now,
            agent: None,
            host: None,
            pid: None,
            claimed_at: None,
            lease_until: None,
            branch: None,
            head: None,
            last_failure: None,
        }
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }
}
