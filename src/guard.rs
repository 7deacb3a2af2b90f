//! The pre-push guard's rules: what a push may not publish. Pure judgement
//! over the lines git gives a pre-push hook and the local state; the hook
//! command prints the verdict.

use std::collections::{BTreeMap, HashMap, HashSet};

use gix::ObjectId;

use crate::error::{Context, Error, Result};
use crate::plan::{Plan, Task};
use crate::state::Store;
use crate::state::{self, TaskState};

/// One line of a pre-push hook's stdin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    pub local_ref: String,
    pub local: ObjectId,
    pub remote_ref: String,
    pub remote: ObjectId,
}

/// Why one pushed ref is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The remote ref the push would update.
    pub reference: String,
    pub problem: String,
    /// The offending paths or commits, one per line.
    pub items: Vec<String>,
    pub fix: String,
}

/// Parses `<local ref> <local oid> <remote ref> <remote oid>` lines.
pub fn parse(input: &str) -> Result<Vec<Push>> {
    let mut out = Vec::new();
    for line in input.lines().filter(|l| !l.trim().is_empty()) {
        // Split from the right: the local side is what the user typed and may
        // hold spaces (`HEAD@{1 day ago}`); ref names and oids cannot.
        let mut fields: Vec<&str> = line.rsplitn(4, ' ').collect();
        fields.reverse();
        let oid = |s: &str| ObjectId::from_hex(s.as_bytes()).ok();
        match fields.as_slice() {
            [local_ref, local, remote_ref, remote] => match (oid(local), oid(remote)) {
                (Some(local), Some(remote)) => out.push(Push {
                    local_ref: local_ref.to_string(),
                    local,
                    remote_ref: remote_ref.to_string(),
                    remote,
                }),
                _ => return Err(bad_line(line)),
            },
            _ => return Err(bad_line(line)),
        }
    }
    Ok(out)
}

fn bad_line(line: &str) -> Error {
    Error::usage(format!("not a pre-push line: `{line}`"))
        .hint("git passes `<local ref> <local oid> <remote ref> <remote oid>` lines on stdin; run this through the installed hook")
}

/// Everything `pushes` to `remote` would publish that the guard refuses.
pub fn check(repo: &Store, remote: &str, pushes: &[Push]) -> Result<Vec<Refusal>> {
    let task_id = |p: &Push| p.remote_ref.strip_prefix("refs/heads/agents/").map(str::to_string);
    // Tags, deletions and refs outside refs/heads/ pass without reading any state.
    let relevant: Vec<&Push> = pushes
        .iter()
        .filter(|p| !p.local.is_null() && p.remote_ref.starts_with("refs/heads/"))
        .collect();
    if relevant.is_empty() {
        return Ok(Vec::new());
    }
    let Some(recorded) = state::read_plan(repo)? else {
        return Ok(Vec::new());
    };
    let plan = &recorded.plan;
    let stopped = state::read_merge(repo)?
        .map(|(_, record)| record)
        .filter(|r| r.stopped_task.is_some());
    // Task tips are read on first use and shared by all pushed branches: a
    // push that brings no new commits never reads task records.
    let mut work = TaskWork {
        repo,
        plan,
        found: None,
    };
    let mut refusals = Vec::new();
    for push in relevant.iter().copied() {
        let branch = push.remote_ref.trim_start_matches("refs/heads/");
        if let Some(id) = task_id(push) {
            if let Some(task) = plan.tasks.iter().find(|t| t.id == id) {
                refusals.extend(task_branch(repo, remote, &plan.base, task, push)?);
            }
            continue;
        }
        if let Some(merge) = stopped.as_ref().filter(|m| m.target == branch) {
            let task = merge.stopped_task.clone().unwrap_or_default();
            refusals.push(Refusal {
                reference: push.remote_ref.clone(),
                problem: format!("a merge into {branch} is stopped at task `{task}`"),
                items: Vec::new(),
                fix: "finish it with `git agents merge --continue`, or give it up with `git agents merge --abort`"
                    .into(),
            });
            continue;
        }
        refusals.extend(untested_merges(repo, remote, push, &mut work)?);
    }
    Ok(refusals)
}

/// A task branch may publish only changes to the files its task owns.
/// Merge commits are skipped: they bring in the base or dependencies.
fn task_branch(repo: &Store, remote: &str, base: &str, task: &Task, push: &Push) -> Result<Option<Refusal>> {
    let mut hidden = known(repo, push);
    // The start point merges the base and the dependencies' branches in;
    // their commits are not this task's to judge.
    let others = std::iter::once(format!("heads/{base}"))
        .chain(
            task.depends_on
                .iter()
                .map(|d| format!("heads/{}", crate::layout::task_branch(d))),
        )
        .collect::<Vec<_>>();
    for name in &others {
        hidden.extend(crate::repo::ref_tip(repo, &format!("refs/{name}")));
        let tracking = name.replacen("heads/", &format!("remotes/{remote}/"), 1);
        hidden.extend(crate::repo::ref_tip(repo, &format!("refs/{tracking}")));
    }
    let ownership = crate::checks::Ownership::of(task);
    let mut paths: Vec<String> = Vec::new();
    for commit in walk(repo, push.local, hidden)? {
        let parents: Vec<ObjectId> = commit.parent_ids().map(|p| p.detach()).collect();
        let [parent] = parents.as_slice() else { continue };
        for path in ownership.outside(repo, *parent, commit.id)? {
            if !paths.contains(&path) {
                paths.push(path);
            }
        }
    }
    if paths.is_empty() {
        return Ok(None);
    }
    Ok(Some(Refusal {
        reference: push.remote_ref.clone(),
        problem: format!(
            "{} would publish changes outside the files task `{}` owns ({})",
            push.local_ref.trim_start_matches("refs/heads/"),
            task.id,
            if task.owns.is_empty() {
                "everything".to_string()
            } else {
                task.owns.join(", ")
            }
        ),
        items: paths,
        fix: "move those changes out of the branch, or add the paths to the task's `owns` and record the plan again"
            .into(),
    }))
}

/// Any other branch may bring in agent work only through `git agents merge`.
/// Its commits (an `Agent-Task:` trailer) need a note whose test passed (or
/// says no test was set); task commits it brings must come in through such a
/// commit, not by a merge or fast-forward made by hand.
fn untested_merges(repo: &Store, remote: &str, push: &Push, work: &mut TaskWork<'_>) -> Result<Vec<Refusal>> {
    let mut hidden = known(repo, push);
    if hidden.is_empty() {
        // A new branch on the remote: what the remote already has is what
        // its remote-tracking branches show.
        hidden.extend(remote_tips(repo, remote)?);
    }
    let commits = walk(repo, push.local, hidden)?;
    let mut refusals = Vec::new();
    let mut items = Vec::new();
    for commit in &commits {
        let Some(id) = trailer(commit) else { continue };
        if let Some(verdict) = note_verdict(repo, commit.id, push.local) {
            items.push(format!("{} (task `{id}`: {verdict})", one_line(commit)));
        }
    }
    if !items.is_empty() {
        refusals.push(Refusal {
            reference: push.remote_ref.clone(),
            problem: format!(
                "{} would publish merges of agent work without a passed test",
                push.local_ref.trim_start_matches("refs/heads/")
            ),
            items,
            fix: format!(
                "land agent work with `git agents merge --test CMD` (it notes each tested commit); \
                 if the notes are on another machine, fetch them: `git fetch {remote} refs/notes/agents:refs/notes/agents`"
            ),
        });
    }
    refusals.extend(hand_landed(repo, push, &commits, work)?);
    Ok(refusals)
}

/// Task commits among `commits` (what the push publishes) that no commit of
/// `git agents merge` brought in.
///
/// Everything is decided inside the pushed range, from the task tips found
/// in it: a push that contains no task tip needs nothing more than set
/// lookups. Below a tip, the walk stays in the range, and a tip that a merge
/// brought in (off the first-parent line of what is pushed) stops at that
/// line: it is the branch the work landed on, and its commits (a person's
/// own commits a task branch was started from, an earlier landing) are not
/// the task's. A tip on that line was fast-forwarded to; where the task's
/// work began cannot be told there, so everything below it counts.
///
/// The note sits on the commit that lands the work: it answers for itself
/// and for what it brings, the commits of its other parents that its first
/// parent (the target it was made on) lacks. A squashed landing brings no
/// task commits (one parent).
fn hand_landed(
    repo: &Store,
    push: &Push,
    commits: &[gix::Commit<'_>],
    work: &mut TaskWork<'_>,
) -> Result<Option<Refusal>> {
    let Some(tip) = commits.first().map(|c| c.id) else {
        return Ok(None);
    };
    let parents: HashMap<ObjectId, Vec<ObjectId>> = commits
        .iter()
        .map(|c| (c.id, c.parent_ids().map(|p| p.detach()).collect()))
        .collect();
    let tasks = work.get()?;
    if !tasks
        .iter()
        .any(|t| t.heads.iter().chain(&t.branches).any(|c| parents.contains_key(c)))
    {
        return Ok(None);
    }
    let line = first_parent_line(&parents, tip);
    let owner = task_owners(tasks, &parents, &line);
    if owner.is_empty() {
        return Ok(None);
    }
    let landed = landed_commits(repo, (commits, push.local), &parents, &owner);
    Ok(unlanded_work(push, commits, &owner, &landed))
}

/// The first-parent line of what is pushed, from `tip`, inside the range.
fn first_parent_line(parents: &HashMap<ObjectId, Vec<ObjectId>>, tip: ObjectId) -> HashSet<ObjectId> {
    let mut line = HashSet::new();
    let mut next = Some(tip);
    while let Some(c) = next.filter(|c| parents.contains_key(c)) {
        line.insert(c);
        next = parents[&c].first().copied();
    }
    line
}

/// Whose work each commit of the range is, by task id.
fn task_owners<'t>(
    tasks: &'t [TaskTips],
    parents: &HashMap<ObjectId, Vec<ObjectId>>,
    line: &HashSet<ObjectId>,
) -> HashMap<ObjectId, &'t str> {
    // Dependencies come first, so commits a dependent's branch merged in
    // are named as the dependency's.
    let mut owner: HashMap<ObjectId, &str> = HashMap::new();
    for task in tasks {
        // A branch tip on the line may be nothing but the commit the branch
        // was started from; a done head is the task's work wherever it is.
        let starts = task.heads.iter().filter(|c| parents.contains_key(*c)).chain(
            task.branches
                .iter()
                .filter(|c| parents.contains_key(*c) && !line.contains(*c)),
        );
        for &start in starts {
            let stop = if line.contains(&start) { None } else { Some(line) };
            for c in below(parents, [start], stop) {
                owner.entry(c).or_insert(task.id.as_str());
            }
        }
    }
    owner
}

/// The commits of the range a noted landing commit answers for: itself
/// and what it brings.
fn landed_commits(
    repo: &Store,
    (commits, pushed): (&[gix::Commit<'_>], ObjectId),
    parents: &HashMap<ObjectId, Vec<ObjectId>>,
    owner: &HashMap<ObjectId, &str>,
) -> HashSet<ObjectId> {
    let mut landed: HashSet<ObjectId> = HashSet::new();
    for commit in commits {
        let merged = match parents[&commit.id].as_slice() {
            [first, brought @ ..] if !brought.is_empty() => Some((*first, brought)),
            _ => None,
        };
        // Only merges bring work, and only task commits can need covering:
        // no note is read for the rest.
        if merged.is_none() && !owner.contains_key(&commit.id) {
            continue;
        }
        // A landing commit: its note lets it out, or it has a trailer (the
        // trailer rule judges those; listing their work again would repeat it).
        if note_verdict(repo, commit.id, pushed).is_some() && trailer(commit).is_none() {
            continue;
        }
        landed.insert(commit.id);
        if let Some((first, brought)) = merged {
            let on_target = below(parents, [first], None);
            landed.extend(below(parents, brought.iter().copied(), None).difference(&on_target));
        }
    }
    landed
}

/// The refusal for task commits of the range that are not `landed`.
fn unlanded_work(
    push: &Push,
    commits: &[gix::Commit<'_>],
    owner: &HashMap<ObjectId, &str>,
    landed: &HashSet<ObjectId>,
) -> Option<Refusal> {
    let mut names: Vec<&str> = Vec::new();
    let mut items = Vec::new();
    for commit in commits.iter().filter(|c| !landed.contains(&c.id)) {
        let Some(&id) = owner.get(&commit.id) else { continue };
        if !names.contains(&id) {
            names.push(id);
        }
        items.push(format!("{} (task `{id}`)", one_line(commit)));
    }
    if items.is_empty() {
        return None;
    }
    let branch = push.local_ref.trim_start_matches("refs/heads/");
    Some(Refusal {
        reference: push.remote_ref.clone(),
        problem: format!(
            "{branch} would publish work of {} `{}` that no tested `git agents merge` landed",
            if names.len() == 1 { "task" } else { "tasks" },
            names.join("`, `")
        ),
        items,
        fix: "undo the hand merge or fast-forward (the work stays on its task branch) and land it \
              with `git agents merge --test CMD`, which tests each merge and notes it"
            .into(),
    })
}

/// The commits of `parents` (the pushed range) reachable from `from`
/// without leaving the range, and without entering `stop` when given.
fn below(
    parents: &HashMap<ObjectId, Vec<ObjectId>>,
    from: impl IntoIterator<Item = ObjectId>,
    stop: Option<&HashSet<ObjectId>>,
) -> HashSet<ObjectId> {
    let mut seen = HashSet::new();
    let mut todo: Vec<ObjectId> = from.into_iter().collect();
    while let Some(c) = todo.pop() {
        let Some(up) = parents.get(&c) else { continue };
        if stop.is_some_and(|s| s.contains(&c)) || !seen.insert(c) {
            continue;
        }
        todo.extend(up.iter().copied());
    }
    seen
}

/// The task tips, read on first use and shared by all pushed branches.
struct TaskWork<'a> {
    repo: &'a Store,
    plan: &'a Plan,
    found: Option<Vec<TaskTips>>,
}

/// Where a task's work is: the head recorded when it was done (a done or
/// merged task's; it outlives a deleted branch), and its branch
/// `agents/<id>` here and on any remote.
struct TaskTips {
    id: String,
    heads: Vec<ObjectId>,
    branches: Vec<ObjectId>,
}

impl TaskWork<'_> {
    /// Every task with a tip, dependencies before the tasks that need them.
    fn get(&mut self) -> Result<&[TaskTips]> {
        if self.found.is_none() {
            self.found = Some(task_tips(self.repo, self.plan)?);
        }
        Ok(self.found.as_deref().unwrap_or_default())
    }
}

fn task_tips(repo: &Store, plan: &Plan) -> Result<Vec<TaskTips>> {
    let empty = |id: &str| TaskTips {
        id: id.to_string(),
        heads: Vec::new(),
        branches: Vec::new(),
    };
    let mut tips: BTreeMap<String, TaskTips> = plan.tasks.iter().map(|t| (t.id.clone(), empty(&t.id))).collect();
    for (id, task) in state::snapshot(repo)?.tasks {
        let tips = tips.entry(id.clone()).or_insert_with(|| empty(&id));
        if matches!(task.state, TaskState::Done | TaskState::Merged) {
            let head = state::TaskRecord::read(repo, task.oid)?.head;
            tips.heads.extend(head);
        }
    }
    for (id, task) in tips.iter_mut() {
        task.branches.extend(crate::repo::ref_tip(
            repo,
            &format!("refs/heads/{}", crate::layout::task_branch(id)),
        ));
    }
    let platform = repo.references().context(|| "cannot list refs".into())?;
    for r in platform
        .prefixed("refs/remotes/")
        .context(|| "cannot list refs/remotes/".into())?
        .flatten()
    {
        let name = r.name().as_bstr().to_string();
        let Some((_, id)) = name.trim_start_matches("refs/remotes/").split_once("/agents/") else {
            continue;
        };
        if let (Some(task), Some(oid)) = (tips.get_mut(id), r.try_id()) {
            task.branches.push(oid.detach());
        }
    }
    // Dependencies first (the plan has no cycles; ids outside it go last).
    let mut order: Vec<TaskTips> = Vec::new();
    let mut placed: HashSet<String> = HashSet::new();
    let mut pending: Vec<&Task> = plan.tasks.iter().collect();
    while !pending.is_empty() {
        let before = pending.len();
        pending.retain(|t| {
            if !t.depends_on.iter().all(|d| placed.contains(d)) {
                return true;
            }
            placed.insert(t.id.clone());
            order.extend(tips.remove(&t.id));
            false
        });
        if pending.len() == before {
            break;
        }
    }
    order.extend(tips.into_values());
    order.retain(|t| !(t.heads.is_empty() && t.branches.is_empty()));
    Ok(order)
}

/// The task an `Agent-Task:` trailer names.
fn trailer(commit: &gix::Commit<'_>) -> Option<String> {
    let message = commit.message_raw_sloppy().to_string();
    message
        .lines()
        .find_map(|l| l.strip_prefix("Agent-Task: "))
        .map(|id| id.trim().to_string())
}

/// Why `commit`'s merge note does not let it out (`None`: it passed, or
/// records a merge made without a test on purpose, or it landed inside a
/// batch whose tested tip is in what is pushed, `pushed`).
fn note_verdict(repo: &Store, commit: ObjectId, pushed: ObjectId) -> Option<String> {
    let Some(note) = state::merge_note(repo, commit) else {
        return Some("no test note".to_string());
    };
    let field = |note: &str, name: &str| {
        note.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or("(none)")
            .to_string()
    };
    let result = field(&note, "result: ");
    if result.starts_with("not tested alone") {
        return batch_verdict(repo, commit, pushed, &field(&note, "tested-on: "));
    }
    (!(result.starts_with("passed") || result == "not tested")).then(|| format!("test result: {result}"))
}

/// A commit inside a batch was not tested alone: it is let out by the
/// batch's tip, which must have passed itself, contain it and be pushed
/// too (a push that stops inside the batch publishes an untested commit).
fn batch_verdict(repo: &Store, commit: ObjectId, pushed: ObjectId, tip: &str) -> Option<String> {
    let Ok(tip) = ObjectId::from_hex(tip.as_bytes()) else {
        return Some("not tested alone, and its note names no tested batch tip".to_string());
    };
    let tip_result = state::merge_note(repo, tip)
        .and_then(|n| n.lines().find_map(|l| l.strip_prefix("result: ")).map(str::to_string))
        .unwrap_or_default();
    if !tip_result.starts_with("passed") {
        return Some(format!(
            "not tested alone, and its batch's tip {} has no passed test",
            state::short(tip)
        ));
    }
    if !crate::repo::is_ancestor(repo, commit, tip) || !crate::repo::is_ancestor(repo, tip, pushed) {
        return Some(format!(
            "not tested alone, and its batch's tested tip {} is not pushed with it",
            state::short(tip)
        ));
    }
    None
}

/// `<short id> <subject>`.
fn one_line(commit: &gix::Commit<'_>) -> String {
    let message = commit.message_raw_sloppy().to_string();
    let subject = message.lines().next().unwrap_or_default();
    format!("{} {subject}", state::short(commit.id))
}

/// The remote's old value, when this clone has it: commits before it are published already.
fn known(repo: &Store, push: &Push) -> Vec<ObjectId> {
    (!push.remote.is_null() && repo.find_object(push.remote).is_ok())
        .then_some(push.remote)
        .into_iter()
        .collect()
}

fn walk<'r>(repo: &'r Store, from: ObjectId, hidden: Vec<ObjectId>) -> Result<Vec<gix::Commit<'r>>> {
    let walk = repo
        .rev_walk([from])
        .with_hidden(hidden)
        .all()
        .context(|| format!("cannot walk history from {from}"))?;
    let mut out = Vec::new();
    for info in walk {
        let info = info.context(|| format!("cannot walk history from {from}"))?;
        out.push(
            repo.find_commit(info.id)
                .context(|| format!("cannot read commit {}", info.id))?,
        );
    }
    Ok(out)
}

/// What the remote is known to have: its remote-tracking branches, or
/// every remote's when pushing to a URL rather than a named remote. Task
/// branches (`agents/<id>`) are left out: the remote holding a task branch
/// does not make its work published on any other branch.
fn remote_tips(repo: &Store, remote: &str) -> Result<Vec<ObjectId>> {
    let platform = repo.references().context(|| "cannot list refs".into())?;
    let named = gix::refs::PartialName::try_from(remote).is_ok() && repo.find_remote(remote).is_ok();
    let prefix = if named {
        format!("refs/remotes/{remote}/")
    } else {
        "refs/remotes/".to_string()
    };
    let mut out = Vec::new();
    for r in platform
        .prefixed(prefix.as_str())
        .context(|| format!("cannot list {prefix}"))?
        .flatten()
    {
        let name = r.name().as_bstr().to_string();
        let rest = name.strip_prefix(prefix.as_str()).unwrap_or_default();
        let branch = if named {
            rest
        } else {
            rest.split_once('/').map_or(rest, |(_, b)| b)
        };
        if branch.starts_with("agents/") {
            continue;
        }
        out.extend(r.try_id().map(|i| i.detach()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "1111111111111111111111111111111111111111";
    const Z: &str = "0000000000000000000000000000000000000000";

    #[test]
    fn parses_lines_whose_local_side_has_spaces() {
        let pushes = parse(&format!(
            "HEAD@{{1 day ago}} {A} refs/heads/x {Z}\n\nrefs/heads/y {A} refs/heads/y {A}\n"
        ))
        .expect("valid lines");
        assert_eq!(pushes.len(), 2);
        assert_eq!(pushes[0].local_ref, "HEAD@{1 day ago}");
        assert_eq!(pushes[0].remote_ref, "refs/heads/x");
        assert!(pushes[0].remote.is_null());
        assert!(parse("refs/heads/x deadbeef refs/heads/x 0").is_err());
        assert!(parse("just three fields").is_err());
    }
}
