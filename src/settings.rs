//! Every setting of one run, resolved in one place: the command line's
//! global options, the `GIT_AGENTS_*` environment variables and
//! `git config agents.*`, with the plan's defaults applied where a setting
//! falls back to the plan. Nothing else in the program reads `agents.*`
//! config or a `GIT_AGENTS_*` variable that configures git-agents itself
//! (the agent side, `scripted-agent`, reads what the runner hands it).
//!
//! Values are resolved once but checked where they are used: a bad
//! `agents.lease` fails the commands that need a lease, with the error it
//! always had, not every command.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::plan::duration;

/// The environment variable that names the shared remote (also handed to agents).
pub const REMOTE_ENV: &str = "GIT_AGENTS_REMOTE";

/// How long one git call to the remote may take unless
/// `git config agents.networkTimeout` says otherwise: far more than a
/// transition needs (well under a second), short enough that a silent
/// remote stops an agent's claim or heartbeat long before its lease ends.
pub const NETWORK_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a running agent may go without output or a progress report
/// before `status --watch` marks it quiet, unless `git config
/// agents.quietAfter` says otherwise: agents at work print far more often;
/// one waiting on a question, or stuck, goes silent.
pub const QUIET_AFTER: u64 = 5 * 60;

/// The command line's global options.
#[derive(Debug, Clone, Default)]
pub struct Globals {
    pub quiet: bool,
    /// `--remote NAME`.
    pub remote: Option<String>,
}

/// Where the shared remote's name came from (errors name it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Flag,
    Env,
    Config,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Source::Flag => "--remote",
            Source::Env => REMOTE_ENV,
            Source::Config => "git config agents.remote",
        })
    }
}

/// A shared remote named by a setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteName {
    pub name: String,
    pub source: Source,
}

/// Who holds the claims this run makes, so that its death frees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// `spawn`'s runner: this process. It gives every claim back unless it
    /// dies, so a dead runner's claims are stale at once.
    ThisProcess,
    /// `$GIT_AGENTS_PID`: a script names the process that works on the
    /// claim (`GIT_AGENTS_PID=$$ git agents claim --next`); once it is
    /// gone, so is the claim.
    Named(u32),
    /// Whoever ran this command, for people to read, never judged:
    /// `git agents claim` in a script exits as soon as it claimed, and its
    /// parent (a `$(…)` subshell, or `git` itself) soon after, while the
    /// script goes on working; that pid says nothing. The lease decides.
    Unjudged,
}

impl Holder {
    /// The pid a claim records, and whether that process's death frees it.
    pub fn pid(self) -> (u32, bool) {
        match self {
            Holder::ThisProcess => (std::process::id(), true),
            Holder::Named(pid) => (pid, true),
            Holder::Unjudged => (std::os::unix::process::parent_id(), false),
        }
    }
}

/// The resolved settings of one run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub globals: Globals,
    /// The shared remote: `--remote`, else `GIT_AGENTS_REMOTE`, else
    /// `git config agents.remote`; `None` keeps the state in this clone.
    pub remote: Option<RemoteName>,
    /// `git config agents.worktreeDir`, as written.
    pub worktree_dir: Option<String>,
    /// `git config agents.command`.
    pub command: Option<String>,
    /// `git config agents.mergeBatch`, as written (`N` or `auto`; `merge`
    /// checks it): the default of `merge --batch`.
    pub merge_batch: Option<String>,
    /// `git config agents.lease`, as written (checked by [`Settings::lease_seconds`]).
    lease: Option<String>,
    /// `git config agents.networkTimeout`, as written.
    network_timeout: Option<String>,
    /// `git config agents.quietAfter`, as written.
    quiet_after: Option<String>,
    /// `git config agents.tmux`: `spawn` runs agents in tmux as if given `--tmux`.
    pub tmux: bool,
    /// `GIT_AGENTS_NOW`: the clock pinned (seconds since the epoch) for
    /// reproducible runs and tests.
    pub now: Option<i64>,
    /// `GIT_AGENTS_AGENT`: the agent name when `--agent` is not given.
    pub agent: Option<String>,
    /// `GIT_AGENTS_TASK`: the task an agent works on (set by the runner).
    pub task: Option<String>,
    /// Who holds this run's claims.
    pub holder: Holder,
}

impl Settings {
    /// The settings outside any repository: the globals and the environment.
    pub fn from_env(globals: &Globals) -> Settings {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let remote = match (&globals.remote, var(REMOTE_ENV)) {
            (Some(flag), _) => Some(RemoteName {
                name: flag.clone(),
                source: Source::Flag,
            }),
            (None, Some(env)) => Some(RemoteName {
                name: env,
                source: Source::Env,
            }),
            (None, None) => None,
        };
        Settings {
            globals: globals.clone(),
            remote,
            worktree_dir: None,
            command: None,
            merge_batch: None,
            lease: None,
            network_timeout: None,
            quiet_after: None,
            tmux: false,
            now: std::env::var("GIT_AGENTS_NOW").ok().and_then(|v| v.parse().ok()),
            agent: std::env::var("GIT_AGENTS_AGENT").ok(),
            task: var("GIT_AGENTS_TASK"),
            holder: match std::env::var("GIT_AGENTS_PID").ok().and_then(|p| p.parse().ok()) {
                Some(pid) => Holder::Named(pid),
                None => Holder::Unjudged,
            },
        }
    }

    /// [`Settings::from_env`] completed with `repo`'s `git config agents.*`.
    pub fn resolve(globals: &Globals, repo: &gix::Repository) -> Settings {
        let mut settings = Settings::from_env(globals);
        let config = repo.config_snapshot();
        let string = |key: &str| config.string(key).map(|v| v.to_string());
        if settings.remote.is_none() {
            settings.remote = string("agents.remote")
                .filter(|v| !v.is_empty())
                .map(|name| RemoteName {
                    name,
                    source: Source::Config,
                });
        }
        settings.worktree_dir = string("agents.worktreeDir");
        settings.command = string("agents.command");
        settings.merge_batch = string("agents.mergeBatch").filter(|v| !v.is_empty());
        settings.lease = string("agents.lease");
        settings.network_timeout = string("agents.networkTimeout");
        settings.quiet_after = string("agents.quietAfter");
        settings.tmux = config.boolean("agents.tmux").unwrap_or(false);
        settings
    }

    /// The time now in seconds since the epoch, unless `GIT_AGENTS_NOW` pins it.
    pub fn now(&self) -> i64 {
        self.now.unwrap_or_else(now_seconds)
    }

    /// The lease length: `git config agents.lease`, else the plan's `[agent] lease`.
    pub fn lease_seconds(&self, plan_lease: &str) -> Result<u64> {
        if let Some(text) = &self.lease {
            return duration::parse_positive(text).map_err(|why| {
                Error::usage(format!("git config agents.lease \"{text}\" {why}"))
                    .hint("set a duration such as 30m: `git config agents.lease 30m`")
            });
        }
        duration::parse_positive(plan_lease).map_err(|why| Error::failure(format!("the recorded plan's lease {why}")))
    }

    /// `git config agents.networkTimeout`, else [`NETWORK_TIMEOUT`].
    pub fn network_timeout(&self) -> Result<Duration> {
        let Some(text) = &self.network_timeout else {
            return Ok(NETWORK_TIMEOUT);
        };
        duration::parse_positive(text).map(Duration::from_secs).map_err(|why| {
            Error::usage(format!("git config agents.networkTimeout \"{text}\" {why}"))
                .hint("set a duration such as 30s or 2m: `git config agents.networkTimeout 2m`")
        })
    }

    /// `git config agents.quietAfter` in seconds, else [`QUIET_AFTER`].
    pub fn quiet_after_seconds(&self) -> Result<u64> {
        let Some(text) = &self.quiet_after else {
            return Ok(QUIET_AFTER);
        };
        duration::parse_positive(text).map_err(|why| {
            Error::usage(format!("git config agents.quietAfter \"{text}\" {why}"))
                .hint("set a duration such as 5m or 90s: `git config agents.quietAfter 10m`")
        })
    }

    /// `agents.worktreeDir` as a path: relative to `workdir` unless absolute.
    pub fn worktree_dir(&self, workdir: &Path) -> Option<PathBuf> {
        let dir = PathBuf::from(self.worktree_dir.as_ref()?);
        Some(if dir.is_absolute() { dir } else { workdir.join(dir) })
    }

    /// The same settings for a process that holds the claims it makes
    /// (`spawn`'s runner), so that its death makes them stale at once.
    pub fn holding_claims(&self) -> Settings {
        Settings {
            holder: Holder::ThisProcess,
            ..self.clone()
        }
    }
}

/// The system clock in seconds since the epoch.
pub fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
