//! `git agents status`: the status as aligned text for a terminal (`--watch`
//! redraws it too).

use super::gather::{counts_line, merge_text, AgentLine, Status, TaskLine};
use crate::protocol;
use crate::state::TaskState;

pub(crate) fn human(s: &Status, now: i64) -> String {
    let mut out = format!("{}\n", counts_line(s));
    if !s.agents.is_empty() {
        out.push('\n');
        let rows: Vec<Vec<String>> = s.agents.iter().map(|a| agent_row(a, now)).collect();
        out.push_str(&table(&rows));
    }
    out.push('\n');
    let rows: Vec<Vec<String>> = s.tasks.iter().map(|t| task_row(t, now)).collect();
    out.push_str(&table(&rows));
    if let Some(m) = &s.merge {
        out.push('\n');
        out.push_str(&merge_text(m));
    }
    out
}

/// Name, what it works on, and how its lease stands.
fn agent_row(a: &AgentLine, now: i64) -> Vec<String> {
    let work = if a.tasks.is_empty() {
        "idle".to_string()
    } else {
        a.tasks.join(", ")
    };
    let lease = match (a.claimed_at, a.lease_until) {
        (Some(at), Some(until)) if until < now => format!(
            "claimed {} ago, STALE: lease expired {} ago",
            protocol::age(now - at),
            protocol::age(now - until)
        ),
        (Some(at), Some(until)) => format!(
            "claimed {} ago, lease {} left",
            protocol::age(now - at),
            protocol::age(until - now)
        ),
        _ => String::new(),
    };
    vec![a.name.clone(), work, lease]
}

/// Id, state, agent, branch, `+N` commits and notes (readiness, failures,
/// the agent's newest progress message).
fn task_row(t: &TaskLine, now: i64) -> Vec<String> {
    let state = if t.stale {
        "claimed STALE".to_string()
    } else {
        t.state.to_string()
    };
    let mut notes = Vec::new();
    match t.state {
        TaskState::Available if t.ready => notes.push("ready".to_string()),
        TaskState::Available => notes.push(format!("waits for {}", t.waiting_for.join(", "))),
        _ => {}
    }
    if let (Some(text), Some(at)) = (&t.progress, t.progress_at) {
        notes.push(format!("says: {text} ({} ago)", protocol::age(now - at)));
    }
    if t.state == TaskState::Blocked && t.failed_attempts == 0 {
        // Blocked by its agent (`fail --block`): the reason is the note.
        notes.push(t.last_failure.clone().unwrap_or_default());
    }
    if t.failed_attempts > 0 && !t.state.is_complete() {
        let plural = if t.failed_attempts == 1 { "" } else { "s" };
        let why = t.last_failure.as_deref().unwrap_or("?");
        notes.push(format!("{} failed attempt{plural}, last: {why}", t.failed_attempts));
    }
    vec![
        t.id.clone(),
        state,
        t.agent.clone().unwrap_or_else(|| "-".into()),
        t.branch.clone().unwrap_or_else(|| "-".into()),
        t.ahead.map_or_else(String::new, |n| format!("+{n}")),
        notes.join("; "),
    ]
}

/// Left-aligned columns, two spaces apart, no trailing spaces.
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::from("  ");
        for (c, cell) in row.iter().enumerate() {
            line.push_str(cell);
            line.push_str(&" ".repeat(widths[c] - cell.chars().count() + 2));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
