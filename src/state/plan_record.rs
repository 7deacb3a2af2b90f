//! Recording a confirmed plan: `refs/agents/plan` and one `available` ref
//! per new task, written in one transaction.

use std::collections::BTreeMap;

use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};
use gix::refs::Target;
use gix::ObjectId;

use super::objects::{write_commit, write_tree};
use super::{list_tasks, TaskRecord, TaskState, PLAN_REF};
use crate::error::{Context, Error, Result};
use crate::plan::Plan;

const PLAN_FILE: &str = "plan.toml";

/// The plan at `refs/agents/plan`.
#[derive(Debug, Clone)]
pub struct RecordedPlan {
    pub commit: ObjectId,
    pub plan: Plan,
}

/// How a plan differs from the one recorded before it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct PlanChange {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub dropped: Vec<String>,
}

impl PlanChange {
    pub fn between(previous: Option<&Plan>, next: &Plan) -> Self {
        let old: BTreeMap<&str, _> = previous
            .map(|p| p.tasks.iter().map(|t| (t.id.as_str(), t)).collect())
            .unwrap_or_default();
        let mut change = PlanChange::default();
        for t in &next.tasks {
            match old.get(t.id.as_str()) {
                None => change.added.push(t.id.clone()),
                Some(&o) if o != t => change.changed.push(t.id.clone()),
                Some(_) => {}
            }
        }
        if let Some(p) = previous {
            for t in &p.tasks {
                if !next.tasks.iter().any(|n| n.id == t.id) {
                    change.dropped.push(t.id.clone());
                }
            }
        }
        change
    }
}

/// Reads the recorded plan, if any.
pub fn read_plan(repo: &gix::Repository) -> Result<Option<RecordedPlan>> {
    let Some(mut reference) = repo
        .try_find_reference(PLAN_REF)
        .context(|| format!("cannot read {PLAN_REF}"))?
    else {
        return Ok(None);
    };
    let commit = reference
        .peel_to_commit()
        .context(|| format!("{PLAN_REF} does not point at a commit"))?;
    let tree = commit
        .tree()
        .context(|| format!("cannot read the tree of {PLAN_REF}"))?;
    let read = |path: &str| -> Result<String> {
        let entry = tree
            .lookup_entry_by_path(path)
            .context(|| format!("cannot read {path} in {PLAN_REF}"))?
            .ok_or_else(|| Error::failure(format!("{PLAN_REF} has no {path}")))?;
        let object = entry.object().context(|| format!("cannot read {path} in {PLAN_REF}"))?;
        Ok(String::from_utf8_lossy(&object.data).into_owned())
    };
    let mut plan: Plan = toml::from_str(&read(PLAN_FILE)?).map_err(|e| {
        Error::failure(format!("{PLAN_REF} holds a plan.toml this version cannot read"))
            .cause(e.message())
            .hint("record the plan again with `git agents plan --yes`")
    })?;
    for task in &mut plan.tasks {
        task.prompt = read(&Plan::prompt_path(&task.id))?;
    }
    Ok(Some(RecordedPlan {
        commit: commit.id,
        plan,
    }))
}

/// What [`record_plan`] did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Recorded {
    /// The new plan commit, or `None` when the plan was already recorded as is.
    pub commit: Option<String>,
    #[serde(flatten)]
    pub change: PlanChange,
}

/// Records `plan` on top of the current `refs/agents/plan`. Tasks that are
/// claimed or done may only be changed or dropped with `force`.
pub fn record_plan(repo: &gix::Repository, plan: &Plan, force: bool) -> Result<Recorded> {
    let previous = read_plan(repo)?;
    let change = PlanChange::between(previous.as_ref().map(|p| &p.plan), plan);
    let tasks = list_tasks(repo)?;
    if !force {
        refuse_busy_changes(&change, &tasks)?;
    }
    let unchanged = previous.as_ref().is_some_and(|p| p.plan == *plan);
    let missing_refs = plan.tasks.iter().any(|t| !tasks.contains_key(&t.id));
    if unchanged && !missing_refs {
        return Ok(Recorded { commit: None, change });
    }

    let mut files = vec![(
        PLAN_FILE.to_string(),
        toml::to_string(plan).unwrap_or_default().into_bytes(),
    )];
    for t in &plan.tasks {
        files.push((Plan::prompt_path(&t.id), t.prompt.clone().into_bytes()));
    }
    let tree = write_tree(repo, &files)?;
    let message = plan_message(plan, &change);
    let parents: Vec<ObjectId> = previous.iter().map(|p| p.commit).collect();
    let commit = write_commit(repo, &message, tree, parents)?;

    let mut edits = vec![update(
        PLAN_REF,
        commit,
        match &previous {
            Some(p) => PreviousValue::MustExistAndMatch(Target::Object(p.commit)),
            None => PreviousValue::MustNotExist,
        },
        &message,
    )?];
    let now = now_seconds();
    for t in &plan.tasks {
        if tasks.contains_key(&t.id) {
            continue;
        }
        let record = TaskRecord::available(&t.id, commit, now);
        let tree = write_tree(repo, &[("task.toml".into(), record.to_toml().into_bytes())])?;
        let task_message = format!("add {} from plan {}", t.id, short(commit));
        let task_commit = write_commit(repo, &task_message, tree, None)?;
        edits.push(update(
            &TaskState::Available.ref_name(&t.id),
            task_commit,
            PreviousValue::MustNotExist,
            &task_message,
        )?);
    }
    for id in &change.dropped {
        for r in tasks.get(id).into_iter().flatten() {
            edits.push(RefEdit {
                change: Change::Delete {
                    expected: PreviousValue::MustExistAndMatch(Target::Object(r.oid)),
                    log: RefLog::AndReference,
                },
                name: r
                    .state
                    .ref_name(id)
                    .try_into()
                    .context(|| format!("invalid task id {id}"))?,
                deref: false,
            });
        }
    }
    repo.edit_references(edits).map_err(|e| {
        Error::failure("could not record the plan: refs under refs/agents changed while it was being written")
            .cause(e)
            .hint("run `git agents plan --yes` again")
    })?;
    Ok(Recorded {
        commit: Some(commit.to_string()),
        change,
    })
}

fn refuse_busy_changes(change: &PlanChange, tasks: &BTreeMap<String, Vec<super::TaskRef>>) -> Result<()> {
    let mut busy = Vec::new();
    for (id, verb) in change
        .changed
        .iter()
        .map(|id| (id, "change"))
        .chain(change.dropped.iter().map(|id| (id, "drop")))
    {
        for r in tasks.get(id).into_iter().flatten() {
            if matches!(r.state, TaskState::Claimed | TaskState::Done) {
                busy.push(format!("would {verb} task `{id}`, which is {}", r.state.as_str()));
            }
        }
    }
    if busy.is_empty() {
        return Ok(());
    }
    let mut err = Error::usage("the new plan changes tasks that agents are working on or have finished");
    for line in busy {
        err = err.detail(line);
    }
    Err(err
        .hint("keep those tasks as they are in agents.toml, or wait until they are merged")
        .hint("rerun with `--force` to record anyway (claimed and done tasks keep their state)"))
}

fn update(name: &str, new: ObjectId, expected: PreviousValue, message: &str) -> Result<RefEdit> {
    Ok(RefEdit {
        change: Change::Update {
            log: LogChange {
                mode: RefLog::AndReference,
                force_create_reflog: false,
                message: message.into(),
            },
            expected,
            new: Target::Object(new),
        },
        name: name
            .try_into()
            .context(|| format!("`{name}` is not a valid ref name"))?,
        deref: false,
    })
}

fn plan_message(plan: &Plan, change: &PlanChange) -> String {
    let mut message = format!("plan: {} tasks on {}", plan.tasks.len(), plan.base);
    for (label, ids) in [
        ("added", &change.added),
        ("changed", &change.changed),
        ("dropped", &change.dropped),
    ] {
        if !ids.is_empty() {
            message.push_str(&format!("\n\n{label}: {}", ids.join(", ")));
        }
    }
    message
}

pub(crate) fn short(oid: ObjectId) -> String {
    oid.to_hex_with_len(7).to_string()
}

pub(crate) fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
