//! Git hook files placed beside the user's own: where git looks for hooks
//! (core.hooksPath honoured), an existing hook moved aside to be chained
//! and put back if writing ours fails. Shared by `hook install` (pre-push)
//! and the ref guard (reference-transaction), below both.

use std::path::{Path, PathBuf};

use crate::error::{Context, Result};

/// The folder of chained hooks, next to the hooks themselves.
const CHAINED_DIR: &str = "git-agents-chained";

/// Where git run in `workdir` looks for hooks. git resolves core.hooksPath
/// (relative, ~, per worktree) the way it will use it.
pub fn hooks_dir_in(workdir: &Path) -> Result<PathBuf> {
    let out = crate::process::git_in(workdir, &["rev-parse", "--path-format=absolute", "--git-path", "hooks"])?;
    Ok(PathBuf::from(out.trim()))
}

/// Where a user's hook `name` is kept when chained, under its own name
/// (some hooks look at `basename "$0"`).
pub fn chained_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(CHAINED_DIR).join(name)
}

/// Whether `path` is a file that holds `marker` (one of our hooks).
pub fn carries(path: &Path, marker: &str) -> bool {
    std::fs::read_to_string(path).is_ok_and(|t| t.contains(marker))
}

/// A file or a symlink (even a dangling one) is at `path`.
pub fn occupied(path: &Path) -> bool {
    path.exists() || path.is_symlink()
}

/// Puts the hook `write` writes at `hook`, first moving a hook already
/// there to `chained` (which must be free); if writing fails, the moved hook
/// is put back, so a failed install changes nothing. Returns whether a hook
/// was moved.
pub fn put_in_place(hook: &Path, chained: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<bool> {
    let existing = occupied(hook);
    let chained_dir = chained.parent().unwrap_or(chained).to_path_buf();
    std::fs::create_dir_all(&chained_dir).context(|| format!("cannot create {}", chained_dir.display()))?;
    if existing {
        std::fs::rename(hook, chained)
            .context(|| format!("cannot move {} to {}", hook.display(), chained.display()))?;
    }
    if let Err(e) = write(hook) {
        if existing {
            let _ = std::fs::rename(chained, hook);
        }
        return Err(e);
    }
    Ok(existing)
}
