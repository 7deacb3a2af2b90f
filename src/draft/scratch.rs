//! The scratch worktree a planning agent reads the repository in: a
//! detached linked worktree at the base, `plan-draft` under the agents'
//! worktree root (`<repo>.agents/plan-draft`, see `worktree::root`),
//! removed when the draft is done. Not under the git dir: Claude Code
//! refuses to write any file below a `.git` folder ("a sensitive file"),
//! so its draft could never be written there. One at a time per
//! repository: a leftover of a killed run is removed before the next.

use std::path::{Path, PathBuf};

use gix::ObjectId;

use crate::error::{Context, Result};
use crate::process::git_in;

/// The draft file's name inside the scratch worktree: every preset can
/// write there (aider and sandboxed CLIs write only inside their folder).
pub const DRAFT_FILE: &str = "agents.draft.toml";

pub struct Scratch {
    pub dir: PathBuf,
    /// The main worktree, where git is asked to remove the scratch one.
    main: PathBuf,
    /// `$GIT_COMMON_DIR/worktrees`, where its registration lives.
    registrations: PathBuf,
}

impl Scratch {
    /// A fresh worktree of `repo` at `at` under the worktree root `root`.
    pub fn create(repo: &gix::Repository, main: &Path, root: &Path, at: ObjectId) -> Result<Self> {
        // Absolute: the agent runs inside it and is given paths below it.
        let common = repo.common_dir();
        let common = common
            .canonicalize()
            .context(|| format!("cannot find {}", common.display()))?;
        let root = std::path::absolute(root).context(|| format!("cannot find {}", root.display()))?;
        let scratch = Scratch {
            dir: root.join("plan-draft"),
            main: main.to_path_buf(),
            registrations: common.join("worktrees"),
        };
        scratch.remove();
        crate::worktree::Registrations::default().ensure(repo, &scratch.dir, at)?;
        Ok(scratch)
    }

    /// Where the agent writes its draft.
    pub fn draft_file(&self) -> PathBuf {
        self.dir.join(DRAFT_FILE)
    }

    /// Removes the worktree and its registration, whatever state a killed
    /// run left them in.
    fn remove(&self) {
        let dir = &self.dir;
        if !dir.exists() {
            return;
        }
        // The agent could rewrite the worktree's `.git` file: a registration
        // is removed by hand only where registrations live.
        let registration = crate::worktree::git_dir(dir)
            .ok()
            .and_then(|r| r.canonicalize().ok())
            .filter(|r| r.parent() == self.registrations.canonicalize().ok().as_deref());
        let shown = dir.display().to_string();
        if git_in(&self.main, &["worktree", "remove", "--force", &shown]).is_err() {
            let _ = std::fs::remove_dir_all(dir);
            if let Some(registration) = registration {
                let _ = std::fs::remove_dir_all(registration);
            }
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.remove();
        // The worktree root made for it (`<repo>.agents`) goes too when empty.
        if let Some(root) = self.dir.parent() {
            let _ = std::fs::remove_dir(root);
        }
    }
}
