//! Coordination through a shared remote (DESIGN.md, "Beyond one machine").
//!
//! With `agents.remote` set (or `--remote`, or `GIT_AGENTS_REMOTE`), the
//! remote is the source of truth: a transition is one
//! `git push --atomic` whose `--force-with-lease` per ref makes the remote's
//! own ref update the compare-and-swap, and the local refs/agents/* are a
//! mirror that follows only what the remote accepted. Reads fetch first.
//!
//! Several processes of one clone share the mirror, and `git fetch` fails
//! outright on a ref lock another writer holds, so every write to the
//! mirror (fetch or applying an accepted push) happens under one advisory
//! file lock, which the kernel releases when a process dies.

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use gix::refs::transaction::{Change, PreviousValue, RefEdit};
use gix::refs::Target;
use gix::ObjectId;

use super::transaction::WriteError;
use crate::error::{Context, Error, Result};

/// `--remote NAME`, set once by the command line before anything runs.
static FLAG: OnceLock<String> = OnceLock::new();
/// The resolved remote, checked once per process.
static RESOLVED: OnceLock<Option<String>> = OnceLock::new();
/// When this process last fetched; a read right after a fetch skips the
/// next one. Cleared by every push so a write is always followed by a fetch.
static LAST_FETCH: Mutex<Option<Instant>> = Mutex::new(None);

/// Set by [`stay_offline`]: reads use the local mirror as it is.
static OFFLINE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes this process read the local mirror without fetching (the pre-push
/// guard: it judges by what this clone knows and must not slow every push).
pub fn stay_offline() {
    OFFLINE.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// How long a fetch counts as fresh for the next read in the same process.
const FRESH: Duration = Duration::from_millis(250);

/// The environment variable that names the remote for child processes.
pub const REMOTE_ENV: &str = "GIT_AGENTS_REMOTE";

/// Records `--remote NAME` from the command line.
pub fn set_flag(name: &str) {
    let _ = FLAG.set(name.to_string());
}

/// The remote that holds the state, if any: `--remote`, else
/// `GIT_AGENTS_REMOTE`, else `git config agents.remote`. A name that is not
/// a configured remote is an error.
pub fn name(repo: &gix::Repository) -> Result<Option<String>> {
    if let Some(resolved) = RESOLVED.get() {
        return Ok(resolved.clone());
    }
    let (name, source) = if let Some(flag) = FLAG.get() {
        (Some(flag.clone()), "--remote")
    } else if let Some(env) = std::env::var(REMOTE_ENV).ok().filter(|v| !v.is_empty()) {
        (Some(env), REMOTE_ENV)
    } else {
        let config = repo.config_snapshot();
        (
            config
                .string("agents.remote")
                .map(|v| v.to_string())
                .filter(|v| !v.is_empty()),
            "git config agents.remote",
        )
    };
    if let Some(name) = &name {
        if repo.find_remote(name.as_str()).is_err() {
            let err = Error::usage(format!(
                "{source} names `{name}`, which is not a remote of this repository"
            ))
            .hint("list the remotes with `git remote -v`; add one with `git remote add NAME URL`");
            return Err(if source == "git config agents.remote" {
                err.hint("or stop sharing state through a remote: `git config --unset agents.remote`")
            } else {
                err
            });
        }
    }
    let _ = RESOLVED.set(name.clone());
    Ok(name)
}

/// Brings the local mirror of refs/agents/* up to the remote's, unless this
/// process fetched a moment ago and wrote nothing since.
pub fn refresh(repo: &gix::Repository) -> Result<()> {
    if OFFLINE.load(std::sync::atomic::Ordering::Relaxed) {
        return Ok(());
    }
    let Some(remote) = name(repo)? else { return Ok(()) };
    if last_fetch().is_some_and(|at| at.elapsed() < FRESH) {
        return Ok(());
    }
    fetch(repo, &remote)
}

/// Fetches refs/agents/* (pruning what the remote deleted; local backups
/// are never pruned) under the mirror lock.
fn fetch(repo: &gix::Repository, remote: &str) -> Result<()> {
    let _guard = MirrorLock::take(repo)?;
    first_sync(repo, remote)?;
    git_fetch(
        repo,
        remote,
        &["--prune", "+refs/agents/*:refs/agents/*", "^refs/agents/backup/*"],
    )
    .map_err(|cause| unreachable(repo, remote, "read the shared state from", cause))?;
    set_last_fetch(Some(Instant::now()));
    let _ = repo.refs.force_refresh_packed_buffer();
    Ok(())
}

/// `git fetch` of `args` (options and refspecs) from `remote`, quiet, with
/// no tags, FETCH_HEAD or auto-gc (several processes fetch at once), tried
/// three times; the caller holds the mirror lock. Returns git's stderr.
fn git_fetch(repo: &gix::Repository, remote: &str, args: &[&str]) -> std::result::Result<(), String> {
    let mut all = vec![
        "fetch",
        "--quiet",
        "--no-tags",
        "--no-write-fetch-head",
        "--no-auto-gc",
        remote,
    ];
    all.extend_from_slice(args);
    let mut last = String::new();
    for attempt in 0..3 {
        match git(repo, &all) {
            Ok(_) => return Ok(()),
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(50 * (attempt + 1)));
    }
    Err(last)
}

/// The first fetch from `remote` would prune local state the remote does
/// not have: a plan recorded (and tasks done) before the remote was set.
/// That is refused with the way to share it; afterwards a marker file says
/// this clone follows the remote.
fn first_sync(repo: &gix::Repository, remote: &str) -> Result<()> {
    let marker = repo
        .common_dir()
        .join("agents")
        .join(format!("follows-{}", remote.replace(['/', '\\', ':'], "_")));
    if marker.exists() {
        return Ok(());
    }
    if crate::repo::ref_tip(repo, super::PLAN_REF).is_some() {
        let theirs = git(repo, &["ls-remote", remote, super::PLAN_REF])
            .map_err(|cause| unreachable(repo, remote, "read the shared state from", cause))?;
        if theirs.trim().is_empty() {
            return Err(Error::usage(format!(
                "this repository has its own state under refs/agents, and remote `{remote}` has none"
            ))
            .detail("following the remote would drop the local plan and task history")
            .hint(format!(
                "to share the local state, push it first: git push {remote} 'refs/agents/*:refs/agents/*'"
            ))
            .hint("or keep working locally: `git config --unset agents.remote`")
            .hint("or drop the local state and follow the remote: `git update-ref -d refs/agents/plan`, then run the command again"));
        }
    }
    std::fs::write(&marker, format!("{remote}\n")).context(|| format!("cannot write {}", marker.display()))
}

/// Pushes `edits` to the remote as one atomic push with a lease per ref.
/// `Ok` means the remote accepted all of them; the caller then applies them
/// to the local mirror with [`apply_locally`].
pub(super) fn push(repo: &gix::Repository, remote: &str, edits: &[RefEdit]) -> std::result::Result<(), WriteError> {
    let mut args: Vec<String> = ["push", "--porcelain", "--atomic", "--no-verify", remote]
        .map(String::from)
        .to_vec();
    for edit in edits {
        let name = edit.name.as_bstr().to_string();
        let (expected, spec) = match &edit.change {
            Change::Update { expected, new, .. } => {
                let Target::Object(new) = new else {
                    return Err(WriteError::Failed(Error::failure(format!(
                        "cannot push the symbolic ref {name}"
                    ))));
                };
                (expected, format!("{new}:{name}"))
            }
            Change::Delete { expected, .. } => (expected, format!(":{name}")),
        };
        match expected {
            PreviousValue::MustNotExist => args.push(format!("--force-with-lease={name}:")),
            PreviousValue::MustExistAndMatch(Target::Object(oid)) => {
                args.push(format!("--force-with-lease={name}:{oid}"))
            }
            // Transitions always expect a value or an absence.
            other => {
                return Err(WriteError::Failed(Error::failure(format!(
                    "cannot push {name} expecting {other:?}"
                ))))
            }
        }
        args.push(spec);
    }
    set_last_fetch(None);
    let mut attempt = 0;
    loop {
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = crate::process::git_output(&run_dir(repo), &argv)?;
        if output.status.success() {
            return Ok(());
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let rejected: Vec<&str> = stdout.lines().filter(|l| l.starts_with('!')).collect();
        if rejected.is_empty() {
            // No per-ref verdict: the remote was never reached.
            return Err(WriteError::Failed(unreachable(
                repo,
                remote,
                "record the change on",
                stderr.trim(),
            )));
        }
        match judge_rejection(&rejected, &stderr) {
            Rejection::LostRace => return Err(WriteError::Moved),
            Rejection::LockHeld if attempt < PUSH_RETRIES => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(
                    20 * attempt as u64 + u64::from(std::process::id() % 17),
                ));
                continue;
            }
            Rejection::LockHeld | Rejection::Refused => {}
        }
        let reasons = rejected
            .iter()
            .filter(|l| !l.contains("(atomic push failed)"))
            .map(|l| l.split('\t').skip(1).collect::<Vec<_>>().join(" "));
        let refused = reasons.fold(
            Error::failure(format!("remote `{remote}` refused the change")),
            Error::detail,
        );
        return Err(WriteError::Failed(
            refused
                .cause(stderr.trim())
                .hint("nothing was recorded: the local state follows only what the remote accepted")
                .hint(format!(
                    "if a lock file on `{remote}` is named above and no push is running, it was left by a crash there"
                ))
                .hint(format!(
                    "check that you may push refs/agents/* to `{remote}`, then retry"
                )),
        ));
    }
}

/// How often a push the remote refused because one of its ref locks was
/// held is tried again before giving up with the remote's message.
const PUSH_RETRIES: usize = 5;

enum Rejection {
    /// A lease no longer holds: another writer won; look again on fresh state.
    LostRace,
    /// A lock file on the remote (a concurrent push, or one a crash left).
    LockHeld,
    Refused,
}

/// Reads why the remote refused. The client checks each lease against the
/// refs it was shown ("stale info"); the remote checks the same values again
/// under its own ref locks, failing with "is at X but expected Y", "unable
/// to resolve reference" (deleted meanwhile) or "reference already exists".
fn judge_rejection(rejected: &[&str], stderr: &str) -> Rejection {
    let has = |needle: &str| rejected.iter().any(|l| l.contains(needle)) || stderr.contains(needle);
    if [
        "(stale info)",
        "but expected",
        "unable to resolve reference",
        "reference already exists",
    ]
    .iter()
    .any(|n| has(n))
    {
        Rejection::LostRace
    } else if has("cannot lock ref") {
        Rejection::LockHeld
    } else {
        Rejection::Refused
    }
}

/// Applies edits the remote accepted to the local mirror. A mirror that had
/// meanwhile moved on (another process of this clone fetched newer state)
/// is refreshed instead of being set back.
pub(super) fn apply_locally(
    repo: &gix::Repository,
    remote: &str,
    apply: impl FnOnce() -> std::result::Result<(), WriteError>,
) -> Result<()> {
    let outcome = {
        let _guard = MirrorLock::take(repo)?;
        apply()
    };
    match outcome {
        Ok(()) => Ok(()),
        // The remote holds the truth and took the change; the next read fetches it.
        Err(_) => fetch(repo, remote).or(Ok(())),
    }
}

/// Publishes the work of task `id` as `agents/<id>` on the remote (forced:
/// that branch belongs to the task), so `merge` and dependent tasks on other
/// machines can take it. Only that name is ever written, whatever branch
/// held the work locally.
pub fn publish_branch(repo: &gix::Repository, id: &str, head: ObjectId) -> Result<()> {
    let Some(remote) = name(repo)? else { return Ok(()) };
    git(
        repo,
        &[
            "push",
            "--quiet",
            "--no-verify",
            &remote,
            &format!("+{head}:refs/heads/agents/{id}"),
        ],
    )
    .map(|_| ())
    .map_err(|cause| {
        unreachable(repo, &remote, &format!("publish the work of task `{id}` to"), cause)
            .hint("the task is still claimed; run `git agents done` again when the remote is back")
    })
}

/// Makes the branches `agents/<id>` of done tasks `ids` what the remote
/// holds (the work the task was marked done with): fetched, then created
/// or moved. A local branch that is not part of it (a failed attempt's
/// work) is backed up under refs/agents/backup/ first, never lost; the
/// returned lines say which.
pub fn adopt_task_branches(repo: &gix::Repository, ids: &[&str]) -> Result<Vec<String>> {
    let mut saved_lines = Vec::new();
    let Some(remote) = name(repo)? else {
        return Ok(saved_lines);
    };
    if ids.is_empty() {
        return Ok(saved_lines);
    }
    let spec = format!("+refs/heads/agents/*:refs/remotes/{remote}/agents/*");
    {
        // Agents of one spawn are threads that may adopt at the same moment.
        let _guard = MirrorLock::take(repo)?;
        git_fetch(repo, &remote, &[&spec])
            .map_err(|cause| unreachable(repo, &remote, "fetch task branches from", cause))?;
    }
    for id in ids {
        let tracking = format!("refs/remotes/{remote}/agents/{id}");
        let Some(theirs) = crate::repo::ref_tip(repo, &tracking) else {
            continue;
        };
        let local = format!("refs/heads/agents/{id}");
        let ours = crate::repo::ref_tip(repo, &local);
        if ours == Some(theirs) {
            continue;
        }
        if let Some(ours) = ours.filter(|&o| !crate::repo::is_ancestor(repo, o, theirs)) {
            let saved = super::backup(repo, &format!("agents-{id}"), &ours.to_string())?;
            saved_lines.push(format!(
                "agents/{id}: the local branch differs from the work published on `{remote}`; saved it as {saved}"
            ));
        }
        let edit = super::update(
            &local,
            theirs,
            super::expect(ours),
            "git agents: task branch from remote",
        )?;
        repo.edit_reference(edit)
            .context(|| format!("cannot update {local} from {tracking}"))?;
    }
    Ok(saved_lines)
}

/// With a shared remote, where its `target` branch is now (fetched):
/// `Some((remote, tip))`, `tip` `None` when the remote has no such branch;
/// `None` without a remote.
pub fn target_on_remote(repo: &gix::Repository, target: &str) -> Result<Option<(String, Option<ObjectId>)>> {
    let Some(remote) = name(repo)? else { return Ok(None) };
    let tracking = format!("refs/remotes/{remote}/{target}");
    {
        let _guard = MirrorLock::take(repo)?;
        git_fetch(repo, &remote, &[&format!("+refs/heads/{target}:{tracking}")])
            .or_else(|e| {
                if e.contains("couldn't find remote ref") {
                    Ok(())
                } else {
                    Err(e)
                }
            })
            .map_err(|cause| unreachable(repo, &remote, &format!("read `{target}` from"), cause))?;
    }
    let _ = repo.refs.force_refresh_packed_buffer();
    Ok(Some((remote, crate::repo::ref_tip(repo, &tracking))))
}

/// Moves `target` on the remote to `new` with a lease on what
/// [`target_on_remote`] (or the last push) saw there (the remote's own
/// compare-and-swap); `false` when the remote's target moved meanwhile.
/// Runs before the local target moves, so neither the local target nor the
/// task states ever claim a merge the remote lacks.
pub fn push_target(repo: &gix::Repository, remote: &str, target: &str, new: ObjectId) -> Result<bool> {
    let full = format!("refs/heads/{target}");
    let seen = crate::repo::ref_tip(repo, &format!("refs/remotes/{remote}/{target}"));
    let lease = format!(
        "--force-with-lease={full}:{}",
        seen.map_or(String::new(), |s| s.to_string())
    );
    let spec = format!("{new}:{full}");
    match git(repo, &["push", "--quiet", "--porcelain", &lease, remote, &spec]) {
        Ok(_) => {
            let tracking = format!("refs/remotes/{remote}/{target}");
            let _ = git(repo, &["update-ref", &tracking, &new.to_string()]);
            Ok(true)
        }
        Err(e) if e.contains("stale info") || e.contains("rejected") => Ok(false),
        Err(cause) => Err(unreachable(repo, remote, &format!("land `{target}` on"), cause)
            .hint(format!("`{target}` was not moved, here or there"))),
    }
}

/// Pushes the merge notes to the remote (fast-forward only), so the
/// pre-push guard on other machines sees which commits were tested.
pub fn push_notes(repo: &gix::Repository) -> Result<()> {
    let Some(remote) = name(repo)? else { return Ok(()) };
    let refs: Vec<String> = [super::NOTES_REF, super::TESTS_NOTES_REF]
        .into_iter()
        .filter(|r| crate::repo::ref_tip(repo, r).is_some())
        .map(|r| format!("{r}:{r}"))
        .collect();
    if refs.is_empty() {
        return Ok(());
    }
    let mut args = vec!["push", "--quiet", "--no-verify", &remote];
    args.extend(refs.iter().map(String::as_str));
    git(repo, &args).map(|_| ()).map_err(|cause| {
        unreachable(repo, &remote, "push the merge notes to", cause)
            .hint(format!("push them later with `git push {remote} refs/notes/agents`"))
    })
}

/// Fetches the merge notes (fast-forward only: local notes not yet pushed
/// are kept, and a diverged notes ref is left for `push_notes` to report).
pub fn fetch_notes(repo: &gix::Repository) -> Result<()> {
    let Some(remote) = name(repo)? else { return Ok(()) };
    let _guard = MirrorLock::take(repo)?;
    let _ = git_fetch(repo, &remote, &["refs/notes/agents*:refs/notes/agents*"]);
    Ok(())
}

/// Where git runs for the remote: the main worktree's top, because git
/// resolves a relative remote URL (`../shared.git`) against the folder it
/// runs in, and that is where the user added it. Every linked worktree of
/// an agent thus reaches the same remote.
fn run_dir(repo: &gix::Repository) -> PathBuf {
    let common = repo.common_dir();
    match common.parent() {
        Some(top) if common.file_name().is_some_and(|n| n == ".git") => top.to_path_buf(),
        _ => common.to_path_buf(),
    }
}

fn git(repo: &gix::Repository, args: &[&str]) -> std::result::Result<String, String> {
    crate::process::git_in(&run_dir(repo), args).map_err(|e| {
        let mut text = e.causes.join("\n");
        if text.is_empty() {
            text = e.message;
        }
        text
    })
}

fn unreachable(repo: &gix::Repository, remote: &str, what: &str, cause: impl std::fmt::Display) -> Error {
    let url = repo
        .find_remote(remote)
        .ok()
        .and_then(|r| r.url(gix::remote::Direction::Push).map(|u| u.to_bstring().to_string()))
        .unwrap_or_default();
    Error::failure(format!("cannot {what} remote `{remote}` ({url})"))
        .cause(cause)
        .hint("nothing was recorded: the local state follows only what the remote accepted")
        .hint(format!(
            "check the network and `git remote get-url {remote}`, then run the command again"
        ))
}

fn last_fetch() -> Option<Instant> {
    LAST_FETCH.lock().ok().and_then(|g| *g)
}

fn set_last_fetch(at: Option<Instant>) {
    if let Ok(mut g) = LAST_FETCH.lock() {
        *g = at;
    }
}

/// An exclusive advisory lock on `<git dir>/agents/remote.flock` (not
/// `.lock`: the file stays; the kernel drops the lock when a process dies).
struct MirrorLock(std::fs::File);

impl MirrorLock {
    fn take(repo: &gix::Repository) -> Result<Self> {
        let dir: PathBuf = repo.common_dir().join("agents");
        std::fs::create_dir_all(&dir).context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join("remote.flock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .context(|| format!("cannot open {}", path.display()))?;
        file.lock().context(|| format!("cannot lock {}", path.display()))?;
        Ok(MirrorLock(file))
    }
}

impl Drop for MirrorLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}
