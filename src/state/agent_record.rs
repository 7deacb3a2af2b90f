//! `agent.toml`: one registered agent under `refs/agents/agents/<name>`.

use serde::{Deserialize, Serialize};

use super::objects::read_file;
use super::task_record::Stamp;
use crate::error::{Context, Error, Result};

pub const AGENT_FILE: &str = "agent.toml";
pub const AGENTS_PREFIX: &str = "refs/agents/agents/";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentRecord {
    pub name: String,
    pub host: String,
    pub pid: u32,
    /// The stamp of `pid` (see `TaskRecord::pid_start`), when its death frees its claims.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_start: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_ns: Option<u64>,
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

    /// Records `pid` as the agent's process, stamped when `judged` (as the claim it makes).
    pub fn set_holder(&mut self, pid: u32, judged: bool) {
        let stamp = judged.then(|| Stamp::of(pid)).flatten();
        self.pid = pid;
        self.pid_start = stamp.as_ref().map(|s| s.start);
        self.pid_ns = stamp.as_ref().and_then(|s| s.pid_ns);
        self.boot_id = stamp.map(|s| s.boot_id);
    }

    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(self).context(|| format!("cannot write the {AGENT_FILE} of agent `{}`", self.name))
    }

    pub fn ref_name(name: &str) -> String {
        format!("{AGENTS_PREFIX}{name}")
    }
}
