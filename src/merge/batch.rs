//! `merge --batch`: done tasks merged a batch at a time in the integration
//! worktree and tested once, on the batch's last merge. A green batch lands
//! in one move of the target; a red one is bisected to the first task whose
//! merge turns the suite red, the green prefix before it lands (its tip was
//! tested) and the run stops at that task, as a red test stops it today.

use std::time::Instant;

use gix::ObjectId;
use serde::Serialize;

use super::{
    merged_candidate, note_text, publish, stop_on_conflict, stop_on_red, test_candidate, Candidate, Conflict, Landed,
    Merging, Progress, Stop, Tested,
};
use crate::error::{Error, Result};
use crate::plan::Task;
use crate::state;

/// Where `--batch auto` starts, and the largest batch it grows to.
pub const AUTO_START: u32 = 2;
pub const AUTO_CEILING: u32 = 32;

/// `--batch N`, or `--batch auto` with the size it is at: doubled after a
/// green batch, halved after a red one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchSize {
    Fixed(u32),
    Auto(u32),
}

impl BatchSize {
    /// `N` (1 or more) or `auto`, from `--batch` or `agents.mergeBatch`.
    pub fn parse(text: &str) -> Result<BatchSize> {
        match text.trim() {
            "auto" => Ok(BatchSize::Auto(AUTO_START)),
            n => match n.parse::<u32>() {
                Ok(n) if n >= 1 => Ok(BatchSize::Fixed(n)),
                _ => Err(
                    Error::usage(format!("batch size `{text}` is neither a number from 1 up nor `auto`"))
                        .hint("pass `--batch 8` (up to 8 tasks tested together) or `--batch auto`"),
                ),
            },
        }
    }

    /// What a stopped merge remembered (see [`state::MergeOptions`]).
    pub(super) fn remembered(text: &str, size: Option<u32>) -> Option<BatchSize> {
        match (BatchSize::parse(text).ok()?, size) {
            (BatchSize::Auto(_), Some(n)) => Some(BatchSize::Auto(n.clamp(1, AUTO_CEILING))),
            (b, _) => Some(b),
        }
    }

    /// How many tasks the next batch takes.
    pub fn size(self) -> u32 {
        match self {
            BatchSize::Fixed(n) | BatchSize::Auto(n) => n,
        }
    }

    /// How many of the `left` tasks the next batch takes: its size, and
    /// with `auto` also a short tail (up to half the size, within the
    /// ceiling) that the next, doubled batch would have taken: one test
    /// run fewer, one bisection step more if red.
    fn taking(self, left: usize) -> u32 {
        let n = self.size();
        let tail = u32::try_from(left).unwrap_or(u32::MAX).saturating_sub(n);
        match self {
            BatchSize::Auto(_) if tail <= n / 2 => (n + tail).min(AUTO_CEILING.max(n)),
            _ => n,
        }
    }

    /// With `auto`, the size it is at.
    pub(super) fn auto_size(self) -> Option<u32> {
        match self {
            BatchSize::Auto(n) => Some(n),
            BatchSize::Fixed(_) => None,
        }
    }

    /// The size after a green (`true`) or red batch.
    fn after(self, green: bool) -> BatchSize {
        match self {
            BatchSize::Auto(n) if green => BatchSize::Auto((n * 2).min(AUTO_CEILING)),
            BatchSize::Auto(n) => BatchSize::Auto((n / 2).max(1)),
            fixed => fixed,
        }
    }
}

impl std::fmt::Display for BatchSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BatchSize::Fixed(n) => write!(f, "{n}"),
            BatchSize::Auto(_) => f.write_str("auto"),
        }
    }
}

/// What `--batch` did: each batch, every test run, the culprit.
#[derive(Debug, Default, Serialize)]
pub struct BatchReport {
    pub batches: Vec<BatchRun>,
    /// Every run of the test command, retries and bisection included.
    pub test_runs: u32,
    /// The task whose merge turned the suite red.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub culprit: Option<String>,
    /// Test runs that passed only on a retry (the suite is flaky there).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flaky: Vec<String>,
}

/// One batch: the size asked, the tasks merged, how it went.
#[derive(Debug, Serialize)]
pub struct BatchRun {
    pub size: u32,
    pub tasks: Vec<String>,
    pub test_runs: u32,
    /// `green`, `red` (bisected), `conflict` (after its tasks), `untested`
    /// (no test command) or `dry run`.
    pub result: String,
    pub landed: Vec<String>,
}

/// A task merged into the batch: its merge, and when its turn began.
struct Member {
    task: Task,
    candidate: ObjectId,
    started: Instant,
}

/// A conflict met while forming a batch: the task, and what to report.
type Met = Option<(Task, Box<Conflict>)>;

/// Runs the whole queue (`order`) in batches of `size`.
pub(super) fn run<P: FnMut(Progress<'_>)>(
    m: &mut Merging<'_, '_, P>,
    order: &[Task],
    snap: &state::Snapshot,
    size: BatchSize,
) -> Result<()> {
    m.outcome.batches = Some(BatchReport::default());
    let mut queue = order.iter();
    let mut taken = 0;
    loop {
        let size = m.batch.unwrap_or(size);
        let take = size.taking(queue.len());
        let (members, conflict) = form(m, &mut queue, take, (&mut taken, order.len()), snap)?;
        if members.is_empty() && conflict.is_none() {
            return Ok(());
        }
        announce(m, size, &members, conflict.as_ref().map(|(t, _)| t.id.as_str()));
        if !members.is_empty() && !settle(m, &members)? {
            return Ok(());
        }
        if let Some((task, conflict)) = conflict {
            last_batch(m).result = "conflict".into();
            let Conflict(record, branch, tip, conflicted) = *conflict;
            return stop_on_conflict(m, &task, record, branch, tip, conflicted);
        }
        m.batch = Some(size.after(true));
    }
}

/// Merges up to `size` tasks from `queue`, each on the merge before it;
/// stops early at a conflict. `count` is the tasks taken so far, of all.
fn form<P: FnMut(Progress<'_>)>(
    m: &mut Merging<'_, '_, P>,
    queue: &mut std::slice::Iter<'_, Task>,
    size: u32,
    count: (&mut usize, usize),
    snap: &state::Snapshot,
) -> Result<(Vec<Member>, Met)> {
    let (taken, total) = count;
    let mut members: Vec<Member> = Vec::new();
    while members.len() < size as usize {
        let Some(task) = queue.next() else { break };
        *taken += 1;
        let step = format!("[{taken}/{total}]");
        let record = state::TaskRecord::read(m.ctx.repo, snap.tasks[&task.id].oid)?;
        let on = members.last().map_or(m.current, |x| x.candidate);
        let started = Instant::now();
        match merged_candidate(m, task, &step, record, on)? {
            Candidate::Skipped => {}
            Candidate::Merged(candidate) => members.push(Member {
                task: task.clone(),
                candidate,
                started,
            }),
            Candidate::Conflict(c) => return Ok((members, Some((task.clone(), c)))),
        }
    }
    Ok((members, None))
}

/// Says which batch comes, at what size, and records it in the report.
fn announce<P: FnMut(Progress<'_>)>(
    m: &mut Merging<'_, '_, P>,
    size: BatchSize,
    members: &[Member],
    conflict: Option<&str>,
) {
    let tasks: Vec<String> = members.iter().map(|x| x.task.id.clone()).collect();
    let number = m.outcome.batches.as_ref().map_or(0, |b| b.batches.len()) + 1;
    let auto = if size.auto_size().is_some() { ", auto" } else { "" };
    let mut line = format!(
        "batch {number} (size {}{auto}): {} task(s): {}",
        size.size(),
        tasks.len(),
        if tasks.is_empty() {
            "none".to_string()
        } else {
            tasks.join(", ")
        }
    );
    if let Some(task) = conflict {
        line.push_str(&format!("; then `{task}` conflicts"));
    }
    (m.progress)(Progress::Line(&line));
    let result = if m.run.opts.dry_run { "dry run" } else { "green" };
    report(m).batches.push(BatchRun {
        size: size.size(),
        tasks,
        test_runs: 0,
        result: result.into(),
        landed: Vec::new(),
    });
}

fn report<'m, P>(m: &'m mut Merging<'_, '_, P>) -> &'m mut BatchReport {
    m.outcome.batches.get_or_insert_with(BatchReport::default)
}

fn last_batch<'m, P>(m: &'m mut Merging<'_, '_, P>) -> &'m mut BatchRun {
    report(m).batches.last_mut().expect("announced before it is settled")
}

/// Tests the batch's tip and lands it, or bisects a red one. `false`: the
/// run stopped (a culprit, or the target could not move).
fn settle<P: FnMut(Progress<'_>)>(m: &mut Merging<'_, '_, P>, members: &[Member]) -> Result<bool> {
    let n = members.len();
    if m.run.opts.dry_run {
        would_land(m, members);
        return Ok(true);
    }
    let Some(cmd) = m.run.test.clone() else {
        last_batch(m).result = "untested".into();
        return land_prefix(m, members, n, &Tested::default());
    };
    match trial(m, members, n, &cmd, false)? {
        Ok(tested) => land_prefix(m, members, n, &tested),
        Err(red) => bisect(m, members, &cmd, red),
    }
}

/// A dry run's batch: every task would land, tested on the batch's tip.
fn would_land<P: FnMut(Progress<'_>)>(m: &mut Merging<'_, '_, P>, members: &[Member]) {
    let tip = members.last().map(|x| x.candidate.to_string());
    for (i, x) in members.iter().enumerate() {
        let inside = i + 1 < members.len() && m.run.test.is_some();
        let landed = Landed {
            task: x.task.id.clone(),
            commit: x.candidate.to_string(),
            test: m.run.test.clone(),
            cached: None,
            tested_on: tip.clone().filter(|_| inside),
            seconds: 0.0,
        };
        m.outcome.waiting.retain(|w| w != &x.task.id);
        (m.progress)(Progress::Landed {
            landed: &landed,
            dry_run: true,
        });
        m.outcome.landed.push(landed);
    }
    m.current = members.last().map_or(m.current, |x| x.candidate);
}

/// The batch's tip was red: halves the range until the first red prefix
/// is one task longer than a green one (or than the target itself), lands
/// that green prefix and stops at the task after it.
fn bisect<P: FnMut(Progress<'_>)>(
    m: &mut Merging<'_, '_, P>,
    members: &[Member],
    cmd: &str,
    mut red: Stop,
) -> Result<bool> {
    (m.progress)(Progress::Line(&format!(
        "batch red: bisecting its {} task(s) for the first that turns `{cmd}` red",
        members.len()
    )));
    last_batch(m).result = "red".into();
    // Prefix lengths: `good` passed (0: the target itself), `bad` failed.
    let (mut good, mut bad) = (0, members.len());
    let mut green: Option<Tested> = None;
    while bad - good > 1 {
        let mid = (good + bad) / 2;
        match trial(m, members, mid, cmd, true)? {
            Ok(tested) => (good, green) = (mid, Some(tested)),
            Err(stop) => (bad, red) = (mid, stop),
        }
    }
    if let Some(tested) = green {
        if !land_prefix(m, members, good, &tested)? {
            return Ok(false);
        }
    }
    stop_at_culprit(m, &members[bad - 1], red)?;
    Ok(false)
}

/// Tests the tip of the first `k` merges of the batch (named after the
/// last of them), counting every run and any pass that needed a retry.
fn trial<P: FnMut(Progress<'_>)>(
    m: &mut Merging<'_, '_, P>,
    members: &[Member],
    k: usize,
    cmd: &str,
    bisecting: bool,
) -> Result<std::result::Result<Tested, Stop>> {
    let last = &members[k - 1];
    let step = if bisecting {
        format!("[bisect: first {k} of {}]", members.len())
    } else {
        format!("[batch of {}]", members.len())
    };
    let got = test_candidate(
        m.ctx.repo,
        &m.run,
        &last.task.id,
        cmd,
        last.candidate,
        &step,
        &mut m.progress,
    )?;
    let runs = match &got {
        Ok(tested) => tested.runs,
        Err(_) => m.run.opts.retries + 1,
    };
    report(m).test_runs += runs;
    last_batch(m).test_runs += runs;
    if let Ok(tested) = &got {
        if tested.red_before_green > 0 {
            let flaky = format!(
                "`{cmd}` passed on the merge of `{}` only after {} red run(s){}",
                last.task.id,
                tested.red_before_green,
                if bisecting { " (while bisecting)" } else { "" }
            );
            report(m).flaky.push(flaky);
        }
    }
    Ok(got)
}

/// Notes and lands the first `k` merges of the batch in one move of the
/// target; `tested` is how their tip was tested. `false`: the target did
/// not move (the run stops there).
fn land_prefix<P: FnMut(Progress<'_>)>(
    m: &mut Merging<'_, '_, P>,
    members: &[Member],
    k: usize,
    tested: &Tested,
) -> Result<bool> {
    let repo = m.ctx.repo;
    let prefix = &members[..k];
    let tip = prefix[k - 1].candidate;
    let has_test = m.run.test.is_some();
    let inside = |i: usize| i + 1 < k && has_test;
    let names: Vec<&str> = prefix.iter().map(|x| x.task.id.as_str()).collect();
    // Every note goes on before the target moves: a run killed after
    // landing must not leave a landed commit without its test record.
    for (i, x) in prefix.iter().enumerate() {
        let result = if inside(i) {
            format!("not tested alone (its batch passed on {})", state::short(tip))
        } else {
            tested.result.clone()
        };
        let mut note = note_text(repo, &x.task.id, &m.run, &result, x.started)?;
        if k > 1 && m.run.test.is_some() {
            note.push_str(&format!("tested-on: {tip}\nbatch: {}\n", names.join(" ")));
        }
        state::add_note(repo, x.candidate, &note)?;
    }
    if let Some(stop) = publish(repo, &m.run, m.current, tip)? {
        m.outcome.stop = Some(stop);
        return Ok(false);
    }
    for (i, x) in prefix.iter().enumerate() {
        crate::protocol::mark_merged(m.ctx, &x.task.id, x.candidate)?;
        m.outcome.waiting.retain(|w| w != &x.task.id);
        let landed = Landed {
            task: x.task.id.clone(),
            commit: x.candidate.to_string(),
            test: m.run.test.clone(),
            cached: if inside(i) { None } else { tested.cached.clone() },
            tested_on: inside(i).then(|| tip.to_string()),
            seconds: x.started.elapsed().as_secs_f64(),
        };
        (m.progress)(Progress::Landed {
            landed: &landed,
            dry_run: false,
        });
        m.outcome.landed.push(landed);
        last_batch(m).landed.push(x.task.id.clone());
    }
    m.current = tip;
    Ok(true)
}

/// Stops the run at the task whose merge turned the suite red, as a red
/// test stops it without batches: its merge waits in the integration
/// worktree for a fix and `--continue`.
fn stop_at_culprit<P: FnMut(Progress<'_>)>(m: &mut Merging<'_, '_, P>, culprit: &Member, red: Stop) -> Result<()> {
    // The bisection may have tested a green prefix last.
    crate::worktree::reset(&m.run.integration, culprit.candidate)?;
    report(m).culprit = Some(culprit.task.id.clone());
    m.batch = m.batch.map(|b| b.after(false));
    stop_on_red(m, &culprit.task.id, red)
}
