//! Which program an agent runs: `-- CMD…`, a preset, `git config
//! agents.command` or the plan's `[agent] command`, with placeholders filled
//! in per task. No shell is involved unless the user writes one.

use crate::error::{Error, Result};

/// Known agent CLIs and the argv that runs each one non-interactively.
pub const PRESETS: &[(&str, &[&str])] = &[
    (
        "claude",
        &["claude", "-p", "{prompt}", "--permission-mode", "acceptEdits"],
    ),
    ("codex", &["codex", "exec", "--full-auto", "{prompt}"]),
    ("aider", &["aider", "--yes-always", "--message-file", "{prompt_file}"]),
    ("gemini", &["gemini", "--yolo", "--prompt", "{prompt}"]),
];

/// An argv template with `{prompt}`, `{prompt_file}`, `{task}`, `{worktree}`, `{branch}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Template(pub Vec<String>);

/// The values placeholders stand for.
pub struct Fill<'a> {
    pub prompt: &'a str,
    pub prompt_file: &'a str,
    pub task: &'a str,
    pub worktree: &'a str,
    pub branch: &'a str,
}

impl Template {
    pub fn fill(&self, f: &Fill<'_>) -> Vec<String> {
        self.0
            .iter()
            .map(|arg| {
                arg.replace("{prompt_file}", f.prompt_file)
                    .replace("{task}", f.task)
                    .replace("{worktree}", f.worktree)
                    .replace("{branch}", f.branch)
                    // Last: the prompt's own text may contain braces.
                    .replace("{prompt}", f.prompt)
            })
            .collect()
    }
}

/// Picks the command: explicit argv, else preset, else `agents.command`
/// (a shell string, run with `sh -c`; use the GIT_AGENTS_* variables in it),
/// else the plan's `[agent] command`.
pub fn resolve(argv: &[String], preset: Option<&str>, config: Option<String>, plan: &[String]) -> Result<Template> {
    let template = if !argv.is_empty() {
        Template(argv.to_vec())
    } else if let Some(name) = preset {
        let Some((_, args)) = PRESETS.iter().find(|(n, _)| *n == name) else {
            let names: Vec<&str> = PRESETS.iter().map(|(n, _)| *n).collect();
            return Err(Error::usage(format!("unknown agent preset `{name}`"))
                .hint(format!("presets: {}; or give the command after `--`", names.join(", "))));
        };
        Template(args.iter().map(|s| s.to_string()).collect())
    } else if let Some(script) = config {
        Template(vec!["sh".into(), "-c".into(), script])
    } else if !plan.is_empty() {
        Template(plan.to_vec())
    } else {
        return Err(Error::usage("no agent command: the plan names none and none was given")
            .hint("pass `--agent claude` (or codex, aider, gemini), or `-- CMD ARGS...`, or set [agent] command in agents.toml"));
    };
    let program = &template.0[0];
    if which::which(program).is_err() {
        let via = preset
            .map(|p| format!("the `{p}` preset runs `{program}`, which"))
            .unwrap_or_else(|| format!("`{program}`"));
        return Err(Error::usage(format!("{via} is not on PATH")).hint(format!(
            "install {program}, or choose another agent with `--agent PRESET` or `-- CMD ARGS...`"
        )));
    }
    Ok(template)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_fill_without_a_shell() {
        let t = Template(vec![
            "x".into(),
            "--task={task}".into(),
            "{prompt}".into(),
            "{prompt_file}".into(),
        ]);
        let prompt = "it's \"quoted\" $(rm -rf /) `uname` {task}";
        let argv = t.fill(&Fill {
            prompt,
            prompt_file: "/p/f.md",
            task: "auth",
            worktree: "/w",
            branch: "agents/auth",
        });
        assert_eq!(argv, vec!["x", "--task=auth", prompt, "/p/f.md"]);
    }

    #[test]
    fn resolution_order_and_errors() {
        let sh = vec!["sh".to_string(), "-c".to_string(), "true".to_string()];
        assert_eq!(
            resolve(&sh, Some("claude"), None, &[]).map(|t| t.0).ok(),
            Some(sh.clone())
        );
        assert_eq!(
            resolve(&[], None, Some("echo hi".into()), &sh).map(|t| t.0).ok(),
            Some(vec!["sh".to_string(), "-c".to_string(), "echo hi".to_string()])
        );
        assert_eq!(resolve(&[], None, None, &sh).map(|t| t.0).ok(), Some(sh));
        assert!(resolve(&[], Some("nope"), None, &[]).is_err());
        assert!(resolve(&[], None, None, &[]).is_err());
        let missing = resolve(&["no-such-agent-program".into()], None, None, &[]);
        assert!(missing.is_err_and(|e| e.message.contains("not on PATH")));
    }
}
