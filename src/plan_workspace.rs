//! The repository as plan validation sees it (`plan::validate::Workspace`):
//! branches, tracked files and prompt files. One value for `git agents plan`
//! and for the drafts `plan --draft` checks, so a draft is judged exactly as
//! the plan it becomes.

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::plan::validate::Workspace;
use crate::state::Store;

pub struct RepoWorkspace<'a> {
    pub repo: &'a Store,
    pub root: &'a Path,
    /// The plan file's folder: prompt files are relative to it.
    pub plan_dir: PathBuf,
}

impl Workspace for RepoWorkspace<'_> {
    fn current_branch(&self) -> Option<String> {
        crate::repo::current_branch(self.repo)
    }

    fn tracked_files(&self, name: &str) -> Result<Option<Vec<String>>> {
        crate::repo::tracked_files(self.repo, name)
    }

    fn read_prompt(&self, path: &str) -> std::result::Result<String, String> {
        let full = self.plan_dir.join(path);
        // Prompt files must stay inside the repository, even through symlinks.
        let real = full.canonicalize().map_err(|e| e.to_string())?;
        let root = self.root.canonicalize().map_err(|e| e.to_string())?;
        if !real.starts_with(&root) {
            return Err("it resolves to a path outside the repository".into());
        }
        std::fs::read_to_string(&real).map_err(|e| e.to_string())
    }
}
