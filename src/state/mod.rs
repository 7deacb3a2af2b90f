//! The state layer: the only code that writes under `refs/agents/`. Every
//! write is one ref transaction with expected old values, so racing writers
//! never overwrite each other (DESIGN.md, "Ref layout").

mod objects;
mod plan_record;
mod task_record;

pub use plan_record::{read_plan, record_plan, PlanChange, Recorded, RecordedPlan};
pub use task_record::TaskRecord;

use std::collections::BTreeMap;

use crate::error::{Context, Result};

pub const PLAN_REF: &str = "refs/agents/plan";
pub const TASKS_PREFIX: &str = "refs/agents/tasks/";

/// The states a task ref can be in; the state is the ref's namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    Available,
    Claimed,
    Done,
    Blocked,
    Merged,
}

impl TaskState {
    pub const ALL: [TaskState; 5] = [
        TaskState::Available,
        TaskState::Claimed,
        TaskState::Done,
        TaskState::Blocked,
        TaskState::Merged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Available => "available",
            TaskState::Claimed => "claimed",
            TaskState::Done => "done",
            TaskState::Blocked => "blocked",
            TaskState::Merged => "merged",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    pub fn ref_name(self, id: &str) -> String {
        format!("{TASKS_PREFIX}{}/{id}", self.as_str())
    }
}

/// A task ref as listed: its state and the commit it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRef {
    pub state: TaskState,
    pub oid: gix::ObjectId,
}

/// Every task's refs, from one listing of `refs/agents/tasks/` (no objects read).
/// A task can briefly show under two states while a transaction is under way.
pub fn list_tasks(repo: &gix::Repository) -> Result<BTreeMap<String, Vec<TaskRef>>> {
    let mut out: BTreeMap<String, Vec<TaskRef>> = BTreeMap::new();
    let platform = repo.references().context(|| "cannot list refs".into())?;
    let iter = platform
        .prefixed(TASKS_PREFIX)
        .context(|| "cannot list task refs".into())?;
    for reference in iter {
        let reference = reference.context(|| "cannot read a task ref".into())?;
        let name = reference.name().as_bstr().to_string();
        let Some(rest) = name.strip_prefix(TASKS_PREFIX) else {
            continue;
        };
        let Some((state, id)) = rest.split_once('/') else {
            continue;
        };
        let (Some(state), Some(oid)) = (TaskState::parse(state), reference.try_id()) else {
            continue;
        };
        out.entry(id.to_string()).or_default().push(TaskRef {
            state,
            oid: oid.detach(),
        });
    }
    Ok(out)
}
