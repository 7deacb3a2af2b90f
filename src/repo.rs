//! Finding and opening the repository the way git does (from any folder,
//! inside linked worktrees, honouring GIT_DIR), and the read-only questions
//! commands ask of it.

use std::path::{Path, PathBuf};

use gix::bstr::ByteSlice;

use crate::error::{Context, Error, Result};

/// Identity used for git-agents' own commits when the user configured none.
pub const FALLBACK_NAME: &str = "git-agents";
pub const FALLBACK_EMAIL: &str = "git-agents@localhost";

/// Opens the repository around the current directory.
pub fn open() -> Result<gix::Repository> {
    let mut repo = gix::discover_with_environment_overrides(".").map_err(|e| {
        Error::failure("not inside a git repository")
            .cause(e)
            .hint("run git agents inside a repository, or create one with `git init`")
    })?;
    let storage = repo.config_snapshot().string("extensions.refStorage");
    if storage.is_some_and(|s| s.eq_ignore_ascii_case(b"reftable")) {
        return Err(Error::failure(
            "this repository stores refs in the reftable format, which git-agents cannot read yet",
        )
        .hint("convert it with `git refs migrate --ref-format=files`, or use a clone made with the files format"));
    }
    // gix refuses commits and ref updates without an identity; ours never should.
    repo.committer_or_set_fallback(FALLBACK_NAME, FALLBACK_EMAIL)
        .context(|| "cannot set up a committer identity".into())?;
    Ok(repo)
}

/// The root of the worktree we run in, as an absolute path; refuses bare repositories.
pub fn workdir(repo: &gix::Repository) -> Result<PathBuf> {
    let dir = repo.workdir().map(Path::to_path_buf).ok_or_else(|| {
        Error::usage("this command needs a worktree, but the repository is bare")
            .hint("run it from a clone with a worktree, or add one with `git worktree add <path>`")
    })?;
    dir.canonicalize()
        .context(|| format!("cannot resolve the worktree path {}", dir.display()))
}

/// The branch HEAD points at, if any.
pub fn current_branch(repo: &gix::Repository) -> Option<String> {
    let name = repo.head_name().ok()??;
    name.as_bstr()
        .strip_prefix(b"refs/heads/")
        .map(|s| s.to_str_lossy().into_owned())
}

/// Every tracked path at the tip of local branch `branch`, or `None` if it does not exist.
pub fn tracked_files(repo: &gix::Repository, branch: &str) -> Result<Option<Vec<String>>> {
    let Ok(full) = gix::refs::FullName::try_from(format!("refs/heads/{branch}")) else {
        return Ok(None);
    };
    let Some(mut reference) = repo
        .try_find_reference(&full)
        .context(|| format!("cannot read branch `{branch}`"))?
    else {
        return Ok(None);
    };
    let tree = reference
        .peel_to_commit()
        .and_then(|c| c.tree())
        .context(|| format!("cannot read the tree of branch `{branch}`"))?;
    let mut recorder = gix::traverse::tree::Recorder::default();
    tree.traverse()
        .breadthfirst(&mut recorder)
        .context(|| format!("cannot list the files of branch `{branch}`"))?;
    let mut files: Vec<String> = recorder
        .records
        .into_iter()
        .filter(|e| !e.mode.is_tree())
        .map(|e| e.filepath.to_str_lossy().into_owned())
        .collect();
    files.sort();
    Ok(Some(files))
}

/// The commit local branch `branch` points at, if it exists.
/// The object a ref `full` (e.g. `refs/notes/agents`) points at, if it exists.
pub fn ref_tip(repo: &gix::Repository, full: &str) -> Option<gix::ObjectId> {
    repo.try_find_reference(full)
        .ok()
        .flatten()
        .and_then(|r| r.try_id().map(|i| i.detach()))
}

pub fn branch_tip(repo: &gix::Repository, branch: &str) -> Result<Option<gix::ObjectId>> {
    let Ok(full) = gix::refs::FullName::try_from(format!("refs/heads/{branch}")) else {
        return Ok(None);
    };
    let reference = repo
        .try_find_reference(&full)
        .context(|| format!("cannot read branch `{branch}`"))?;
    Ok(reference.and_then(|r| r.try_id().map(|id| id.detach())))
}

/// How many commits `tip` has that `base` does not.
pub fn commits_ahead(repo: &gix::Repository, tip: gix::ObjectId, base: gix::ObjectId) -> Result<usize> {
    let walk = repo
        .rev_walk([tip])
        .with_hidden([base])
        .all()
        .context(|| format!("cannot walk history from {tip}"))?;
    let mut count = 0;
    for info in walk {
        info.context(|| format!("cannot walk history from {tip}"))?;
        count += 1;
    }
    Ok(count)
}

/// Tips of the task branches `refs/heads/agents/<id>`, by id, from one listing.
pub fn task_branches(repo: &gix::Repository) -> Result<std::collections::BTreeMap<String, gix::ObjectId>> {
    let mut out = std::collections::BTreeMap::new();
    let platform = repo.references().context(|| "cannot list refs".into())?;
    for r in platform
        .prefixed("refs/heads/agents/")
        .context(|| "cannot list task branches".into())?
    {
        let r = r.context(|| "cannot read a task branch".into())?;
        let name = r.name().as_bstr().to_string();
        if let (Some(id), Some(oid)) = (name.strip_prefix("refs/heads/agents/"), r.try_id()) {
            out.insert(id.to_string(), oid.detach());
        }
    }
    Ok(out)
}

/// Whether `commit` is `other` or one of its ancestors.
pub fn is_ancestor(repo: &gix::Repository, commit: gix::ObjectId, other: gix::ObjectId) -> bool {
    commit == other || repo.merge_base(commit, other).ok().flatten().map(|b| b.detach()) == Some(commit)
}
