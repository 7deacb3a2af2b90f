//! Agent worktrees: one linked worktree per agent, created in-process with
//! gix, and the branch switching, resetting and committing that happens in
//! them (through the git CLI: gix cannot yet update a checkout in place).

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use gix::ObjectId;

use crate::error::{Context, Error, Result};
use crate::process::git_in;
use crate::settings::Settings;

/// Where agent worktrees live: `git config agents.worktreeDir`, else a
/// sibling folder `<repo>.agents`. A submodule's sibling would be inside
/// its superproject's working tree (untracked files there), so a
/// submodule's worktrees go beside the outermost superproject instead:
/// `<superproject>.agents/<submodule path, '/' written '-'>`, outside every
/// working tree.
pub fn root(settings: &Settings, workdir: &Path) -> PathBuf {
    if let Some(dir) = settings.worktree_dir(workdir) {
        return dir;
    }
    let sibling = |dir: &Path| {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "repo".into());
        dir.with_file_name(format!("{name}.agents"))
    };
    match superproject(workdir) {
        Some((top, inside)) => {
            let inside: Vec<_> = inside.iter().map(|c| c.to_string_lossy()).collect();
            sibling(&top).join(inside.join("-"))
        }
        None => sibling(workdir),
    }
}

/// The outermost superproject whose working tree holds `workdir` (nested
/// submodules included) and `workdir`'s path inside it; `None` when
/// `workdir` is not a submodule's working tree.
fn superproject(workdir: &Path) -> Option<(PathBuf, PathBuf)> {
    // Only a folder below another working tree can be a submodule: ask git
    // (a process) only when some folder above has a `.git`.
    if !workdir.ancestors().skip(1).any(|dir| dir.join(".git").exists()) {
        return None;
    }
    let mut top = workdir.to_path_buf();
    while let Ok(out) = git_in(&top, &["rev-parse", "--show-superproject-working-tree"]) {
        // Empty when `top` is no submodule (of a superproject that has it).
        let Ok(outer) = Path::new(out.trim()).canonicalize() else {
            break;
        };
        if out.trim().is_empty() || outer == top || !top.starts_with(&outer) {
            break;
        }
        top = outer;
    }
    let inside = workdir.strip_prefix(&top).ok()?.to_path_buf();
    (!inside.as_os_str().is_empty()).then_some((top, inside))
}

/// The worktree registrations of one process's agents: held for writing
/// while a worktree is registered (its files are written one by one), for
/// reading by git commands that read every registration (`git switch`
/// checks that no other worktree has the branch, and fails on a
/// half-written sibling: "failed to read …/commondir"). One value per
/// `spawn`, shared by its agents.
#[derive(Debug, Default)]
pub struct Registrations(std::sync::RwLock<()>);

impl Registrations {
    /// Makes sure `dir` is a clean linked worktree of `repo`; creates it
    /// detached at `start` if missing. Returns whether it still needs preparing
    /// (`[agent] copy` and `setup`): it was created now, or its preparation
    /// never passed ([`mark_prepared`]), so a failed setup is run again.
    pub fn ensure(&self, repo: &gix::Repository, dir: &Path, start: ObjectId) -> Result<bool> {
        if orphan_of_a_cut_short_registration(repo, dir) {
            // Its registration was cut short and removed (here or by doctor):
            // the folder holds at most part of a checkout, never an agent's work.
            std::fs::remove_dir_all(dir).context(|| format!("cannot remove {}", dir.display()))?;
        }
        if dir.exists() && std::fs::read_dir(dir).map(|mut d| d.next().is_some()).unwrap_or(false) {
            let common = git_in(dir, &["rev-parse", "--path-format=absolute", "--git-common-dir"]).ok();
            let ours = repo.common_dir().canonicalize().ok();
            let same = common.and_then(|c| PathBuf::from(c.trim()).canonicalize().ok()) == ours;
            if !same {
                return Err(Error::usage(format!(
                    "{} exists and is not a worktree of this repository",
                    dir.display()
                ))
                .hint("move it away, or point `git config agents.worktreeDir` elsewhere"));
            }
            if !git_in(dir, &["status", "--porcelain", "--untracked-files=normal"])?
                .trim()
                .is_empty()
            {
                return Err(
                    Error::usage(format!("the agent worktree {} has uncommitted changes", dir.display())).hint(
                        format!(
                            "look at them with `git -C {} status`; commit or discard them, then spawn again",
                            dir.display()
                        ),
                    ),
                );
            }
            return Ok(!is_prepared(dir));
        }
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent).context(|| format!("cannot create {}", parent.display()))?;
        }
        {
            // gix reads every registered worktree while adding one, and a sibling's
            // registration is incomplete until it is persisted: agents take turns
            // registering. The checkout (the slow part) then runs in parallel.
            let _turn = self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            let interrupt = AtomicBool::new(false);
            let add = || {
                repo.prepare_add_worktree(dir, gix::worktree::add::Head::Detached(start), &interrupt)
                    .and_then(|prepared| prepared.persist())
            };
            if add().is_err() {
                // A registration left by a killed run blocks the path: prune it and try once more.
                remove_half_made_registrations(repo);
                let main = repo.workdir().unwrap_or(repo.common_dir());
                let _ = git_in(main, &["worktree", "prune"]);
                add().map_err(|e| Error::failure(format!("cannot create the worktree {}", dir.display())).cause(e))?;
            }
        }
        // Fill the registered worktree: index and files at `start`.
        git_in(dir, &["reset", "-q", "--hard"])?;
        Ok(true)
    }
}

/// The marker of a prepared worktree, in its own git dir (`.git/worktrees/<name>/`):
/// it goes with the registration, so a worktree made again is prepared again.
const PREPARED: &str = "git-agents-prepared";

/// Records that `dir`'s copy and setup passed; until then every spawn that
/// uses it prepares it again.
pub fn mark_prepared(dir: &Path) -> Result<()> {
    let marker = git_dir(dir)?.join(PREPARED);
    std::fs::write(&marker, "").context(|| format!("cannot write {}", marker.display()))
}

fn is_prepared(dir: &Path) -> bool {
    git_dir(dir).is_ok_and(|d| d.join(PREPARED).exists())
}

/// Registrations under `.git/worktrees/` that a kill cut short: `gitdir`,
/// `commondir` or `HEAD` missing or empty, or `HEAD` still the null id gix
/// writes before the real one. gix then fails every worktree operation,
/// `git fsck` fails, and `git worktree prune` leaves them alone.
pub fn half_made_registrations(repo: &gix::Repository) -> Vec<PathBuf> {
    let dir = repo.common_dir().join("worktrees");
    let empty = |path: PathBuf| {
        std::fs::read_to_string(path).map_or(true, |t| t.trim().is_empty() || t.trim().bytes().all(|b| b == b'0'))
    };
    std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|r| r.is_dir() && ["gitdir", "commondir", "HEAD"].iter().any(|f| empty(r.join(f))))
        .collect()
}

/// A folder whose `.git` file names a registration of this repository
/// that no longer exists.
fn orphan_of_a_cut_short_registration(repo: &gix::Repository, dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join(".git")) else {
        return false;
    };
    let Some(target) = text.trim().strip_prefix("gitdir: ").map(PathBuf::from) else {
        return false;
    };
    let ours = repo.common_dir().join("worktrees");
    let ours = ours.canonicalize().unwrap_or(ours);
    target.parent().and_then(|p| p.canonicalize().ok()).as_deref() == Some(ours.as_path()) && !target.exists()
}

/// Removes [`half_made_registrations`]. Registering is serialized in this
/// process (the caller holds the turn); a second spawn registering in the
/// same repository at the same instant is not guarded against.
fn remove_half_made_registrations(repo: &gix::Repository) {
    for registration in half_made_registrations(repo) {
        let _ = std::fs::remove_dir_all(&registration);
    }
}

impl Registrations {
    /// Starts a task: the worktree is cleaned and `branch` (re)created at `start`.
    pub fn switch(&self, dir: &Path, branch: &str, start: ObjectId) -> Result<()> {
        let start = start.to_string();
        let _registrations = self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        git_in(dir, &["reset", "-q", "--hard"])?;
        git_in(dir, &["clean", "-q", "-fd"])?;
        // The claim makes the task this agent's alone; another worktree that
        // still has the branch checked out is what a killed agent left behind.
        git_in(
            dir,
            &[
                "switch",
                "-q",
                "--no-guess",
                "--ignore-other-worktrees",
                "-C",
                branch,
                &start,
            ],
        )?;
        Ok(())
    }
}

/// Leaves the branch (so another worktree may check it out), keeping files.
pub fn detach(dir: &Path) -> Result<()> {
    git_in(dir, &["switch", "-q", "--detach"]).map(|_| ())
}

/// Throws away a failed attempt: back to `start`, untracked files removed
/// (ignored ones, like copied `.env` files, stay).
pub fn reset(dir: &Path, start: ObjectId) -> Result<()> {
    git_in(dir, &["reset", "-q", "--hard", &start.to_string()])?;
    git_in(dir, &["clean", "-q", "-fd"])?;
    Ok(())
}

/// Commits whatever the agent left uncommitted; returns whether it did.
pub fn commit_leftovers(dir: &Path, message: &str, identity: &[(String, String)]) -> Result<bool> {
    if git_in(dir, &["status", "--porcelain"])?.trim().is_empty() {
        return Ok(false);
    }
    git_in(dir, &["add", "-A"])?;
    let mut args = Vec::new();
    for (k, v) in identity {
        args.push("-c".to_string());
        args.push(format!("{k}={v}"));
    }
    args.extend(["commit", "-q", "--no-verify", "-m", message].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    git_in(dir, &args)?;
    Ok(true)
}

/// The git dir of the linked worktree `dir`, as its `.git` file names it.
pub fn git_dir(dir: &Path) -> Result<PathBuf> {
    let file = dir.join(".git");
    let text = std::fs::read_to_string(&file).context(|| format!("cannot read {}", file.display()))?;
    let named = text
        .trim()
        .strip_prefix("gitdir: ")
        .ok_or_else(|| Error::failure(format!("{} does not name a git dir", file.display())))?;
    Ok(dir.join(named))
}

/// The branch `dir` has checked out (`refs/heads/…`), `None` when detached.
pub fn current_branch(dir: &Path) -> Result<Option<String>> {
    let out = crate::process::git_output(dir, &["symbolic-ref", "-q", "HEAD"])?;
    Ok(out
        .status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()))
}

/// Points `branch` at `commit` and checks it out in `dir`, carrying any
/// uncommitted changes along (they are the agent's work too).
pub fn take_onto(dir: &Path, branch: &str, commit: ObjectId) -> Result<()> {
    git_in(dir, &["switch", "-q", "--no-guess", "-C", branch, &commit.to_string()]).map(|_| ())
}

/// Whether `dir` has uncommitted changes or untracked files (ignored ones do not count).
pub fn is_dirty(dir: &Path) -> Result<bool> {
    Ok(!git_in(dir, &["status", "--porcelain"])?.trim().is_empty())
}

/// Takes files matching `patterns` (an agent CLI's own state, like aider's
/// `.aider*`) back out of what the attempt committed since `start`, with one
/// more commit; the files stay in the worktree for the CLI.
pub fn drop_state_files(dir: &Path, start: ObjectId, patterns: &[String], identity: &[(String, String)]) -> Result<()> {
    if patterns.is_empty() {
        return Ok(());
    }
    let start = start.to_string();
    let specs: Vec<String> = patterns
        .iter()
        .flat_map(|p| {
            [
                format!(":(glob){p}"),
                format!(":(glob){p}/**"),
                format!(":(glob)**/{p}"),
                format!(":(glob)**/{p}/**"),
            ]
        })
        .collect();
    let mut args = vec!["diff", "--name-only", "--no-renames", &start, "HEAD", "--"];
    args.extend(specs.iter().map(String::as_str));
    let listed = git_in(dir, &args)?;
    let paths: Vec<&str> = listed.lines().filter(|l| !l.is_empty()).collect();
    if paths.is_empty() {
        return Ok(());
    }
    let source = format!("--source={start}");
    let mut restore = vec!["restore", "--staged", &source, "--"];
    restore.extend(paths.iter().copied());
    git_in(dir, &restore)?;
    let mut commit = Vec::new();
    for (k, v) in identity {
        commit.push("-c".to_string());
        commit.push(format!("{k}={v}"));
    }
    commit.extend(
        [
            "commit",
            "-q",
            "--no-verify",
            "-m",
            "drop the agent CLI's own state files",
        ]
        .map(String::from),
    );
    let commit: Vec<&str> = commit.iter().map(String::as_str).collect();
    git_in(dir, &commit)?;
    Ok(())
}

/// Adds `patterns` to the repository's `info/exclude` (shared by all its
/// worktrees, never committed) so agent CLIs' state files stay untracked;
/// the user's `.gitignore` is never touched. Idempotent.
pub fn exclude_state_files(common_dir: &Path, patterns: &[String]) -> Result<()> {
    if patterns.is_empty() {
        return Ok(());
    }
    let path = common_dir.join("info").join("exclude");
    let mut text = std::fs::read_to_string(&path).unwrap_or_default();
    let missing: Vec<&String> = patterns
        .iter()
        .filter(|p| !text.lines().any(|l| l.trim() == p.as_str()))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str("# git-agents: agent CLIs' own state files\n");
    for p in missing {
        text.push_str(p);
        text.push('\n');
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(&path, text).context(|| format!("cannot write {}", path.display()))
}

/// The commit checked out in `dir`.
pub fn head(dir: &Path) -> Result<ObjectId> {
    let out = git_in(dir, &["rev-parse", "HEAD"])?;
    ObjectId::from_hex(out.trim().as_bytes()).context(|| format!("git printed an odd HEAD in {}", dir.display()))
}

/// Copies `files` (relative paths) from the main worktree into `dir`; only
/// files git ignores are copied, so they can never be committed by accident.
/// Returns a warning per file skipped.
pub fn copy_files(main: &Path, dir: &Path, files: &[String]) -> Vec<String> {
    let mut warnings = Vec::new();
    for file in files {
        let from = main.join(file);
        if !from.exists() {
            warnings.push(format!("[agent] copy: {file} does not exist in the main worktree"));
            continue;
        }
        if git_in(main, &["check-ignore", "-q", file]).is_err() {
            warnings.push(format!(
                "[agent] copy: {file} is not ignored by git; add it to .gitignore so it is copied and never committed"
            ));
            continue;
        }
        let to = dir.join(file);
        if let Some(parent) = to.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        if let Err(e) = std::fs::copy(&from, &to) {
            warnings.push(format!("[agent] copy: cannot copy {file}: {e}"));
        }
    }
    warnings
}

/// `user.name`/`user.email` overrides for git commits when none is configured.
pub fn identity_overrides(repo: &gix::Repository) -> Vec<(String, String)> {
    let config = repo.config_snapshot();
    let has = |key: &str, env: &str| config.string(key).is_some() || std::env::var_os(env).is_some();
    let mut out = Vec::new();
    if !has("user.name", "GIT_COMMITTER_NAME") {
        out.push(("user.name".into(), crate::repo::FALLBACK_NAME.into()));
    }
    if !has("user.email", "GIT_COMMITTER_EMAIL") {
        out.push(("user.email".into(), crate::repo::FALLBACK_EMAIL.into()));
    }
    out
}

/// Environment that gives an agent's own git a `user.name`/`user.email`
/// when the repository's config has none (`GIT_CONFIG_COUNT`/`KEY_n`/
/// `VALUE_n`, git 2.31+): the one from `GIT_AUTHOR_*`/`GIT_COMMITTER_*`
/// when set, else the fallback identity. Agent CLIs ask `git config
/// user.name` (aider writes a placeholder identity into the repository's
/// config when it finds none, and several at once collide on its lock).
pub fn identity_env(repo: &gix::Repository) -> Vec<(String, String)> {
    let config = repo.config_snapshot();
    let env = |names: [&str; 2]| {
        names
            .iter()
            .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
    };
    let mut pairs = Vec::new();
    if config.string("user.name").is_none() {
        let name = env(["GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"]).unwrap_or_else(|| crate::repo::FALLBACK_NAME.into());
        pairs.push(("user.name", name));
    }
    if config.string("user.email").is_none() {
        let email =
            env(["GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"]).unwrap_or_else(|| crate::repo::FALLBACK_EMAIL.into());
        pairs.push(("user.email", email));
    }
    if pairs.is_empty() {
        return Vec::new();
    }
    // After any configuration the caller's environment already passes this way.
    let first: usize = std::env::var("GIT_CONFIG_COUNT")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let mut out = vec![("GIT_CONFIG_COUNT".to_string(), (first + pairs.len()).to_string())];
    for (i, (key, value)) in pairs.into_iter().enumerate() {
        out.push((format!("GIT_CONFIG_KEY_{}", first + i), key.to_string()));
        out.push((format!("GIT_CONFIG_VALUE_{}", first + i), value));
    }
    out
}

/// Records everything in `dir` (tracked changes and untracked files, not
/// ignored ones) as a commit on top of its HEAD, without touching the
/// worktree or its index; returns the commit id.
pub fn snapshot_commit(dir: &Path, message: &str, identity: &[(String, String)]) -> Result<String> {
    let index = std::env::temp_dir().join(format!("git-agents-snapshot-{}.index", std::process::id()));
    let env = [("GIT_INDEX_FILE", index.as_os_str())];
    let run = |args: &[&str]| crate::process::git_in_env(dir, args, &env);
    let result = (|| {
        run(&["read-tree", "HEAD"])?;
        run(&["add", "-A"])?;
        let tree = run(&["write-tree"])?;
        let mut args: Vec<String> = Vec::new();
        for (k, v) in identity {
            args.push("-c".into());
            args.push(format!("{k}={v}"));
        }
        args.extend(["commit-tree", tree.trim(), "-p", "HEAD", "-m", message].map(String::from));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args).map(|c| c.trim().to_string())
    })();
    let _ = std::fs::remove_file(&index);
    result
}

/// Every worktree of the repository with the branch it has checked out
/// (`None` when detached), as `git worktree list --porcelain` reports them.
pub fn list(workdir: &Path) -> Result<Vec<(PathBuf, Option<String>)>> {
    let listing = git_in(workdir, &["worktree", "list", "--porcelain"])?;
    let mut out: Vec<(PathBuf, Option<String>)> = Vec::new();
    for line in listing.lines() {
        if let Some(path) = line.strip_prefix("worktree ") {
            out.push((PathBuf::from(path), None));
        } else if let (Some(branch), Some(last)) = (line.strip_prefix("branch "), out.last_mut()) {
            last.1 = Some(branch.to_string());
        }
    }
    Ok(out)
}
