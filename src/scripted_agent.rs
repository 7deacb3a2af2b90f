//! A scripted stand-in for a coding agent, used by `git agents demo` and the
//! tests: it reads directives from the task brief (`$GIT_AGENTS_PROMPT_FILE`),
//! one per line, and acts on the worktree it runs in.
//!
//! ```text
//! agent: write PATH TEXT      create or replace a file
//! agent: append PATH TEXT     add a line to a file
//! agent: commit MESSAGE       commit everything (git add -A)
//! agent: fail-once            fail on the first attempt only
//! agent: fail MESSAGE         exit 1
//! agent: sleep SECONDS        wait (a hung agent, with a large number)
//! agent: print LINES          print that many lines of output
//! ```

use std::path::Path;

use crate::error::{Context, Error, Result};

pub fn run() -> Result<()> {
    let brief_path = std::env::var("GIT_AGENTS_PROMPT_FILE").map_err(|_| {
        Error::usage("the scripted agent runs under `git agents spawn` (GIT_AGENTS_PROMPT_FILE is unset)")
    })?;
    let brief = std::fs::read_to_string(&brief_path).context(|| format!("cannot read {brief_path}"))?;
    let attempt: u32 = std::env::var("GIT_AGENTS_ATTEMPT")
        .ok()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1);
    let here = std::env::current_dir().context(|| "no current folder".into())?;
    for line in brief.lines() {
        let Some(directive) = line.trim().strip_prefix("agent: ") else {
            continue;
        };
        let (verb, rest) = directive.split_once(' ').unwrap_or((directive, ""));
        match verb {
            "write" | "append" => {
                let (path, text) = rest.split_once(' ').unwrap_or((rest, ""));
                write(&here.join(path), text, verb == "append")?;
            }
            "commit" => commit(&here, rest)?,
            "fail-once" if attempt == 1 => return Err(Error::failure("failing the first attempt, as scripted")),
            "fail-once" => {}
            "fail" => return Err(Error::failure(format!("scripted failure: {rest}"))),
            "sleep" => std::thread::sleep(std::time::Duration::from_secs_f64(rest.trim().parse().unwrap_or(1.0))),
            "print" => {
                let ui = crate::ui::Ui::new(false);
                for i in 0..rest.trim().parse::<usize>().unwrap_or(1) {
                    ui.result(&format!("scripted agent output line {i}"));
                }
            }
            other => return Err(Error::usage(format!("unknown directive `agent: {other}`"))),
        }
    }
    Ok(())
}

fn write(path: &Path, text: &str, append: bool) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).context(|| format!("cannot create {}", parent.display()))?;
    }
    let mut content = if append {
        std::fs::read_to_string(path).unwrap_or_default()
    } else {
        String::new()
    };
    content.push_str(text);
    content.push('\n');
    std::fs::write(path, content).context(|| format!("cannot write {}", path.display()))
}

fn commit(dir: &Path, message: &str) -> Result<()> {
    crate::process::git_in(dir, &["add", "-A"])?;
    let name = [
        "-c",
        "user.name=scripted agent",
        "-c",
        "user.email=agent@git-agents.invalid",
    ];
    let mut args: Vec<&str> = name.to_vec();
    args.extend(["commit", "-q", "-m", message]);
    crate::process::git_in(dir, &args).map(|_| ())
}
