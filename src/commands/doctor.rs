//! `git agents doctor`: find what a crash can leave behind and, with
//! `--fix`, repair it.

use std::time::Duration;

use clap::Args;
use gix::ObjectId;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::plan::duration;
use crate::session::Session;
use crate::state;
use crate::state::Store;

/// Find and repair what crashes leave behind
///
/// Checks for lock files under the ref store (a killed git or git-agents
/// leaves `<ref>.lock`, and every later write of that ref fails), tasks
/// listed under two states (a kill in the middle of a transition), a merge
/// lock whose process is gone, worktree registrations a kill cut short,
/// claims whose process is gone (a killed `spawn` on this host) or whose
/// lease expired, and state refs git-agents did not write
/// (refs/agents/tasks/<state>/<id> not holding a task history of <id> in
/// that state, refs/agents/agents/<name> not holding agent.toml of <name>),
/// and done tasks whose branch is gone (`clean --force` saves an unmerged
/// branch under refs/agents/backup/ before deleting it).
///
/// With --fix it removes lock files older than --older-than (a live writer
/// holds one for milliseconds), deletes the older ref of a task under two
/// states (the newer one descends from it), releases a merge lock whose
/// process is gone, removes cut-short worktree registrations, frees
/// claims whose process is gone (the attempt counts), and puts a done
/// task's branch back from its backup when that is the commit checked at done. Expired leases are
/// reported, not freed: the holder may be alive elsewhere, so that is
/// `git agents unlock --stale`, which counts the attempt. A forged state
/// ref is deleted when another ref holds its task's history, or moved back
/// to the last state commit in its history; otherwise doctor says what to run.
///
/// Exits 0 when nothing is wrong (or all was fixed), 1 otherwise.
///
/// Examples:
///
///   git agents doctor
///   git agents doctor --fix
///   git agents doctor --fix --older-than 0s   # no agent or git is running
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct DoctorArgs {
    /// Repair what can be repaired safely
    #[arg(long)]
    pub fix: bool,
    /// Remove only lock files at least this old
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub older_than: String,
    /// Print the findings as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct Finding {
    /// `lock-file`, `two-states`, `dead-merge`, `stopped-merge`,
    /// `worktree-registration`, `stale-claim`, `forged-ref`, `branch-gone`.
    kind: &'static str,
    subject: String,
    problem: String,
    fix: String,
    /// Whether it counts against a clean bill of health.
    serious: bool,
    fixed: bool,
}

pub fn run(args: &DoctorArgs, session: &Session) -> Result<()> {
    let ui = session.ui;
    let threshold = duration::parse_duration(&args.older_than)
        .map(Duration::from_secs)
        .map_err(|why| {
            Error::usage(format!("--older-than \"{}\" {why}", args.older_than))
                .hint("pass a duration such as 30s or 5m")
        })?;
    let repo = session.repo()?;
    let mut findings = Vec::new();
    lock_files(repo, args.fix, threshold, &mut findings);
    // Before `tasks`: a forged ref would pass there for a task under two states.
    let forged = forged_refs(repo, args.fix, &mut findings)?;
    tasks(repo, args.fix, &forged, &mut findings)?;
    merge_lock(repo, args.fix, &mut findings)?;
    registrations(repo, args.fix, &mut findings);
    lost_branches(repo, args.fix, &mut findings)?;

    let remaining = findings.iter().filter(|f| f.serious && !f.fixed).count();
    if args.json {
        ui.json(&findings);
    } else {
        for f in &findings {
            let label = match (f.fixed, f.serious) {
                (true, _) => "fixed",
                (false, true) => "problem",
                (false, false) => "note",
            };
            ui.result(&format!("{label:<8} {}: {}", f.subject, f.problem));
            if !f.fixed {
                ui.result(&format!("         {}", f.fix));
            }
        }
        if findings.is_empty() {
            ui.result("no problems found");
        }
    }
    if remaining > 0 {
        let err = Error::failure(format!(
            "{remaining} problem{} left",
            if remaining == 1 { "" } else { "s" }
        ));
        return Err(if args.fix {
            err.hint("the lines above say what to do for each")
        } else {
            err.hint("repair them with `git agents doctor --fix`")
        });
    }
    Ok(())
}

/// Done tasks whose branch is gone (`clean --force` deletes an unmerged
/// branch after saving it under refs/agents/backup/): `--fix` puts the
/// branch back from the backup holding the work recorded at done.
fn lost_branches(repo: &Store, fix: bool, out: &mut Vec<Finding>) -> Result<()> {
    let snap = state::snapshot(repo)?;
    let branches = crate::repo::task_branches(repo)?;
    for (id, task) in &snap.tasks {
        if task.state != state::TaskState::Done || branches.contains_key(id) {
            continue;
        }
        // A ref without a readable task.toml is the forged-ref check's to report.
        let Ok(record) = state::TaskRecord::read(repo, task.oid) else {
            continue;
        };
        let branch = crate::layout::task_branch(id);
        // A branch recorded under another name is not ours to judge.
        if record.branch.as_deref().is_some_and(|b| b != branch) {
            continue;
        }
        let head = record.head;
        let saved = crate::merge::saved_branch(repo, id, head)?;
        // Done with no work recorded and nothing saved: there never was a
        // branch (a script's claim/done loop), so none is gone.
        if head.is_none() && saved.is_empty() {
            continue;
        }
        let exact = saved.first().is_some_and(|(_, oid)| Some(*oid) == head);
        // With the checked commit at hand, merge lands it without the branch.
        let landable = head.is_some_and(|h| repo.find_commit(h).is_ok());
        let mut finding = Finding {
            kind: "branch-gone",
            subject: format!("task {id}"),
            problem: match saved.first() {
                Some((backup, _)) if landable => format!(
                    "done but {branch} is gone (merge still lands the commit checked at done); it is saved as {backup}"
                ),
                Some((backup, _)) => format!("done but {branch} is gone; its work is saved as {backup}"),
                None => format!("done but {branch} is gone, with no backup of it"),
            },
            fix: match saved.first() {
                Some((backup, _)) if exact => {
                    format!("restore it: `git branch {branch} {backup}` (or `git agents doctor --fix`)")
                }
                // A backup other than the work checked at done is for a person to judge.
                Some((backup, _)) => format!(
                    "look at {backup} first (it is not the commit checked at done), then `git branch {branch} {backup}`"
                ),
                None => format!("`git agents requeue {id}` has it done again"),
            },
            serious: !landable,
            fixed: false,
        };
        if let (true, true, Some((backup, _))) = (fix, exact, saved.first()) {
            match crate::process::git_in(&crate::repo::workdir(repo)?, &["branch", &branch, backup]) {
                Ok(_) => finding.fixed = true,
                Err(e) => finding.fix = format!("{} ({})", finding.fix, e.message),
            }
        }
        out.push(finding);
    }
    Ok(())
}

fn lock_files(repo: &Store, fix: bool, threshold: Duration, out: &mut Vec<Finding>) {
    let root = repo.common_dir();
    for (path, age) in state::lock_files(repo) {
        let relative = path.strip_prefix(root).unwrap_or(&path);
        let shown = relative.display().to_string();
        // Locks of refs, packed-refs and the linked worktrees git-agents
        // makes; anything else (the main checkout's index.lock while a
        // `git commit` waits for its editor, config.lock) is only reported.
        let ours = relative.starts_with("refs") || relative.starts_with("worktrees") || shown == "packed-refs.lock";
        if !ours {
            out.push(Finding {
                kind: "lock-file",
                subject: shown,
                problem: format!("lock file, {} old", age_text(age)),
                fix: "a git command in this repository may hold it; if none runs, remove it by hand".into(),
                serious: true,
                fixed: false,
            });
            continue;
        }
        let old = age >= threshold;
        let mut finding = Finding {
            kind: "lock-file",
            subject: shown,
            problem: format!(
                "lock file, {} old; writes of this ref fail while it is there",
                age_text(age)
            ),
            fix: if old {
                "if no git or git-agents process is running, remove it: `git agents doctor --fix`".into()
            } else {
                "young: a writer may hold it right now; look again in a moment".into()
            },
            serious: true,
            fixed: false,
        };
        if fix && old {
            match std::fs::remove_file(&path) {
                Ok(()) => finding.fixed = true,
                Err(e) => finding.fix = format!("cannot remove it: {e}; remove {} by hand", path.display()),
            }
        }
        out.push(finding);
    }
}

fn tasks(repo: &Store, fix: bool, forged: &[Forged], out: &mut Vec<Finding>) -> Result<()> {
    let check = TaskCheck {
        repo,
        fix,
        forged,
        snap: state::snapshot(repo)?,
    };
    two_states(&check, out);
    // Expired leases need a decision that counts an attempt: reported only.
    // A holder process that is gone is a fact: its claims are problems, and
    // `--fix` frees them as `spawn` would (not over forged refs left in
    // place, whose history a new link would build on).
    let any_gone = stale_claims(&check, out)?;
    if fix && any_gone {
        free_gone_claims(&check, out)?;
    }
    Ok(())
}

/// What the steps of the task check read.
struct TaskCheck<'a> {
    repo: &'a Store,
    /// `--fix`: repair what can be repaired.
    fix: bool,
    /// Task refs reported as forged and left in place.
    forged: &'a [Forged],
    snap: state::Snapshot,
}

impl TaskCheck<'_> {
    fn is_forged(&self, id: &str, (state, oid): (state::TaskState, ObjectId)) -> bool {
        self.forged
            .iter()
            .any(|f| f.id == id && f.state == state && f.oid == oid)
    }
}

/// Tasks listed under two states: `--fix` deletes the older ref.
fn two_states(check: &TaskCheck<'_>, out: &mut Vec<Finding>) {
    for (id, task) in &check.snap.tasks {
        // A forged ref left in place (reported above) is no leftover of a transition.
        let task = &state::TaskRef {
            leftovers: task
                .leftovers
                .iter()
                .copied()
                .filter(|&l| !check.is_forged(id, l))
                .collect(),
            ..task.clone()
        };
        if task.leftovers.is_empty() || check.is_forged(id, (task.state, task.oid)) {
            continue;
        }
        let others: Vec<&str> = task.leftovers.iter().map(|(s, _)| s.as_str()).collect();
        let mut finding = Finding {
            kind: "two-states",
            subject: format!("task {id}"),
            problem: format!(
                "listed as {} and also as {} (a transition was cut short); it counts as {}",
                task.state.as_str(),
                others.join(", "),
                task.state.as_str()
            ),
            fix: "delete the older ref: `git agents doctor --fix` (its next transition does it too)".into(),
            serious: true,
            fixed: false,
        };
        if check.fix {
            match state::drop_leftovers(check.repo, id, task) {
                Ok(()) => finding.fixed = true,
                Err(state::WriteError::Moved) => {
                    finding.fix = "it changed meanwhile (an agent is working); run doctor again".into()
                }
                Err(state::WriteError::Failed(e)) => finding.fix = format!("cannot repair it: {}", e.message),
            }
        }
        out.push(finding);
    }
}

/// Claims of plan tasks whose holder process is gone (problems) or whose
/// lease expired (notes); true when a holder is gone.
fn stale_claims(check: &TaskCheck<'_>, out: &mut Vec<Finding>) -> Result<bool> {
    let mut any_gone = false;
    let Some(plan) = state::read_plan(check.repo)? else {
        return Ok(any_gone);
    };
    let now = check.repo.now();
    for (id, task) in &check.snap.tasks {
        if task.state != state::TaskState::Claimed
            || !plan.plan.tasks.iter().any(|t| &t.id == id)
            || check.is_forged(id, (task.state, task.oid))
        {
            continue;
        }
        let record = state::TaskRecord::read(check.repo, task.oid)?;
        let holder = record.agent.as_deref().unwrap_or("?");
        if let Some(why) = record.holder_gone() {
            any_gone = true;
            out.push(Finding {
                kind: "stale-claim",
                subject: format!("task {id}"),
                problem: format!("claimed by {holder}, whose process is gone ({why})"),
                fix: "free it: `git agents doctor --fix` or `git agents unlock --stale` (counts as a failed attempt)"
                    .into(),
                serious: true,
                fixed: false,
            });
        } else if crate::protocol::is_stale(&record, now) {
            out.push(Finding {
                kind: "stale-claim",
                subject: format!("task {id}"),
                problem: format!("claimed by {holder} whose lease expired"),
                fix: "free it with `git agents unlock --stale` (counts as a failed attempt)".into(),
                serious: false,
                fixed: false,
            });
        }
    }
    Ok(any_gone)
}

/// `--fix` for claims whose holder is gone: frees them as `spawn` would,
/// unless forged refs are left in place.
fn free_gone_claims(check: &TaskCheck<'_>, out: &mut [Finding]) -> Result<()> {
    let forged = check.forged;
    let freed = match forged.is_empty() {
        true => crate::protocol::Context::load(check.repo).and_then(|ctx| crate::protocol::unlock_gone(&ctx))?,
        false => Vec::new(),
    };
    for f in out.iter_mut().filter(|f| f.kind == "stale-claim" && f.serious) {
        let id = f.subject.trim_start_matches("task ");
        match freed.iter().find(|(freed, _, _)| freed == id) {
            Some((_, record, _)) => {
                f.fixed = true;
                f.problem = format!("{}; now {}", f.problem, record.state.as_str());
            }
            None if !forged.is_empty() => f.fix = "repair the forged refs first, then run doctor again".into(),
            None => f.fix = "it changed meanwhile; run doctor again".into(),
        }
    }
    Ok(())
}

fn merge_lock(repo: &Store, fix: bool, out: &mut Vec<Finding>) -> Result<()> {
    let Some((_, record)) = state::read_merge(repo)? else {
        return Ok(());
    };
    if let Some(task) = &record.stopped_task {
        out.push(Finding {
            kind: "stopped-merge",
            subject: format!("merge into {}", record.target),
            problem: format!("stopped at task `{task}`"),
            fix: "resolve it and run `git agents merge --continue`, or `git agents merge --abort`".into(),
            serious: false,
            fixed: false,
        });
        return Ok(());
    }
    if !record.gone() {
        return Ok(()); // a merge is running
    }
    let mut finding = Finding {
        kind: "dead-merge",
        subject: format!("merge into {}", record.target),
        problem: format!(
            "refs/agents/merge is held by pid {} on {}, which is gone",
            record.pid, record.host
        ),
        fix: "release it with `git agents doctor --fix`, or take over with `git agents merge --force`".into(),
        serious: true,
        fixed: false,
    };
    if fix {
        match state::MergeLock::abort(repo) {
            Ok(_) => finding.fixed = true,
            Err(e) => finding.fix = format!("cannot release it: {}", e.message),
        }
    }
    out.push(finding);
    Ok(())
}

fn registrations(repo: &Store, fix: bool, out: &mut Vec<Finding>) {
    for registration in crate::worktree::half_made_registrations(repo) {
        let shown = registration
            .strip_prefix(repo.common_dir())
            .unwrap_or(&registration)
            .display()
            .to_string();
        let mut finding = Finding {
            kind: "worktree-registration",
            subject: shown,
            problem:
                "a worktree registration cut short (a file in it is missing or empty); git fsck and new worktrees fail"
                    .into(),
            fix: "remove it: `git agents doctor --fix` (the next spawn recreates the worktree)".into(),
            serious: true,
            fixed: false,
        };
        if fix {
            match std::fs::remove_dir_all(&registration) {
                Ok(()) => finding.fixed = true,
                Err(e) => finding.fix = format!("cannot remove it: {e}; remove {} by hand", registration.display()),
            }
        }
        out.push(finding);
    }
}

/// A task ref reported as forged and left in place.
struct Forged {
    id: String,
    state: state::TaskState,
    oid: ObjectId,
}

/// What is wrong with a state ref, and the newest commit of its history
/// that is a whole state history (with the state its record says).
struct Forgery {
    why: String,
    back_to: Option<(ObjectId, state::TaskState)>,
}

/// State refs whose commit git-agents did not write: a task ref whose
/// history is not `id`'s (task.toml of `id` in every link, first link the
/// fixed one) or whose record's state is not its namespace; an agent ref
/// without agent.toml of that agent. Returns the task refs left in place.
fn forged_refs(repo: &Store, fix: bool, out: &mut Vec<Finding>) -> Result<Vec<Forged>> {
    let check = ForgedCheck {
        repo,
        fix,
        remote: repo.backend().remote_name(),
    };
    let mut left = Vec::new();
    for (id, refs) in state::list_tasks(repo)? {
        forged_task_refs(&check, &id, &refs, &mut left, out);
    }
    for (agent, oid) in state::snapshot(repo)?.agents {
        if let Some(finding) = forged_agent_ref(&check, &agent, oid) {
            out.push(finding);
        }
    }
    Ok(left)
}

/// What every step of the forged-ref check reads.
struct ForgedCheck<'a> {
    repo: &'a Store,
    /// `--fix`: repair what can be repaired.
    fix: bool,
    /// The remote holding the state, when there is one.
    remote: Option<&'a str>,
}

/// The forged refs among task `id`'s `refs`: a finding each, and those
/// left in place pushed to `left`.
fn forged_task_refs(
    check: &ForgedCheck<'_>,
    id: &str,
    refs: &[(state::TaskState, ObjectId)],
    left: &mut Vec<Forged>,
    out: &mut Vec<Finding>,
) {
    let repo = check.repo;
    let judged: Vec<_> = refs
        .iter()
        .map(|&(st, oid)| (st, oid, judge_task(repo, id, st, oid)))
        .collect();
    let valid = judged
        .iter()
        .find(|(_, _, j)| j.is_none())
        .map(|&(st, oid, _)| (st, oid));
    for (st, oid, forgery) in judged {
        let Some(forgery) = forgery else { continue };
        let forged = Forged {
            id: id.to_string(),
            state: st,
            oid,
        };
        let finding = forged_task_ref(check, &forged, forgery, valid);
        if !finding.fixed {
            left.push(forged);
        }
        out.push(finding);
    }
}

/// The finding for one forged task ref, repaired when `--fix` can:
/// deleted when `valid` (another ref of the task) holds its history, moved
/// back when its own history holds a state commit of its state.
fn forged_task_ref(
    check: &ForgedCheck<'_>,
    forged: &Forged,
    forgery: Forgery,
    valid: Option<(state::TaskState, ObjectId)>,
) -> Finding {
    let (id, st, oid) = (&forged.id, forged.state, forged.oid);
    let name = st.ref_name(id);
    let mut finding = Finding {
        kind: "forged-ref",
        subject: name.clone(),
        problem: format!(
            "points at {} ({}), which is not a git-agents state commit: {}",
            state::short(oid),
            describe(check.repo, oid),
            forgery.why
        ),
        fix: String::new(),
        serious: true,
        fixed: false,
    };
    match (valid, forgery.back_to) {
        (Some(valid), _) => delete_forged_task_ref(check, forged, valid, &mut finding),
        (None, Some((back, back_state))) if back_state == st => {
            move_back_forged_task_ref(check, &name, oid, back, &mut finding)
        }
        (None, Some((back, back_state))) => {
            finding.fix = format!(
                "its history says {}: `git update-ref {} {back} && git update-ref -d {name} {oid}`",
                back_state.as_str(),
                back_state.ref_name(id)
            );
        }
        (None, None) => {
            finding.fix = format!(
                "nothing of task {id}'s history is left; to add it back as available: \
                 `git update-ref -d {name} {oid} && git agents plan --yes`"
            );
        }
    }
    finding
}

/// Another ref of the task holds its history: the forged one is deleted.
fn delete_forged_task_ref(
    check: &ForgedCheck<'_>,
    forged: &Forged,
    (valid_state, valid_oid): (state::TaskState, ObjectId),
    finding: &mut Finding,
) {
    let id = &forged.id;
    finding.fix = format!(
        "delete it: `git agents doctor --fix` (task {id}'s history is at {})",
        valid_state.ref_name(id)
    );
    if check.fix {
        let keep = state::TaskRef {
            state: valid_state,
            oid: valid_oid,
            leftovers: vec![(forged.state, forged.oid)],
        };
        match state::drop_leftovers(check.repo, id, &keep) {
            Ok(()) => finding.fixed = true,
            Err(state::WriteError::Moved) => finding.fix = "it changed meanwhile; run doctor again".into(),
            Err(state::WriteError::Failed(e)) => finding.fix = format!("cannot delete it: {}", e.message),
        }
    }
}

/// The forged ref's own history holds a state commit of its state, `back`:
/// the ref moves back there.
fn move_back_forged_task_ref(
    check: &ForgedCheck<'_>,
    name: &str,
    oid: ObjectId,
    back: ObjectId,
    finding: &mut Finding,
) {
    finding.fix = match check.remote {
        None => format!(
            "move it back to {}, the last state commit in its history: `git agents doctor --fix`",
            state::short(back)
        ),
        // The remote holds the state: move it there, the mirror follows.
        Some(remote) => {
            format!("move it back on `{remote}`: `git push --force-with-lease={name}:{oid} {remote} {back}:{name}`")
        }
    };
    if check.fix && check.remote.is_none() {
        match state::move_branch(check.repo, name, oid, back) {
            Ok(true) => finding.fixed = true,
            Ok(false) => finding.fix = "it changed meanwhile; run doctor again".into(),
            Err(e) => finding.fix = format!("cannot move it back: {}", e.message),
        }
    }
}

/// The finding for agent ref `agent` at `oid` when it is forged, moved
/// back to the last agent commit in its history when `--fix` can.
fn forged_agent_ref(check: &ForgedCheck<'_>, agent: &str, oid: ObjectId) -> Option<Finding> {
    let repo = check.repo;
    let why = agent_link(repo, agent, oid).err()?;
    let name = state::AgentRecord::ref_name(agent);
    let back = first_parent(repo, oid).filter(|&p| agent_link(repo, agent, p).is_ok());
    let mut finding = Finding {
        kind: "forged-ref",
        subject: name.clone(),
        problem: format!(
            "points at {} ({}), which is not a git-agents state commit: {why}",
            state::short(oid),
            describe(repo, oid)
        ),
        fix: match back {
            Some(back) if check.remote.is_none() => format!(
                "move it back to {}, the last state commit in its history: `git agents doctor --fix`",
                state::short(back)
            ),
            _ => {
                format!("delete it (the agent registers again at its next claim): `git update-ref -d {name} {oid}`")
            }
        },
        serious: true,
        fixed: false,
    };
    if let (true, Some(back), None) = (check.fix, back, check.remote) {
        match state::move_branch(repo, &name, oid, back) {
            Ok(true) => finding.fixed = true,
            Ok(false) => finding.fix = "it changed meanwhile; run doctor again".into(),
            Err(e) => finding.fix = format!("cannot move it back: {}", e.message),
        }
    }
    Some(finding)
}

/// How far a forged ref's history is searched for a state commit.
const SEARCH_BACK: usize = 1000;

/// `None` when `oid` is a task history of `id` in state `st`.
fn judge_task(repo: &Store, id: &str, st: state::TaskState, oid: ObjectId) -> Option<Forgery> {
    match task_history(repo, id, oid) {
        Ok(recorded) if recorded == st => None,
        Ok(recorded) => Some(Forgery {
            why: format!("it records the task as {}", recorded.as_str()),
            back_to: Some((oid, recorded)),
        }),
        Err(why) => {
            let mut current = first_parent(repo, oid);
            let mut back_to = None;
            for _ in 0..SEARCH_BACK {
                let Some(c) = current else { break };
                if let Ok(recorded) = task_history(repo, id, c) {
                    back_to = Some((c, recorded));
                    break;
                }
                current = first_parent(repo, c);
            }
            Some(Forgery { why, back_to })
        }
    }
}

/// The state recorded at `tip` when its first-parent history is one that
/// git-agents writes for task `id`: every link a single-parent commit with
/// task.toml of `id`, the first link the task's fixed first commit.
fn task_history(repo: &Store, id: &str, tip: ObjectId) -> std::result::Result<state::TaskState, String> {
    let initial = state::initial_commit(repo.object_hash(), id)
        .and_then(|c| c.id(repo.object_hash()))
        .ok();
    let mut recorded = None;
    let mut current = tip;
    // A task's history has a link per transition and heartbeat.
    for _ in 0..1_000_000 {
        // Said of the ref's own commit, or of one further back.
        let which = if current == tip {
            "it".to_string()
        } else {
            format!("{} in its history", state::short(current))
        };
        let commit = find_commit(repo, current).map_err(|why| format!("{which} {why}"))?;
        let record: state::TaskRecord = read_toml(&commit, "task.toml").map_err(|why| format!("{which} {why}"))?;
        if record.id != id {
            return Err(format!("{which} holds the task.toml of task `{}`", record.id));
        }
        recorded.get_or_insert(record.state);
        let parents: Vec<ObjectId> = commit.parent_ids().map(|p| p.detach()).collect();
        match parents.as_slice() {
            [] if Some(current) == initial || is_first_link(&commit, id, &record) => {
                return Ok(recorded.unwrap_or(record.state))
            }
            [] => return Err(format!("its history does not start at task {id}'s first commit")),
            [parent] => current = *parent,
            _ => return Err(format!("{which} is a merge")),
        }
    }
    Err("its history is too long to be a task's".into())
}

/// The fixed first commit as an older or newer git-agents wrote it (its
/// task.toml may differ): no parent, the fallback identity at time 0,
/// message `add <id>`, the task available.
fn is_first_link(commit: &gix::Commit<'_>, id: &str, record: &state::TaskRecord) -> bool {
    let fixed = |s: Option<gix::actor::SignatureRef<'_>>| {
        s.is_some_and(|s| {
            s.name == crate::repo::FALLBACK_NAME && s.email == crate::repo::FALLBACK_EMAIL && s.seconds() == 0
        })
    };
    record.state == state::TaskState::Available
        && fixed(commit.author().ok())
        && fixed(commit.committer().ok())
        && commit.message_raw_sloppy() == format!("add {id}\n").as_str()
}

/// `Ok` when `oid` is a commit holding agent.toml of `agent`.
fn agent_link(repo: &Store, agent: &str, oid: ObjectId) -> std::result::Result<(), String> {
    let commit = find_commit(repo, oid).map_err(|why| format!("it {why}"))?;
    let record: state::AgentRecord = read_toml(&commit, "agent.toml").map_err(|why| format!("it {why}"))?;
    if record.name != agent {
        return Err(format!("it holds the agent.toml of agent `{}`", record.name));
    }
    Ok(())
}

/// The commit `oid`; the error completes "it …".
fn find_commit(repo: &Store, oid: ObjectId) -> std::result::Result<gix::Commit<'_>, String> {
    let object = repo.find_object(oid).map_err(|_| "is missing".to_string())?;
    match object.kind {
        gix::object::Kind::Commit => Ok(object.into_commit()),
        kind => Err(format!("is a {kind}, not a commit")),
    }
}

/// `file` of `commit`'s tree, parsed; the error completes "it …".
fn read_toml<T: serde::de::DeserializeOwned>(commit: &gix::Commit<'_>, file: &str) -> std::result::Result<T, String> {
    let entry = commit
        .tree()
        .ok()
        .and_then(|tree| tree.lookup_entry_by_path(file).ok().flatten())
        .ok_or_else(|| format!("has no {file}"))?;
    let blob = entry.object().map_err(|_| format!("has no {file}"))?;
    toml::from_str(&String::from_utf8_lossy(&blob.data)).map_err(|_| format!("holds a {file} that cannot be read"))
}

fn first_parent(repo: &Store, oid: ObjectId) -> Option<ObjectId> {
    let commit = repo.find_commit(oid).ok()?;
    let parent = commit.parent_ids().next().map(|p| p.detach());
    parent
}

/// What `oid` is, for a report: `commit "subject"`, or the kind of object.
fn describe(repo: &Store, oid: ObjectId) -> String {
    let Ok(object) = repo.find_object(oid) else {
        return "missing".into();
    };
    match object.kind {
        gix::object::Kind::Commit => {
            let commit = object.into_commit();
            let message = commit.message_raw_sloppy().to_string();
            let subject: String = message.lines().next().unwrap_or_default().chars().take(60).collect();
            format!("commit \"{subject}\"")
        }
        kind => format!("a {kind}"),
    }
}

fn age_text(age: Duration) -> String {
    crate::protocol::age(age.as_secs() as i64)
}
