//! The planning brief `plan --draft` gives its agent: the goal, the
//! repository's tracked files (trimmed for large trees), the agents.toml
//! schema with one example, the rules a plan must keep, where to write the
//! draft and, from the second round on, the problems the validator found
//! in the last draft. Pure text in, text out, like `crate::brief`.

/// Up to this many tracked files are listed one by one; a larger tree is
/// shown as its top folders with counts, then the files the goal names.
const LIST_ALL: usize = 300;
/// At most this many files the goal names are listed for a large tree.
const NAMED_MAX: usize = 100;

/// The line that says the work cannot be split (see [`SEQUENTIAL`]'s use in the brief).
pub const SEQUENTIAL: &str = "# sequential:";

/// Everything the planning brief says.
pub struct Facts<'a> {
    pub goal: &'a str,
    pub base: &'a str,
    pub files: &'a [String],
    /// The file the agent writes its draft to.
    pub draft_file: &'a str,
    pub round: u32,
    pub rounds: u32,
    /// The last round's draft and its problems, each `file:line:column: message` and hint.
    pub previous: Option<Previous<'a>>,
}

pub struct Previous<'a> {
    pub draft: &'a str,
    pub problems: &'a [String],
}

/// The planning brief as markdown.
pub fn render(f: &Facts<'_>) -> String {
    let mut out = format!(
        "# Plan the work: draft agents.toml\n\n\
         You are the coordinator. Do not change the repository: read it, split the goal below into \
         tasks that several coding agents can work on at the same time, and write the plan to the \
         draft file. git-agents checks the draft against the repository; a human confirms it.\n\n\
         This is round {round} of at most {rounds}.\n\n\
         ## Goal\n\n{goal}\n\n\
         ## Repository\n\nBase branch `{base}`, {count} tracked file{s}:\n\n{files}\n\
         ## Write the draft to\n\n    {draft}\n\n\
         Write only the TOML plan to that file (it is also in $GIT_AGENTS_DRAFT_FILE), then exit.\n\n\
         {schema}\n{rules}",
        round = f.round,
        rounds = f.rounds,
        goal = f.goal.trim_end(),
        base = f.base,
        count = f.files.len(),
        s = if f.files.len() == 1 { "" } else { "s" },
        files = file_list(f.files, f.goal),
        draft = f.draft_file,
        schema = SCHEMA,
        rules = RULES,
    );
    if let Some(p) = &f.previous {
        out.push_str(&previous_section(p));
    }
    out
}

/// The "Problems" section of a second or later round.
fn previous_section(p: &Previous<'_>) -> String {
    let mut out = String::from(
        "\n## Problems in your last draft\n\n\
         git-agents refused your last draft. Fix every problem below (positions are file:line:column \
         of the draft) and write the whole corrected plan to the draft file again.\n\n```text\n",
    );
    for line in p.problems {
        out.push_str(line);
        out.push('\n');
    }
    out.push_str("```\n\nYour last draft:\n\n```toml\n");
    out.push_str(&p.draft.replace("```", "'''"));
    if !p.draft.ends_with('\n') {
        out.push('\n');
    }
    out.push_str("```\n");
    out
}

const SCHEMA: &str = r#"## The agents.toml schema

Top level: `base` (the branch tasks start from and merge into), `test` (an acceptance command for
every task, run with `sh -c`; optional). One `[[task]]` table per task:

- `id`: lowercase letters, digits and `-`; it names the branch `agents/<id>`
- `title`: one line for people
- `owns`: globs of the files the task may create or change (`src/auth/**`, `src/*.rs`, `README.md`);
  a folder glob owns everything under it
- `depends_on`: ids of tasks that must be done first (their work is merged into this task's branch)
- `test`: this task's acceptance command (overrides the top-level `test`)
- `prompt`: what the agent working on the task is to do, self-contained (use `"""` for several lines)

Example:

```toml
base = "main"

[[task]]
id = "auth"
title = "Add the auth module"
owns = ["src/auth/**", "tests/auth.rs"]
test = "cargo test auth"
prompt = """
Add src/auth/ with login and logout, and tests in tests/auth.rs.
"""

[[task]]
id = "api"
title = "Serve the auth endpoints"
owns = ["src/api/**", "src/lib.rs"]
depends_on = ["auth"]
test = "cargo test api"
prompt = "Add the /login and /logout endpoints in src/api/, using src/auth/; register the module in src/lib.rs."
```
"#;

const RULES: &str = "## Rules\n\n\
- Tasks that may run at the same time (neither depends on the other) must own disjoint files.\n\
- A file several tasks need (a shared module list, a config, a lock file) goes in an earlier task \
that the others depend on.\n\
- Every task has an acceptance command (`test`, its own or the top-level one) that proves it is done.\n\
- Prefer 3 to 8 tasks of substantial size over many small ones.\n\
- Write prompts in `prompt`, not `prompt_file`.\n\
- If the work cannot be split into tasks that run at the same time, write a plan with one task \
and make its first line `# sequential: WHY`.\n";

/// The tracked files as the brief lists them: all of them for a small
/// tree; for a large one, the top folders with counts, then the files
/// the goal names.
pub fn file_list(files: &[String], goal: &str) -> String {
    if files.len() <= LIST_ALL {
        return files.iter().map(|f| format!("- {f}\n")).collect();
    }
    let mut tops: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for f in files {
        let top = f.split_once('/').map_or(f.as_str(), |(dir, _)| dir);
        *tops.entry(top).or_default() += 1;
    }
    let mut out = String::from("Top-level folders and files (the tree is large):\n\n");
    for (top, count) in &tops {
        let is_file = files.iter().any(|f| f == top);
        out.push_str(&if is_file {
            format!("- {top}\n")
        } else {
            format!("- {top}/ ({count} file{})\n", if *count == 1 { "" } else { "s" })
        });
    }
    let named = named_files(files, goal);
    if !named.is_empty() {
        out.push_str("\nFiles the goal names:\n\n");
        for f in named {
            out.push_str(&format!("- {f}\n"));
        }
    }
    out
}

/// Tracked files whose name, stem or a folder of whose path is a word of the goal.
fn named_files<'f>(files: &'f [String], goal: &str) -> Vec<&'f str> {
    let words: std::collections::HashSet<String> = goal
        .split(|c: char| !(c.is_alphanumeric() || "_.-/".contains(c)))
        .map(|w| w.trim_matches(|c: char| c == '.' || c == '/').to_lowercase())
        .filter(|w| w.len() >= 3)
        .collect();
    let hit = |path: &str| {
        let lower = path.to_lowercase();
        if words.contains(&lower) {
            return true;
        }
        lower.split('/').any(|part| {
            let stem = part.split('.').next().unwrap_or(part);
            words.contains(part) || (stem.len() >= 3 && words.contains(stem))
        })
    };
    files
        .iter()
        .map(String::as_str)
        .filter(|f| hit(f))
        .take(NAMED_MAX)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_tree_is_listed_by_folder_then_the_files_the_goal_names() {
        let mut files: Vec<String> = (0..400).map(|i| format!("src/gen/f{i}.rs")).collect();
        files.push("README.md".into());
        files.push("src/billing/invoice.rs".into());
        let text = file_list(&files, "Split invoice handling out of billing.");
        assert!(text.contains("- src/ (401 files)"), "{text}");
        assert!(text.contains("- README.md\n"), "{text}");
        assert!(
            text.contains("Files the goal names:\n\n- src/billing/invoice.rs\n"),
            "{text}"
        );
        assert!(!text.contains("f17.rs"), "{text}");
        let small = file_list(&files[..3], "x");
        assert_eq!(small, "- src/gen/f0.rs\n- src/gen/f1.rs\n- src/gen/f2.rs\n");
    }

    #[test]
    fn a_later_round_quotes_the_problems_and_the_last_draft() {
        let files = vec!["src/lib.rs".to_string()];
        let problems = vec!["agents.draft.toml:8:6: tasks `a` and `b` both own src/lib.rs".to_string()];
        let text = render(&Facts {
            goal: "Do it.",
            base: "main",
            files: &files,
            draft_file: "/tmp/d.toml",
            round: 2,
            rounds: 3,
            previous: Some(Previous {
                draft: "base = \"main\"",
                problems: &problems,
            }),
        });
        for needle in [
            "round 2 of at most 3",
            "/tmp/d.toml",
            "both own src/lib.rs",
            "base = \"main\"\n```",
            "# sequential: WHY",
        ] {
            assert!(text.contains(needle), "{needle} missing:\n{text}");
        }
    }
}
