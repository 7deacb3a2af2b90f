//! Plans: parsing `agents.toml`, validating it against the repository, and
//! the normalized form that `refs/agents/plan` records.

pub mod duration;
pub mod file;
pub mod globs;
pub mod graph;
pub mod ids;
pub mod import;
pub mod report;
pub mod spelling;
pub mod validate;

use serde::{Deserialize, Serialize};

/// Default for `[agent] max_attempts`.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 2;
/// Default for `[agent] lease`.
pub const DEFAULT_LEASE: &str = "30m";

/// A confirmed-valid plan in normal form; `plan.toml` in `refs/agents/plan`
/// is this value serialized, with each prompt stored beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub base: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<String>,
    pub agent: AgentSettings,
    #[serde(rename = "task")]
    pub tasks: Vec<Task>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSettings {
    /// Empty when the plan names no command (spawn then needs one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    pub max_attempts: u32,
    pub lease: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setup: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub copy: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Task {
    pub id: String,
    pub title: String,
    /// Empty means the task owns everything.
    pub owns: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<String>,
    /// Stored as `prompts/<id>.md` beside `plan.toml`, not inside it.
    #[serde(skip)]
    pub prompt: String,
}

impl Plan {
    /// The path of a task's prompt inside the plan commit's tree.
    pub fn prompt_path(id: &str) -> String {
        format!("prompts/{id}.md")
    }
}

/// One thing wrong with a plan, with its position in the file when known.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Problem {
    pub fn new(message: impl Into<String>) -> Self {
        Problem {
            line: None,
            column: None,
            message: message.into(),
            hint: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Points the problem at byte offset `span.start` of `source` (1-based line and column).
    pub fn at(mut self, source: &str, span: std::ops::Range<usize>) -> Self {
        let start = span.start.min(source.len());
        let before = &source[..start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        self.line = Some(line);
        self.column = Some(source[line_start..start].chars().count() + 1);
        self
    }

    /// `file:line:column: message`, as compilers print it.
    pub fn render(&self, file: &str) -> String {
        match (self.line, self.column) {
            (Some(l), Some(c)) => format!("{file}:{l}:{c}: {}", self.message),
            _ => format!("{file}: {}", self.message),
        }
    }
}
