//! `git agents attach [AGENT|TASK]`: this terminal into the tmux window an
//! agent started by `spawn --tmux` runs in.

use std::io::IsTerminal;

use clap::Args;

use crate::error::{Error, Result};
use crate::session::Session;
use crate::state::{self, TaskRecord, TaskState};

/// Watch and answer an agent in its tmux window
///
/// Agents started with `git agents spawn --tmux` (or `git config
/// agents.tmux true`) run in a tmux session named after the repository,
/// one window per agent. `attach` puts this terminal in the window of the
/// agent (or of the agent running the task), or in the session when none
/// is named. Detaching (Ctrl-b d) leaves the agents running; closing a
/// window or the session stops its agents like Ctrl-C and releases their
/// tasks. When this is not a terminal, it prints the tmux command instead.
///
/// Examples:
///
///   git agents attach                     # the whole session
///   git agents attach agent-2
///   git agents attach auth                # the agent running auth
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct AttachArgs {
    /// An agent, or a running task (its agent's window)
    #[arg(value_name = "AGENT|TASK")]
    pub target: Option<String>,
}

pub fn run(args: &AttachArgs, session: &Session) -> Result<()> {
    let repo = session.repo()?;
    let tmux_session = crate::layout::tmux_session(&crate::repo::workdir(repo)?);
    crate::process::tmux_on_path()?;
    let Some(windows) = crate::process::tmux_windows(&tmux_session) else {
        return Err(
            Error::usage(format!("no tmux session `{tmux_session}`: no agent runs in tmux here"))
                .hint("start agents in tmux with `git agents spawn N --tmux`"),
        );
    };
    let target = match &args.target {
        None => format!("={tmux_session}"),
        Some(name) => {
            let agent = agent_of(repo, name)?;
            if !windows.contains(&agent) {
                let mut err = Error::usage(format!(
                    "agent `{agent}` has no window in tmux session `{tmux_session}`"
                ));
                for window in &windows {
                    err = err.detail(format!("window: {window}"));
                }
                return Err(err.hint("`git agents status` shows which agents run which tasks"));
            }
            format!("={tmux_session}:{agent}")
        }
    };
    if std::io::stdin().is_terminal() && session.ui.stdout_is_terminal() {
        return crate::process::tmux_attach(&target);
    }
    session.ui.result(&format!("tmux attach -t '{target}'"));
    Ok(())
}

/// The agent `name` names: the agent running it when it is a running task, else itself.
fn agent_of(repo: &state::Store, name: &str) -> Result<String> {
    let snap = state::snapshot(repo)?;
    let Some(tref) = snap.tasks.get(name) else {
        return Ok(name.to_string());
    };
    let record = TaskRecord::read(repo, tref.oid)?;
    match (tref.state, record.agent) {
        (TaskState::Claimed, Some(agent)) => Ok(agent),
        _ => Err(
            Error::usage(format!("task `{name}` is not running: no agent window to attach to"))
                .hint("`git agents logs TASK` shows the output of its newest attempt"),
        ),
    }
}
