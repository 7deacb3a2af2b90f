//! The brief every agent is given: the whole task (goal, owned files,
//! dependencies, acceptance, rules, how to report back) and, on a retry,
//! why the previous attempt failed. Pure text in, text out: the runner
//! gathers the facts, presets pass the result as `{brief}` or `{brief_file}`.

use crate::plan::Task;

/// Marks a check's section in an attempt's log (`--- acceptance: CMD`,
/// `--- ownership: …`), so the next brief can quote what the check saw
/// rather than the agent's own chatter.
pub const SECTION: &str = "\n--- ";
/// The log section listing the paths the ownership check rejected, one per line.
pub const OUTSIDE_SECTION: &str = "ownership: changed files outside `owns`";

/// How much of a failing output the next brief quotes.
const TAIL_LINES: usize = 40;
const TAIL_BYTES: usize = 4096;

/// What went wrong in the previous attempt, for the retry's brief.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Previous {
    pub attempt: u32,
    pub reason: String,
    /// The end of the failing output: the acceptance command's, or the agent's own.
    pub output: String,
    /// Paths the ownership check rejected.
    pub outside: Vec<String>,
}

impl Previous {
    /// Reads the previous attempt's facts from its log (see [`SECTION`]).
    pub fn from_log(attempt: u32, reason: &str, log: &str) -> Self {
        // The last check section is what decided; without one, the agent's own output.
        let decisive = match log.rfind(SECTION) {
            Some(at) => &log[at + SECTION.len()..],
            None => log,
        };
        let outside = match decisive.strip_prefix(OUTSIDE_SECTION) {
            Some(rest) => rest
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect(),
            None => Vec::new(),
        };
        Previous {
            attempt,
            reason: reason.to_string(),
            output: if outside.is_empty() {
                tail(decisive)
            } else {
                String::new()
            },
            outside,
        }
    }
}

/// The last lines of `text`, at most [`TAIL_LINES`] lines and about [`TAIL_BYTES`] bytes.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    let mut out = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n");
    if out.len() > TAIL_BYTES {
        let mut cut = out.len() - TAIL_BYTES;
        while !out.is_char_boundary(cut) {
            cut += 1;
        }
        out = format!("…{}", &out[cut..]);
    }
    out
}

/// Everything the brief says.
pub struct Facts<'a> {
    pub task: &'a Task,
    pub prompt: &'a str,
    pub attempt: u32,
    pub max_attempts: u32,
    /// The acceptance command (the task's own, else the plan's).
    pub test: Option<&'a str>,
    pub previous: Option<&'a Previous>,
}

/// The brief as markdown.
pub fn render(f: &Facts<'_>) -> String {
    let task = f.task;
    let owns = if task.owns.is_empty() {
        "- everything in the repository".to_string()
    } else {
        task.owns
            .iter()
            .map(|o| format!("- `{o}`"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let deps = if task.depends_on.is_empty() {
        "None.".to_string()
    } else {
        let list = task
            .depends_on
            .iter()
            .map(|d| format!("`{d}`"))
            .collect::<Vec<_>>()
            .join(", ");
        format!("{list}: their work is already merged into your branch.")
    };
    let acceptance = match f.test {
        Some(test) => format!(
            "When you finish, this command must pass in your worktree (it is run for you after you exit):\n\n    {test}\n\nRun it yourself before you stop."
        ),
        None => "There is no acceptance command: your work is checked only for commits and owned files.".into(),
    };
    let mut out = format!(
        "# {title}\n\nYou are working on task `{id}` on branch `agents/{id}`, in your own git worktree \
         (attempt {attempt} of {max}).\n\n## Goal\n\n{prompt}\n\n## Files you own\n\n{owns}\n\n\
         ## Depends on\n\n{deps}\n\n## Acceptance\n\n{acceptance}\n\n## Rules\n\n\
         - Change only the files you own: a change to any other file fails the task.\n\
         - Stay on branch `agents/{id}`: do not switch branches, rebase, push or touch other worktrees.\n\
         - Commit your work with git when you are done; anything left uncommitted is committed for you.\n\n\
         ## Reporting back\n\n\
         Exit when you are done. If you cannot do the task, say why in your last lines of output and exit \
         with a non-zero status: the reason is shown to the human and the task is retried up to {max} times.\n\
         While you work, say where you are with `git agents progress \"what is done, what is next\"`: \
         the human sees the newest message. If only a person can unblock you (a missing secret, a decision), \
         run `git agents fail {id} --block --reason \"what you need\"` and exit: the task then waits for a person \
         instead of being retried.\n",
        title = task.title,
        id = task.id,
        attempt = f.attempt,
        max = f.max_attempts,
        prompt = f.prompt.trim_end(),
    );
    if let Some(p) = f.previous {
        out.push_str(&format!(
            "\n## Previous attempt\n\nAttempt {} failed: {}\nFix this; your branch starts again from where attempt {} started.\n",
            p.attempt, p.reason, p.attempt
        ));
        if !p.outside.is_empty() {
            out.push_str("\nThese files are outside the files you own; leave them unchanged:\n\n");
            for path in &p.outside {
                out.push_str(&format!("- `{path}`\n"));
            }
        }
        if !p.output.trim().is_empty() {
            out.push_str(&format!(
                "\nThe end of its output:\n\n```text\n{}\n```\n",
                p.output.replace("```", "'''")
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> Task {
        Task {
            id: "api".into(),
            title: "Build the API".into(),
            owns: vec!["src/api/**".into()],
            depends_on: vec!["auth".into()],
            test: None,
            prompt: String::new(),
        }
    }

    #[test]
    fn the_brief_names_the_files_the_dependencies_and_the_acceptance() {
        let task = task();
        let text = render(&Facts {
            task: &task,
            prompt: "Add the endpoints.",
            attempt: 1,
            max_attempts: 2,
            test: Some("cargo test api"),
            previous: None,
        });
        for needle in [
            "`src/api/**`",
            "`auth`: their work is already merged",
            "cargo test api",
            "attempt 1 of 2",
        ] {
            assert!(text.contains(needle), "{needle} missing from:\n{text}");
        }
        assert!(!text.contains("Previous attempt"));
        let none = render(&Facts {
            task: &task,
            prompt: "x",
            attempt: 1,
            max_attempts: 2,
            test: None,
            previous: None,
        });
        assert!(none.contains("There is no acceptance command"));
    }

    #[test]
    fn a_retry_quotes_the_deciding_section_of_the_previous_log() {
        let log = "agent chatter\n--- acceptance: make check\nFAIL: expected right, got wrong\n";
        let p = Previous::from_log(1, "acceptance `make check` failed (exit 1)", log);
        assert_eq!(p.output, "acceptance: make check\nFAIL: expected right, got wrong");
        assert!(p.outside.is_empty());
        let task = task();
        let text = render(&Facts {
            task: &task,
            prompt: "x",
            attempt: 2,
            max_attempts: 2,
            test: None,
            previous: Some(&p),
        });
        assert!(text.contains("## Previous attempt"));
        assert!(text.contains("expected right, got wrong"));

        let log = format!("chatter{SECTION}{OUTSIDE_SECTION}\nREADME.md\nsrc/lib.rs\n");
        let p = Previous::from_log(1, "changed files outside its ownership", &log);
        assert_eq!(p.outside, vec!["README.md", "src/lib.rs"]);

        let p = Previous::from_log(1, "agent exited with code 2", "line\n".repeat(100).as_str());
        assert_eq!(p.output.lines().count(), TAIL_LINES);
    }
}
