//! `agent.toml`: one registered agent under `refs/agents/agents/<name>`.

use serde::{Deserialize, Serialize};

use super::objects::read_file;
use crate::error::{Error, Result};

pub const AGENT_FILE: &str = "agent.toml";
pub const AGENTS_PREFIX: &str = "refs/agents/agents/";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentRecord {
    pub name: String,
    pub host: String,
    pub pid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worktree: Option<String>,
    /// Seconds since the epoch.
    pub started: i64,
    pub heartbeat: i64,
}

impl AgentRecord {
    pub fn read(repo: &gix::Repository, commit: gix::ObjectId) -> Result<Self> {
        let text = read_file(repo, commit, AGENT_FILE)?;
        toml::from_str(&text).map_err(|e| {
            Error::failure(format!(
                "agent commit {commit} holds an agent.toml this version cannot read"
            ))
            .cause(e.message())
        })
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    pub fn ref_name(name: &str) -> String {
        format!("{AGENTS_PREFIX}{name}")
    }
}
