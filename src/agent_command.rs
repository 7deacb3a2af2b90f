//! Which program an agent runs: `-- CMD…`, a preset, `git config
//! agents.command` or the plan's `[agent] command`, with placeholders filled
//! in per task. No shell is involved unless the user writes one.

use crate::error::{Error, Result};

/// A known agent CLI and how to run it unattended in a linked worktree.
/// Every flag is there for a reason the CLI's own help or source states;
/// README.md ("Agent presets") lists them with what each CLI may then do.
#[derive(Debug)]
pub struct Preset {
    pub name: &'static str,
    pub argv: &'static [&'static str],
    /// Extra environment the CLI needs to run without asking anything.
    pub env: &'static [(&'static str, &'static str)],
    /// The CLI version this preset was tested with (`--version` output contains it).
    pub tested: &'static str,
    /// Where the tested version comes from.
    pub package: &'static str,
    /// What the CLI may do with these flags, unattended.
    pub allows: &'static str,
    /// Files the CLI keeps inside the worktree (gitignore patterns): never
    /// committed and never counted against a task's ownership.
    pub state_files: &'static [&'static str],
}

/// Known agent CLIs and the argv that runs each one non-interactively.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "claude",
        // --print: headless, no trust dialog; acceptEdits: its file tools
        // write in the worktree; --allowedTools=Bash: shell commands (git
        // commit, tests) without asking; the `=` form because the option
        // takes several values and would swallow the prompt.
        argv: &[
            "claude",
            "--print",
            "--permission-mode",
            "acceptEdits",
            "--allowedTools=Bash",
            "--",
            "{brief}",
        ],
        env: &[],
        tested: "2.1.332",
        package: "npm @anthropic-ai/claude-code",
        allows: "edits files in the worktree; runs any shell command (so also the network and files elsewhere)",
        state_files: &[],
    },
    Preset {
        name: "codex",
        // exec: headless, never asks; workspace-write: its sandbox lets
        // commands write the worktree, and the two --add-dir the git dirs a
        // linked worktree's commits write (both, or `git commit` fails on a
        // read-only file system); network on, else even loopback fails in
        // commands; `--` keeps a brief that starts with `-` a prompt.
        argv: &[
            "codex",
            "exec",
            "--sandbox",
            "workspace-write",
            "--add-dir",
            "{git_common_dir}",
            "--add-dir",
            "{git_dir}",
            "-c",
            "sandbox_workspace_write.network_access=true",
            "--color",
            "never",
            "--",
            "{brief}",
        ],
        env: &[],
        tested: "0.171.0",
        package: "npm @openai/codex",
        allows: "edits and commands in the worktree and the repository's git dir, network; \
                 files elsewhere (~/.cargo, ~/.npm) are read-only",
        state_files: &[],
    },
    Preset {
        name: "aider",
        // aider has no `--`: the brief goes in a file. --no-gitignore: else
        // --yes-always adds `.aider*` to .gitignore; the history files go
        // nowhere (the runner logs the output); no update check, analytics,
        // release notes, model warnings or URL scraping (each would reach
        // the network, some by answering yes); no lint rounds, no shell
        // commands from replies; hooks run and identities stay as git has them.
        argv: &[
            "aider",
            "--yes-always",
            "--no-gitignore",
            "--chat-history-file",
            "/dev/null",
            "--input-history-file",
            "/dev/null",
            "--no-check-update",
            "--no-analytics",
            "--no-show-release-notes",
            "--no-show-model-warnings",
            "--no-detect-urls",
            "--no-auto-lint",
            "--no-suggest-shell-commands",
            "--no-pretty",
            "--no-fancy-input",
            "--git-commit-verify",
            "--no-attribute-author",
            "--no-attribute-committer",
            "--message-file",
            "{brief_file}",
        ],
        env: &[],
        tested: "0.86.2",
        package: "PyPI aider-chat",
        allows: "creates and edits files (it commits them itself); no shell commands",
        // The repo map's cache (.aider.tags.cache.v4/) cannot be moved.
        state_files: &[".aider*"],
    },
    Preset {
        name: "gemini",
        // --skip-trust: a fresh worktree is untrusted, and headless gemini
        // refuses untrusted folders (exit 55) or drops yolo there; yolo:
        // without it a headless run has no shell tool; the prompt glued
        // with `=` because yargs puts everything after `--` aside.
        argv: &["gemini", "--skip-trust", "--approval-mode=yolo", "--prompt={brief}"],
        env: &[],
        tested: "0.61.0",
        package: "npm @google/gemini-cli",
        allows: "every tool without asking: edits, any shell command, web fetch and search; no sandbox",
        state_files: &[],
    },
];

/// The preset called `name`.
pub fn preset(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

/// An argv template with placeholders (see [`PLACEHOLDERS`]), plus what the
/// preset it came from (or whose program it runs) asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub state_files: Vec<String>,
}

/// Every placeholder and what it stands for, for help texts.
pub const PLACEHOLDERS: &[(&str, &str)] = &[
    (
        "{brief}",
        "the whole brief: goal, owned files, dependencies, acceptance, rules, previous attempt",
    ),
    (
        "{brief_file}",
        "the path of a file holding the brief (outside the worktree)",
    ),
    ("{prompt}", "the task's prompt alone, as the plan gives it"),
    ("{prompt_file}", "the same path as {brief_file} (older name)"),
    ("{task}", "the task id"),
    ("{worktree}", "the agent's worktree"),
    ("{branch}", "the task branch, agents/<task>"),
    (
        "{git_dir}",
        "the worktree's own git dir (<repo>/.git/worktrees/<agent>)",
    ),
    ("{git_common_dir}", "the repository's git dir, shared by all worktrees"),
    (
        "{draft_file}",
        "`plan --draft` only: the file the planning agent writes its draft plan to",
    ),
];

/// The values placeholders stand for.
pub struct Fill<'a> {
    pub brief: &'a str,
    pub brief_file: &'a str,
    pub prompt: &'a str,
    pub task: &'a str,
    pub worktree: &'a str,
    pub branch: &'a str,
    pub git_dir: &'a str,
    pub git_common_dir: &'a str,
}

impl Template {
    fn plain(argv: Vec<String>) -> Self {
        // A command that runs a known CLI keeps that CLI's state files out of the task.
        let program = argv.first().map(|p| p.rsplit('/').next().unwrap_or(p).to_string());
        let state_files = PRESETS
            .iter()
            .filter(|p| Some(p.argv[0]) == program.as_deref())
            .flat_map(|p| p.state_files.iter().map(|s| s.to_string()))
            .collect();
        Template {
            argv,
            env: Vec::new(),
            state_files,
        }
    }

    fn of_preset(p: &Preset) -> Self {
        Template {
            argv: p.argv.iter().map(|s| s.to_string()).collect(),
            env: p.env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            state_files: p.state_files.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Fills placeholders in one pass, so a value that itself holds
    /// `{task}` or `{brief}` (a prompt about templates) stays as written.
    pub fn fill(&self, f: &Fill<'_>) -> Vec<String> {
        self.fill_with(f, &[])
    }

    /// [`Template::fill`] with placeholders only some runs have (`plan
    /// --draft`'s `{draft_file}`), filled in the same pass.
    pub fn fill_with(&self, f: &Fill<'_>, extra: &[(&str, &str)]) -> Vec<String> {
        let common = [
            ("{brief_file}", f.brief_file),
            ("{prompt_file}", f.brief_file),
            ("{brief}", f.brief),
            ("{prompt}", f.prompt),
            ("{task}", f.task),
            ("{worktree}", f.worktree),
            ("{branch}", f.branch),
            ("{git_dir}", f.git_dir),
            ("{git_common_dir}", f.git_common_dir),
        ];
        let values: Vec<(&str, &str)> = common.iter().chain(extra).copied().collect();
        self.argv
            .iter()
            .map(|arg| {
                let mut out = String::with_capacity(arg.len());
                let mut rest = arg.as_str();
                while let Some(at) = rest.find('{') {
                    out.push_str(&rest[..at]);
                    rest = &rest[at..];
                    match values.iter().find(|(name, _)| rest.starts_with(name)) {
                        Some((name, value)) => {
                            out.push_str(value);
                            rest = &rest[name.len()..];
                        }
                        None => {
                            out.push('{');
                            rest = &rest[1..];
                        }
                    }
                }
                out.push_str(rest);
                out
            })
            .collect()
    }
}

/// Picks the command: explicit argv, else preset, else `agents.command`
/// (a shell string, run with `sh -c`; use the GIT_AGENTS_* variables in it),
/// else the plan's `[agent] command`.
pub fn resolve(
    argv: &[String],
    preset_name: Option<&str>,
    config: Option<String>,
    plan: &[String],
) -> Result<Template> {
    let template = if !argv.is_empty() {
        Template::plain(argv.to_vec())
    } else if let Some(name) = preset_name {
        let Some(p) = preset(name) else {
            let names: Vec<&str> = PRESETS.iter().map(|p| p.name).collect();
            return Err(Error::usage(format!("unknown agent preset `{name}`"))
                .hint(format!("presets: {}; or give the command after `--`", names.join(", "))));
        };
        Template::of_preset(p)
    } else if let Some(script) = config {
        Template::plain(vec!["sh".into(), "-c".into(), script])
    } else if !plan.is_empty() {
        Template::plain(plan.to_vec())
    } else {
        return Err(Error::usage("no agent command: the plan names none and none was given")
            .hint("pass `--agent claude` (or codex, aider, gemini), or `-- CMD ARGS...`, or set [agent] command in agents.toml"));
    };
    let program = &template.argv[0];
    if crate::process::find_program(program).is_none() {
        let via = preset_name
            .map(|p| format!("the `{p}` preset runs `{program}`, which"))
            .unwrap_or_else(|| format!("`{program}`"));
        let install = preset_name
            .and_then(preset)
            .map(|p| format!("install {program} ({} {}), ", p.package, p.tested))
            .unwrap_or_else(|| format!("install {program}, "));
        return Err(Error::usage(format!("{via} is not on PATH")).hint(format!(
            "{install}or choose another agent with `--agent PRESET` or `-- CMD ARGS...`; `git agents presets` lists what is installed"
        )));
    }
    Ok(template)
}

/// `argv` as one shell-quoted line, for showing a command to a human.
pub fn shell_line(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            let safe = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+{}".contains(c));
            if safe {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_fill_without_a_shell() {
        let t = Template::plain(vec![
            "x".into(),
            "--task={task}".into(),
            "{prompt}".into(),
            "{prompt_file}".into(),
            "{brief}".into(),
            "{brief_file}".into(),
        ]);
        let prompt = "it's \"quoted\" $(rm -rf /) `uname` {task} {brief}";
        let argv = t.fill(&Fill {
            brief: "# brief {prompt}",
            brief_file: "/p/f.md",
            prompt,
            task: "auth",
            worktree: "/w",
            branch: "agents/auth",
            git_dir: "/r/.git/worktrees/a",
            git_common_dir: "/r/.git",
        });
        assert_eq!(
            argv,
            vec!["x", "--task=auth", prompt, "/p/f.md", "# brief {prompt}", "/p/f.md"]
        );
    }

    #[test]
    fn every_preset_passes_the_whole_brief_as_text_after_a_double_dash_or_as_a_file() {
        for p in PRESETS {
            let brief_text = p.argv.iter().position(|a| a.contains("{brief}"));
            let brief_file = p.argv.contains(&"{brief_file}");
            assert!(brief_text.is_some() || brief_file, "{} gets no brief", p.name);
            if let Some(i) = brief_text {
                // After `--`, or glued to its option (`--prompt={brief}`): never parsed as an option.
                let glued = p.argv[i].ends_with("={brief}");
                assert!(
                    glued || p.argv[i - 1] == "--",
                    "{}: text starting with `-` must stay text",
                    p.name
                );
            }
            assert!(!p.argv.contains(&"{prompt}"), "{} gets only the raw prompt", p.name);
        }
    }

    #[test]
    fn a_custom_command_of_a_known_cli_keeps_its_state_files_out() {
        let t = Template::plain(vec![
            "/usr/bin/aider".into(),
            "--message-file".into(),
            "{brief_file}".into(),
        ]);
        assert_eq!(t.state_files, vec![".aider*".to_string()]);
        assert!(Template::plain(vec!["my-agent".into()]).state_files.is_empty());
    }

    #[test]
    fn shell_lines_quote_what_needs_it() {
        let argv: Vec<String> = ["claude", "--print", "--", "{brief}", "it's two words"]
            .map(String::from)
            .to_vec();
        assert_eq!(shell_line(&argv), "claude --print -- {brief} 'it'\\''s two words'");
    }

    #[test]
    fn resolution_order_and_errors() {
        let sh = vec!["sh".to_string(), "-c".to_string(), "true".to_string()];
        assert_eq!(
            resolve(&sh, Some("claude"), None, &[]).map(|t| t.argv).ok(),
            Some(sh.clone())
        );
        assert_eq!(
            resolve(&[], None, Some("echo hi".into()), &sh).map(|t| t.argv).ok(),
            Some(vec!["sh".to_string(), "-c".to_string(), "echo hi".to_string()])
        );
        assert_eq!(resolve(&[], None, None, &sh).map(|t| t.argv).ok(), Some(sh));
        assert!(resolve(&[], Some("nope"), None, &[]).is_err());
        assert!(resolve(&[], None, None, &[]).is_err());
        let missing = resolve(&["no-such-agent-program".into()], None, None, &[]);
        assert!(missing.is_err_and(|e| e.message.contains("not on PATH")));
    }
}
