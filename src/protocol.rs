//! The lock protocol's rules: who may claim what, when a failure blocks a
//! task, when a lease is stale. Decisions come from one ref listing plus the
//! recorded plan; every change goes through `state::move_task`, and a lost
//! race is retried on fresh state, never overwritten.

use crate::error::{Error, Exit, Result};
use crate::plan::{ids, Plan};
use crate::settings::Settings;
use crate::state::{
    self, AgentRecord, Move, RecordedPlan, Snapshot, Store, TaskRecord, TaskRef, TaskState, WriteError,
};

/// How often an operation retries after losing a race before giving up.
const MAX_RACES: usize = 200;

/// What every protocol operation needs: the repository, the recorded plan, the time.
pub struct Context<'r> {
    pub repo: &'r Store,
    pub plan: RecordedPlan,
    pub now: i64,
}

impl<'r> Context<'r> {
    /// Fails with advice when no plan has been recorded yet.
    pub fn load(repo: &'r Store) -> Result<Self> {
        let plan = state::read_plan(repo)?.ok_or_else(|| {
            // After `init` the file is there: the next step is recording it, not writing one.
            let written = crate::repo::workdir(repo).is_ok_and(|top| top.join("agents.toml").is_file());
            Error::usage("no plan is recorded yet").hint(if written {
                "agents.toml is written: check and record it with `git agents plan` (`--yes` records without asking)"
            } else {
                "write agents.toml (`git agents init`), then record it with `git agents plan --yes`"
            })
        })?;
        Ok(Context {
            repo,
            plan,
            now: repo.now(),
        })
    }

    fn plan(&self) -> &Plan {
        &self.plan.plan
    }

    /// The lease length: `git config agents.lease`, else the plan's `[agent] lease`.
    pub fn lease_seconds(&self) -> Result<u64> {
        self.repo.settings().lease_seconds(&self.plan().agent.lease)
    }

    pub fn task_known(&self, id: &str) -> Result<()> {
        if self.plan().tasks.iter().any(|t| t.id == id) {
            return Ok(());
        }
        Err(Error::usage(format!("no task `{id}` in the recorded plan"))
            .hint("`git agents status` lists the tasks; add new ones to agents.toml and run `git agents plan --yes`"))
    }
}

/// The agent name from `--agent`, else `$GIT_AGENTS_AGENT` (in `settings`).
pub fn agent_name(arg: Option<&str>, settings: &Settings) -> Result<String> {
    let name = match arg.or(settings.agent.as_deref()) {
        Some(n) => n.to_string(),
        None => {
            return Err(Error::usage("which agent is this?").hint("pass `--agent NAME` or set GIT_AGENTS_AGENT"));
        }
    };
    if let Some(why) = ids::id_problem(&name) {
        return Err(Error::usage(format!("agent name {name:?} {why}"))
            .hint("agent names become ref names: use letters, digits, '-', '_' and '.'"));
    }
    Ok(name)
}

/// A person's name for transitions made by hand (requeue, unlock).
pub fn person(repo: &gix::Repository) -> String {
    match repo.committer() {
        Some(Ok(sig)) => sig.name.to_string(),
        _ => crate::repo::FALLBACK_NAME.to_string(),
    }
}

/// Whether a task may be claimed, and if not, why.
#[derive(Debug, Clone, PartialEq)]
pub enum Readiness {
    Ready,
    /// Available, but these dependencies are not done or merged.
    Waiting(Vec<String>),
    /// Not available: in this state.
    Taken(TaskState),
    /// The plan has it but no ref does (a plan recorded by hand, or a race).
    Missing,
}

/// "Ready" is derived: available and every dependency done or merged.
pub fn readiness(plan: &Plan, snap: &Snapshot, id: &str) -> Readiness {
    match plan.tasks.iter().find(|t| t.id == id) {
        Some(def) => readiness_of(def, snap),
        None => Readiness::Missing,
    }
}

/// [`readiness`] of a task whose definition the caller holds: loops over
/// the plan use this, so they cost one lookup per task, not a search.
pub fn readiness_of(def: &crate::plan::Task, snap: &Snapshot) -> Readiness {
    let Some(task) = snap.tasks.get(&def.id) else {
        return Readiness::Missing;
    };
    if task.state != TaskState::Available {
        return Readiness::Taken(task.state);
    }
    let waiting: Vec<String> = def
        .depends_on
        .iter()
        .filter(|d| !snap.tasks.get(d.as_str()).is_some_and(|t| t.state.is_complete()))
        .cloned()
        .collect();
    if waiting.is_empty() {
        Readiness::Ready
    } else {
        Readiness::Waiting(waiting)
    }
}

/// Which task to claim.
pub enum Target<'a> {
    Next,
    Task(&'a str),
}

/// Claims a task for `agent`; returns the task id and its new record.
///
/// `--next` takes the first ready task in plan order while no task is
/// claimed: one agent alone works through the plan in order. Once claims
/// are held, others are likely reading the same state at the same moment;
/// if all went for the first ready task, one would win per round and the
/// slowest (a clone with more to send, a busier host) would lose round
/// after round. So each try starts at its own pseudo-random place in the
/// ready list ([`Spread`]). A lost race is retried on fresh state, after a
/// short pause that grows with each loss ([`pause_after`]), for as long
/// as any task is ready: exit 5 says that nothing is, never that the
/// races were lost too often.
pub fn claim(ctx: &Context<'_>, agent: &str, target: Target<'_>) -> Result<(String, TaskRecord)> {
    let lease = ctx.lease_seconds()? as i64;
    let mut spread = Spread::new(agent);
    let mut lost: u32 = 0;
    // What the last lost try expected (task, its state commit, this agent's
    // record), and how many losses in a row the fresh state did not explain.
    let mut tried: Option<(String, gix::ObjectId, Option<gix::ObjectId>)> = None;
    let mut unexplained = 0;
    loop {
        let snap = state::snapshot(ctx.repo)?;
        if let Some((id, oid, agent_oid)) = tried.take() {
            // Another writer moved the task or this agent's record: a race,
            // and someone made progress. Neither moved: something else is in
            // the way (a leftover ref), which no number of retries fixes.
            let raced =
                snap.tasks.get(&id).is_none_or(|t| t.oid != oid) || snap.agents.get(agent).copied() != agent_oid;
            unexplained = if raced { 0 } else { unexplained + 1 };
            if unexplained >= MAX_UNEXPLAINED {
                return Err(stuck(&id));
            }
        }
        let id = match target {
            Target::Task(id) => {
                ctx.task_known(id)?;
                match readiness(ctx.plan(), &snap, id) {
                    Readiness::Ready => id.to_string(),
                    other => return Err(not_claimable(ctx, &snap, id, other)),
                }
            }
            Target::Next => {
                let ready: Vec<&crate::plan::Task> = ctx
                    .plan()
                    .tasks
                    .iter()
                    .filter(|t| readiness_of(t, &snap) == Readiness::Ready)
                    .collect();
                if ready.is_empty() {
                    return Err(nothing_ready(ctx, &snap));
                }
                let contended = lost > 0 || snap.tasks.values().any(|t| t.state == TaskState::Claimed);
                let at = if contended { spread.below(ready.len()) } else { 0 };
                ready[at].id.clone()
            }
        };
        let Some(from) = snap.tasks.get(&id) else { continue };
        let old = TaskRecord::read(ctx.repo, from.oid)?;
        let mut record = old.next(TaskState::Claimed, agent, ctx.now);
        record.agent = Some(agent.to_string());
        record.host = Some(crate::host::name());
        let (pid, judged) = ctx.repo.settings().holder.pid();
        record.set_holder(pid, judged);
        record.claimed_at = Some(ctx.now);
        record.lease_until = Some(ctx.now + lease);
        record.branch = Some(crate::layout::task_branch(&id));
        let registration = register(ctx, &snap, agent)?;
        let m = Move {
            id: &id,
            from,
            message: format!("claim {id} by {agent}"),
            record: record.clone(),
            agent: Some(registration),
        };
        let expected = (from.oid, m.agent.as_ref().and_then(|a| a.1));
        if landed(ctx, m)? {
            return Ok((id, record));
        }
        lost += 1;
        // A named task that another agent took is refused on fresh state
        // above; this bound only stops a pathological loop.
        if matches!(target, Target::Task(_)) && lost as usize >= MAX_RACES {
            return Err(lost_too_often());
        }
        tried = Some((id, expected.0, expected.1));
        std::thread::sleep(pause_after(lost, &mut spread));
    }
}

/// Lost tries in a row that the fresh state does not explain before
/// `claim` gives up (each one re-reads; a real race always shows).
const MAX_UNEXPLAINED: u32 = 5;

/// A pseudo-random sequence of its own for every claiming process: seeded
/// from the agent name, the pid and the time through std's randomly keyed
/// hasher, then stepped with splitmix64. Two agents of one clone, or the
/// same name on two machines, thus try different places of the ready list.
struct Spread(u64);

impl Spread {
    fn new(agent: &str) -> Self {
        use std::hash::{BuildHasher, Hash, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        agent.hash(&mut hasher);
        std::process::id().hash(&mut hasher);
        std::thread::current().id().hash(&mut hasher);
        std::time::SystemTime::now().hash(&mut hasher);
        Spread(hasher.finish())
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A place in a list of `len` (> 0) items.
    fn below(&mut self, len: usize) -> usize {
        (self.next() % len as u64) as usize
    }
}

/// The pause after the `lost`-th lost race in a row: a ceiling of 2 ms
/// doubling up to 256 ms, and a pause drawn between half the ceiling and
/// all of it, so the losers of one round do not all come back together.
fn pause_after(lost: u32, spread: &mut Spread) -> std::time::Duration {
    let ceiling_us: u64 = 2_000 << lost.saturating_sub(1).min(7);
    let half = ceiling_us / 2;
    std::time::Duration::from_micros(half + spread.next() % (half + 1))
}

/// `claim` lost the same try several times though nobody moved the task.
fn stuck(id: &str) -> Error {
    Error::failure(format!(
        "cannot claim `{id}`: the write keeps failing though the task still looks ready"
    ))
    .hint("`git agents doctor` names what is in the way (a task listed under two states, a lock file)")
    .hint("`git agents doctor --fix` repairs it; then run the command again")
}

fn register(ctx: &Context<'_>, snap: &Snapshot, agent: &str) -> Result<(AgentRecord, Option<gix::ObjectId>)> {
    let old = snap.agents.get(agent).copied();
    let mut record = match old {
        Some(oid) => AgentRecord::read(ctx.repo, oid)?,
        None => AgentRecord {
            name: agent.to_string(),
            started: ctx.now,
            ..AgentRecord::default()
        },
    };
    record.host = crate::host::name();
    let (pid, judged) = ctx.repo.settings().holder.pid();
    record.set_holder(pid, judged);
    record.heartbeat = ctx.now;
    if let Some(dir) = ctx.repo.workdir() {
        record.worktree = Some(dir.display().to_string());
    }
    Ok((record, old))
}

/// The verdicts an agent gives on a task it holds.
#[derive(Debug, Clone)]
pub enum Verdict {
    Heartbeat,
    Done {
        branch: Option<String>,
        /// Where the work started, when known (see `TaskRecord::start`).
        start: Option<gix::ObjectId>,
        /// The acceptance command was skipped (`done --no-verify`).
        unverified: bool,
    },
    Fail {
        reason: String,
    },
    /// A failure that no retry can fix (a conflict merging dependencies).
    Block {
        reason: String,
    },
    /// The agent is stuck on something only a person can fix (`fail
    /// --block`): blocked at once, no attempt counted.
    Stuck {
        reason: String,
    },
    /// Where the agent is (`git agents progress`); renews the lease too.
    Progress {
        text: String,
    },
    Release,
}

/// How the reason of a task an agent blocked itself (`fail --block`)
/// begins, so it leads the blocked list and says who must act.
pub const STUCK: &str = "needs a person: ";

/// The reason `agent` gave when it blocked `id` itself (`fail --block`
/// while it held the claim), if that is how the task stands now.
pub fn stuck_by(ctx: &Context<'_>, agent: &str, id: &str) -> Result<Option<String>> {
    let snap = state::snapshot(ctx.repo)?;
    let Some(task) = snap.tasks.get(id).filter(|t| t.state == TaskState::Blocked) else {
        return Ok(None);
    };
    let record = TaskRecord::read(ctx.repo, task.oid)?;
    Ok(record
        .last_failure
        .filter(|why| record.by.as_deref() == Some(agent) && why.starts_with(STUCK)))
}

/// Applies `verdict` to `id`, which `agent` must hold.
pub fn finish(ctx: &Context<'_>, agent: &str, id: &str, verdict: Verdict) -> Result<TaskRecord> {
    apply_verdict(ctx, agent, id, verdict, Holder::Agent)?.map_err(|refusal| refusal.into_error(id, agent))
}

/// Applies `verdict` to `id` whoever holds it: a person's `--force`. The
/// transition records that it was forced when another agent held it.
pub fn finish_forced(ctx: &Context<'_>, agent: &str, id: &str, verdict: Verdict) -> Result<TaskRecord> {
    apply_verdict(ctx, agent, id, verdict, Holder::Anyone)?.map_err(|refusal| refusal.into_error(id, agent))
}

/// Why the state refused a verdict on a claim: it is not `agent`'s (any
/// more). An error only when a person asked ([`Refusal::into_error`]); for
/// a runner's heartbeat it means the claim was lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The task is not claimed: it is in this state.
    NotClaimed(TaskState),
    /// Another agent holds the claim.
    HeldBy(String),
}

impl Refusal {
    /// The error a person sees for the refusal, with what to do.
    fn into_error(self, id: &str, agent: &str) -> Error {
        match self {
            Refusal::NotClaimed(state) => Error::usage(format!("task `{id}` is not claimed (it is {state})"))
                .hint(format!("claim it first: `git agents claim {id}`")),
            Refusal::HeldBy(holder) => Error::usage(format!("task `{id}` is claimed by {holder}, not by {agent}"))
                .hint("only the agent holding a claim may change it; a person can add `--force` (it is recorded)"),
        }
    }
}

/// Renews `agent`'s lease on `id`: `Err(refusal)` inside when the claim is
/// no longer `agent`'s, the outer error when the state could not be read
/// or written (a network blip: worth trying again).
pub fn heartbeat(ctx: &Context<'_>, agent: &str, id: &str) -> Result<std::result::Result<(), Refusal>> {
    Ok(apply_verdict(ctx, agent, id, Verdict::Heartbeat, Holder::Agent)?.map(|_| ()))
}

/// Who may apply a verdict to a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holder {
    /// Only the agent that holds it.
    Agent,
    /// Anyone (`--force`).
    Anyone,
}

/// Applies `verdict` to claimed task `id` for `agent`, once `may` lets
/// it: retried on fresh state when another writer got there first.
fn apply_verdict(
    ctx: &Context<'_>,
    agent: &str,
    id: &str,
    verdict: Verdict,
    may: Holder,
) -> Result<std::result::Result<TaskRecord, Refusal>> {
    ctx.task_known(id)?;
    let lease = ctx.lease_seconds()? as i64;
    for _ in 0..MAX_RACES {
        let snap = state::snapshot(ctx.repo)?;
        let from = match claimed(&snap, id)? {
            Ok(from) => from,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let old = TaskRecord::read(ctx.repo, from.oid)?;
        let holder = old.agent.clone().unwrap_or_default();
        if holder != agent && may == Holder::Agent {
            return Ok(Err(Refusal::HeldBy(holder)));
        }
        let (state, message, record) = next_record(ctx, agent, id, &verdict, &old, lease)?;
        let mut record = record;
        record.state = state;
        record.forced = may == Holder::Anyone && holder != agent;
        let message = if record.forced {
            format!("{message} (forced; held by {holder})")
        } else {
            message
        };
        let m = Move {
            id,
            from: &from,
            message,
            record: record.clone(),
            agent: None,
        };
        if landed(ctx, m)? {
            return Ok(Ok(record));
        }
    }
    Err(lost_too_often())
}

/// The state, commit message and record that `verdict` by `agent` makes
/// of `old`, the record of claimed task `id`.
fn next_record(
    ctx: &Context<'_>,
    agent: &str,
    id: &str,
    verdict: &Verdict,
    old: &TaskRecord,
    lease: i64,
) -> Result<(TaskState, String, TaskRecord)> {
    Ok(match verdict {
        Verdict::Heartbeat => {
            let mut r = old.next(TaskState::Claimed, agent, ctx.now);
            r.lease_until = Some(ctx.now + lease);
            (TaskState::Claimed, format!("heartbeat {id} by {agent}"), r)
        }
        Verdict::Done {
            branch,
            start,
            unverified,
        } => {
            let mut r = old.next(TaskState::Done, agent, ctx.now);
            r.start = *start;
            r.unverified = *unverified;
            let name = branch.clone().unwrap_or_else(|| crate::layout::task_branch(id));
            r.head = branch_head(ctx.repo, &name, branch.is_some())?;
            if let Some(head) = r.head {
                ctx.repo.backend().publish_branch(ctx.repo, id, head)?;
            }
            r.branch = Some(name);
            let skipped = if *unverified {
                " (acceptance skipped: --no-verify)"
            } else {
                ""
            };
            (TaskState::Done, format!("done {id} by {agent}{skipped}"), r)
        }
        Verdict::Fail { reason } => {
            let mut r = old.next(TaskState::Available, agent, ctx.now).unclaimed();
            r.attempts = old.attempts + 1;
            r.last_failure = Some(reason.clone());
            let state = if r.attempts >= ctx.plan().agent.max_attempts {
                TaskState::Blocked
            } else {
                TaskState::Available
            };
            r.state = state;
            (state, format!("fail {id} by {agent}: {reason}"), r)
        }
        Verdict::Block { reason } => {
            let mut r = old.next(TaskState::Blocked, agent, ctx.now).unclaimed();
            r.attempts = old.attempts + 1;
            r.last_failure = Some(reason.clone());
            (TaskState::Blocked, format!("block {id} by {agent}: {reason}"), r)
        }
        Verdict::Stuck { reason } => {
            let mut r = old.next(TaskState::Blocked, agent, ctx.now).unclaimed();
            r.last_failure = Some(format!("{STUCK}{reason}"));
            (TaskState::Blocked, format!("stuck {id} by {agent}: {reason}"), r)
        }
        Verdict::Progress { text } => {
            let mut r = old.next(TaskState::Claimed, agent, ctx.now);
            r.lease_until = Some(ctx.now + lease);
            r.progress = Some(text.clone());
            r.progress_at = Some(ctx.now);
            (TaskState::Claimed, format!("progress {id} by {agent}: {text}"), r)
        }
        Verdict::Release => {
            let r = old.next(TaskState::Available, agent, ctx.now).unclaimed();
            (TaskState::Available, format!("release {id} by {agent}"), r)
        }
    })
}

/// Applies a transition: `true` when it landed, `false` when another writer
/// got there first (the caller looks again on fresh state).
fn landed(ctx: &Context<'_>, m: Move<'_>) -> Result<bool> {
    match state::move_task(ctx.repo, m) {
        Ok(_) => Ok(true),
        Err(WriteError::Moved) => Ok(false),
        Err(WriteError::Failed(e)) => Err(e),
    }
}

/// Task `id`'s ref when it is claimed; the refusal when it is in another state.
fn claimed(snap: &Snapshot, id: &str) -> Result<std::result::Result<TaskRef, Refusal>> {
    match snap.tasks.get(id) {
        Some(t) if t.state == TaskState::Claimed => Ok(Ok(t.clone())),
        Some(t) => Ok(Err(Refusal::NotClaimed(t.state))),
        None => Err(Error::failure(format!("task `{id}` has no state ref"))
            .hint("record the plan again with `git agents plan --yes`")),
    }
}

fn branch_head(repo: &gix::Repository, branch: &str, required: bool) -> Result<Option<gix::ObjectId>> {
    let found = gix::refs::FullName::try_from(format!("refs/heads/{branch}"))
        .ok()
        .and_then(|name| repo.try_find_reference(&name).ok().flatten())
        .and_then(|r| r.try_id().map(|id| id.detach()));
    if found.is_none() && required {
        return Err(Error::usage(format!("branch `{branch}` does not exist"))
            .hint("name the branch that holds the task's work, or leave out `--branch`"));
    }
    Ok(found)
}

/// A done task whose work landed on the target as `commit`.
pub fn mark_merged(ctx: &Context<'_>, id: &str, commit: gix::ObjectId) -> Result<TaskRecord> {
    let by = person(ctx.repo);
    for _ in 0..MAX_RACES {
        let snap = state::snapshot(ctx.repo)?;
        let Some(from) = snap.tasks.get(id) else {
            return Err(missing(id));
        };
        if from.state != TaskState::Done {
            return Err(Error::failure(format!("task `{id}` is {}, not done", from.state)));
        }
        let old = TaskRecord::read(ctx.repo, from.oid)?;
        let record = old.next(TaskState::Merged, &by, ctx.now);
        let m = Move {
            id,
            from,
            message: format!("merge {id} as {}", state::short(commit)),
            record: record.clone(),
            agent: None,
        };
        if landed(ctx, m)? {
            return Ok(record);
        }
    }
    Err(lost_too_often())
}

/// A person moves a blocked or done task back to available, attempts reset.
pub fn requeue(ctx: &Context<'_>, id: &str) -> Result<TaskRecord> {
    ctx.task_known(id)?;
    let by = person(ctx.repo);
    for _ in 0..MAX_RACES {
        let snap = state::snapshot(ctx.repo)?;
        let Some(from) = snap.tasks.get(id) else {
            return Err(missing(id));
        };
        if !matches!(from.state, TaskState::Blocked | TaskState::Done) {
            return Err(Error::usage(format!(
                "task `{id}` is {}; only blocked or done tasks can be requeued",
                from.state
            ))
            .hint(match from.state {
                TaskState::Claimed => {
                    "a claimed task returns with `git agents release` (by its agent) or `git agents unlock --stale`"
                }
                _ => "it is already available or merged",
            }));
        }
        let old = TaskRecord::read(ctx.repo, from.oid)?;
        let mut record = old.next(TaskState::Available, &by, ctx.now).unclaimed();
        record.attempts = 0;
        let m = Move {
            id,
            from,
            message: format!("requeue {id} by {by} (was {})", from.state),
            record: record.clone(),
            agent: None,
        };
        if landed(ctx, m)? {
            return Ok(record);
        }
    }
    Err(lost_too_often())
}

/// Returns every stale claim (lease expired, or its process on this host
/// gone) to available, or blocked when its attempts are used up; returns
/// each task freed, its new record (`last_failure` says why) and holder.
pub fn unlock_stale(ctx: &Context<'_>) -> Result<Vec<(String, TaskRecord, String)>> {
    free_claims(ctx, |record| stale_reason(record, ctx.now))
}

/// Frees only the claims whose holder process is certainly gone: no lease
/// needs to be waited for and nobody needs to decide (`spawn`, `doctor --fix`).
pub fn unlock_gone(ctx: &Context<'_>) -> Result<Vec<(String, TaskRecord, String)>> {
    free_claims(ctx, |record| {
        let gone = record.holder_gone()?;
        Some(format!("process of {} is gone ({gone})", holder_of(record)))
    })
}

fn holder_of(record: &TaskRecord) -> &str {
    record.agent.as_deref().unwrap_or("?")
}

fn free_claims(
    ctx: &Context<'_>,
    stale: impl Fn(&TaskRecord) -> Option<String>,
) -> Result<Vec<(String, TaskRecord, String)>> {
    let by = person(ctx.repo);
    let mut freed = Vec::new();
    let snap = state::snapshot(ctx.repo)?;
    for (id, from) in &snap.tasks {
        if from.state != TaskState::Claimed {
            continue;
        }
        let old = TaskRecord::read(ctx.repo, from.oid)?;
        let Some(why) = stale(&old) else { continue };
        let holder = old.agent.clone().unwrap_or_default();
        let mut record = old.next(TaskState::Available, &by, ctx.now).unclaimed();
        record.attempts = old.attempts + 1;
        record.last_failure = Some(why.clone());
        if record.attempts >= ctx.plan().agent.max_attempts {
            record.state = TaskState::Blocked;
        }
        let m = Move {
            id,
            from,
            message: format!("unlock {id} by {by}: {why}"),
            record: record.clone(),
            agent: None,
        };
        // Not landing means its agent came back (heartbeat, done) or someone else unlocked it.
        if landed(ctx, m)? {
            freed.push((id.clone(), record, holder));
        }
    }
    Ok(freed)
}

/// A claim whose lease has run out, or whose holder process on this host is gone.
pub fn is_stale(record: &TaskRecord, now: i64) -> bool {
    stale_reason(record, now).is_some()
}

/// Why a claim is stale: "lease of agent-1 expired", "process of agent-1
/// is gone (pid 42 on box)". The lease is looked at first, so it alone
/// decides for holders this host cannot see.
pub fn stale_reason(record: &TaskRecord, now: i64) -> Option<String> {
    if record.state != TaskState::Claimed {
        return None;
    }
    if record.lease_until.is_some_and(|until| until < now) {
        return Some(format!("lease of {} expired", holder_of(record)));
    }
    let gone = record.holder_gone()?;
    Some(format!("process of {} is gone ({gone})", holder_of(record)))
}

fn missing(id: &str) -> Error {
    Error::failure(format!("task `{id}` has no state ref")).hint("record the plan again with `git agents plan --yes`")
}

fn lost_too_often() -> Error {
    Error::new(
        Exit::NothingToClaim,
        "lost the race for every task tried; other agents are busy with them",
    )
    .hint("run the command again")
}

fn not_claimable(ctx: &Context<'_>, snap: &Snapshot, id: &str, why: Readiness) -> Error {
    let nothing = |m: String| Error::new(Exit::NothingToClaim, m);
    match why {
        Readiness::Ready => nothing(format!("task `{id}` is ready")),
        Readiness::Missing => missing(id),
        Readiness::Waiting(deps) => nothing(format!("task `{id}` waits for {}", describe_all(ctx, snap, &deps)))
            .hint("claim one of its dependencies, or `git agents claim --next`"),
        Readiness::Taken(TaskState::Claimed) => {
            nothing(format!("task `{id}` is already {}", describe_claim(ctx, snap, id)))
                .hint("pick another task with `git agents claim --next`")
        }
        Readiness::Taken(TaskState::Blocked) => nothing(format!("task `{id}` is blocked after failing too often"))
            .hint(format!(
                "see why with `git agents log {id}`; make it available again with `git agents requeue {id}`"
            )),
        Readiness::Taken(state) => nothing(format!("task `{id}` is already {state}")),
    }
}

fn nothing_ready(ctx: &Context<'_>, snap: &Snapshot) -> Error {
    let plan = ctx.plan();
    let total = plan.tasks.len();
    let complete = plan
        .tasks
        .iter()
        .filter(|t| snap.tasks.get(&t.id).is_some_and(|r| r.state.is_complete()))
        .count();
    if complete == total {
        return Error::new(
            Exit::NothingToClaim,
            format!("nothing to claim: all {total} tasks are done"),
        )
        .hint("merge them with `git agents merge`");
    }
    let mut err = Error::new(
        Exit::NothingToClaim,
        format!("nothing to claim: {complete} of {total} tasks are done, none of the rest is ready"),
    );
    for t in &plan.tasks {
        match readiness_of(t, snap) {
            Readiness::Taken(TaskState::Claimed) => {
                err = err.detail(format!("{} is {}", t.id, describe_claim(ctx, snap, &t.id)))
            }
            Readiness::Taken(TaskState::Blocked) => err = err.detail(format!("{} is blocked", t.id)),
            Readiness::Waiting(deps) => err = err.detail(format!("{} waits for {}", t.id, deps.join(", "))),
            _ => {}
        }
    }
    err.hint("wait for the claimed tasks, or `git agents requeue` a blocked one")
}

fn describe_all(ctx: &Context<'_>, snap: &Snapshot, ids: &[String]) -> String {
    ids.iter()
        .map(|d| match snap.tasks.get(d) {
            Some(t) if t.state == TaskState::Claimed => format!("{d} ({})", describe_claim(ctx, snap, d)),
            Some(t) => format!("{d} ({})", t.state),
            None => d.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// "claimed by agent-1 since 3m ago"; reads the one task object it needs.
fn describe_claim(ctx: &Context<'_>, snap: &Snapshot, id: &str) -> String {
    let record = snap.tasks.get(id).and_then(|t| TaskRecord::read(ctx.repo, t.oid).ok());
    match record {
        Some(r) => format!(
            "claimed by {} for {}",
            r.agent.as_deref().unwrap_or("?"),
            age(ctx.now - r.claimed_at.unwrap_or(ctx.now))
        ),
        None => "claimed".into(),
    }
}

/// A short human duration: 45s, 12m, 3h, 2d.
pub fn age(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86399 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}
