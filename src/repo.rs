//! Finding and opening the repository the way git does (from any folder,
//! inside linked worktrees, honouring GIT_DIR), and the read-only questions
//! commands ask of it.

use std::path::{Path, PathBuf};

use gix::bstr::ByteSlice;

use crate::error::{Context, Error, Result};

/// Identity used for git-agents' own commits when the user configured none.
pub const FALLBACK_NAME: &str = "git-agents";
pub const FALLBACK_EMAIL: &str = "git-agents@localhost";

/// Opens the repository around `dir`, and says whether
/// commits will be made with the fallback identity (see
/// [`install_fallback_identity`]).
pub fn open(dir: &Path) -> Result<(gix::Repository, bool)> {
    let mut repo = gix::discover_with_environment_overrides(dir).map_err(|e| {
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
    let (fallback, set_any) = install_fallback_identity(&repo);
    if set_any {
        // This handle read the environment before the identity was put
        // there; one opened now has it (its author as well as its committer).
        repo = gix::discover_with_environment_overrides(".")
            .map_err(|e| Error::failure("cannot open the repository again").cause(e))?;
    }
    // gix refuses commits and ref updates without an identity; ours never should.
    repo.committer_or_set_fallback(FALLBACK_NAME, FALLBACK_EMAIL)
        .context(|| "cannot set up a committer identity".into())?;
    Ok((repo, fallback))
}

/// When git knows no identity (no `user.name`/`user.email` in any config,
/// no `GIT_AUTHOR_*`/`GIT_COMMITTER_*`), puts the fallback identity into
/// this process's environment before any thread starts (a second call
/// finds it there and answers `false`; the second value says whether
/// anything was put there): every
/// repository handle gix opens later (linked worktrees get their own), every
/// git command and every agent then has one, so a fresh machine works.
fn install_fallback_identity(repo: &gix::Repository) -> (bool, bool) {
    let config = repo.config_snapshot();
    let (mut used, mut set_any) = (false, false);
    for (key, envs, value) in [
        ("user.name", ["GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"], FALLBACK_NAME),
        (
            "user.email",
            ["GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"],
            FALLBACK_EMAIL,
        ),
    ] {
        if config.string(key).is_some() {
            continue;
        }
        // Only a committer (or only an author) set: the other is the same person.
        let given = envs
            .iter()
            .find_map(|e| std::env::var(e).ok().filter(|v| !v.is_empty()));
        used |= given.is_none();
        let value = given.unwrap_or_else(|| value.to_string());
        for env in envs {
            if std::env::var_os(env).is_none() {
                // Called from the main thread before any other starts (commands open the repository first).
                std::env::set_var(env, &value);
                set_any = true;
            }
        }
    }
    (used, set_any)
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

/// The object a ref `full` (e.g. `refs/notes/agents`) points at, if it exists.
pub fn ref_tip(repo: &gix::Repository, full: &str) -> Option<gix::ObjectId> {
    repo.try_find_reference(full)
        .ok()
        .flatten()
        .and_then(|r| r.try_id().map(|i| i.detach()))
}

/// The commit local branch `branch` points at, if it exists.
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
    commits_ahead_of_all(repo, tip, &[base])
}

/// How many commits `tip` has that none of `bases` has.
pub fn commits_ahead_of_all(repo: &gix::Repository, tip: gix::ObjectId, bases: &[gix::ObjectId]) -> Result<usize> {
    let walk = repo
        .rev_walk([tip])
        .with_hidden(bases.iter().copied())
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

/// Whether `commit` is `other` or one of its ancestors (`git merge-base
/// --is-ancestor commit other`); a history that cannot be read answers no.
///
/// This walks `other`'s history breadth-first (each commit once) and stops
/// at `commit`. It used to compare `commit` with gix's `merge_base`, which
/// orders its walk by commit date and, when commits share a timestamp (a
/// fast run, a pinned GIT_COMMITTER_DATE), answered "not an ancestor" for
/// merged task branches: `clean` kept them, `merge` and the runner merged
/// work that was already in again, `merge --continue` refused a resolved
/// merge, and adopting a published branch backed up a local one for nothing
/// (it also erred when every commit was older than its parents). Dates are
/// never used to stop early: clocks go backwards when machines with skewed
/// clocks share one remote, so a descendant may be older than its ancestor.
/// Not being an ancestor costs a walk of all of `other`'s history; the walk
/// reads parents from the commit-graph file when there is one.
pub fn is_ancestor(repo: &gix::Repository, commit: gix::ObjectId, other: gix::ObjectId) -> bool {
    if commit == other {
        return true;
    }
    // BreadthFirst is gix's default; named here because the answer depends on
    // it: the other sortings order by date, and one of them cuts off by date.
    let Ok(walk) = repo
        .rev_walk([other])
        .sorting(gix::revision::walk::Sorting::BreadthFirst)
        .all()
    else {
        return false;
    };
    for info in walk {
        match info {
            Ok(info) if info.id == commit => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::is_ancestor;
    use gix::ObjectId;

    /// Writes commits `parents[i]` (indices of earlier commits) dated
    /// `times[i]` into a new bare repository; returns it and their ids.
    fn history(dir: &std::path::Path, parents: &[Vec<usize>], times: &[i64]) -> (gix::Repository, Vec<ObjectId>) {
        let repo = gix::init_bare(dir).expect("init");
        let tree = repo.write_object(gix::objs::Tree::empty()).expect("tree").detach();
        let mut ids: Vec<ObjectId> = Vec::new();
        for (n, (ps, &seconds)) in parents.iter().zip(times).enumerate() {
            let signature = gix::actor::Signature {
                name: "t".into(),
                email: "t@example.com".into(),
                time: gix::date::Time { seconds, offset: 0 },
            };
            let commit = gix::objs::Commit {
                tree,
                parents: ps.iter().map(|&p| ids[p]).collect(),
                author: signature.clone(),
                committer: signature,
                encoding: None,
                message: format!("commit {n}").into(),
                extra_headers: Vec::new(),
            };
            ids.push(repo.write_object(&commit).expect("commit").detach());
        }
        (repo, ids)
    }

    /// A small deterministic generator, so failures reproduce.
    struct Lcg(u64);
    impl Lcg {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) % n
        }
    }

    #[test]
    fn is_ancestor_is_exact_whatever_the_commit_dates() {
        let mut rng = Lcg(7);
        for round in 0..36 {
            let n = 8 + rng.below(17) as usize;
            // Commit 0 and now and then another commit start a history of their own.
            let parents: Vec<Vec<usize>> = (0..n)
                .map(|i| match (i, rng.below(8)) {
                    (0, _) | (_, 0) => Vec::new(),
                    (_, 1..=2) if i > 1 => {
                        let a = rng.below(i as u64) as usize;
                        let b = rng.below(i as u64) as usize;
                        if a == b {
                            vec![a]
                        } else {
                            vec![a, b]
                        }
                    }
                    _ => vec![i - 1 - rng.below(i.min(3) as u64) as usize],
                })
                .collect();
            let times: Vec<i64> = (0..n as i64)
                .map(|i| match round % 3 {
                    0 => 1_767_225_600,                       // all equal
                    1 => 1_767_225_600 - 60 * i,              // every child older than its parents
                    _ => 1_767_225_600 + rng.below(3) as i64, // ties and skew
                })
                .collect();
            // reach[i]: bit j set when commit j is commit i or one of its ancestors.
            let mut reach: Vec<u32> = Vec::new();
            for (i, ps) in parents.iter().enumerate() {
                let r = ps.iter().fold(1 << i, |r, &p| r | reach[p]);
                reach.push(r);
            }
            let dir = tempfile::tempdir().expect("temp dir");
            let (repo, ids) = history(dir.path(), &parents, &times);
            for (j, &descendant) in ids.iter().enumerate() {
                for (i, &ancestor) in ids.iter().enumerate() {
                    let expected = reach[j] & (1 << i) != 0;
                    assert_eq!(
                        is_ancestor(&repo, ancestor, descendant),
                        expected,
                        "round {round}: is {i} an ancestor of {j}? parents {parents:?}, times {times:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_task_merged_after_starting_from_its_base_is_an_ancestor() {
        // 0 base; 1 on main; 2 task starts by merging main; 3..=5 its work;
        // 6 main merges the task; 7 on main. gix's merge_base said 5 is not
        // an ancestor of 6 or 7 when every commit is older than its parents.
        let parents = [
            vec![],
            vec![0],
            vec![0, 1],
            vec![2],
            vec![3],
            vec![4],
            vec![1, 5],
            vec![6],
        ];
        for times in [
            [1_767_225_600; 8],
            [0, -60, -120, -180, -240, -300, -360, -420].map(|t| 1_767_225_600 + t),
        ] {
            let dir = tempfile::tempdir().expect("temp dir");
            let (repo, ids) = history(dir.path(), &parents, &times);
            for tip in [6, 7] {
                assert!(is_ancestor(&repo, ids[5], ids[tip]), "5 is in {tip}, times {times:?}");
                assert!(
                    !is_ancestor(&repo, ids[tip], ids[5]),
                    "{tip} is not in 5, times {times:?}"
                );
            }
        }
    }

    #[test]
    fn a_missing_commit_is_no_ancestor() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (repo, ids) = history(dir.path(), &[vec![], vec![0]], &[0, 0]);
        let missing = ObjectId::from_hex(b"0123456789012345678901234567890123456789").expect("hex");
        assert!(!is_ancestor(&repo, missing, ids[1]));
        assert!(!is_ancestor(&repo, ids[0], missing));
    }
}
