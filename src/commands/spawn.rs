//! `git agents spawn N`: N agents, each in its own worktree, working through
//! the recorded plan until nothing is left to claim.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::Args;

use crate::agent_command;
use crate::error::{Context as _, Error, Result};
use crate::plan::duration::Given;
use crate::protocol::Context;
use crate::runner::{self, Event, Fleet, Report};
use crate::session::Session;
use crate::state::Store;
use crate::state::TaskState;
use crate::ui::{Board, Ui};

/// Start N agents, each in its own worktree, working through the plan
///
/// Each agent gets a linked worktree (`git config agents.worktreeDir`,
/// default `<repo>.agents/<agent>`) and loops: claim the next ready task,
/// start branch agents/<task> from the base (with its dependencies merged
/// in), run the agent command, check the result (a commit exists, only
/// owned files changed, the acceptance command passes), then mark the task
/// done or failed. Spawn returns when nothing is ready or claimed: exit 0
/// when every task is done, 1 when any is blocked.
///
/// The command: after `--`, else `--agent PRESET` (claude, codex, aider,
/// gemini; `git agents presets` shows what each runs), else `git config
/// agents.command` (a shell string), else the plan's `[agent] command`.
/// Placeholders: {brief} (the whole brief: goal, owned files, dependencies,
/// acceptance, rules and, on a retry, why the last attempt failed),
/// {brief_file} (the same in a file), {prompt} (the plan's prompt alone),
/// {task}, {worktree}, {branch}.
///
/// The agent's environment:
///   GIT_AGENTS_TASK        the task id
///   GIT_AGENTS_AGENT       the agent's name (agent-1, ...)
///   GIT_AGENTS_BRANCH      the task branch, agents/<task>
///   GIT_AGENTS_WORKTREE    the agent's worktree (also its working folder)
///   GIT_AGENTS_BRIEF_FILE  the brief as a file (GIT_AGENTS_PROMPT_FILE: the same)
///   GIT_AGENTS_OWNS        the task's owned globs, one per line
///   GIT_AGENTS_ATTEMPT     1 for the first attempt, 2 for the first retry, ...
///   GIT_AGENTS_REMOTE      the shared remote (empty without one), so
///                          `git agents` run by the agent uses it too
///
/// Ctrl-C and --timeout stop an agent's whole process tree (also what left
/// its process group or double-forked): SIGTERM to every process, SIGKILL
/// after --grace to what is still running; nothing it started outlives
/// the attempt. Ctrl-C releases the claims.
///
/// Each agent name runs in one spawn at a time (a second spawn under the
/// same names refuses, naming the first; run more alongside with
/// --name-prefix); the claims of a spawn that was killed on this host are
/// freed when the next one starts.
///
/// Examples:
///
///   git agents spawn 3 --agent claude
///   git agents spawn 3 --agent codex --dry-run
///   git agents spawn 2 --timeout 20m -- my-agent --task {task} --brief-file {brief_file}
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct SpawnArgs {
    /// How many agents to start
    pub count: usize,
    /// Use a preset agent command (claude, codex, aider, gemini)
    #[arg(long, value_name = "PRESET")]
    pub agent: Option<String>,
    /// Agent names are PREFIX1..PREFIXN
    #[arg(long, default_value = "agent-")]
    pub name_prefix: String,
    /// Kill an agent that works on one task longer than this (e.g. 20m)
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<Given>,
    /// Time between SIGTERM and SIGKILL when an agent is stopped (e.g. 10s)
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub grace: Given,
    /// Show the agents, worktrees and command (argv) without starting anything
    #[arg(long)]
    pub dry_run: bool,
    /// Print the outcome as JSON on stdout (per task, the summary, why agents stopped); progress goes to stderr
    #[arg(long)]
    pub json: bool,
    /// Run each agent in a window of a tmux session (default: `git config agents.tmux`); see `git agents attach`
    #[arg(long)]
    pub tmux: bool,
    /// The agent command and its arguments, after `--`
    #[arg(last = true)]
    pub command: Vec<String>,
}

/// Set by Ctrl-C / SIGTERM; every agent stops and releases its claim.
static CANCEL: AtomicBool = AtomicBool::new(false);

pub fn run(args: &SpawnArgs, session: &Session) -> Result<()> {
    let ui = session.ui;
    if args.count == 0 {
        return Err(Error::usage("spawn needs at least one agent").hint("e.g. `git agents spawn 3`"));
    }
    let repo = session.repo()?;
    let workdir = crate::repo::workdir(repo)?;
    let ctx =
        Context::load(repo).map_err(|e| e.hint("spawn works from a recorded plan: run `git agents plan` first"))?;
    let fleet = fleet(args, &ctx, workdir)?;
    let names: Vec<String> = (1..=args.count).map(|i| format!("{}{i}", args.name_prefix)).collect();
    for name in &names {
        crate::protocol::agent_name(Some(name), repo.settings())?;
    }
    if args.dry_run {
        show_dry_run(args.json, &fleet, &names, ui);
        return Ok(());
    }
    // Held until the agents are done; the kernel drops them if we die.
    let _names_held = hold_names(repo, &names, &args.name_prefix)?;
    prepare(&ctx, &fleet, ui)?;
    let started = std::time::Instant::now();
    let (errors, timing) = run_agents(&names, &fleet, ui);
    let wall = started.elapsed();
    for line in timing.summary(wall, ctx.plan.plan.test.is_some()) {
        ui.status(&line);
    }
    let status = crate::commands::status::gather::gather(&Context::load(repo)?)?;
    let ran = Ran {
        errors: errors_by_message(errors),
        timing,
        wall,
        status,
    };
    conclude(args.json, ran, ui)
}

/// What every agent of this spawn shares, from the options, the settings
/// and the plan; a bad option is refused before anything runs.
fn fleet(args: &SpawnArgs, ctx: &Context<'_>, workdir: std::path::PathBuf) -> Result<Fleet> {
    let (repo, plan) = (ctx.repo, &ctx.plan.plan);
    let config = repo.settings().command.clone();
    let template = agent_command::resolve(&args.command, args.agent.as_deref(), config, &plan.agent.command)?;
    let timeout = args.timeout.as_ref().map(Given::duration);
    let grace = args.grace.duration();
    let tmux = if args.tmux || repo.settings().tmux {
        crate::process::tmux_on_path()?;
        Some(crate::layout::tmux_session(&workdir))
    } else {
        None
    };
    Ok(Fleet {
        // The runner holds its claims: its death makes them stale at once.
        repo: repo.share(repo.settings().holding_claims())?,
        registrations: crate::worktree::Registrations::default(),
        template,
        timeout,
        grace,
        halt: AtomicBool::new(false),
        worktree_root: crate::worktree::root(repo.settings(), &workdir),
        workdir,
        identity: crate::worktree::identity_overrides(repo),
        tmux,
    })
}

/// `--dry-run`: the command each agent would run and where.
fn show_dry_run(json: bool, fleet: &Fleet, names: &[String], ui: &Ui) {
    let t = &fleet.template;
    if json {
        let agents: Vec<serde_json::Value> = names
            .iter()
            .map(|name| serde_json::json!({"name": name, "worktree": fleet.worktree_root.join(name)}))
            .collect();
        ui.json(&serde_json::json!({
            "command": agent_command::shell_line(&t.argv),
            "argv": t.argv,
            "env": t.env.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
            "state_files": t.state_files,
            "agents": agents,
        }));
        return;
    }
    let mut out = format!("command: {}\n", agent_command::shell_line(&t.argv));
    out.push_str(&format!(
        "argv: {}\n",
        serde_json::to_string(&t.argv).unwrap_or_default()
    ));
    for (k, v) in &t.env {
        out.push_str(&format!("env: {k}={v}\n"));
    }
    if !t.state_files.is_empty() {
        out.push_str(&format!("kept out of commits: {}\n", t.state_files.join(" ")));
    }
    for name in names {
        out.push_str(&format!(
            "{name}: worktree {}\n",
            fleet.worktree_root.join(name).display()
        ));
    }
    ui.result(&out);
}

/// What comes before the agents start: claims of a killed spawn freed, the
/// base checked, state files kept out of commits, the ref guard, Ctrl-C.
fn prepare(ctx: &Context<'_>, fleet: &Fleet, ui: &Ui) -> Result<()> {
    let repo = ctx.repo;
    // A killed spawn's claims would otherwise wait out their lease.
    for (id, record, _) in crate::protocol::unlock_gone(ctx)? {
        ui.warn(&format!(
            "freed {id} ({}; attempt counted, now {})",
            record.last_failure.as_deref().unwrap_or("its process is gone"),
            record.state.as_str()
        ));
    }
    warn_if_base_is_behind(&fleet.workdir, &ctx.plan.plan.base, ui);
    crate::worktree::exclude_state_files(repo.common_dir(), &fleet.template.state_files)?;
    crate::ref_guard::install(repo, ui);
    // A second handler cannot be installed (demo runs spawn in-process twice); the first one is enough.
    let _ = ctrlc::set_handler(|| CANCEL.store(true, Ordering::SeqCst));
    Ok(())
}

/// Runs one agent thread per name until all have stopped: the agents that
/// ended with an error, and the timing of the tasks.
fn run_agents(names: &[String], fleet: &Fleet, ui: &Ui) -> (Vec<(String, Error)>, Timing) {
    let board = Arc::new(BoardReport {
        board: ui.board(names),
        timing: std::sync::Mutex::new(Timing::default()),
    });
    let errors: Vec<(String, Error)> = std::thread::scope(|scope| {
        let handles: Vec<_> = names
            .iter()
            .map(|name| {
                let board = board.clone();
                let handle = scope.spawn(move || runner::run_agent(name, fleet, &CANCEL, board.as_ref()));
                (name.clone(), handle)
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|(name, h)| match h.join() {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some((name, e)),
                Err(_) => Some((name, Error::failure("the agent thread panicked"))),
            })
            .collect()
    });
    board.board.finish();
    let timing = board.timing.lock().map(|t| t.clone()).unwrap_or_default();
    (errors, timing)
}

/// Agents that stopped for the same reason (one broken command) are one error.
fn errors_by_message(errors: Vec<(String, Error)>) -> Vec<(Vec<String>, Error)> {
    let mut by_message: Vec<(Vec<String>, Error)> = Vec::new();
    for (name, e) in errors {
        match by_message.iter_mut().find(|(_, seen)| seen.message == e.message) {
            Some((names, _)) => names.push(name),
            None => by_message.push((vec![name], e)),
        }
    }
    by_message
}

/// How the agents' run went, for the result and the command's error.
struct Ran {
    errors: Vec<(Vec<String>, Error)>,
    timing: Timing,
    wall: std::time::Duration,
    status: crate::commands::status::gather::Status,
}

/// The result on stdout and the command's error: an interrupt, then
/// blocked tasks, then the first agent's error; every other error is a
/// warning.
fn conclude(json: bool, ran: Ran, ui: &Ui) -> Result<()> {
    let Ran {
        errors,
        timing,
        wall,
        status,
    } = ran;
    let cancelled = CANCEL.load(Ordering::SeqCst);
    let summary = crate::commands::status::gather::counts_line(&status);
    let blocked: Vec<&str> = status
        .tasks
        .iter()
        .filter(|t| t.state == TaskState::Blocked)
        .map(|t| t.id.as_str())
        .collect();
    // The first error becomes the command's own error unless an interrupt
    // or blocked tasks say more; every other one is a warning.
    let returned = usize::from(!cancelled && blocked.is_empty());
    // The result on stdout: the counts line, or with --json the whole outcome
    // (the same exit code and error on stderr follow either way).
    let json = json.then(|| outcome(&timing, wall, &status, &errors, cancelled));
    let result = || match &json {
        Some(json) => ui.json(json),
        None => ui.result(&summary),
    };
    for (names, e) in errors.iter().skip(returned) {
        ui.warn(&format!("{} stopped: {}", names.join(", "), e.message));
        for line in e.details.iter().chain(&e.causes).chain(&e.hints) {
            ui.warn(&format!("  {line}"));
        }
    }
    if cancelled {
        result();
        return Err(Error::failure("interrupted: agents stopped, their claims released")
            .hint("run `git agents spawn` again to go on"));
    }
    if !blocked.is_empty() {
        let mut err = Error::failure(format!("{} task(s) blocked: {}", blocked.len(), blocked.join(", ")));
        for t in status.tasks.iter().filter(|t| t.state == TaskState::Blocked) {
            err = err.detail(format!("{}: {}", t.id, t.last_failure.as_deref().unwrap_or("?")));
        }
        result();
        return Err(err.hint("see `git agents log TASK`; fix the cause and `git agents requeue TASK`"));
    }
    if let Some((names, e)) = errors.into_iter().next() {
        result();
        return Err(Error {
            message: format!("{} stopped: {}", names.join(", "), e.message),
            ..e
        });
    }
    result();
    Ok(())
}

/// What `spawn --json` prints: each task this run worked on, the summary
/// the human output ends with, the counts of `status`, and why agents stopped.
fn outcome(
    timing: &Timing,
    wall: std::time::Duration,
    status: &crate::commands::status::gather::Status,
    stopped: &[(Vec<String>, Error)],
    interrupted: bool,
) -> serde_json::Value {
    let tasks: Vec<serde_json::Value> = timing
        .tasks
        .iter()
        .map(|(id, spent, tries, _)| {
            let now = status.tasks.iter().find(|t| &t.id == id);
            let state = now.map(|t| t.state);
            serde_json::json!({
                "id": id,
                "state": state,
                "attempts": tries,
                "seconds": spent.as_secs_f64(),
                "last_failure": now
                    .filter(|t| !t.state.is_complete())
                    .and_then(|t| t.last_failure.clone()),
            })
        })
        .collect();
    let totals = timing.totals(wall);
    serde_json::json!({
        "tasks": tasks,
        "summary": {
            "done": totals.done,
            "retried": totals.retried,
            "blocked": totals.blocked,
            "agent_seconds": totals.agent.as_secs_f64(),
            "wall_seconds": wall.as_secs_f64(),
            "speedup": totals.speedup,
        },
        "status": {
            "completed": status.completed,
            "total": status.total,
            "in_progress": status.in_progress,
            "failed": status.failed,
            "blocked": status.blocked,
        },
        "stopped": stopped
            .iter()
            .map(|(names, e)| serde_json::json!({"agents": names, "message": e.message}))
            .collect::<Vec<_>>(),
        "interrupted": interrupted,
    })
}

/// Who runs an agent name, as written into its lock file.
#[derive(serde::Serialize, serde::Deserialize)]
struct NameHolder {
    pid: u32,
    host: String,
    started: i64,
}

/// Takes an exclusive advisory lock on `<git dir>/agents/spawn/<name>.flock`
/// for every agent name, or refuses naming the spawn that runs them: two
/// spawns under the same names would share worktrees and mix each other's
/// files. `flock` (not a `.lock` file) because the kernel drops it when
/// the process dies, however it dies, so a killed spawn never blocks the
/// next; the file stays, holding the holder's pid and host for this message.
fn hold_names(repo: &Store, names: &[String], prefix: &str) -> Result<Vec<std::fs::File>> {
    use std::io::Write;
    let open = |path: &std::path::Path| {
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .context(|| format!("cannot open {}", path.display()))
    };
    let dir = crate::layout::spawn_names(repo.common_dir());
    std::fs::create_dir_all(&dir).context(|| format!("cannot create {}", dir.display()))?;
    // Names are taken one by one: without one spawn at a time here, two
    // could each get some names and both refuse for the rest.
    let turn_path = crate::layout::spawn_turn_lock(repo.common_dir());
    let turn = open(&turn_path)?;
    turn.lock().context(|| format!("cannot lock {}", turn_path.display()))?;
    let mut held = Vec::new();
    let mut taken: Vec<(&str, Option<NameHolder>)> = Vec::new();
    for name in names {
        let path = crate::layout::spawn_name_lock(repo.common_dir(), name);
        let file = open(&path)?;
        match file.try_lock() {
            Ok(()) => {
                let me = NameHolder {
                    pid: std::process::id(),
                    host: crate::host::name(),
                    started: crate::settings::now_seconds(),
                };
                let text = toml::to_string(&me).context(|| format!("cannot write {}", path.display()))?;
                file.set_len(0)
                    .and_then(|()| (&file).write_all(text.as_bytes()))
                    .context(|| format!("cannot write {}", path.display()))?;
                held.push(file);
            }
            Err(std::fs::TryLockError::WouldBlock) => taken.push((name, read_holder(&path))),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(Error::failure(format!("cannot lock {}", path.display())).cause(e))
            }
        }
    }
    if taken.is_empty() {
        return Ok(held);
    }
    let shown: Vec<&str> = taken.iter().map(|(n, _)| *n).collect();
    let mut err = Error::failure(format!(
        "another `git agents spawn` already runs {} in this repository",
        shown.join(", ")
    ));
    let mut seen = Vec::new();
    for holder in taken.iter().filter_map(|(_, h)| h.as_ref()) {
        if !seen.contains(&(holder.pid, &holder.host)) {
            seen.push((holder.pid, &holder.host));
            let age = crate::protocol::age(crate::settings::now_seconds() - holder.started);
            err = err.detail(format!("pid {} on {}, started {age} ago", holder.pid, holder.host));
        }
    }
    let other = if prefix == "more-" { "extra-" } else { "more-" };
    Err(err
        .hint("two spawns under the same names would share worktrees; wait for it to end (or stop it with Ctrl-C)")
        .hint(format!(
            "or run more agents alongside under other names: `git agents spawn {} --name-prefix {other}`",
            names.len()
        )))
}

/// The holder a name's lock file records; the holder writes it right after
/// locking, so an empty file is read again for a moment.
fn read_holder(path: &std::path::Path) -> Option<NameHolder> {
    for _ in 0..50 {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if let Ok(holder) = toml::from_str(&text) {
            return Some(holder);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    None
}

/// Says once when the base branch's upstream has commits the base lacks.
fn warn_if_base_is_behind(workdir: &std::path::Path, base: &str, ui: &Ui) {
    let range = format!("{base}..{base}@{{upstream}}");
    if let Ok(count) = crate::process::git_in(workdir, &["rev-list", "--count", &range]) {
        if count.trim() != "0" {
            ui.warn(&format!(
                "`{base}` is {} commit(s) behind its upstream; tasks start from the local `{base}` (pull first to avoid needless conflicts)",
                count.trim()
            ));
        }
    }
}

struct BoardReport {
    board: Board,
    timing: std::sync::Mutex<Timing>,
}

/// Per task: attempts started, attempts failed, time spent working; for the
/// summary at the end (agent time against wall time is the parallel speedup).
#[derive(Default, Clone)]
struct Timing {
    running: std::collections::HashMap<String, std::time::Instant>,
    /// In the order tasks were first started.
    tasks: Vec<(String, std::time::Duration, u32, Option<TaskState>)>,
}

impl Timing {
    fn started(&mut self, task: &str) {
        self.running.insert(task.to_string(), std::time::Instant::now());
        if !self.tasks.iter().any(|t| t.0 == task) {
            self.tasks.push((task.to_string(), std::time::Duration::ZERO, 0, None));
        }
    }

    fn finished(&mut self, task: &str, state: TaskState) {
        let spent = self.running.remove(task).map(|t| t.elapsed()).unwrap_or_default();
        if let Some(t) = self.tasks.iter_mut().find(|t| t.0 == task) {
            t.1 += spent;
            t.2 += 1;
            t.3 = Some(state);
        }
    }

    /// The figures the summary shows (human and JSON alike).
    fn totals(&self, wall: std::time::Duration) -> Totals {
        let count = |s: TaskState| self.tasks.iter().filter(|t| t.3 == Some(s)).count();
        let agent: std::time::Duration = self.tasks.iter().map(|t| t.1).sum();
        Totals {
            done: count(TaskState::Done),
            retried: self.tasks.iter().filter(|t| t.2 > 1).count(),
            blocked: count(TaskState::Blocked),
            agent,
            speedup: agent.as_secs_f64() / wall.as_secs_f64().max(0.001),
        }
    }

    fn summary(&self, wall: std::time::Duration, plan_has_test: bool) -> Vec<String> {
        // Nothing finished (stopped before any verdict): nothing to sum up.
        if self.tasks.iter().all(|t| t.3.is_none()) {
            return Vec::new();
        }
        let Totals {
            done,
            retried,
            blocked,
            agent,
            speedup,
        } = self.totals(wall);
        let secs = |d: std::time::Duration| format!("{:.1}s", d.as_secs_f64());
        let per_task: Vec<String> = self
            .tasks
            .iter()
            .map(|t| {
                let tries = if t.2 > 1 {
                    format!(" ({} attempts)", t.2)
                } else {
                    String::new()
                };
                format!("{} {}{tries}", t.0, secs(t.1))
            })
            .collect();
        let mut lines = vec![
            format!(
                "summary: {done} done, {retried} retried, {blocked} blocked; agent time {} in {} of wall time ({speedup:.1}x in parallel)",
                secs(agent),
                secs(wall)
            ),
            format!("  per task: {}", per_task.join(", ")),
        ];
        if done > 0 {
            // The plan's own test is what merge runs when none is given.
            lines.push(if plan_has_test {
                "next: `git agents merge` lands the done tasks, testing each with the plan's test".into()
            } else {
                "next: `git agents merge --test \"<your test command>\"` lands the done tasks".into()
            });
        }
        lines
    }
}

struct Totals {
    done: usize,
    retried: usize,
    blocked: usize,
    agent: std::time::Duration,
    speedup: f64,
}

impl Report for BoardReport {
    fn event(&self, agent: &str, event: Event<'_>) {
        if let Ok(mut timing) = self.timing.lock() {
            match &event {
                Event::Working { task, .. } => timing.started(task),
                Event::Finished { task, state, .. } => timing.finished(task, *state),
                _ => {}
            }
        }
        let (text, milestone) = match event {
            Event::Preparing => ("preparing worktree".to_string(), false),
            Event::Working { task, attempt } => (format!("{task}: working (attempt {attempt})"), true),
            Event::Checking { task } => (format!("{task}: checking"), false),
            Event::Finished { task, state, note } => (
                match state {
                    TaskState::Done => format!("{task}: done"),
                    TaskState::Available => format!("{task}: failed, will be retried: {note}"),
                    TaskState::Blocked => format!("{task}: blocked: {note}"),
                    other => format!("{task}: {} ({note})", other.as_str()),
                },
                true,
            ),
            Event::Waiting => ("waiting for dependencies".to_string(), false),
            Event::Stopped(why) => (format!("stopped: {why}"), true),
        };
        self.board.set(agent, &text, milestone);
    }
}
