//! `git agents logs [-f] AGENT|TASK`: the output of a task's current
//! attempt, printed once or followed live until that attempt ends.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::session::Session;
use crate::state::{self, Store, TaskRecord, TaskState};
use crate::ui::Ui;

/// How often `-f` looks for new output and for the attempt's end: often
/// enough to read as live, rare enough to cost nothing.
const POLL: Duration = Duration::from_millis(200);

/// Show what an agent prints, or follow it live
///
/// Prints the output of the task's current attempt (the running one, else
/// the newest one that ran), from any terminal: the runner writes every
/// attempt's output to .git/agents/logs/<task>.<attempt>.log. An agent's
/// name stands for the task it holds now.
///
/// With -f, keeps printing what the agent writes and ends by itself when
/// that attempt ends (done, failed, released or taken over); Ctrl-C stops
/// following and leaves the agent running. --json prints the output once
/// and does not combine with -f.
///
/// Examples:
///
///   git agents logs auth                  # the output so far
///   git agents logs -f agent-1            # follow what agent-1 works on
///   git agents logs auth --json | jq -r .path
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct LogsArgs {
    /// A task, or an agent (the task it holds now)
    #[arg(value_name = "AGENT|TASK")]
    pub target: String,
    /// Follow the output live until the attempt ends
    #[arg(long, short)]
    pub follow: bool,
    /// Print {task, attempt, path, text} as JSON (not with -f)
    #[arg(long, conflicts_with = "follow")]
    pub json: bool,
}

#[derive(Serialize)]
struct Shown<'a> {
    task: &'a str,
    attempt: u32,
    path: String,
    text: String,
}

/// The attempt whose output is shown, and who runs it while it runs.
struct Current {
    task: String,
    attempt: u32,
    path: PathBuf,
    /// Set while the attempt runs: the claim that must still hold.
    claim: Option<Claim>,
}

/// A claim as the runner made it; a change in any of these ends the attempt.
#[derive(PartialEq)]
struct Claim {
    agent: Option<String>,
    attempts: u32,
    claimed_at: Option<i64>,
}

impl Claim {
    fn of(record: &TaskRecord) -> Claim {
        Claim {
            agent: record.agent.clone(),
            attempts: record.attempts,
            claimed_at: record.claimed_at,
        }
    }
}

pub fn run(args: &LogsArgs, session: &Session) -> Result<()> {
    let ui = session.ui;
    let repo = session.repo()?;
    let current = current(repo, &args.target)?;
    if args.follow {
        return follow(repo, &current, ui);
    }
    let Ok(text) = std::fs::read_to_string(&current.path) else {
        return Err(
            Error::usage(format!("task `{}` has no output yet", current.task)).hint(format!(
                "follow it as it comes with `git agents logs -f {}`",
                current.task
            )),
        );
    };
    if args.json {
        ui.json(&Shown {
            task: &current.task,
            attempt: current.attempt,
            path: current.path.display().to_string(),
            text,
        });
    } else if !text.is_empty() {
        ui.result(&terminal_lines(&text));
    }
    Ok(())
}

/// The task `target` names (a task id, else the task that agent holds) and its current attempt.
fn current(repo: &Store, target: &str) -> Result<Current> {
    let snap = state::snapshot(repo)?;
    let task = if snap.tasks.contains_key(target) {
        target.to_string()
    } else {
        held_by(repo, &snap, target)?
    };
    let tref = &snap.tasks[&task];
    let (state, record) = (tref.state, TaskRecord::read(repo, tref.oid)?);
    // An absolute path, to open from any folder (`--json` gives it).
    let common = repo.common_dir();
    let common = &common.canonicalize().unwrap_or_else(|_| common.to_path_buf());
    let (attempt, claim) = if state == TaskState::Claimed {
        // The runner numbers the running attempt after the failed ones.
        (record.attempts + 1, Some(Claim::of(&record)))
    } else {
        let Some(&newest) = crate::layout::attempts_logged(common, &task).last() else {
            return Err(
                Error::usage(format!("task `{task}` has not run yet: no output to show"))
                    .hint("`git agents spawn` runs the tasks and logs their output"),
            );
        };
        (newest, None)
    };
    Ok(Current {
        path: crate::layout::attempt_log_in(common, &task, attempt),
        task,
        attempt,
        claim,
    })
}

/// The task `agent` holds now.
fn held_by(repo: &Store, snap: &state::Snapshot, agent: &str) -> Result<String> {
    for (id, tref) in &snap.tasks {
        if tref.state == TaskState::Claimed && TaskRecord::read(repo, tref.oid)?.agent.as_deref() == Some(agent) {
            return Ok(id.clone());
        }
    }
    Err(if snap.agents.contains_key(agent) {
        Error::usage(format!("agent `{agent}` holds no task now"))
            .hint(format!("`git agents log --agent {agent}` shows what it did"))
            .hint("pass a task to see its newest output: `git agents logs TASK`")
    } else {
        Error::usage(format!("no task or agent `{agent}`")).hint("`git agents status` lists the tasks and agents")
    })
}

/// Prints the attempt's output as it grows until the attempt ends.
fn follow(repo: &Store, current: &Current, ui: &Ui) -> Result<()> {
    let mut offset = 0u64;
    let mut partial = Vec::new();
    loop {
        // Looked at before reading: an attempt that has ended has written
        // all its output, so the read that follows shows the last of it.
        let running = still_running(repo, current)?;
        offset = print_new(&current.path, offset, &mut partial, ui);
        if !running {
            if !partial.is_empty() {
                ui.result(&terminal_lines(&String::from_utf8_lossy(&partial)));
            }
            return Ok(());
        }
        std::thread::sleep(POLL);
    }
}

/// Whether the claim the attempt runs under still holds.
fn still_running(repo: &Store, current: &Current) -> Result<bool> {
    let Some(claim) = &current.claim else {
        return Ok(false);
    };
    let snap = state::snapshot(repo)?;
    Ok(match snap.tasks.get(&current.task) {
        Some(tref) if tref.state == TaskState::Claimed => Claim::of(&TaskRecord::read(repo, tref.oid)?) == *claim,
        _ => false,
    })
}

/// Prints the whole lines written to `path` after `offset` (a partial
/// last line waits in `partial` for its end); returns the new offset.
fn print_new(path: &std::path::Path, offset: u64, partial: &mut Vec<u8>, ui: &Ui) -> u64 {
    let Ok(mut file) = std::fs::File::open(path) else {
        return offset;
    };
    let mut new = Vec::new();
    if file.seek(SeekFrom::Start(offset)).is_err() || file.read_to_end(&mut new).is_err() {
        return offset;
    }
    let read = offset + new.len() as u64;
    partial.extend_from_slice(&new);
    if let Some(end) = partial.iter().rposition(|&b| b == b'\n') {
        let lines: Vec<u8> = partial.drain(..=end).collect();
        ui.result(&terminal_lines(&String::from_utf8_lossy(&lines)));
    }
    read
}

/// `text` with the CR LF line ends a terminal writes (the log of an agent
/// run in tmux, through its pane) as plain LF.
fn terminal_lines(text: &str) -> String {
    text.replace("\r\n", "\n")
}
