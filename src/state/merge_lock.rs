//! `refs/agents/merge`: the lock one merge run holds, and the record of a
//! stopped merge that `--continue` resumes.

use gix::ObjectId;

use super::objects;
use super::store::Store;
use super::{delete, expect, update, WriteError};
use crate::error::{Context, Result};

pub const MERGE_REF: &str = "refs/agents/merge";

/// `refs/agents/merge` while a merge runs or is stopped: one merge per
/// repository. Released (deleted, expecting our own value) when dropped,
/// unless [`MergeLock::stop`] turned it into a stopped merge.
pub struct MergeLock<'r> {
    repo: &'r Store,
    oid: ObjectId,
    keep: bool,
}

/// `merge.toml`: who holds the merge lock, and where a stopped merge stopped.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct MergeRecord {
    pub target: String,
    pub host: String,
    pub pid: u32,
    pub started: i64,
    /// Set while the merge is stopped on this task (conflict or red test).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_task: Option<String>,
    /// The target commit the stopped merge last saw.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "objects::oid_text")]
    pub seen: Option<ObjectId>,
    /// Why it stopped (`conflict` or `test failed`) and what it touched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// The options of the stopped run; `--continue` goes on with them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<MergeOptions>,
}

/// The options a stopped merge remembers for `--continue`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MergeOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<String>,
    #[serde(default)]
    pub squash: bool,
    #[serde(default)]
    pub retries: u32,
    #[serde(default)]
    pub no_cache: bool,
    /// `--batch`: `auto` or the number of tasks tested together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<String>,
    /// With `--batch auto`: the size to go on with (halved after a red batch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<u32>,
}

/// Where and why a merge stopped, for [`MergeLock::stop`].
pub struct StopPoint<'a> {
    pub task: &'a str,
    pub seen: ObjectId,
    pub why: &'a str,
    pub paths: Vec<String>,
    pub options: MergeOptions,
}

impl MergeRecord {
    fn running(target: &str) -> Self {
        MergeRecord {
            target: target.to_string(),
            host: crate::host::name(),
            pid: std::process::id(),
            started: crate::settings::now_seconds(),
            stopped_task: None,
            seen: None,
            why: None,
            paths: Vec::new(),
            options: None,
        }
    }

    /// Its process is gone (same host, pid not running).
    pub fn gone(&self) -> bool {
        self.host == crate::host::name() && !std::path::Path::new(&format!("/proc/{}", self.pid)).exists()
    }

    fn write(&self, repo: &gix::Repository) -> Result<ObjectId> {
        let text = toml::to_string(self).context(|| format!("cannot write the merge.toml of {MERGE_REF}"))?;
        let tree = objects::write_tree(repo, &[("merge.toml".into(), text.into_bytes())])?;
        objects::write_commit(repo, &format!("merge into {}", self.target), tree, None)
    }
}

/// The merge lock's value and record, if held.
pub fn read_merge(repo: &Store) -> Result<Option<(ObjectId, MergeRecord)>> {
    repo.backend().refresh(repo)?;
    let _ = repo.refs.force_refresh_packed_buffer();
    let Some(oid) = repo
        .try_find_reference(MERGE_REF)
        .context(|| format!("cannot read {MERGE_REF}"))?
        .and_then(|r| r.try_id().map(|i| i.detach()))
    else {
        return Ok(None);
    };
    let text = objects::read_file(repo, oid, "merge.toml").unwrap_or_default();
    Ok(Some((oid, toml::from_str(&text).unwrap_or_default())))
}

impl<'r> MergeLock<'r> {
    /// Takes the lock for a new run; with `force`, also from a run whose
    /// process is gone. A live run is never taken over, a stopped one only
    /// by `--continue` ([`Self::resume`]) or `--abort`.
    pub fn take(repo: &'r Store, target: &str, force: bool) -> Result<Self> {
        let mine = MergeRecord::running(target).write(repo)?;
        for _ in 0..10 {
            let held = read_merge(repo)?;
            if let Some((_, other)) = &held {
                if let Some(task) = &other.stopped_task {
                    return Err(crate::error::Error::usage(format!(
                        "a merge into {} is stopped at task `{task}`",
                        other.target
                    ))
                    .hint("resolve it in the integration worktree and run `git agents merge --continue`")
                    .hint("or give it up with `git agents merge --abort`"));
                }
                if !(force && other.gone()) {
                    let err = crate::error::Error::failure("another `git agents merge` holds refs/agents/merge")
                        .detail(format!(
                            "pid {} on {}, into {}, since {}",
                            other.pid, other.host, other.target, other.started
                        ));
                    return Err(if other.gone() {
                        err.hint("its process is gone: take over with `git agents merge --force`")
                    } else {
                        err.hint("wait for it to finish")
                    });
                }
            }
            let edit = update(MERGE_REF, mine, expect(held.map(|(o, _)| o)), "merge started")?;
            match repo.backend().commit(repo, vec![edit]) {
                Ok(()) => {
                    return Ok(MergeLock {
                        repo,
                        oid: mine,
                        keep: false,
                    })
                }
                Err(WriteError::Moved) => continue,
                Err(WriteError::Failed(e)) => return Err(e),
            }
        }
        Err(crate::error::Error::failure("refs/agents/merge keeps changing").hint("run `git agents merge` again"))
    }

    /// Takes over a stopped merge to continue it; returns where it stopped.
    pub fn resume(repo: &'r Store) -> Result<(Self, MergeRecord)> {
        let Some((held, record)) = read_merge(repo)? else {
            return Err(crate::error::Error::usage("no merge is stopped").hint("start one with `git agents merge`"));
        };
        if record.stopped_task.is_none() {
            return Err(
                crate::error::Error::usage("the merge in progress is not stopped; nothing to continue")
                    .hint("wait for it, or if its process is gone, rerun with `git agents merge --force`"),
            );
        }
        let mine = MergeRecord::running(&record.target).write(repo)?;
        match repo.backend().commit(
            repo,
            vec![update(MERGE_REF, mine, expect(Some(held)), "merge continued")?],
        ) {
            Ok(()) => Ok((
                MergeLock {
                    repo,
                    oid: mine,
                    keep: false,
                },
                record,
            )),
            Err(WriteError::Moved) => Err(crate::error::Error::failure("the stopped merge changed meanwhile")
                .hint("run `git agents merge --continue` again")),
            Err(WriteError::Failed(e)) => Err(e),
        }
    }

    /// Turns this run into a stopped merge (see [`StopPoint`]).
    pub fn stop(mut self, at: StopPoint<'_>) -> Result<()> {
        let record: MergeRecord = objects::read_file(self.repo, self.oid, "merge.toml")
            .ok()
            .and_then(|t| toml::from_str(&t).ok())
            .unwrap_or_default();
        let stopped = MergeRecord {
            stopped_task: Some(at.task.to_string()),
            seen: Some(at.seen),
            why: Some(at.why.to_string()),
            paths: at.paths,
            options: Some(at.options),
            ..record
        }
        .write(self.repo)?;
        let edit = update(MERGE_REF, stopped, expect(Some(self.oid)), "merge stopped")?;
        self.repo.backend().commit(self.repo, vec![edit]).map_err(|e| match e {
            WriteError::Moved => crate::error::Error::failure("refs/agents/merge was changed by someone else"),
            WriteError::Failed(e) => e,
        })?;
        self.keep = true;
        Ok(())
    }

    /// Removes a stopped merge, or one whose process is gone; returns it.
    pub fn abort(repo: &Store) -> Result<Option<MergeRecord>> {
        let Some((held, record)) = read_merge(repo)? else {
            return Ok(None);
        };
        if record.stopped_task.is_none() && !record.gone() {
            return Err(
                crate::error::Error::usage("a merge is running; it cannot be aborted from here")
                    .detail(format!("pid {} on {}", record.pid, record.host))
                    .hint("stop that process first (Ctrl-C)"),
            );
        }
        match repo.backend().commit(repo, vec![delete(MERGE_REF, held)?]) {
            Ok(()) => Ok(Some(record)),
            Err(WriteError::Moved) => Err(crate::error::Error::failure("refs/agents/merge changed meanwhile")
                .hint("run `git agents merge --abort` again")),
            Err(WriteError::Failed(e)) => Err(e),
        }
    }
}

impl Drop for MergeLock<'_> {
    fn drop(&mut self) {
        if !self.keep {
            let _ = delete(MERGE_REF, self.oid).map(|edit| self.repo.backend().commit(self.repo, vec![edit]));
        }
    }
}
