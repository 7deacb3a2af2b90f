//! `git agents status --markdown`: the status as a report people paste into
//! an issue or keep as status.md.

use super::gather::{counts_line, merge_text, Status, TaskLine};
use crate::protocol;
use crate::state::TaskState;

pub fn render(s: &Status, now: i64, base: &str) -> String {
    let when = gix::date::Time::new(now, 0).format_or_unix(gix::date::time::format::ISO8601);
    let mut out = format!("# Agent run status\n\n**{}** as of {when}\n\n", counts_line(s));
    overview(&mut out, s);
    if !s.agents.is_empty() {
        agents(&mut out, s, now);
    }
    tasks(&mut out, s, now);
    blocked(&mut out, s);
    if let Some(m) = &s.merge {
        out.push_str("\n## Merge\n\n");
        for line in merge_text(m).lines() {
            out.push_str(&format!("- {}\n", line.trim()));
        }
    }
    out.push_str("\n## Next steps\n\n");
    for step in next_steps(s, base) {
        out.push_str(&format!("- {step}\n"));
    }
    out
}

/// How many tasks are in each state.
fn overview(out: &mut String, s: &Status) {
    out.push_str("## Overview\n\n| state | tasks |\n|---|---:|\n");
    let count = |st: TaskState| s.tasks.iter().filter(|t| t.state == st).count();
    for (label, n) in [
        ("merged", count(TaskState::Merged)),
        ("done, not merged", count(TaskState::Done)),
        ("in progress", s.in_progress),
        ("available", s.available),
        ("blocked", s.blocked),
    ] {
        out.push_str(&format!("| {label} | {n} |\n"));
    }
}

fn agents(out: &mut String, s: &Status, now: i64) {
    out.push_str("\n## Agents\n\n| agent | working on | claimed | lease |\n|---|---|---|---|\n");
    for a in &s.agents {
        let work = if a.tasks.is_empty() {
            "idle".to_string()
        } else {
            a.tasks.join(", ")
        };
        let claimed = a
            .claimed_at
            .map_or(String::new(), |at| format!("{} ago", protocol::age(now - at)));
        let lease = match a.lease_until {
            Some(until) if until < now => format!("**stale**, expired {} ago", protocol::age(now - until)),
            Some(until) => format!("{} left", protocol::age(until - now)),
            None => String::new(),
        };
        out.push_str(&format!(
            "| {} | {} | {claimed} | {lease} |\n",
            cell(&a.name),
            cell(&work)
        ));
    }
}

fn tasks(out: &mut String, s: &Status, now: i64) {
    out.push_str("\n## Tasks\n\n| task | state | agent | branch | commits | attempts |\n|---|---|---|---|---:|---:|\n");
    for t in &s.tasks {
        let state = match t.state {
            TaskState::Claimed if t.stale => "claimed (**stale**)".to_string(),
            TaskState::Claimed if t.progress.is_some() => format!(
                "claimed: {} ({} ago)",
                t.progress.as_deref().unwrap_or_default(),
                crate::protocol::age(now - t.progress_at.unwrap_or(now))
            ),
            TaskState::Blocked => "**blocked**".to_string(),
            TaskState::Available if !t.ready => format!("waits for {}", t.waiting_for.join(", ")),
            st => st.as_str().to_string(),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            cell(&t.id),
            cell(&state),
            cell(t.agent.as_deref().unwrap_or("")),
            t.branch.as_deref().map_or(String::new(), |b| format!("`{}`", cell(b))),
            t.ahead.map_or(String::new(), |n| n.to_string()),
            t.attempts
        ));
    }
}

/// The blocked tasks with their reasons, when there are any.
fn blocked(out: &mut String, s: &Status) {
    let mut blocked: Vec<_> = s.tasks.iter().filter(|t| t.state == TaskState::Blocked).collect();
    if blocked.is_empty() {
        return;
    }
    // Tasks whose agent asked for a person lead: only a person can move them.
    let stuck = |t: &&TaskLine| {
        t.last_failure
            .as_deref()
            .is_some_and(|why| why.starts_with(crate::protocol::STUCK))
    };
    blocked.sort_by_key(|t| !stuck(t));
    out.push_str("\n## Blocked\n\n");
    for t in &blocked {
        if stuck(t) {
            out.push_str(&format!(
                "- **{}**: {}\n",
                cell(&t.id),
                cell(t.last_failure.as_deref().unwrap_or_default())
            ));
            continue;
        }
        out.push_str(&format!(
            "- **{}** after {} attempt(s): {}\n",
            cell(&t.id),
            t.attempts,
            cell(t.last_failure.as_deref().unwrap_or("no reason recorded"))
        ));
    }
}

/// What a person can do next, most urgent first.
fn next_steps(s: &Status, base: &str) -> Vec<String> {
    let mut steps = Vec::new();
    if let Some(m) = s.merge.as_ref().filter(|m| m.task.is_some()) {
        steps.extend(m.next.iter().cloned());
    }
    if s.tasks.iter().any(|t| t.state == TaskState::Blocked) {
        steps.push(
            "fix the cause of each blocked task (`git agents log TASK`), then `git agents requeue TASK`".to_string(),
        );
    }
    if s.tasks.iter().any(|t| t.stale) {
        steps.push("free the stale claims: `git agents unlock --stale`".into());
    }
    if s.tasks.iter().any(|t| t.state == TaskState::Available && t.ready) && s.in_progress == 0 {
        steps.push("start agents on the ready tasks: `git agents spawn N`".into());
    }
    if s.merge.is_none() && s.tasks.iter().any(|t| t.state == TaskState::Done) {
        steps.push(format!(
            "merge the done tasks into {base}: `git agents merge --test \"…\"`"
        ));
    }
    if s.in_progress > 0 {
        steps.push(format!("wait for the {} task(s) in progress", s.in_progress));
    }
    if steps.is_empty() && s.completed == s.total {
        steps.push(format!("nothing left: every task is merged into {base} or done"));
    }
    steps
}

/// Text safe inside a table cell: no pipes, no line breaks.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}
