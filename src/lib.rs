//! git-agents: several coding agents on one repository, coordinated through
//! git refs. `run` is the whole program; `main.rs` only calls it.

pub mod agent_command;
pub mod brief;
pub mod checks;
pub mod commands;
pub mod draft;
pub mod error;
pub mod failure_reason;
pub mod guard;
pub mod hook_files;
pub mod host;
pub mod keeper;
pub mod layout;
pub mod merge;
pub mod plan;
pub mod plan_workspace;
pub mod process;
pub mod protocol;
pub mod ref_guard;
pub mod repo;
pub mod runner;
pub mod scripted_agent;
pub mod session;
pub mod settings;
pub mod state;
pub mod tree_merge;
pub mod ui;
pub mod worktree;

use std::ffi::OsString;

use clap::Parser;

/// Parses `args`, runs the command and returns the process exit code.
pub fn run(args: impl IntoIterator<Item = OsString>) -> i32 {
    let cli = match commands::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help and version to stdout (exit 0) and usage errors to stderr (exit 2).
            let _ = e.print();
            return e.exit_code();
        }
    };
    let ui = ui::Ui::new(cli.quiet);
    let globals = settings::Globals {
        quiet: cli.quiet,
        remote: cli.remote.clone(),
    };
    let session = session::Session::new(globals, &ui);
    let result = commands::dispatch(&cli, &session);
    if session.fallback_identity_used() {
        ui.warn(&format!(
            "no git identity is configured: commits were made as {} <{}>; set yours with `git config --global user.name \"Your Name\"` and `git config --global user.email you@example.com`",
            repo::FALLBACK_NAME,
            repo::FALLBACK_EMAIL
        ));
    }
    match result {
        Ok(()) => 0,
        Err(err) => {
            ui.error(&err);
            err.exit_code()
        }
    }
}
