//! Recording a confirmed plan: `refs/agents/plan` and one `available` ref
//! per new task, written in one transaction.

use std::collections::BTreeMap;

use gix::ObjectId;

use super::objects::{read_file, write_commit, write_tree};
use super::store::Store;
use super::task_record::initial_commit;
use super::{delete, expect, list_tasks, update, TaskState, WriteError, PLAN_REF};
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

/// Reads the recorded plan, if any; prompts are left empty (see [`load_prompts`]).
pub fn read_plan(repo: &Store) -> Result<Option<RecordedPlan>> {
    repo.backend().refresh(repo)?;
    let Some(mut reference) = repo
        .try_find_reference(PLAN_REF)
        .context(|| format!("cannot read {PLAN_REF}"))?
    else {
        return Ok(None);
    };
    let commit = reference
        .peel_to_commit()
        .context(|| format!("{PLAN_REF} does not point at a commit"))?
        .id;
    let plan: Plan = toml::from_str(&read_file(repo, commit, PLAN_FILE)?).map_err(|e| {
        Error::failure(format!("{PLAN_REF} holds a plan.toml this version cannot read"))
            .cause(e.message())
            .hint("record the plan again with `git agents plan --yes`")
    })?;
    Ok(Some(RecordedPlan { commit, plan }))
}

/// One task's prompt from the plan commit.
pub fn read_prompt(repo: &gix::Repository, recorded: &RecordedPlan, id: &str) -> Result<String> {
    read_file(repo, recorded.commit, &Plan::prompt_path(id))
}

/// Fills in every task's prompt from the plan commit.
pub fn load_prompts(repo: &gix::Repository, recorded: &mut RecordedPlan) -> Result<()> {
    for task in &mut recorded.plan.tasks {
        task.prompt = read_file(repo, recorded.commit, &Plan::prompt_path(&task.id))?;
    }
    Ok(())
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
pub fn record_plan(repo: &Store, plan: &Plan, force: bool) -> Result<Recorded> {
    let mut previous = read_plan(repo)?;
    if let Some(p) = previous.as_mut() {
        load_prompts(repo, p)?;
    }
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
        toml::to_string(plan)
            .context(|| format!("cannot write {PLAN_FILE}"))?
            .into_bytes(),
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
        expect(previous.as_ref().map(|p| p.commit)),
        &message,
    )?];
    for t in &plan.tasks {
        if tasks.contains_key(&t.id) {
            continue;
        }
        let task_commit = initial_commit(repo.object_hash(), &t.id)?.write(repo)?;
        edits.push(update(
            &TaskState::Available.ref_name(&t.id),
            task_commit,
            expect(None),
            &format!("add {}", t.id),
        )?);
    }
    for id in &change.dropped {
        for &(state, oid) in tasks.get(id).into_iter().flatten() {
            edits.push(delete(&state.ref_name(id), oid)?);
        }
    }
    repo.backend().commit(repo, edits).map_err(|e| match e {
        WriteError::Moved => Error::failure("could not record the plan: refs under refs/agents changed meanwhile")
            .hint("run `git agents plan --yes` again"),
        WriteError::Failed(e) => e,
    })?;
    Ok(Recorded {
        commit: Some(commit.to_string()),
        change,
    })
}

fn refuse_busy_changes(change: &PlanChange, tasks: &BTreeMap<String, Vec<(TaskState, ObjectId)>>) -> Result<()> {
    let mut busy = Vec::new();
    for (id, verb) in change
        .changed
        .iter()
        .map(|id| (id, "change"))
        .chain(change.dropped.iter().map(|id| (id, "drop")))
    {
        for (state, _) in tasks.get(id).into_iter().flatten() {
            if matches!(state, TaskState::Claimed | TaskState::Done) {
                busy.push(format!("would {verb} task `{id}`, which is {state}"));
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
