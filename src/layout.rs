//! Where git-agents keeps its files and names its branches: the paths
//! under `$GIT_COMMON_DIR/agents` (logs, briefs, spawn's name locks), the
//! integration worktree under the worktree root, and `agents/<id>`. One
//! function per path, so the modules that write a file and the ones that
//! read it (the runner and `log`, spawn and `doctor`) cannot drift apart.
//! Low on purpose: it imports only `error`, so `merge`, the runner and
//! the commands can all use it without importing one another.

use std::path::{Path, PathBuf};

use crate::error::{Context as _, Result};

/// The branch a task's work is on: `agents/<id>` (under `refs/heads/`).
pub fn task_branch(id: &str) -> String {
    format!("agents/{id}")
}

/// `$GIT_COMMON_DIR/agents`: shared by every worktree of the repository,
/// never committed.
pub fn agents_dir(common_dir: &Path) -> PathBuf {
    common_dir.join("agents")
}

/// `agents/logs`: every attempt's, setup's, acceptance's and merge test's output.
pub fn logs(common_dir: &Path) -> PathBuf {
    agents_dir(common_dir).join("logs")
}

/// [`logs`] of `repo`, created on demand.
pub fn log_dir(repo: &gix::Repository) -> Result<PathBuf> {
    let dir = logs(repo.common_dir());
    std::fs::create_dir_all(&dir).context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// The log of one attempt of a task: `logs/<task>.<attempt>.log`.
pub fn attempt_log(repo: &gix::Repository, task: &str, attempt: u32) -> Result<PathBuf> {
    log_dir(repo)?;
    Ok(attempt_log_in(repo.common_dir(), task, attempt))
}

/// [`attempt_log`] without creating the folder, for readers (`logs`).
pub fn attempt_log_in(common_dir: &Path, task: &str, attempt: u32) -> PathBuf {
    logs(common_dir).join(format!("{task}.{attempt}.log"))
}

/// The attempts of `task` that have a log, oldest first.
pub fn attempts_logged(common_dir: &Path, task: &str) -> Vec<u32> {
    let mut attempts: Vec<u32> = std::fs::read_dir(logs(common_dir))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_prefix(task)?
                .strip_prefix('.')?
                .strip_suffix(".log")?
                .parse()
                .ok()
        })
        .collect();
    attempts.sort_unstable();
    attempts
}

/// The log of `[agent] setup` in the worktree named `worktree`: `logs/setup-<worktree>.log`.
pub fn setup_log(repo: &gix::Repository, worktree: &str) -> Result<PathBuf> {
    Ok(log_dir(repo)?.join(format!("setup-{worktree}.log")))
}

/// The log of the acceptance command `done` runs: `logs/<task>.done.log`.
pub fn done_log(repo: &gix::Repository, task: &str) -> Result<PathBuf> {
    Ok(log_dir(repo)?.join(format!("{task}.done.log")))
}

/// The log of `merge`'s test of a task: `logs/merge-<task>.log`.
pub fn merge_test_log(repo: &gix::Repository, task: &str) -> Result<PathBuf> {
    Ok(log_dir(repo)?.join(format!("merge-{task}.log")))
}

/// The tmux session `spawn --tmux` runs a repository's agents in:
/// `git-agents-<folder>`, with what tmux does not allow in a name (`.`, `:`)
/// and anything unusual spelled `_`.
pub fn tmux_session(workdir: &Path) -> String {
    let folder = workdir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let safe: String = folder
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("git-agents-{safe}")
}

/// `agents/prompts`: the briefs the runner writes for `{brief_file}`,
/// outside every worktree so they are never committed.
pub fn briefs(common_dir: &Path) -> PathBuf {
    agents_dir(common_dir).join("prompts")
}

/// `agents/spawn`: one `<name>.flock` per agent name a spawn holds.
pub fn spawn_names(common_dir: &Path) -> PathBuf {
    agents_dir(common_dir).join("spawn")
}

/// `agents/spawn/<name>.flock`: held by the spawn running agent `name`.
pub fn spawn_name_lock(common_dir: &Path, name: &str) -> PathBuf {
    spawn_names(common_dir).join(format!("{name}.flock"))
}

/// `agents/spawn.flock`: held while a spawn takes its names, one spawn at a time.
pub fn spawn_turn_lock(common_dir: &Path) -> PathBuf {
    agents_dir(common_dir).join("spawn.flock")
}

/// The worktree `merge` builds and tests in, under the agents' worktree
/// root (`worktree::root`).
pub fn integration_worktree(worktree_root: &Path) -> PathBuf {
    worktree_root.join("integration")
}
