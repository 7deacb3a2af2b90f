//! What `plan --draft` shows: a line per round (with the problems that
//! sent the draft back), then the accepted draft as `git agents plan`
//! shows a plan (waves and decision summary) and where it was written, or
//! the last problems of a draft that never validated. `--json` says the
//! same as one document.

use std::path::Path;

use serde::Serialize;

use super::{brief::SEQUENTIAL, Request, Round};
use crate::error::{Context, Error, Result};
use crate::plan::report::{self, Summary};
use crate::plan::validate::Checked;
use crate::plan::Problem;
use crate::ui::Ui;

/// The draft's name in problems: the file the agent wrote.
const SHOWN: &str = super::DRAFT_FILE;

/// Each problem as `file:line:column: message`, its hint on the next line.
pub fn problem_lines(problems: &[Problem]) -> Vec<String> {
    let mut lines = Vec::new();
    for p in problems {
        lines.push(p.render(SHOWN));
        if let Some(hint) = &p.hint {
            lines.push(format!("  = {hint}"));
        }
    }
    lines
}

/// The status line of a finished round, and the problems that refused it.
pub fn round_line(ui: &Ui, round: &Round, rounds: u32) {
    if round.problems.is_empty() {
        ui.status(&format!("round {}: the draft is a valid plan", round.number));
        return;
    }
    let n = round.problems.len();
    let next = if round.number < rounds {
        "; sent back to the agent"
    } else {
        ""
    };
    ui.status(&format!(
        "round {}: refused, {n} problem{}{next}",
        round.number,
        if n == 1 { "" } else { "s" }
    ));
    for line in problem_lines(&round.problems) {
        ui.status(&format!("  {line}"));
    }
}

/// The JSON document `plan --draft --json` prints.
#[derive(Serialize)]
struct JsonDraft<'a> {
    goal: &'a str,
    file: &'a str,
    valid: bool,
    /// Whether the plan was written to `file`; it is never recorded.
    written: bool,
    rounds: Vec<JsonRound<'a>>,
    /// Why the work is sequential (one agent will do): the agent's own
    /// reason, or what the draft shows (the summary's `sequential` is only
    /// "every wave holds one task").
    #[serde(skip_serializing_if = "Option::is_none")]
    sequential_reason: Option<String>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    summary: Option<&'a Summary>,
}

#[derive(Serialize)]
struct JsonRound<'a> {
    round: u32,
    valid: bool,
    problems: &'a [Problem],
}

/// What the end of a draft shows, whichever way it ended.
pub struct Output<'a> {
    pub req: &'a Request<'a>,
    pub ui: &'a Ui,
    pub target: &'a Path,
    pub shown: &'a str,
    pub rounds: &'a [Round],
}

impl Output<'_> {
    /// A valid draft: written to the target, shown as waves, never recorded.
    pub fn accepted(&self, checked: &Checked) -> Result<()> {
        let (ui, last) = (self.ui, self.rounds.last());
        let text = last.and_then(|r| r.draft.as_deref()).unwrap_or_default();
        let summary = report::summarize(checked);
        let sequential = sequential(text, &summary);
        self.write(text)?;
        if self.req.json {
            ui.json(&self.json(Some(&summary), sequential, true));
            return Ok(());
        }
        for warning in &summary.warnings {
            ui.warn(warning);
        }
        ui.result(&report::human(&summary));
        let record = if self.shown == "agents.toml" {
            "git agents plan --yes".to_string()
        } else {
            format!("git agents plan {} --yes", self.shown)
        };
        if let Some(why) = sequential {
            ui.status(&format!(
                "the work is sequential ({why}): run one agent, `{record} && git agents spawn 1`"
            ));
        }
        let rounds = self.rounds.len();
        ui.status(&format!(
            "wrote {} ({} task{}, drafted in {rounds} round{}); review it, then record it with `{record}`",
            self.shown,
            summary.tasks.len(),
            if summary.tasks.len() == 1 { "" } else { "s" },
            if rounds == 1 { "" } else { "s" },
        ));
        Ok(())
    }

    /// Never overwrites without --force, even a file made while the agent ran.
    fn write(&self, text: &str) -> Result<()> {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true);
        if self.req.force {
            options.create(true).truncate(true);
        } else {
            options.create_new(true);
        }
        let cannot = || format!("cannot write {}", self.shown);
        match options.open(self.target) {
            Ok(mut file) => file.write_all(text.as_bytes()).context(cannot),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(Error::usage(format!("{} already exists", self.shown))
                    .hint("it appeared while the agent ran; pass `--force` to replace it, or `--write FILE`"))
            }
            Err(e) => Err(e).context(cannot),
        }
    }

    /// A draft that never validated: the last problems, nothing written.
    pub fn refused(&self) -> Error {
        if self.req.json {
            self.ui.json(&self.json(None, None, false));
        }
        let n = self.rounds.len();
        let mut err = Error::usage(format!(
            "the agent's draft is still not a valid plan after {n} round{}",
            if n == 1 { "" } else { "s" }
        ));
        for line in problem_lines(self.rounds.last().map_or(&[], |r| &r.problems)) {
            err = err.detail(line);
        }
        err.hint("nothing was written or recorded; try more `--rounds`, a narrower goal, or write the plan yourself (`git agents init`)")
    }

    fn json<'s>(&'s self, summary: Option<&'s Summary>, sequential: Option<String>, written: bool) -> JsonDraft<'s> {
        JsonDraft {
            goal: self.req.goal,
            file: self.shown,
            valid: summary.is_some(),
            written,
            rounds: self
                .rounds
                .iter()
                .map(|r| JsonRound {
                    round: r.number,
                    valid: r.problems.is_empty(),
                    problems: &r.problems,
                })
                .collect(),
            sequential_reason: sequential,
            summary,
        }
    }
}

/// Why the drafted work is sequential, if it is: the agent's own
/// `# sequential: WHY` first line, a single task, or waves of one task each.
fn sequential(draft: &str, summary: &Summary) -> Option<String> {
    let first = draft.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default();
    if let Some(why) = first.strip_prefix(SEQUENTIAL) {
        let why = why.trim();
        return Some(if why.is_empty() {
            "the agent says the work cannot be split".into()
        } else {
            format!("the agent says: {why}")
        });
    }
    if summary.tasks.len() == 1 {
        return Some("the draft has one task".into());
    }
    summary.sequential.then(|| "every wave holds one task".into())
}
