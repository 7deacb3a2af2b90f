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
    let mut last = None;
    for attempt in 0..3 {
        match git(
            repo,
            &[
                "fetch",
                "--quiet",
                "--prune",
                "--no-tags",
                "--no-write-fetch-head",
                "--no-auto-gc",
                remote,
                "+refs/agents/*:refs/agents/*",
                "^refs/agents/backup/*",
            ],
        ) {
            Ok(_) => {
                set_last_fetch(Some(Instant::now()));
                let _ = repo.refs.force_refresh_packed_buffer();
                return Ok(());
            }
            Err(e) => last = Some(e),
        }
        std::thread::sleep(Duration::from_millis(50 * (attempt + 1)));
    }
    Err(unreachable(
        repo,
        remote,
        "read the shared state from",
        last.unwrap_or_default(),
    ))
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
            // Not used for refs/agents/*; push unconditionally.
            _ => args.push(format!("--force-with-lease={name}")),
        }
        args.push(spec);
    }
    set_last_fetch(None);
    let output = duct::cmd("git", &args)
        .dir(repo.common_dir())
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()
        .map_err(|e| WriteError::Failed(Error::failure("cannot run git push").cause(e)))?;
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
    // A lease that no longer holds: another machine won the race. The
    // remote checks the expected values again under its own ref locks
    // ("cannot lock ref ... but expected", "unable to resolve"); a lock
    // held by a concurrent push ends the same way. Either way the
    // caller looks again on fresh state.
    let lost = |text: &str| {
        [
            "(stale info)",
            "(fetch first)",
            "(non-fast-forward)",
            "cannot lock ref",
            "but expected",
        ]
        .iter()
        .any(|needle| text.contains(needle))
    };
    if rejected.iter().any(|l| lost(l)) || stderr.lines().any(lost) {
        return Err(WriteError::Moved);
    }
    let reasons: Vec<String> = rejected
        .iter()
        .filter(|l| !l.contains("(atomic push failed)"))
        .map(|l| l.split('\t').skip(1).collect::<Vec<_>>().join(" "))
        .collect();
    let refused = reasons.into_iter().fold(
        Error::failure(format!("remote `{remote}` refused the change")),
        Error::detail,
    );
    Err(WriteError::Failed(
        refused
            .cause(stderr.trim())
            .hint("nothing was recorded: the local state follows only what the remote accepted")
            .hint(format!(
                "check that you may push refs/agents/* to `{remote}`, then retry"
            )),
    ))
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

/// Publishes a task's branch to the remote (forced: the branch belongs to
/// the task), so `merge` and dependent tasks on other machines can take it.
pub fn publish_branch(repo: &gix::Repository, branch: &str, head: ObjectId) -> Result<()> {
    let Some(remote) = name(repo)? else { return Ok(()) };
    git(
        repo,
        &[
            "push",
            "--quiet",
            "--no-verify",
            &remote,
            &format!("+{head}:refs/heads/{branch}"),
        ],
    )
    .map(|_| ())
    .map_err(|cause| {
        unreachable(repo, &remote, &format!("publish branch {branch} to"), cause)
            .hint("the task is still claimed; run `git agents done` again when the remote is back")
    })
}

/// Makes the branches `agents/<id>` of `ids` present locally: fetched from
/// the remote and created, or fast-forwarded, where the local one is
/// missing or behind. Local-only work is never overwritten.
pub fn adopt_task_branches(repo: &gix::Repository, ids: &[&str]) -> Result<()> {
    let Some(remote) = name(repo)? else { return Ok(()) };
    if ids.is_empty() {
        return Ok(());
    }
    git(
        repo,
        &[
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            "--no-auto-gc",
            &remote,
            &format!("+refs/heads/agents/*:refs/remotes/{remote}/agents/*"),
        ],
    )
    .map_err(|cause| unreachable(repo, &remote, "fetch task branches from", cause))?;
    for id in ids {
        let tracking = format!("refs/remotes/{remote}/agents/{id}");
        let Some(theirs) = tip(repo, &tracking) else { continue };
        let local = format!("refs/heads/agents/{id}");
        let ours = tip(repo, &local);
        let move_it = match ours {
            None => true,
            Some(ours) => ours != theirs && crate::repo::is_ancestor(repo, ours, theirs),
        };
        if move_it {
            let edit = super::update(
                &local,
                theirs,
                super::expect(ours),
                "git agents: task branch from remote",
            )?;
            repo.edit_reference(edit)
                .context(|| format!("cannot update {local} from {tracking}"))?;
        }
    }
    Ok(())
}

/// Pushes the merge notes to the remote (fast-forward only), so the
/// pre-push guard on other machines sees which commits were tested.
pub fn push_notes(repo: &gix::Repository) -> Result<()> {
    let Some(remote) = name(repo)? else { return Ok(()) };
    let refs: Vec<String> = [super::NOTES_REF, super::TESTS_NOTES_REF]
        .into_iter()
        .filter(|r| tip(repo, r).is_some())
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

/// Fetches the merge notes (fast-forward only: local notes not yet pushed are kept).
pub fn fetch_notes(repo: &gix::Repository) -> Result<()> {
    let Some(remote) = name(repo)? else { return Ok(()) };
    let _ = git(
        repo,
        &[
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            "--no-auto-gc",
            &remote,
            "refs/notes/agents*:refs/notes/agents*",
        ],
    );
    Ok(())
}

fn tip(repo: &gix::Repository, full: &str) -> Option<ObjectId> {
    repo.try_find_reference(full)
        .ok()
        .flatten()
        .and_then(|r| r.try_id().map(|i| i.detach()))
}

fn git(repo: &gix::Repository, args: &[&str]) -> std::result::Result<String, String> {
    crate::process::git_in(repo.common_dir(), args).map_err(|e| {
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

/// An exclusive advisory lock on `<git dir>/agents/remote.lock`.
struct MirrorLock(std::fs::File);

impl MirrorLock {
    fn take(repo: &gix::Repository) -> Result<Self> {
        let dir: PathBuf = repo.common_dir().join("agents");
        std::fs::create_dir_all(&dir).context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join("remote.lock");
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
