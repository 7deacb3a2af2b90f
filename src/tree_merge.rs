//! The in-memory tree merge (gix, the same trees as `git merge-tree`) and
//! the conflicts it reports: shared by `merge`, which lands tasks, and the
//! runner, which starts a task on its dependencies' merged work, so neither
//! has to import the other.

use gix::ObjectId;
use serde::Serialize;

use crate::error::{Context as _, Result};

#[derive(Debug, Serialize)]
pub struct ConflictPath {
    pub path: String,
    pub kind: &'static str,
    /// Index stages as `stage:object`: 1 base, 2 ours (the target), 3 theirs (the task).
    pub stages: Vec<String>,
}

/// The outcome of a merge that left conflicts.
pub struct Conflicted {
    pub paths: Vec<ConflictPath>,
    /// The conflicted tree (with markers), for inspection.
    pub tree: String,
}

/// Merges commit `theirs` into `ours` in memory (gix, the same trees as
/// `git merge-tree`): the merged tree, or the paths left in conflict.
pub fn merge_trees(
    repo: &gix::Repository,
    ours: ObjectId,
    theirs: ObjectId,
    our_label: &str,
    their_label: &str,
) -> Result<std::result::Result<ObjectId, Conflicted>> {
    let labels = gix::merge::blob::builtin_driver::text::Labels {
        ancestor: None,
        current: Some(our_label.into()),
        other: Some(their_label.into()),
    };
    let options = repo
        .tree_merge_options()
        .context(|| "cannot read merge options".into())?
        .into();
    let merged = repo
        .merge_commits(ours, theirs, labels, options)
        .context(|| format!("cannot merge {their_label} into {our_label}"))?;
    tree_or_conflicts(merged.tree_merge)
}

/// Applies the change `base..theirs` to `ours` (a three-way merge of the
/// commits' trees with `base` as the ancestor): how a squashed task lands
/// as its own change, whatever became of the commits it started from.
pub fn apply_change(
    repo: &gix::Repository,
    base: ObjectId,
    ours: ObjectId,
    theirs: ObjectId,
    our_label: &str,
    their_label: &str,
) -> Result<std::result::Result<ObjectId, Conflicted>> {
    let tree = |id: ObjectId| -> Result<ObjectId> {
        Ok(repo
            .find_commit(id)
            .and_then(|c| c.tree_id())
            .context(|| format!("cannot read commit {id}"))?
            .detach())
    };
    let labels = gix::merge::blob::builtin_driver::text::Labels {
        ancestor: Some("start".into()),
        current: Some(our_label.into()),
        other: Some(their_label.into()),
    };
    let options = repo
        .tree_merge_options()
        .context(|| "cannot read merge options".into())?;
    let merged = repo
        .merge_trees(tree(base)?, tree(ours)?, tree(theirs)?, labels, options)
        .context(|| format!("cannot apply {their_label} to {our_label}"))?;
    tree_or_conflicts(merged)
}

fn tree_or_conflicts(mut merged: gix::merge::tree::Outcome<'_>) -> Result<std::result::Result<ObjectId, Conflicted>> {
    let unresolved = gix::merge::tree::TreatAsUnresolved::git();
    if merged.has_unresolved_conflicts(unresolved) {
        let paths = merged
            .conflicts
            .iter()
            .filter(|c| c.is_unresolved(unresolved))
            .map(|c| ConflictPath {
                path: c.ours.location().to_string(),
                kind: conflict_kind(c),
                stages: c
                    .entries()
                    .iter()
                    .enumerate()
                    .filter_map(|(i, e)| e.map(|e| format!("{}:{}", i + 1, e.id.to_hex_with_len(7))))
                    .collect(),
            })
            .collect();
        // The tree with conflict markers, as `git merge-tree --write-tree` would print it.
        let tree = merged.tree.write().map(|t| t.to_string()).unwrap_or_default();
        return Ok(Err(Conflicted { paths, tree }));
    }
    let tree = merged.tree.write().context(|| "cannot write the merged tree".into())?;
    Ok(Ok(tree.detach()))
}

fn conflict_kind(c: &gix::merge::tree::Conflict) -> &'static str {
    use gix::diff::tree_with_rewrites::Change;
    if c.ours.location() != c.theirs.location() {
        return "rename";
    }
    match (&c.ours, &c.theirs) {
        (Change::Addition { .. }, Change::Addition { .. }) => "add/add",
        (Change::Deletion { .. }, _) | (_, Change::Deletion { .. }) => "modify/delete",
        (Change::Rewrite { .. }, _) | (_, Change::Rewrite { .. }) => "rename",
        _ => "content",
    }
}
