//! The agent loop `spawn` runs once per agent: claim the next ready task,
//! start its branch, run the agent command in the agent's worktree, check
//! the result (commits, ownership, acceptance) and report done or failed,
//! until nothing is left to claim.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use gix::ObjectId;

use crate::agent_command::{Fill, Template};
use crate::brief::{self, Facts, Previous};
use crate::checks::Ownership;
use crate::error::{Context as _, Error, Exit, Result};
use crate::failure_reason;
use crate::layout;
use crate::plan::{Plan, Task};
use crate::process::{self, Ended, Supervised};
use crate::protocol::{self, Context, Target, Verdict};
use crate::state::{self, Store, TaskState};
use crate::worktree;

/// What every agent of one spawn shares.
pub struct Fleet {
    /// The repository, its state backend and the run's settings.
    pub repo: state::Shared,
    /// Agents take turns registering their worktrees.
    pub registrations: worktree::Registrations,
    pub template: Template,
    pub timeout: Option<Duration>,
    /// How long a stopped agent gets between SIGTERM and SIGKILL.
    pub grace: Duration,
    /// Set when the agent command cannot even start: no agent claims more.
    pub halt: AtomicBool,
    /// The main worktree (for `[agent] copy`).
    pub workdir: PathBuf,
    pub worktree_root: PathBuf,
    pub identity: Vec<(String, String)>,
    /// `spawn --tmux`: the tmux session the agents' commands run in, a window each.
    pub tmux: Option<String>,
}

/// What an agent is doing, for the progress display.
pub enum Event<'a> {
    Preparing,
    Working {
        task: &'a str,
        attempt: u32,
    },
    Checking {
        task: &'a str,
    },
    Finished {
        task: &'a str,
        state: TaskState,
        note: String,
    },
    Waiting,
    Stopped(String),
}

/// Receives events from all agents; implemented by the spawn command.
pub trait Report: Sync {
    fn event(&self, agent: &str, event: Event<'_>);
}

/// How one attempt ended, from the runner's point of view.
enum Attempt {
    /// Checked: the work is `start..` the task branch's head.
    Done {
        start: ObjectId,
    },
    Failed(String),
    Blocked(String),
    /// Stopped by Ctrl-C: the claim is released, not failed.
    Interrupted,
    /// The claim was taken from us (lease expired and recovered): leave it.
    Lost,
    /// The command failed before doing anything (usage error, not
    /// executable): the claim is released and this agent stops, since the
    /// same command would fail every task in turn.
    CannotStart(String),
}

/// Runs one agent until no task is ready or claimed, or until `cancel`.
pub fn run_agent(agent: &str, settings: &Fleet, cancel: &AtomicBool, report: &dyn Report) -> Result<()> {
    // Each agent thread opens its own handle (gix handles are not shared across threads).
    let repo = settings.repo.open()?;
    let dir = settings.worktree_root.join(agent);
    // The worktree is made once this agent holds a task, so the work spreads
    // over all agents while their worktrees are still being checked out.
    let mut worktree_ready = false;
    loop {
        if cancel.load(Ordering::SeqCst) {
            report.event(agent, Event::Stopped("interrupted".into()));
            return Ok(());
        }
        if settings.halt.load(Ordering::SeqCst) {
            report.event(agent, Event::Stopped("the agent command cannot start".into()));
            return Ok(());
        }
        let ctx = Context::load(&repo)?;
        let (id, record) = match protocol::claim(&ctx, agent, Target::Next) {
            Ok(claimed) => claimed,
            Err(e) if e.exit == Exit::NothingToClaim => match queue_state(&repo, &ctx.plan.plan)? {
                Queue::Ready => continue,
                Queue::Busy => {
                    report.event(agent, Event::Waiting);
                    std::thread::sleep(Duration::from_millis(250));
                    continue;
                }
                Queue::Drained => {
                    report.event(agent, Event::Stopped("nothing left to claim".into()));
                    return Ok(());
                }
            },
            Err(e) => return Err(e),
        };
        let Some(task) = ctx.plan.plan.tasks.iter().find(|t| t.id == id).cloned() else {
            return Err(Error::failure(format!("claimed `{id}`, which the plan does not list")));
        };
        let attempt = record.attempts + 1;
        let run = AttemptRun {
            repo: &repo,
            ctx: &ctx,
            agent,
            task: &task,
            attempt,
            settings,
            dir: &dir,
            cancel,
            report,
        };
        if !worktree_ready {
            prepare_agent_worktree(&run)?;
            worktree_ready = true;
        }
        report.event(agent, Event::Working { task: &id, attempt });
        let outcome = match attempt_task(&run, record.last_failure.as_deref()) {
            Ok(outcome) => outcome,
            Err(e) => {
                // Never leave a claim behind: the task fails this attempt, the agent stops.
                let reason = format!("the runner failed: {}", e.message);
                let _ = Context::load(&repo).and_then(|c| protocol::finish(&c, agent, &id, Verdict::Fail { reason }));
                let _ = worktree::detach(&dir);
                return Err(e);
            }
        };
        let _ = worktree::detach(&dir);
        let Some((state, note)) = record_outcome(&run, outcome)? else {
            return Ok(());
        };
        report.event(agent, Event::Finished { task: &id, state, note });
    }
}

/// Reports the attempt's outcome to the state; `None` when this agent stops
/// here (interrupted).
fn record_outcome(run: &AttemptRun<'_, '_>, outcome: Attempt) -> Result<Option<(TaskState, String)>> {
    let (repo, agent, id, attempt, settings, report) =
        (run.repo, run.agent, &run.task.id, run.attempt, run.settings, run.report);
    let fresh = Context::load(repo)?;
    // The agent said it needs a person (`fail --block`): the state says so
    // already, whatever the command did afterwards.
    if let Some(reason) = protocol::stuck_by(&fresh, agent, id)? {
        return Ok(Some((TaskState::Blocked, reason)));
    }
    Ok(Some(match outcome {
        Attempt::Done { start } => {
            let verdict = Verdict::Done {
                branch: Some(layout::task_branch(id)),
                start: Some(start),
                unverified: false,
            };
            let r = protocol::finish(&fresh, agent, id, verdict)?;
            (r.state, "done".to_string())
        }
        Attempt::Failed(reason) => {
            let r = protocol::finish(&fresh, agent, id, Verdict::Fail { reason: reason.clone() })?;
            (r.state, reason)
        }
        Attempt::Blocked(reason) => {
            let r = protocol::finish(&fresh, agent, id, Verdict::Block { reason: reason.clone() })?;
            (r.state, reason)
        }
        Attempt::Interrupted => {
            protocol::finish(&fresh, agent, id, Verdict::Release)?;
            report.event(agent, Event::Stopped("interrupted; task released".into()));
            return Ok(None);
        }
        Attempt::Lost => (TaskState::Available, "claim lost (lease expired)".to_string()),
        Attempt::CannotStart(reason) => {
            settings.halt.store(true, Ordering::SeqCst);
            protocol::finish(&fresh, agent, id, Verdict::Release)?;
            report.event(
                agent,
                Event::Stopped("the agent command cannot start; task released".into()),
            );
            let shown = crate::agent_command::shell_line(&settings.template.argv);
            return Err(Error::usage(format!("the agent command cannot start: {reason}"))
                .detail(format!("command: {shown}"))
                .detail(format!("its output: {}", layout::attempt_log(repo, id, attempt)?.display()))
                .hint("fix the command (try it by hand in a worktree), then run `git agents spawn` again; no attempt was counted"));
        }
    }))
}

/// Makes this agent's worktree, once it holds its first task; when that
/// fails the claim is released, not left behind.
fn prepare_agent_worktree(run: &AttemptRun<'_, '_>) -> Result<()> {
    let (repo, plan, agent, id) = (run.repo, &run.ctx.plan.plan, run.agent, &run.task.id);
    let (settings, dir, cancel, report) = (run.settings, run.dir, run.cancel, run.report);
    report.event(agent, Event::Preparing);
    // What a killed run's agent left running here would go on
    // writing into this task's files.
    for warning in process::end_leftovers(dir, settings.grace) {
        crate::ui::Ui::new(false).warn(&warning);
    }
    let made = base_tip(repo, plan)
        .and_then(|base| run.settings.registrations.ensure(repo, dir, base))
        .and_then(|created| match created {
            true => prepare_new_worktree(repo, plan, settings, dir, cancel),
            false => Ok(()),
        });
    if let Err(e) = made {
        let _ = Context::load(repo).and_then(|c| protocol::finish(&c, agent, id, Verdict::Release));
        return Err(e);
    }
    Ok(())
}

fn base_tip(repo: &gix::Repository, plan: &Plan) -> Result<ObjectId> {
    crate::repo::branch_tip(repo, &plan.base)?.ok_or_else(|| {
        Error::usage(format!("base branch `{}` does not exist", plan.base))
            .hint("create it, or record a plan with another base")
    })
}

/// `[agent] copy` and `[agent] setup`, until they pass once in a worktree.
fn prepare_new_worktree(
    repo: &gix::Repository,
    plan: &Plan,
    settings: &Fleet,
    dir: &Path,
    cancel: &AtomicBool,
) -> Result<()> {
    for warning in worktree::copy_files(&settings.workdir, dir, &plan.agent.copy) {
        crate::ui::Ui::new(false).warn(&warning);
    }
    if let Some(setup) = &plan.agent.setup {
        let log = layout::setup_log(repo, &dir.file_name().map(|n| n.to_string_lossy()).unwrap_or_default())?;
        match process::shell(setup, dir, &log, cancel)? {
            Ended::Exited(0) => {}
            ended => {
                let how = match ended {
                    Ended::Exited(-1) => "killed by a signal".to_string(),
                    Ended::Exited(code) => format!("exited with status {code}"),
                    Ended::TimedOut => "timed out".into(),
                    Ended::Cancelled => "interrupted".into(),
                };
                return Err(
                    Error::failure(format!("setup `{setup}` failed in {} ({how})", dir.display()))
                        .detail(process::tail(&log, 10))
                        .hint(format!("the full output is in {}", log.display())),
                );
            }
        }
    }
    // Only now: a worktree whose setup failed is set up again by the next spawn.
    worktree::mark_prepared(dir)
}

enum Queue {
    /// Something became ready since the claim looked: try again.
    Ready,
    /// Others hold claims whose completion may make tasks ready.
    Busy,
    /// Nothing ready and nothing claimed: this agent is done.
    Drained,
}

/// Where the queue stands, judged on one fresh snapshot (the claim's own
/// snapshot may already be stale: a dependency may have just finished).
fn queue_state(repo: &Store, plan: &Plan) -> Result<Queue> {
    let snap = state::snapshot(repo)?;
    if plan
        .tasks
        .iter()
        .any(|t| protocol::readiness_of(t, &snap) == protocol::Readiness::Ready)
    {
        return Ok(Queue::Ready);
    }
    let claims: Vec<state::TaskRecord> = snap
        .tasks
        .values()
        .filter(|t| t.state == TaskState::Claimed)
        .filter_map(|t| state::TaskRecord::read(repo, t.oid).ok())
        .collect();
    if claims.iter().any(|r| r.holder_gone().is_some()) && !protocol::unlock_gone(&Context::load(repo)?)?.is_empty() {
        // A claim whose process is gone (another spawn, killed) is ours to take over.
        Ok(Queue::Ready)
    } else if claims.iter().any(|r| !protocol::is_stale(r, repo.now())) {
        // A claim whose lease ran out belongs to a dead agent: nothing to wait for.
        Ok(Queue::Busy)
    } else {
        Ok(Queue::Drained)
    }
}

/// The longest single argument Linux passes to a program (MAX_ARG_STRLEN).
const ARG_MAX_ONE: usize = 128 * 1024;

/// An argument of the agent command longer than [`ARG_MAX_ONE`]: Linux
/// refuses to start the command, whatever the retry.
struct TooLong {
    bytes: usize,
}

impl std::fmt::Display for TooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the agent command has a {} KiB argument (the brief?), more than one argument may hold ({} KiB); \
             give the agent {{brief_file}} instead of {{brief}}",
            self.bytes / 1024,
            ARG_MAX_ONE / 1024
        )
    }
}

/// How quickly a command must fail to count as one that cannot start.
const CANNOT_START_WITHIN: Duration = Duration::from_secs(3);

/// What every step of one attempt shares.
struct AttemptRun<'a, 'r> {
    repo: &'a Store,
    ctx: &'a Context<'r>,
    agent: &'a str,
    task: &'a Task,
    attempt: u32,
    settings: &'a Fleet,
    dir: &'a Path,
    cancel: &'a AtomicBool,
    report: &'a dyn Report,
}

/// The agent command of one attempt, ready to run.
struct Command<'a> {
    argv: Vec<String>,
    env: Vec<(String, String)>,
    log: PathBuf,
    test: Option<&'a str>,
}

/// How the agent command's run went, for the verdict.
struct Ran {
    ended: Ended,
    /// A heartbeat found the claim taken from us.
    lost: bool,
    started: std::time::Instant,
    /// What this attempt added to the log.
    output: String,
    exclude: PathBuf,
    exclude_changed: bool,
}

fn attempt_task(run: &AttemptRun<'_, '_>, last_failure: Option<&str>) -> Result<Attempt> {
    let start = match start_point(run.repo, &run.ctx.plan.plan, run.task)? {
        Start::At(start) => start,
        conflict @ Start::Conflict { .. } => return Ok(Attempt::Blocked(conflict.to_string())),
    };
    let branch = layout::task_branch(&run.task.id);
    run.settings.registrations.switch(run.dir, &branch, start)?;
    let command = match agent_command(run, &branch, last_failure)? {
        Ok(command) => command,
        Err(too_long) => return Ok(Attempt::Blocked(too_long.to_string())),
    };
    let ran = run_with_exclude_kept(run, &command)?;
    let verdict = judge(run, &command, ran, start)?;
    if !matches!(verdict, Attempt::Done { .. }) {
        // The attempt's commits stay reachable for whoever wants to look.
        let head = worktree::head(run.dir)?;
        if head != start {
            state::backup(
                run.repo,
                &format!("{}-attempt-{}", run.task.id, run.attempt),
                &head.to_string(),
            )?;
        }
        worktree::reset(run.dir, start)?;
    }
    Ok(verdict)
}

/// The brief, its file, the argv and the environment of the agent command;
/// an argument too long for Linux to pass blocks the task.
fn agent_command<'a>(
    run: &AttemptRun<'a, '_>,
    branch: &str,
    last_failure: Option<&str>,
) -> Result<std::result::Result<Command<'a>, TooLong>> {
    let (repo, task, attempt, plan) = (run.repo, run.task, run.attempt, &run.ctx.plan.plan);
    let log = layout::attempt_log(repo, &task.id, attempt)?;
    let prompt = state::read_prompt(repo, &run.ctx.plan, &task.id)?;
    let previous = match last_failure {
        Some(reason) if attempt > 1 => {
            let text = std::fs::read_to_string(layout::attempt_log(repo, &task.id, attempt - 1)?).unwrap_or_default();
            Some(Previous::from_log(attempt - 1, reason, &text))
        }
        _ => None,
    };
    let test = task.test.as_ref().or(plan.test.as_ref()).map(String::as_str);
    let text = brief::render(&Facts {
        task,
        prompt: &prompt,
        attempt,
        max_attempts: plan.agent.max_attempts,
        test,
        previous: previous.as_ref(),
    });
    let brief_file = write_brief(repo, task, &text)?;
    let worktree_str = run.dir.display().to_string();
    let brief_file_str = brief_file.display().to_string();
    let git_dir = worktree::git_dir(run.dir)?.display().to_string();
    let git_common_dir = repo.common_dir().display().to_string();
    let argv = run.settings.template.fill(&Fill {
        brief: &text,
        brief_file: &brief_file_str,
        prompt: &prompt,
        task: &task.id,
        worktree: &worktree_str,
        branch,
        git_dir: &git_dir,
        git_common_dir: &git_common_dir,
    });
    // Linux refuses a single argument over 128 KiB (MAX_ARG_STRLEN) with
    // E2BIG; no retry can help, so the task is blocked with the fix.
    if let Some(long) = argv.iter().find(|a| a.len() >= ARG_MAX_ONE) {
        return Ok(Err(TooLong { bytes: long.len() }));
    }
    let env = agent_env(run, branch, &brief_file_str, &worktree_str)?;
    Ok(Ok(Command { argv, env, log, test }))
}

/// The environment the agent command runs with.
fn agent_env(
    run: &AttemptRun<'_, '_>,
    branch: &str,
    brief_file_str: &str,
    worktree_str: &str,
) -> Result<Vec<(String, String)>> {
    let remote = run.ctx.repo.backend().remote_name().unwrap_or_default().to_string();
    let mut env: Vec<(String, String)> = [
        // An agent that runs `git agents` itself shares the same remote.
        (crate::settings::REMOTE_ENV, remote),
        ("GIT_AGENTS_TASK", run.task.id.clone()),
        ("GIT_AGENTS_AGENT", run.agent.to_string()),
        ("GIT_AGENTS_BRIEF_FILE", brief_file_str.to_string()),
        ("GIT_AGENTS_PROMPT_FILE", brief_file_str.to_string()),
        ("GIT_AGENTS_WORKTREE", worktree_str.to_string()),
        ("GIT_AGENTS_BRANCH", branch.to_string()),
        ("GIT_AGENTS_ATTEMPT", run.attempt.to_string()),
        // One glob a line: globs may hold spaces, never a newline.
        ("GIT_AGENTS_OWNS", run.task.owns.join("\n")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    env.extend(worktree::identity_env(run.repo));
    env.extend(run.settings.template.env.iter().cloned());
    Ok(env)
}

/// Runs the agent command and puts `info/exclude` back as it was.
fn run_with_exclude_kept(run: &AttemptRun<'_, '_>, command: &Command<'_>) -> Result<Ran> {
    // `info/exclude` is shared by every worktree: an agent that adds another
    // task's paths to it hides that task's new files from its own commit.
    let exclude = run.repo.common_dir().join("info").join("exclude");
    let exclude_before = std::fs::read(&exclude).ok();
    let started = std::time::Instant::now();
    let offset = std::fs::metadata(&command.log).map_or(0, |m| m.len() as usize);
    let (ended, lost) = supervise_with_heartbeats(run, command)?;
    let whole = std::fs::read_to_string(&command.log).unwrap_or_default();
    let output = whole.get(offset..).unwrap_or_default().to_string();
    let exclude_changed = std::fs::read(&exclude).ok() != exclude_before;
    if exclude_changed {
        match &exclude_before {
            Some(bytes) => std::fs::write(&exclude, bytes),
            None => std::fs::remove_file(&exclude),
        }
        .context(|| format!("cannot restore {}", exclude.display()))?;
    }
    Ok(Ran {
        ended,
        lost,
        started,
        output,
        exclude,
        exclude_changed,
    })
}

/// Supervises the agent command while heartbeats keep its claim; says
/// how it ended and whether the claim was lost.
fn supervise_with_heartbeats(run: &AttemptRun<'_, '_>, command: &Command<'_>) -> Result<(Ended, bool)> {
    let settings = run.settings;
    // Heartbeats every third of the lease keep the claim while the agent works.
    let lease = run.ctx.lease_seconds()?;
    let every = Duration::from_secs((lease / 3).max(1));
    let mut last = std::time::Instant::now();
    let mut lost = false;
    // Each heartbeat runs on a thread of its own and the tick only starts
    // it or collects it: over a shared remote it is a fetch and a push,
    // which a slow or silent remote holds for up to agents.networkTimeout,
    // and the tick must come back at once so the timeout and Ctrl-C are
    // enforced on time. One at a time; the thread says whether the claim is lost.
    let mut beating: Option<std::thread::JoinHandle<bool>> = None;
    let child = Supervised {
        argv: &command.argv,
        dir: run.dir,
        env: &command.env,
        log: &command.log,
        timeout: settings.timeout,
        grace: settings.grace,
    };
    let tick = || {
        if let Some(done) = beating.take_if(|b| b.is_finished()) {
            lost = done.join().unwrap_or(false);
            if lost {
                return false;
            }
        }
        if beating.is_some() || last.elapsed() < every {
            return true;
        }
        last = std::time::Instant::now();
        beating = Some(start_heartbeat(run));
        true
    };
    let ended = match &settings.tmux {
        Some(session) => {
            let window = process::TmuxWindow {
                session,
                window: run.agent,
            };
            process::supervise_in_tmux(&child, &window, run.cancel, tick)?
        }
        None => process::supervise(&child, run.cancel, tick)?,
    };
    // A heartbeat still on its way ends within its network deadline; waiting
    // for it leaves no git behind when spawn exits right after.
    if let Some(beat) = beating.take() {
        let _ = beat.join();
    }
    Ok((ended, lost))
}

/// One heartbeat on a thread of its own; it says whether the claim is lost.
fn start_heartbeat(run: &AttemptRun<'_, '_>) -> std::thread::JoinHandle<bool> {
    // gix handles stay on their thread: the heartbeat opens its own, as each agent does.
    let (shared, agent, id) = (run.settings.repo.clone(), run.agent.to_string(), run.task.id.clone());
    std::thread::spawn(move || {
        let beat = shared.open().and_then(|repo| {
            let c = Context::load(&repo)?;
            protocol::heartbeat(&c, &agent, &id)
        });
        // The claim is lost only when the state refuses the heartbeat (not
        // claimed, or held by another agent). A failure to reach the state
        // (a shared remote's network blip) is retried next tick; the lease
        // outlasts several ticks.
        matches!(beat, Ok(Err(_)))
    })
}

/// The attempt's verdict from how the agent command ended.
fn judge(run: &AttemptRun<'_, '_>, command: &Command<'_>, ran: Ran, start: ObjectId) -> Result<Attempt> {
    let Ran {
        ended,
        lost,
        started,
        output,
        exclude,
        exclude_changed,
    } = ran;
    Ok(match ended {
        _ if exclude_changed && !matches!(ended, Ended::Cancelled) => Attempt::Failed(format!(
            "{} changed while the agent ran (it is shared by every worktree; restored)",
            exclude.display()
        )),
        Ended::Cancelled if lost => Attempt::Lost,
        Ended::Cancelled => Attempt::Interrupted,
        Ended::TimedOut => Attempt::Failed(format!(
            "timed out after {}s",
            run.settings.timeout.map_or(0, |t| t.as_secs())
        )),
        Ended::Exited(code) if code != 0 => {
            let reason = failure_reason::from_output(&output);
            if started.elapsed() < CANNOT_START_WITHIN
                && cannot_start(code, &output)
                && worktree::head(run.dir)? == start
                && !worktree::is_dirty(run.dir)?
            {
                Attempt::CannotStart(format!("exit {code}: {reason}"))
            } else {
                Attempt::Failed(format!("agent exited with code {code}: {reason}"))
            }
        }
        Ended::Exited(_) => {
            run.report.event(run.agent, Event::Checking { task: &run.task.id });
            check(run, command.test, start, &command.log)?
        }
    })
}

/// Whether a quick non-zero exit means the command never got going: the
/// shell's "not executable"/"not found" codes, or a usage error.
fn cannot_start(code: i32, output: &str) -> bool {
    let lower = output.to_ascii_lowercase();
    let usage = [
        "usage:",
        "unexpected argument",
        "unknown option",
        "unrecognized option",
        "unknown argument",
        "invalid option",
    ]
    .iter()
    .any(|w| lower.contains(w));
    matches!(code, 126 | 127) || (code == 2 && usage)
}

/// Appends a check's section to the attempt's log (see [`brief::SECTION`]).
fn log_section(log: &Path, text: &str) {
    let _ = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(log)
        .and_then(|mut f| std::io::Write::write_all(&mut f, format!("{}{text}\n", brief::SECTION).as_bytes()));
}

/// Commits, ownership and acceptance: is this attempt's work acceptable?
fn check(run: &AttemptRun<'_, '_>, test: Option<&str>, start: ObjectId, log: &Path) -> Result<Attempt> {
    let (repo, task, settings, dir, cancel) = (run.repo, run.task, run.settings, run.dir, run.cancel);
    // An agent that switched branches or detached HEAD left its work off
    // the task branch: work that builds on the start is taken (and checked
    // like any other), anything else fails the attempt.
    let branch = layout::task_branch(&task.id);
    let on = worktree::current_branch(dir)?;
    if on.as_deref() != Some(format!("refs/heads/{branch}").as_str()) {
        let head = worktree::head(dir)?;
        let left_for = on.map_or("a detached HEAD".to_string(), |b| {
            b.trim_start_matches("refs/heads/").to_string()
        });
        if head != start && !crate::repo::is_ancestor(repo, start, head) {
            return Ok(Attempt::Failed(format!(
                "the agent left {branch} for {left_for}, whose commits do not build on the task's start"
            )));
        }
        log_section(
            log,
            &format!("the agent left {branch} for {left_for}; its work there is taken into {branch}"),
        );
        worktree::take_onto(dir, &branch, head)?;
    }
    let message = format!("{}: {}", task.id, task.title);
    worktree::commit_leftovers(dir, &message, &settings.identity)?;
    // The CLI's own state files never land, even when the agent committed them.
    worktree::drop_state_files(dir, start, &settings.template.state_files, &settings.identity)?;
    let head = worktree::head(dir)?;
    if head == start {
        return Ok(Attempt::Failed(
            "no changes: the agent made no commit and left no edits".into(),
        ));
    }
    let outside = Ownership::of(task).outside(repo, start, head)?;
    if !outside.is_empty() {
        log_section(log, &format!("{}\n{}", brief::OUTSIDE_SECTION, outside.join("\n")));
        let more = if outside.len() > 5 {
            format!(" and {} more", outside.len() - 5)
        } else {
            String::new()
        };
        return Ok(Attempt::Failed(format!(
            "changed files outside its ownership: {}{more}",
            outside.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
        )));
    }
    let Some(test) = test else {
        return Ok(Attempt::Done { start });
    };
    log_section(log, &format!("acceptance: {test}"));
    let before = std::fs::metadata(log).map_or(0, |m| m.len() as usize);
    Ok(match process::shell(test, dir, log, cancel)? {
        Ended::Exited(0) => Attempt::Done { start },
        Ended::Cancelled => Attempt::Interrupted,
        ended => {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let own = text.get(before..).unwrap_or_default();
            Attempt::Failed(format!(
                "acceptance `{test}` failed ({}): {}",
                describe(&ended),
                failure_reason::from_output(own)
            ))
        }
    })
}

fn describe(ended: &Ended) -> String {
    match ended {
        Ended::Exited(code) => format!("exit {code}"),
        Ended::TimedOut => "timed out".into(),
        Ended::Cancelled => "interrupted".into(),
    }
}

/// Where a task's branch starts: the base's tip now, with the branches of
/// its dependencies merged in, as one commit whose first parent is the base
/// and whose other parents are the dependencies' heads (one start commit per
/// task reads as one merge in `git log --graph`; a chain of one merge per
/// dependency was a tangle). A conflict is returned, not an error: it
/// blocks the task, since no retry can fix it.
fn start_point(repo: &Store, plan: &Plan, task: &Task) -> Result<Start> {
    let base = base_tip(repo, plan)?;
    let deps: Vec<&str> = task.depends_on.iter().map(String::as_str).collect();
    // A differing local branch is backed up (refs/agents/backup/), not lost.
    repo.backend().adopt_task_branches(repo, &deps)?;
    // The tree is merged one dependency at a time, as before; the commits in
    // between are only the merge bases for the next step and no ref keeps
    // them.
    let mut current = base;
    let mut merged: Vec<(&str, ObjectId)> = Vec::new();
    for dep in &task.depends_on {
        let Some(tip) = crate::repo::branch_tip(repo, &layout::task_branch(dep))? else {
            continue;
        };
        if crate::repo::is_ancestor(repo, tip, current) {
            continue; // already contained
        }
        let tree = match crate::tree_merge::merge_trees(repo, current, tip, &plan.base, dep)? {
            Ok(tree) => tree,
            Err(conflicts) => {
                return Ok(Start::Conflict {
                    dep: dep.clone(),
                    paths: conflicts.paths.into_iter().map(|c| c.path).collect(),
                });
            }
        };
        current = state::write_commit(
            repo,
            &format!("start {}: with {}", task.id, layout::task_branch(dep)),
            tree,
            [current, tip],
        )?;
        merged.push((dep, tip));
    }
    if merged.is_empty() {
        return Ok(Start::At(base));
    }
    // A dependency whose head another merged dependency already contains is
    // no parent of its own.
    let heads: Vec<ObjectId> = merged.iter().map(|(_, tip)| *tip).collect();
    let mut kept: Vec<(&str, ObjectId)> = Vec::new();
    for &(dep, tip) in &merged {
        let inside_another = heads
            .iter()
            .any(|&other| other != tip && crate::repo::is_ancestor(repo, tip, other));
        if !inside_another {
            kept.push((dep, tip));
        }
    }
    let tree = repo
        .find_commit(current)
        .and_then(|c| c.tree_id())
        .context(|| format!("cannot read commit {current}"))?
        .detach();
    let names: Vec<String> = kept.iter().map(|(dep, _)| layout::task_branch(dep)).collect();
    let message = format!("start {}: on {} with {}", task.id, plan.base, names.join(", "));
    let parents = std::iter::once(base).chain(kept.iter().map(|(_, tip)| *tip));
    Ok(Start::At(state::write_commit(repo, &message, tree, parents)?))
}

/// Where a task's branch starts, or why it cannot.
enum Start {
    At(ObjectId),
    /// Merging dependency `dep` into the start conflicts in `paths`.
    Conflict {
        dep: String,
        paths: Vec<String>,
    },
}

impl std::fmt::Display for Start {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Start::At(oid) => write!(f, "starts at {oid}"),
            Start::Conflict { dep, paths } => {
                write!(f, "merging its dependency `{dep}` conflicts in {}", paths.join(", "))
            }
        }
    }
}

/// Writes the brief under the git dir (outside the worktree, so it is
/// never committed) for `{brief_file}` and `$GIT_AGENTS_BRIEF_FILE`.
fn write_brief(repo: &gix::Repository, task: &Task, text: &str) -> Result<PathBuf> {
    let dir = layout::briefs(repo.common_dir());
    std::fs::create_dir_all(&dir).context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(format!("{}.md", task.id));
    std::fs::write(&path, text).context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}
