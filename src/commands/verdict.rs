//! `git agents done`, `fail`, `release` and `heartbeat`: what an agent says
//! about the task it holds. One file because they differ in one argument.

use clap::Args;

use crate::error::{Error, Exit, Result};
use crate::protocol::{self, Context, Verdict};
use crate::session::Session;
use crate::state::Store;
use crate::ui::Ui;

/// Who is speaking and about which task; shared by every verdict.
#[derive(Debug, Args)]
pub struct HeldTask {
    /// The claimed task
    pub task: String,
    /// The agent holding the claim (default: $GIT_AGENTS_AGENT)
    #[arg(long)]
    pub agent: Option<String>,
    /// Act even if another agent holds the claim (recorded in the history)
    #[arg(long)]
    pub force: bool,
    /// Print the new task record as JSON
    #[arg(long)]
    pub json: bool,
}

/// Mark a claimed task as done
///
/// Checks the work first, as `spawn` does: the branch (default
/// agents/<task>) may change only the files the task owns (deletions and
/// renames count; commits of the base and of dependencies do not), and the
/// acceptance command (the task's `test`, else the plan's) must pass. It
/// runs here, so run `done` in the worktree that has the branch checked
/// out, committed; `--no-verify` skips it and says so in the task's
/// history. Then records the branch and its head (what `merge` will land)
/// and moves the task to done; tasks that depend on it become ready.
///
/// Examples:
///
///   git agents done auth --agent agent-1            # branch agents/auth
///   git agents done auth --agent agent-1 --branch my-auth-work
///   git agents done auth --agent agent-1 --no-verify
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct DoneArgs {
    #[command(flatten)]
    pub held: HeldTask,
    /// The branch holding the work (must exist when given); merge lands its head as recorded now
    #[arg(long)]
    pub branch: Option<String>,
    /// Skip the acceptance command (recorded in the task's history)
    #[arg(long)]
    pub no_verify: bool,
}

/// `done`: the same checks as the runner's, then the verdict.
pub fn done(args: &DoneArgs, session: &Session) -> Result<()> {
    let ui = session.ui;
    let held = &args.held;
    let repo = session.repo()?;
    let agent = protocol::agent_name(held.agent.as_deref(), repo.settings())?;
    let ctx = Context::load(repo)?;
    ctx.task_known(&held.task)?;
    let plan = &ctx.plan.plan;
    let Some(task) = plan.tasks.iter().find(|t| t.id == held.task) else {
        return Err(Error::usage(format!("task `{}` is not in the plan", held.task)));
    };
    let name = args
        .branch
        .clone()
        .unwrap_or_else(|| crate::layout::task_branch(&task.id));
    // No branch, no work to check (and nothing for merge to land).
    if let Some(head) = crate::repo::branch_tip(repo, &name)? {
        check_ownership(&ctx, task, &name, head)?;
        if !args.no_verify {
            if let Some(test) = task.test.as_ref().or(plan.test.as_ref()) {
                check_acceptance(repo, &task.id, &name, head, test)?;
            }
        }
    }
    let verdict = Verdict::Done {
        branch: args.branch.clone(),
        start: None,
        unverified: args.no_verify,
    };
    let record = if held.force {
        protocol::finish_forced(&ctx, &agent, &held.task, verdict)?
    } else {
        protocol::finish(&ctx, &agent, &held.task, verdict)?
    };
    print(held, &record, &ctx, ui);
    Ok(())
}

/// The work on `branch` changes only files `task` owns.
fn check_ownership(ctx: &Context<'_>, task: &crate::plan::Task, branch: &str, head: gix::ObjectId) -> Result<()> {
    let repo = ctx.repo;
    // The base and the dependencies' work are not this task's to judge.
    let mut hidden: Vec<gix::ObjectId> = crate::repo::branch_tip(repo, &ctx.plan.plan.base)?
        .into_iter()
        .collect();
    for dep in &task.depends_on {
        hidden.extend(crate::repo::branch_tip(repo, &crate::layout::task_branch(dep))?);
    }
    let outside = crate::checks::Ownership::of(task).outside_commits(repo, head, &hidden)?;
    if outside.is_empty() {
        return Ok(());
    }
    let mut err = Error::usage(format!(
        "{branch} changes files outside what task `{}` owns ({})",
        task.id,
        if task.owns.is_empty() {
            "everything".to_string()
        } else {
            task.owns.join(", ")
        }
    ));
    for path in &outside {
        err = err.detail(path.clone());
    }
    Err(err.hint(format!(
        "take those changes out of {branch} and run `done` again, or give the task back with `git agents fail {} --reason ...`",
        task.id
    )))
}

/// The acceptance command passes on `head`, in this worktree.
fn check_acceptance(repo: &Store, id: &str, branch: &str, head: gix::ObjectId, test: &str) -> Result<()> {
    let here = std::env::current_dir().map_err(|e| Error::failure("no current folder").cause(e))?;
    let at = crate::process::git_in(&here, &["rev-parse", "HEAD"]).unwrap_or_default();
    let clean = crate::process::git_in(&here, &["status", "--porcelain", "--untracked-files=no"])
        .is_ok_and(|s| s.trim().is_empty());
    if gix::ObjectId::from_hex(at.trim().as_bytes()).ok() != Some(head) || !clean {
        return Err(Error::usage(format!(
            "the acceptance command `{test}` runs where {branch} is checked out, clean, and this folder is not that"
        ))
        .hint(format!(
            "run `git agents done {id}` in the worktree of {branch} after committing"
        ))
        .hint("or skip the command with `--no-verify` (recorded in the task's history)"));
    }
    let log = crate::layout::done_log(repo, id)?;
    let _ = std::fs::remove_file(&log);
    let never = std::sync::atomic::AtomicBool::new(false);
    match crate::process::shell(test, &here, &log, &never)? {
        crate::process::Ended::Exited(0) => Ok(()),
        ended => {
            let output = std::fs::read_to_string(&log).unwrap_or_default();
            Err(Error::new(
                Exit::TestsFailed,
                format!(
                    "the acceptance command `{test}` failed ({ended:?}): {}",
                    crate::failure_reason::from_output(&output)
                ),
            )
            .detail(format!("output: {}", log.display()))
            .hint(format!(
                "fix the work and run `done` again, or `git agents fail {id} --reason ...`"
            )))
        }
    }
}

/// Mark a claimed task as failed
///
/// The task returns to available with one more failed attempt, or becomes
/// blocked when its attempts reach `max_attempts` (plan `[agent]`).
///
/// Examples:
///
///   git agents fail auth --agent agent-1 --reason "tests red"
///   git agents fail auth --agent agent-1 --reason "gave up" --force   # as a person
///   git agents fail auth --block --reason "needs the staging API key"  # only a person can fix it
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct FailArgs {
    #[command(flatten)]
    pub held: HeldTask,
    /// Why it failed (kept in the task's history)
    #[arg(long)]
    pub reason: String,
    /// Stuck on something only a person can fix: block the task at once,
    /// without counting an attempt; the reason leads the blocked list
    #[arg(long)]
    pub block: bool,
}

impl FailArgs {
    pub fn verdict(&self) -> Verdict {
        let reason = self.reason.clone();
        if self.block {
            Verdict::Stuck { reason }
        } else {
            Verdict::Fail { reason }
        }
    }
}

/// Say where the agent is on its task
///
/// Run by an agent from its worktree: the agent and the task come from
/// $GIT_AGENTS_AGENT and $GIT_AGENTS_TASK, which the runner sets. The
/// newest message shows in `status` (all its forms) beside the running
/// task; it also renews the claim's lease, like a heartbeat.
///
/// Examples:
///
///   git agents progress "parser done, writing tests"
///   git agents progress "waiting on CI" --task auth --agent agent-1
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct ProgressArgs {
    /// A short message: what is done, what is next, what blocks
    pub text: String,
    /// The claimed task (default: $GIT_AGENTS_TASK)
    #[arg(long)]
    pub task: Option<String>,
    /// The agent holding the claim (default: $GIT_AGENTS_AGENT)
    #[arg(long)]
    pub agent: Option<String>,
    /// Print the new task record as JSON
    #[arg(long)]
    pub json: bool,
}

/// `progress`: the message recorded on the agent's claim.
pub fn progress(args: &ProgressArgs, session: &Session) -> Result<()> {
    let text = args.text.trim();
    if text.is_empty() || text.contains('\n') {
        return Err(Error::usage("a progress message is one line of text")
            .hint("e.g. `git agents progress \"parser done, writing tests\"`"));
    }
    let settings = session.settings();
    let task =
        args.task.clone().or(settings.task.clone()).ok_or_else(|| {
            Error::usage("which task is this about?").hint("pass `--task TASK` or set GIT_AGENTS_TASK")
        })?;
    let held = HeldTask {
        task,
        agent: args.agent.clone(),
        force: false,
        json: args.json,
    };
    run(&held, Verdict::Progress { text: text.to_string() }, session)
}

/// Give a claimed task back without a verdict
///
/// The task returns to available; its attempts are not counted.
///
/// Examples:
///
///   git agents release auth --agent agent-1
///   git agents release auth --agent agent-1 --force   # someone else's claim
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct ReleaseArgs {
    #[command(flatten)]
    pub held: HeldTask,
}

/// Extend the lease of a claimed task
///
/// A claim whose lease runs out counts as stale and can be taken back with
/// `git agents unlock --stale`; long-running agents renew it.
///
/// Examples:
///
///   git agents heartbeat auth --agent agent-1
///   while sleep 60; do git agents heartbeat auth --agent agent-1 -q; done &
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct HeartbeatArgs {
    #[command(flatten)]
    pub held: HeldTask,
}

pub fn run(held: &HeldTask, verdict: Verdict, session: &Session) -> Result<()> {
    let ui = session.ui;
    let repo = session.repo()?;
    let agent = protocol::agent_name(held.agent.as_deref(), repo.settings())?;
    let ctx = Context::load(repo)?;
    let record = if held.force {
        protocol::finish_forced(&ctx, &agent, &held.task, verdict)?
    } else {
        protocol::finish(&ctx, &agent, &held.task, verdict)?
    };
    print(held, &record, &ctx, ui);
    Ok(())
}

fn print(held: &HeldTask, record: &crate::state::TaskRecord, ctx: &Context<'_>, ui: &Ui) {
    if held.json {
        ui.json(record);
        return;
    }
    ui.result(&format!("{} {}", held.task, record.state));
    if let Some(lease) = record
        .lease_until
        .filter(|_| record.state == crate::state::TaskState::Claimed)
    {
        ui.status(&format!("lease renewed: {} left", protocol::age(lease - ctx.now)));
    }
    if record.state == crate::state::TaskState::Blocked {
        ui.warn(&format!(
            "{} is blocked after {} failed attempts; `git agents requeue {}` makes it available again",
            held.task, record.attempts, held.task
        ));
    }
}
