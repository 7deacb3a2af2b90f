//! Writing the small trees and commits that carry git-agents' state.

use gix::objs::tree::EntryKind;
use gix::ObjectId;

use crate::error::{Context, Result};

/// Writes a tree holding `files` (paths may contain `/`).
pub fn write_tree(repo: &gix::Repository, files: &[(String, Vec<u8>)]) -> Result<ObjectId> {
    let mut editor = repo
        .edit_tree(ObjectId::empty_tree(repo.object_hash()))
        .context(|| "cannot start a tree".into())?;
    for (path, bytes) in files {
        let blob = repo.write_blob(bytes).context(|| format!("cannot write {path}"))?;
        editor
            .upsert(path.as_str(), EntryKind::Blob, blob)
            .context(|| format!("cannot add {path} to a tree"))?;
    }
    let tree = editor.write().context(|| "cannot write a tree".into())?;
    Ok(tree.detach())
}

/// Writes a commit as the configured user (or git-agents' fallback identity).
pub fn write_commit(
    repo: &gix::Repository,
    message: &str,
    tree: ObjectId,
    parents: impl IntoIterator<Item = ObjectId>,
) -> Result<ObjectId> {
    let committer = repo
        .committer()
        .transpose()
        .context(|| "cannot read the committer identity".into())?
        .ok_or_else(|| crate::error::Error::failure("no committer identity is configured"))?;
    let author = match repo.author() {
        Some(Ok(author)) => author,
        _ => committer,
    };
    let commit = repo
        .new_commit_as(committer, author, message, tree, parents)
        .context(|| "cannot write a commit".into())?;
    Ok(commit.id)
}
