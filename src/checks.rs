//! What a task's change may touch, judged the same way wherever work is
//! checked: by the runner after an attempt, by `git agents done`, by
//! `merge` before it lands a task, and by the pre-push guard.
//!
//! A change is every path it adds, modifies or deletes; a rename counts at
//! both ends (rename tracking is off), so moving another task's file into
//! your own folder is a deletion outside your files.

use gix::ObjectId;

use crate::error::{Context as _, Result};
use crate::plan::globs::{Matcher, OwnedGlob};
use crate::plan::Task;

/// A task's `owns` globs, matched once built (the guard asks about every
/// pushed commit).
pub struct Ownership(Matcher);

impl Ownership {
    pub fn of(task: &Task) -> Self {
        let globs: Vec<OwnedGlob> = if task.owns.is_empty() {
            vec![OwnedGlob("**".into())]
        } else {
            task.owns.iter().map(|g| OwnedGlob(g.clone())).collect()
        };
        Ownership(Matcher::new(&[globs]))
    }

    fn owns(&self, path: &str, scratch: &mut Vec<usize>) -> bool {
        let mut owned = false;
        self.0.for_each_match(path, scratch, |_, _| owned = true);
        owned
    }

    /// Paths changed between commits `start` and `head` that the task does not own.
    pub fn outside(&self, repo: &gix::Repository, start: ObjectId, head: ObjectId) -> Result<Vec<String>> {
        let mut scratch = Vec::new();
        Ok(changed_paths(repo, start, head)?
            .into_iter()
            .filter(|p| !self.owns(p, &mut scratch))
            .collect())
    }

    /// Paths outside the task changed by the commits of `head` that are not
    /// reachable from `hidden` (the base, the dependencies' work), each
    /// against its parent. Merge commits are skipped: they bring the base
    /// or dependencies in, and what they add of their own shows up when the
    /// whole change is judged from its start point.
    pub fn outside_commits(&self, repo: &gix::Repository, head: ObjectId, hidden: &[ObjectId]) -> Result<Vec<String>> {
        let walk = repo
            .rev_walk([head])
            .with_hidden(hidden.iter().copied())
            .all()
            .context(|| format!("cannot walk the commits of {head}"))?;
        let mut paths: Vec<String> = Vec::new();
        for info in walk {
            let info = info.context(|| format!("cannot walk the commits of {head}"))?;
            let [parent] = info.parent_ids.as_slice() else { continue };
            for path in self.outside(repo, *parent, info.id)? {
                if !paths.contains(&path) {
                    paths.push(path);
                }
            }
        }
        Ok(paths)
    }
}

/// Every file path that differs between two commits' trees; a rename is
/// its old and its new path.
pub fn changed_paths(repo: &gix::Repository, old: ObjectId, new: ObjectId) -> Result<Vec<String>> {
    let tree = |id: ObjectId| {
        repo.find_commit(id)
            .and_then(|c| c.tree())
            .context(|| format!("cannot read commit {id}"))
    };
    let (old_tree, new_tree) = (tree(old)?, tree(new)?);
    let options = gix::diff::Options::default().with_rewrites(None);
    let changes = repo
        .diff_tree_to_tree(&old_tree, &new_tree, options)
        .context(|| format!("cannot diff {old} and {new}"))?;
    let mut out: Vec<String> = Vec::new();
    for change in changes {
        // Folders show up as changes too; only files count.
        if change.entry_mode().is_tree() {
            continue;
        }
        let path = change.location().to_string();
        if !out.contains(&path) {
            out.push(path);
        }
    }
    Ok(out)
}
