//! The pre-push guard's rules: what a push may not publish. Pure judgement
//! over the lines git gives a pre-push hook and the local state; the hook
//! command prints the verdict.

use gix::ObjectId;

use crate::error::{Context, Error, Result};
use crate::plan::Task;
use crate::state;

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
pub fn check(repo: &gix::Repository, remote: &str, pushes: &[Push]) -> Result<Vec<Refusal>> {
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
    let mut refusals = Vec::new();
    for push in relevant {
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
        refusals.extend(untested_merges(repo, remote, push)?);
    }
    Ok(refusals)
}

/// A task branch may publish only changes to the files its task owns.
/// Merge commits are skipped: they bring in the base or dependencies.
fn task_branch(repo: &gix::Repository, remote: &str, base: &str, task: &Task, push: &Push) -> Result<Option<Refusal>> {
    let mut hidden = known(repo, push);
    // The start point merges the base and the dependencies' branches in;
    // their commits are not this task's to judge.
    let others = std::iter::once(format!("heads/{base}"))
        .chain(task.depends_on.iter().map(|d| format!("heads/agents/{d}")))
        .collect::<Vec<_>>();
    for name in &others {
        hidden.extend(crate::repo::ref_tip(repo, &format!("refs/{name}")));
        let tracking = name.replacen("heads/", &format!("remotes/{remote}/"), 1);
        hidden.extend(crate::repo::ref_tip(repo, &format!("refs/{tracking}")));
    }
    let ownership = crate::runner::Ownership::of(task);
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

/// Commits made by `git agents merge` (an `Agent-Task:` trailer) may be
/// published only with a test note that passed (or says no test was set).
fn untested_merges(repo: &gix::Repository, remote: &str, push: &Push) -> Result<Option<Refusal>> {
    let mut hidden = known(repo, push);
    if hidden.is_empty() {
        // A new branch on the remote: what the remote already has is what
        // its remote-tracking branches show.
        hidden.extend(remote_tips(repo, remote)?);
    }
    let mut items = Vec::new();
    for commit in walk(repo, push.local, hidden)? {
        let message = commit.message_raw_sloppy().to_string();
        let Some(id) = message.lines().find_map(|l| l.strip_prefix("Agent-Task: ")) else {
            continue;
        };
        let subject = message.lines().next().unwrap_or_default().to_string();
        let short = state::short(commit.id);
        let verdict = match state::merge_note(repo, commit.id) {
            None => Some("no test note".to_string()),
            Some(note) => {
                let result = note
                    .lines()
                    .find_map(|l| l.strip_prefix("result: "))
                    .unwrap_or("(none)")
                    .to_string();
                (!(result.starts_with("passed") || result == "not tested")).then(|| format!("test result: {result}"))
            }
        };
        if let Some(verdict) = verdict {
            items.push(format!("{short} {subject} (task `{}`: {verdict})", id.trim()));
        }
    }
    if items.is_empty() {
        return Ok(None);
    }
    Ok(Some(Refusal {
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
    }))
}

/// The remote's old value, when this clone has it: commits before it are published already.
fn known(repo: &gix::Repository, push: &Push) -> Vec<ObjectId> {
    (!push.remote.is_null() && repo.find_object(push.remote).is_ok())
        .then_some(push.remote)
        .into_iter()
        .collect()
}

fn walk<'r>(repo: &'r gix::Repository, from: ObjectId, hidden: Vec<ObjectId>) -> Result<Vec<gix::Commit<'r>>> {
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
/// every remote's when pushing to a URL rather than a named remote.
fn remote_tips(repo: &gix::Repository, remote: &str) -> Result<Vec<ObjectId>> {
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
