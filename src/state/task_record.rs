//! `task.toml`: the state a task's history commit carries.

use gix::ObjectId;
use serde::{Deserialize, Serialize};

use super::objects::{oid_text, read_file, FixedCommit};
use super::TaskState;
use crate::error::{Context, Error, Result};

pub const TASK_FILE: &str = "task.toml";

/// One link of a task's history. The ref's namespace is authoritative for
/// the state; the copy here makes `git log` of the ref readable on its own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub id: String,
    pub state: TaskState,
    /// Attempts that ended without success (failed, or freed as stale):
    /// what `max_attempts` is compared with. Not the attempts made, which
    /// also count the running or successful one ([`TaskRecord::attempts_made`]).
    pub attempts: u32,
    /// Seconds since the epoch when this link was written (0 for the first).
    pub updated_at: i64,
    /// Who made this transition: an agent, or a person for requeue and unlock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// When `pid` started, in clock ticks after boot (Linux: field 22 of
    /// /proc/<pid>/stat). With `boot_id` and `pid_ns` it says the claim is
    /// held by that process and no other: set only when the holder's death
    /// frees the claim (see [`TaskRecord::holder_gone`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_start: Option<u64>,
    /// `/proc/sys/kernel/random/boot_id` when `pid` was stamped: after a
    /// reboot the pids and the tick count start again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
    /// The pid namespace (inode of /proc/self/ns/pid) `pid` is a number in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_ns: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "oid_text")]
    pub head: Option<ObjectId>,
    /// The commit the work started from (base tip with dependencies merged
    /// in), when the runner made it: the task's change is `start..head`.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "oid_text")]
    pub start: Option<ObjectId>,
    /// Set when `done --no-verify` skipped the acceptance command.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unverified: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<String>,
    /// Set when an operation overrode the claim holder (`--force`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forced: bool,
    /// The newest `git agents progress` message of the holding agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    /// When it was written (seconds since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_at: Option<i64>,
}

impl TaskRecord {
    /// Attempts made on the task in `state` (the ref's namespace, which
    /// decides): the failed ones, plus the one under way (claimed) or the
    /// one that succeeded (done, merged).
    pub fn attempts_made(&self, state: TaskState) -> u32 {
        let current = matches!(state, TaskState::Claimed | TaskState::Done | TaskState::Merged);
        self.attempts + u32::from(current)
    }

    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(self).context(|| format!("cannot write the {TASK_FILE} of task `{}`", self.id))
    }

    pub fn read(repo: &gix::Repository, commit: ObjectId) -> Result<Self> {
        let text = read_file(repo, commit, TASK_FILE)?;
        toml::from_str(&text).map_err(|e| {
            Error::failure(format!(
                "task commit {commit} holds a task.toml this version cannot read"
            ))
            .cause(e.message())
        })
    }

    /// The next link: same task, fields carried over, transition facts cleared.
    pub fn next(&self, state: TaskState, by: &str, now: i64) -> Self {
        TaskRecord {
            state,
            updated_at: now,
            by: Some(by.to_string()),
            forced: false,
            ..self.clone()
        }
    }

    /// Forget who held the task (after a release, failure or requeue).
    pub fn unclaimed(mut self) -> Self {
        self.agent = None;
        self.host = None;
        self.pid = None;
        self.set_stamp(None);
        self.claimed_at = None;
        self.lease_until = None;
        self.progress = None;
        self.progress_at = None;
        self
    }
}

impl TaskRecord {
    /// Records `pid` as the claim's holder; with `judged`, also its stamp,
    /// so that the claim is stale as soon as that process is gone.
    pub fn set_holder(&mut self, pid: u32, judged: bool) {
        self.pid = Some(pid);
        self.set_stamp(judged.then(|| Stamp::of(pid)).flatten());
    }

    fn set_stamp(&mut self, stamp: Option<Stamp>) {
        self.pid_start = stamp.as_ref().map(|s| s.start);
        self.pid_ns = stamp.as_ref().and_then(|s| s.pid_ns);
        self.boot_id = stamp.map(|s| s.boot_id);
    }

    /// `Some("pid N on HOST")` (plus why) when the stamped holder of this
    /// claim is certainly gone; `None` when it runs, or when this process
    /// cannot tell (another host, no stamp, another pid namespace): then
    /// only the lease decides.
    pub fn holder_gone(&self) -> Option<String> {
        let stamp = Stamp::recorded(self.pid_start, self.boot_id.as_deref(), self.pid_ns)?;
        stamp.gone(self.host.as_deref()?, self.pid?)
    }
}

/// What tells a process from a later one with the same pid: the kernel
/// reuses pids, a reboot restarts both pids and the tick count, and a
/// container numbers pids its own way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Stamp {
    pub(super) start: u64,
    pub(super) boot_id: String,
    pub(super) pid_ns: Option<u64>,
}

/// What `/proc` says about a pid.
enum Probe {
    /// Running (or stopped), started `n` ticks after boot.
    Started(u64),
    /// No such process, or a zombie (it has exited; only its exit status is left).
    Exited,
    /// It exists but its stat cannot be read (another user's, /proc mounted with hidepid).
    Unreadable,
}

impl Stamp {
    /// The stamp of the running process `pid`, where /proc can tell (Linux).
    pub(super) fn of(pid: u32) -> Option<Stamp> {
        let Probe::Started(start) = probe(pid) else { return None };
        Some(Stamp {
            start,
            boot_id: boot_id()?,
            pid_ns: pid_namespace(),
        })
    }

    fn recorded(start: Option<u64>, boot_id: Option<&str>, pid_ns: Option<u64>) -> Option<Stamp> {
        Some(Stamp {
            start: start?,
            boot_id: boot_id?.to_string(),
            pid_ns,
        })
    }

    /// Why the process `pid` on `host` stamped so is gone, if it certainly is.
    fn gone(&self, host: &str, pid: u32) -> Option<String> {
        // Another machine's processes are not ours to see: its lease decides.
        if host != crate::host::name() {
            return None;
        }
        let shown = format!("pid {pid} on {host}");
        if boot_id()? != self.boot_id {
            return Some(format!("{shown}; {host} restarted since"));
        }
        // A pid from another namespace (a container sharing the host name)
        // names some other process here.
        if pid_namespace() != self.pid_ns {
            return None;
        }
        match probe(pid) {
            Probe::Started(start) if start == self.start => None,
            Probe::Started(_) => Some(format!("{shown}; that pid is another process now")),
            Probe::Exited => Some(shown),
            Probe::Unreadable => None,
        }
    }
}

fn probe(pid: u32) -> Probe {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return if exists(pid) { Probe::Unreadable } else { Probe::Exited };
    };
    // `pid (comm) state ...`: comm may hold spaces and parentheses, so the
    // fields are counted after the last `)`; field 3 is the state, field 22
    // the start time.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    match (fields.first(), fields.get(22 - 3).and_then(|f| f.parse().ok())) {
        (Some(&("Z" | "X" | "x")), _) => Probe::Exited,
        (Some(_), Some(start)) => Probe::Started(start),
        _ => Probe::Unreadable,
    }
}

/// Whether `pid` exists, asked of the kernel rather than /proc (which
/// hidepid may hide it from).
fn exists(pid: u32) -> bool {
    // kill(0, …) would ask about our own process group.
    let Some(pid) = libc::pid_t::try_from(pid).ok().filter(|&p| p > 0) else {
        return false;
    };
    // SAFETY: kill with signal 0 sends nothing; it only checks the pid.
    #[allow(unsafe_code)]
    let found = unsafe { libc::kill(pid, 0) } == 0;
    found || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

fn boot_id() -> Option<String> {
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    Some(id.trim().to_string()).filter(|id| !id.is_empty())
}

/// The inode of this process's pid namespace (`pid:[4026531836]`).
fn pid_namespace() -> Option<u64> {
    let link = std::fs::read_link("/proc/self/ns/pid").ok()?;
    let text = link.to_string_lossy();
    text.strip_prefix("pid:[")?.strip_suffix(']')?.parse().ok()
}

/// The first link of every task's history. Its content depends only on the
/// id, so its commit id is computable: a task whose ref still points at it
/// has never been touched, and listings know that without reading objects.
pub fn initial_commit(hash: gix::hash::Kind, id: &str) -> Result<FixedCommit> {
    let record = TaskRecord {
        id: id.to_string(),
        state: TaskState::Available,
        ..TaskRecord::default()
    };
    FixedCommit::new(hash, TASK_FILE, &record.to_toml()?, &format!("add {id}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held_by(pid: u32, host: &str, stamp: Option<Stamp>) -> TaskRecord {
        let mut record = TaskRecord {
            state: TaskState::Claimed,
            host: Some(host.to_string()),
            ..TaskRecord::default()
        };
        record.pid = Some(pid);
        record.set_stamp(stamp);
        record
    }

    fn exited_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().expect("start true");
        let pid = child.id();
        child.wait().expect("reap");
        pid
    }

    /// A done task's `task.toml` as the code before typed ids wrote it
    /// (field order and quoting included): refs already in repositories.
    const WRITTEN_BEFORE: &str = r#"id = "docs"
state = "done"
attempts = 1
updated_at = 1700000000
by = "agent-1"
branch = "agents/docs"
head = "0123456789abcdef0123456789abcdef01234567"
start = "89abcdef0123456789abcdef0123456789abcdef"
unverified = true
"#;

    #[test]
    fn a_record_written_before_typed_ids_reads_and_writes_back_the_same_text() {
        let record: TaskRecord = toml::from_str(WRITTEN_BEFORE).expect("an old record reads");
        let id = |hex: &str| ObjectId::from_hex(hex.as_bytes()).expect("hex");
        assert_eq!(record.head, Some(id("0123456789abcdef0123456789abcdef01234567")));
        assert_eq!(record.start, Some(id("89abcdef0123456789abcdef0123456789abcdef")));
        assert_eq!(record.to_toml().expect("writes"), WRITTEN_BEFORE);
        // A record without them still has none, and writes none.
        let first = TaskRecord {
            id: "docs".into(),
            ..TaskRecord::default()
        };
        let text = first.to_toml().expect("writes");
        assert!(!text.contains("head") && !text.contains("start"), "{text}");
        assert_eq!(toml::from_str::<TaskRecord>(&text).expect("reads"), first);
    }

    #[test]
    fn a_malformed_id_makes_the_record_unreadable_not_headless() {
        let dir = tempfile::tempdir().expect("temp dir");
        let repo = gix::init_bare(dir.path()).expect("init");
        let forged = WRITTEN_BEFORE.replace("0123456789abcdef0123456789abcdef01234567", "not-a-commit");
        let commit = FixedCommit::new(repo.object_hash(), TASK_FILE, &forged, "done docs\n")
            .and_then(|c| c.write(&repo))
            .expect("write the record");
        let err = TaskRecord::read(&repo, commit).expect_err("a malformed head is an error");
        assert!(
            err.message.contains("holds a task.toml this version cannot read"),
            "{err:?}"
        );
        let cause = err.causes.join("\n");
        assert!(cause.contains("`not-a-commit` is not an object id"), "{err:?}");
    }

    #[test]
    fn a_running_holder_is_not_gone() {
        let me = std::process::id();
        let here = crate::host::name();
        let mut record = held_by(me, &here, None);
        record.set_holder(me, true);
        assert!(record.pid_start.is_some() && record.boot_id.is_some(), "{record:?}");
        assert_eq!(record.holder_gone(), None);
    }

    #[test]
    fn an_exited_or_replaced_holder_is_gone() {
        let here = crate::host::name();
        let mine = Stamp::of(std::process::id()).expect("own stamp");
        let dead = exited_pid();
        let record = held_by(dead, &here, Some(mine.clone()));
        assert_eq!(record.holder_gone(), Some(format!("pid {dead} on {here}")));
        // The same pid, started at another time: pid reuse.
        let reused = Stamp {
            start: mine.start + 1,
            ..mine.clone()
        };
        let record = held_by(std::process::id(), &here, Some(reused));
        assert!(record.holder_gone().is_some_and(|why| why.contains("another process")));
        // Another boot of this host: every process of the old one is gone.
        let rebooted = Stamp {
            boot_id: "00000000-0000-0000-0000-000000000000".into(),
            ..mine
        };
        let record = held_by(std::process::id(), &here, Some(rebooted));
        assert!(record.holder_gone().is_some_and(|why| why.contains("restarted")));
    }

    #[test]
    fn what_cannot_be_told_from_here_is_left_to_the_lease() {
        let here = crate::host::name();
        let mine = Stamp::of(std::process::id()).expect("own stamp");
        let dead = exited_pid();
        // Another host, even with this host's boot and namespace.
        assert_eq!(held_by(dead, "another-machine", Some(mine.clone())).holder_gone(), None);
        // No stamp: `git agents claim` from a script.
        assert_eq!(held_by(dead, &here, None).holder_gone(), None);
        // Another pid namespace: the pid names some other process here.
        let elsewhere = Stamp {
            pid_ns: Some(1),
            ..mine
        };
        assert_eq!(held_by(dead, &here, Some(elsewhere)).holder_gone(), None);
        // A holder the caller chose not to judge (`set_holder(_, false)`).
        let mut record = held_by(dead, &here, None);
        record.set_holder(dead, false);
        assert_eq!((record.pid_start, record.holder_gone()), (None, None));
    }
}
