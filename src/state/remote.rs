//! Coordination through a shared remote (ARCHITECTURE.md, `state::remote`).
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
//!
//! Every git call that reaches the remote has a deadline
//! (`agents.networkTimeout`, 30s by default): git is stopped when it
//! passes, and HTTP transfers also get curl's own low-speed limit. A remote
//! that accepts connections and never answers thus fails the command with
//! the remote and the setting named, instead of holding it forever.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gix::refs::transaction::{Change, PreviousValue, RefEdit};
use gix::refs::Target;
use gix::ObjectId;

use super::write_error::WriteError;
use crate::error::{Context, Error, Result};
use crate::settings::{Settings, NETWORK_TIMEOUT};

/// How long a fetch counts as fresh for the next read in the same process.
const FRESH: Duration = Duration::from_millis(250);

/// A shared remote that holds the state, and what this process knows of
/// it. One value per process (threads share it), chosen by
/// [`super::backend`]; only that module calls these methods, through
/// `Backend::Remote`.
#[derive(Debug)]
pub struct Remote {
    name: String,
    /// When this process last fetched; a read right after a fetch skips the
    /// next one. Cleared by every push so a write is always followed by a fetch.
    last_fetch: Mutex<Option<Instant>>,
    /// The run's settings (the deadline of each git call to the remote).
    settings: Arc<Settings>,
}

/// A repository as a git call to the remote sees it: with the remote's
/// settings at hand. Only this module's helpers take one.
struct On<'a> {
    repo: &'a gix::Repository,
    remote: &'a Remote,
}

impl std::ops::Deref for On<'_> {
    type Target = gix::Repository;

    fn deref(&self) -> &gix::Repository {
        self.repo
    }
}

impl Remote {
    /// A remote named `name`, not yet fetched from; the caller has checked
    /// that it is a remote of the repository.
    pub(super) fn new(name: String, settings: Arc<Settings>) -> Self {
        Remote {
            name,
            last_fetch: Mutex::new(None),
            settings,
        }
    }

    /// The remote's name, as git knows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Brings the local mirror of refs/agents/* up to the remote's, unless this
    /// process fetched a moment ago and wrote nothing since.
    pub(super) fn refresh(&self, repo: &gix::Repository) -> Result<()> {
        if self.last_fetch().is_some_and(|at| at.elapsed() < FRESH) {
            return Ok(());
        }
        self.fetch(repo)
    }

    fn last_fetch(&self) -> Option<Instant> {
        self.last_fetch.lock().ok().and_then(|g| *g)
    }

    fn set_last_fetch(&self, at: Option<Instant>) {
        if let Ok(mut g) = self.last_fetch.lock() {
            *g = at;
        }
    }

    /// Fetches refs/agents/* (pruning what the remote deleted; local backups
    /// are never pruned) under the mirror lock.
    fn fetch(&self, repo: &gix::Repository) -> Result<()> {
        let repo = &On { repo, remote: self };
        let remote = self.name.as_str();
        let _guard = MirrorLock::take(repo)?;
        first_sync(repo, remote)?;
        git_fetch(
            repo,
            remote,
            &["--prune", "+refs/agents/*:refs/agents/*", "^refs/agents/backup/*"],
        )
        .map_err(|fail| network_error(repo, remote, "read the shared state from", fail))?;
        self.set_last_fetch(Some(Instant::now()));
        let _ = repo.refs.force_refresh_packed_buffer();
        Ok(())
    }

    /// Pushes `edits` to the remote as one atomic push with a lease per ref.
    /// `Ok` means the remote accepted all of them; the caller then applies them
    /// to the local mirror with [`Remote::apply_locally`].
    pub(super) fn push(&self, repo: &gix::Repository, edits: &[RefEdit]) -> std::result::Result<(), WriteError> {
        let repo = &On { repo, remote: self };
        let remote = self.name.as_str();
        let args = atomic_push_args(remote, edits)?;
        self.set_last_fetch(None);
        let mut attempt = 0;
        loop {
            let argv: Vec<&str> = args.iter().map(String::as_str).collect();
            let output = match net_output(repo, &argv) {
                Ok(output) => output,
                Err(fail) => {
                    let err = network_error(repo, remote, "record the change on", fail);
                    return Err(WriteError::Failed(err.hint(format!(
                        "the change may have reached `{remote}` before it went quiet; the next command reads what it holds"
                    ))));
                }
            };
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
                Rejection::LockHeld | Rejection::CheckRaced if attempt < PUSH_RETRIES => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(
                        20 * attempt as u64 + u64::from(std::process::id() % 17),
                    ));
                    continue;
                }
                Rejection::LockHeld | Rejection::CheckRaced | Rejection::Refused => {}
            }
            return Err(WriteError::Failed(refused(remote, &rejected, &stderr)));
        }
    }

    /// Applies edits the remote accepted to the local mirror. A mirror that had
    /// meanwhile moved on (another process of this clone fetched newer state)
    /// is refreshed instead of being set back.
    pub(super) fn apply_locally(
        &self,
        repo: &gix::Repository,
        apply: impl FnOnce() -> std::result::Result<(), WriteError>,
    ) -> Result<()> {
        let outcome = {
            let _guard = MirrorLock::take(repo)?;
            apply()
        };
        match outcome {
            Ok(()) => Ok(()),
            // The remote holds the truth and took the change; the next read fetches it.
            Err(_) => self.fetch(repo).or(Ok(())),
        }
    }

    /// Publishes the work of task `id` as `agents/<id>` on the remote (forced:
    /// that branch belongs to the task), so `merge` and dependent tasks on other
    /// machines can take it. Only that name is ever written, whatever branch
    /// held the work locally.
    pub(super) fn publish_branch(&self, repo: &gix::Repository, id: &str, head: ObjectId) -> Result<()> {
        let repo = &On { repo, remote: self };
        let remote = self.name.as_str();
        net_git(
            repo,
            &[
                "push",
                "--quiet",
                "--no-verify",
                remote,
                &format!("+{head}:refs/heads/agents/{id}"),
            ],
        )
        .map(|_| ())
        .map_err(|fail| {
            network_error(repo, remote, &format!("publish the work of task `{id}` to"), fail)
                .hint("the task is still claimed; run `git agents done` again when the remote is back")
        })
    }

    /// Makes the branches `agents/<id>` of done tasks `ids` what the remote
    /// holds (the work the task was marked done with): fetched, then created
    /// or moved. A local branch that is not part of it (a failed attempt's
    /// work) is backed up under refs/agents/backup/ first, never lost; the
    /// returned lines say which.
    pub(super) fn adopt_task_branches(&self, repo: &gix::Repository, ids: &[&str]) -> Result<Vec<String>> {
        let repo = &On { repo, remote: self };
        let mut saved_lines = Vec::new();
        let remote = self.name.as_str();
        if ids.is_empty() {
            return Ok(saved_lines);
        }
        let spec = format!("+refs/heads/agents/*:refs/remotes/{remote}/agents/*");
        {
            // Agents of one spawn are threads that may adopt at the same moment.
            let _guard = MirrorLock::take(repo)?;
            git_fetch(repo, remote, &[&spec])
                .map_err(|fail| network_error(repo, remote, "fetch task branches from", fail))?;
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

    /// Where the remote's `target` branch is now (fetched), `None` when the
    /// remote has no such branch.
    pub(super) fn target_tip(&self, repo: &gix::Repository, target: &str) -> Result<Option<ObjectId>> {
        let repo = &On { repo, remote: self };
        let remote = self.name.as_str();
        let tracking = format!("refs/remotes/{remote}/{target}");
        {
            let _guard = MirrorLock::take(repo)?;
            git_fetch(repo, remote, &[&format!("+refs/heads/{target}:{tracking}")])
                .or_else(|e| match e {
                    NetFail::Failed(text) if text.contains("couldn't find remote ref") => Ok(()),
                    other => Err(other),
                })
                .map_err(|fail| network_error(repo, remote, &format!("read `{target}` from"), fail))?;
        }
        let _ = repo.refs.force_refresh_packed_buffer();
        Ok(crate::repo::ref_tip(repo, &tracking))
    }

    /// Pushes the merge notes to the remote (fast-forward only), so the
    /// pre-push guard on other machines sees which commits were tested.
    pub(super) fn push_notes(&self, repo: &gix::Repository) -> Result<()> {
        let repo = &On { repo, remote: self };
        let remote = self.name.as_str();
        let refs: Vec<String> = [super::NOTES_REF, super::TESTS_NOTES_REF]
            .into_iter()
            .filter(|r| crate::repo::ref_tip(repo, r).is_some())
            .map(|r| format!("{r}:{r}"))
            .collect();
        if refs.is_empty() {
            return Ok(());
        }
        let mut args = vec!["push", "--quiet", "--no-verify", remote];
        args.extend(refs.iter().map(String::as_str));
        net_git(repo, &args).map(|_| ()).map_err(|fail| {
            network_error(repo, remote, "push the merge notes to", fail)
                .hint(format!("push them later with `git push {remote} refs/notes/agents`"))
        })
    }

    /// Fetches the merge notes (fast-forward only: local notes not yet pushed
    /// are kept, and a diverged notes ref is left for `push_notes` to report).
    pub(super) fn fetch_notes(&self, repo: &gix::Repository) -> Result<()> {
        let repo = &On { repo, remote: self };
        let remote = self.name.as_str();
        let _guard = MirrorLock::take(repo)?;
        let _ = git_fetch(repo, remote, &["refs/notes/agents*:refs/notes/agents*"]);
        Ok(())
    }

    /// Moves `target` on the remote to `new` with a lease on what
    /// [`Remote::target_tip`] (or the last push) saw there (the remote's own
    /// compare-and-swap); `false` when the remote's target moved meanwhile.
    /// Runs before the local target moves, so neither the local target nor the
    /// task states ever claim a merge the remote lacks.
    pub(super) fn push_target(&self, repo: &gix::Repository, target: &str, new: ObjectId) -> Result<bool> {
        let repo = &On { repo, remote: self };
        let remote = self.name.as_str();
        let full = format!("refs/heads/{target}");
        let seen = crate::repo::ref_tip(repo, &format!("refs/remotes/{remote}/{target}"));
        let lease = format!(
            "--force-with-lease={full}:{}",
            seen.map_or(String::new(), |s| s.to_string())
        );
        let spec = format!("{new}:{full}");
        match net_git(repo, &["push", "--quiet", "--porcelain", &lease, remote, &spec]) {
            Ok(_) => {
                let tracking = format!("refs/remotes/{remote}/{target}");
                let _ = git(repo, &["update-ref", &tracking, &new.to_string()]);
                Ok(true)
            }
            Err(NetFail::Failed(e)) if e.contains("stale info") || e.contains("rejected") => Ok(false),
            Err(fail @ NetFail::Silent(_)) => Err(network_error(repo, remote, &format!("land `{target}` on"), fail)
                .hint(format!(
                    "`{target}` was not moved here; it may have moved on `{remote}` before it went quiet"
                ))),
            Err(fail) => Err(network_error(repo, remote, &format!("land `{target}` on"), fail)
                .hint(format!("`{target}` was not moved, here or there"))),
        }
    }
}

/// `git fetch` of `args` (options and refspecs) from `remote`, quiet, with
/// no tags, FETCH_HEAD or auto-gc (several processes fetch at once), tried
/// three times (once when the remote is silent: a retry would only wait
/// as long again); the caller holds the mirror lock.
fn git_fetch(repo: &On<'_>, remote: &str, args: &[&str]) -> std::result::Result<(), NetFail> {
    let mut all = vec![
        "fetch",
        "--quiet",
        "--no-tags",
        "--no-write-fetch-head",
        "--no-auto-gc",
        remote,
    ];
    all.extend_from_slice(args);
    let mut last = NetFail::Failed(String::new());
    for attempt in 0..3 {
        match net_git(repo, &all) {
            Ok(_) => return Ok(()),
            Err(NetFail::Failed(text)) if !timed_out(&text) => last = NetFail::Failed(text),
            Err(e) => return Err(e),
        }
        std::thread::sleep(Duration::from_millis(50 * (attempt + 1)));
    }
    Err(last)
}

/// The first fetch from `remote` would prune local state the remote does
/// not have: a plan recorded (and tasks done) before the remote was set.
/// That is refused with the way to share it; afterwards a marker file says
/// this clone follows the remote.
fn first_sync(repo: &On<'_>, remote: &str) -> Result<()> {
    let marker = repo
        .common_dir()
        .join("agents")
        .join(format!("follows-{}", remote.replace(['/', '\\', ':'], "_")));
    if marker.exists() {
        return Ok(());
    }
    if crate::repo::ref_tip(repo, super::PLAN_REF).is_some() {
        let theirs = net_git(repo, &["ls-remote", remote, super::PLAN_REF])
            .map_err(|fail| network_error(repo, remote, "read the shared state from", fail))?;
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

/// `git push` of `edits` to `remote`, atomic, with a lease per ref on the
/// value (or absence) the edit expects.
fn atomic_push_args(remote: &str, edits: &[RefEdit]) -> std::result::Result<Vec<String>, WriteError> {
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
    Ok(args)
}

/// The error for a push `remote` refused for another reason than a lost
/// race: its per-ref reasons and message.
fn refused(remote: &str, rejected: &[&str], stderr: &str) -> Error {
    let reasons = rejected
        .iter()
        .filter(|l| !l.contains("(atomic push failed)"))
        .map(|l| l.split('\t').skip(1).collect::<Vec<_>>().join(" "));
    let refused = reasons.fold(
        Error::failure(format!("remote `{remote}` refused the change")),
        Error::detail,
    );
    refused
        .cause(stderr.trim())
        .hint("nothing was recorded: the local state follows only what the remote accepted")
        .hint(format!(
            "if a lock file on `{remote}` is named above and no push is running, it was left by a crash there"
        ))
        .hint(format!(
            "check that you may push refs/agents/* to `{remote}`, then retry"
        ))
}

/// How often a push the remote refused because one of its ref locks was
/// held is tried again before giving up with the remote's message.
const PUSH_RETRIES: usize = 5;

enum Rejection {
    /// A lease no longer holds: another writer won; look again on fresh state.
    LostRace,
    /// A lock file on the remote (a concurrent push, or one a crash left).
    LockHeld,
    /// The remote's own connectivity check failed on a ref another push was
    /// changing at that moment ("missing necessary objects", "bad object
    /// refs/agents/…"; seen with 9 pushers on one git daemon): nothing was
    /// written, and the same push goes through once the other one is done.
    CheckRaced,
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
    } else if has("missing necessary objects") && has("bad object refs/agents/") {
        Rejection::CheckRaced
    } else {
        Rejection::Refused
    }
}

/// Where git runs for the remote: the main worktree's top, because git
/// resolves a relative remote URL (`../shared.git`) against the folder it
/// runs in, and that is where the user added it. Every linked worktree of
/// an agent thus reaches the same remote.
fn run_dir(repo: &On<'_>) -> PathBuf {
    let common = repo.common_dir();
    match common.parent() {
        Some(top) if common.file_name().is_some_and(|n| n == ".git") => top.to_path_buf(),
        _ => common.to_path_buf(),
    }
}

fn git(repo: &On<'_>, args: &[&str]) -> std::result::Result<String, String> {
    crate::process::git_in(&run_dir(repo), args).map_err(|e| {
        let mut text = e.causes.join("\n");
        if text.is_empty() {
            text = e.message;
        }
        text
    })
}

fn unreachable(repo: &On<'_>, remote: &str, what: &str, cause: impl std::fmt::Display) -> Error {
    let cause = cause.to_string();
    let err = Error::failure(format!("cannot {what} remote `{remote}` ({})", url_of(repo, remote)))
        .cause(&cause)
        .hint("nothing was recorded: the local state follows only what the remote accepted");
    let err = if timed_out(&cause) {
        err.hint(more_time(repo))
    } else {
        err
    };
    err.hint(format!(
        "check the network and `git remote get-url {remote}`, then run the command again"
    ))
}

/// Whether git's message says the transport gave up waiting: curl's own
/// low-speed limit, or a connect timeout. Advised like a silent remote, and
/// not retried (a retry would wait as long again).
fn timed_out(message: &str) -> bool {
    ["Operation too slow", "timed out"].iter().any(|n| message.contains(n))
}

/// The URL git pushes `remote` to, as configured now (the repository's
/// config as opened may be older: someone may have changed it meanwhile).
fn url_of(repo: &On<'_>, remote: &str) -> String {
    match git(repo, &["remote", "get-url", "--push", remote]) {
        Ok(url) if !url.trim().is_empty() => url.trim().to_string(),
        _ => repo
            .find_remote(remote)
            .ok()
            .and_then(|r| r.url(gix::remote::Direction::Push).map(|u| u.to_bstring().to_string()))
            .unwrap_or_default(),
    }
}

fn more_time(repo: &On<'_>) -> String {
    let now = repo.remote.settings.network_timeout().unwrap_or(NETWORK_TIMEOUT);
    format!(
        "if it is only slow, give each call to it longer than {}: `git config agents.networkTimeout 2m`",
        seconds(now)
    )
}

/// `30s`, `2m`, `90s`.
fn seconds(d: Duration) -> String {
    match d.as_secs() {
        s if s >= 60 && s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Why a git call to the remote did not succeed.
enum NetFail {
    /// No answer within the deadline: git was stopped.
    Silent(Duration),
    /// git failed; its message.
    Failed(String),
    /// git could not be run at all, or the deadline is misconfigured.
    Setup(Error),
}

/// Runs git `args` for the remote (in [`run_dir`]) under the deadline of
/// `agents.networkTimeout`, with curl's low-speed limit set to the same time
/// unless the user chose one: all it printed and its status, failed or not.
fn net_output(repo: &On<'_>, args: &[&str]) -> std::result::Result<std::process::Output, NetFail> {
    let within = repo.remote.settings.network_timeout().map_err(NetFail::Setup)?;
    let config = repo.config_snapshot();
    let mut argv: Vec<String> = Vec::new();
    if config.string("http.lowSpeedLimit").is_none() && config.string("http.lowSpeedTime").is_none() {
        argv.extend([
            "-c".to_string(),
            "http.lowSpeedLimit=1".to_string(),
            "-c".to_string(),
            format!("http.lowSpeedTime={}", within.as_secs()),
        ]);
    }
    argv.extend(args.iter().map(|a| a.to_string()));
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    match crate::process::git_output_with_deadline(&run_dir(repo), &argv, within) {
        Ok(Some(output)) => Ok(output),
        Ok(None) => Err(NetFail::Silent(within)),
        Err(e) => Err(NetFail::Setup(e)),
    }
}

/// [`net_output`] that succeeds only when git does: its stdout.
fn net_git(repo: &On<'_>, args: &[&str]) -> std::result::Result<String, NetFail> {
    let output = net_output(repo, args)?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
    Err(NetFail::Failed(if stderr.is_empty() {
        format!("git {} failed", args.join(" "))
    } else {
        stderr
    }))
}

/// The error for a git call to `remote` that did not succeed.
fn network_error(repo: &On<'_>, remote: &str, what: &str, fail: NetFail) -> Error {
    match fail {
        NetFail::Failed(cause) => unreachable(repo, remote, what, cause),
        NetFail::Setup(e) => e,
        NetFail::Silent(within) => Error::failure(format!(
            "cannot {what} remote `{remote}` ({}): no answer within {}",
            url_of(repo, remote),
            seconds(within)
        ))
        .cause("git got no answer from it in that time and was stopped")
        .hint("nothing was recorded here: the local state follows only what the remote accepted")
        .hint(more_time(repo))
        .hint(format!(
            "else check the server behind `git remote get-url {remote}`, then run the command again"
        )),
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

#[cfg(test)]
mod tests {
    use super::{judge_rejection, Rejection};

    #[test]
    fn a_connectivity_check_that_raced_another_push_is_retried_not_reported() {
        // As a 9-pusher fleet on one git daemon saw it.
        let rejected = ["2ac8486:refs/agents/tasks/claimed/t035 [remote rejected] (missing necessary objects)"];
        let stderr = "remote: fatal: bad object refs/agents/tasks/available/t084\n";
        assert!(matches!(judge_rejection(&rejected, stderr), Rejection::CheckRaced));
        // A remote that really lacks objects says so without naming one of our refs.
        let stderr = "remote: fatal: bad object 2ac8486\n";
        assert!(matches!(judge_rejection(&rejected, stderr), Rejection::Refused));
        let rejected = ["x:refs/agents/tasks/claimed/t035 [remote rejected] (cannot lock ref 'x')"];
        assert!(matches!(judge_rejection(&rejected, ""), Rejection::LockHeld));
    }
}
