//! `git agents hook`: install, remove and run the pre-push guard.

use std::io::Read;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use crate::error::{Context, Error, Result};
use crate::hook_files::{carries, chained_path, hooks_dir_in, occupied, put_in_place};
use crate::session::Session;
use crate::ui::Ui;

/// Install or run the pre-push guard
///
/// The guard refuses a push that would publish a task branch (agents/<id>)
/// with changes outside the files its task owns, merges made by
/// `git agents merge` without a passed test note, or the target of a merge
/// that is stopped on a conflict. Every other push passes untouched.
///
/// The hook goes where git looks for hooks (core.hooksPath is honoured).
/// An existing pre-push hook is kept only with --chain: it then runs first,
/// with the same arguments and input. To push past the guard once, use
/// `git push --no-verify`.
///
/// Examples:
///
///   git agents hook install
///   git agents hook install --chain      # keep the existing hook, run it first
///   git agents hook uninstall
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct HookArgs {
    /// Print the outcome as JSON on stdout (for pre-push: each ref, accepted or refused and why)
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub action: HookAction,
}

/// What `hook install|uninstall --json` prints.
#[derive(serde::Serialize)]
struct Installed {
    action: &'static str,
    hook: PathBuf,
    /// Whether this run changed the hook (false: already so, nothing to do).
    changed: bool,
    /// install: where the previous hook was kept; uninstall: the hook put back.
    #[serde(skip_serializing_if = "Option::is_none")]
    chained: Option<PathBuf>,
}

/// One pushed ref in `hook pre-push --json`.
#[derive(serde::Serialize)]
struct Judged {
    local_ref: String,
    remote_ref: String,
    accepted: bool,
    /// Why it is refused (one ref may break several rules).
    refusals: Vec<Refused>,
}

#[derive(serde::Serialize)]
struct Refused {
    problem: String,
    /// The offending paths or commits.
    items: Vec<String>,
    fix: String,
}

#[derive(Debug, Subcommand)]
pub enum HookAction {
    /// Install the pre-push hook
    Install {
        /// Keep an existing pre-push hook and run it before the guard
        #[arg(long)]
        chain: bool,
    },
    /// Remove the hook and put back a chained one
    Uninstall,
    /// Judge a push (what the installed hook runs; git's lines on stdin)
    PrePush {
        /// The remote's name (or its URL when pushing to a URL)
        remote: String,
        /// The remote's URL
        url: Option<String>,
    },
}

/// Marks a hook file as ours.
const MARKER: &str = "git-agents pre-push guard";
/// Where a pre-existing hook is kept when chained, under its own name (some
/// hooks look at `basename "$0"`).
const CHAINED: &str = "git-agents-chained/pre-push";

pub fn run(args: &HookArgs, session: &Session) -> Result<()> {
    match &args.action {
        HookAction::Install { chain } => install(*chain, args.json, session),
        HookAction::Uninstall => uninstall(args.json, session),
        HookAction::PrePush { remote, .. } => pre_push(remote, args.json, session),
    }
}

fn hooks_dir(session: &Session) -> Result<PathBuf> {
    let repo = session.repo()?;
    let workdir = crate::repo::workdir(repo)?;
    hooks_dir_in(&workdir)
}

fn is_ours(path: &Path) -> bool {
    carries(path, MARKER)
}

/// The human line, or with `json` the outcome alone on stdout.
fn report(json: bool, ui: &Ui, line: &str, outcome: Installed) {
    if json {
        ui.json(&outcome);
    } else {
        ui.result(line);
    }
}

fn install(chain: bool, json: bool, session: &Session) -> Result<()> {
    let ui = session.ui;
    let dir = hooks_dir(session)?;
    let hook = dir.join("pre-push");
    let chained = chained_path(&dir, "pre-push");
    if is_ours(&hook) {
        let line = format!("the pre-push guard is already installed at {}", hook.display());
        let outcome = Installed {
            action: "install",
            hook,
            changed: false,
            chained: occupied(&chained).then_some(chained),
        };
        report(json, ui, &line, outcome);
        return Ok(());
    }
    let existing = occupied(&hook);
    if existing && !chain {
        return Err(
            Error::usage(format!("a pre-push hook already exists at {}", hook.display()))
                .hint("keep it and run it before the guard: `git agents hook install --chain`")
                .hint("or move it away yourself and run `git agents hook install` again"),
        );
    }
    let leftover = occupied(&chained);
    if existing && leftover {
        return Err(Error::usage(format!(
            "{} already exists; chaining would overwrite it",
            chained.display()
        ))
        .hint("move one of the two hooks away, then run `git agents hook install --chain` again"));
    }
    if leftover && !chain {
        // The guard would run it: say so rather than run a hook nobody asked for.
        return Err(Error::usage(format!(
            "a chained hook from an earlier install is at {}",
            chained.display()
        ))
        .hint("keep running it first: `git agents hook install --chain`")
        .hint("or remove it, then run `git agents hook install` again"));
    }
    put_in_place(&hook, &chained, write_hook)?;
    let line = format!("installed the pre-push guard at {}", hook.display());
    if existing {
        ui.status(&format!("the previous hook runs first, from {}", chained.display()));
    }
    let outcome = Installed {
        action: "install",
        hook,
        changed: true,
        chained: existing.then_some(chained),
    };
    report(json, ui, &line, outcome);
    Ok(())
}

fn write_hook(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let exe = std::env::current_exe()
        .ok()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "git-agents".into());
    let script = format!(
        r#"#!/bin/sh
# {MARKER}: installed by `git agents hook install`, removed by
# `git agents hook uninstall`. To push past it once: git push --no-verify
input=$(mktemp) || exit 1
trap 'rm -f "$input"' EXIT
cat >"$input"
chained="$(dirname "$0")/{CHAINED}"
if [ -x "$chained" ]; then
	"$chained" "$@" <"$input" || exit $?
fi
exe={exe}
[ -x "$exe" ] || exe=git-agents
"$exe" hook pre-push "$@" <"$input"
"#,
        exe = shell_quote(&exe)
    );
    std::fs::write(path, script).context(|| format!("cannot write {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .context(|| format!("cannot make {} executable", path.display()))
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn uninstall(json: bool, session: &Session) -> Result<()> {
    let ui = session.ui;
    let dir = hooks_dir(session)?;
    let hook = dir.join("pre-push");
    let chained = dir.join(CHAINED);
    if !(hook.exists() || hook.is_symlink()) {
        let outcome = Installed {
            action: "uninstall",
            hook,
            changed: false,
            chained: None,
        };
        report(json, ui, "no pre-push hook is installed; nothing to do", outcome);
        return Ok(());
    }
    if !is_ours(&hook) {
        return Err(
            Error::usage(format!("{} was not installed by git agents", hook.display()))
                .hint("it is left as it is; remove it yourself if you mean to"),
        );
    }
    std::fs::remove_file(&hook).context(|| format!("cannot remove {}", hook.display()))?;
    if chained.exists() || chained.is_symlink() {
        std::fs::rename(&chained, &hook)
            .context(|| format!("cannot move {} back to {}", chained.display(), hook.display()))?;
        if let Some(folder) = chained.parent() {
            let _ = std::fs::remove_dir(folder); // only if empty
        }
        let line = format!(
            "removed the pre-push guard; the previous hook is back at {}",
            hook.display()
        );
        let outcome = Installed {
            action: "uninstall",
            hook: hook.clone(),
            changed: true,
            chained: Some(hook),
        };
        report(json, ui, &line, outcome);
    } else {
        let line = format!("removed the pre-push guard from {}", hook.display());
        let outcome = Installed {
            action: "uninstall",
            hook,
            changed: true,
            chained: None,
        };
        report(json, ui, &line, outcome);
    }
    Ok(())
}

fn pre_push(remote: &str, json: bool, session: &Session) -> Result<()> {
    let ui = session.ui;
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context(|| "cannot read the pushed refs from stdin".into())?;
    let pushes = crate::guard::parse(&input)?;
    let refusals = if pushes.is_empty() {
        Vec::new()
    } else {
        // The guard judges by what this clone knows: it must not slow every
        // push with a fetch, and it writes nothing.
        let repo = session.offline_repo()?;
        crate::guard::check(repo, remote, &pushes)?
    };
    if json {
        // Each pushed ref with the verdict on it; the exit code and the error
        // on stderr stay what git acts on.
        let judged: Vec<Judged> = pushes
            .iter()
            .map(|p| {
                let refused: Vec<Refused> = refusals
                    .iter()
                    .filter(|r| r.reference == p.remote_ref)
                    .map(|r| Refused {
                        problem: r.problem.clone(),
                        items: r.items.clone(),
                        fix: r.fix.clone(),
                    })
                    .collect();
                Judged {
                    local_ref: p.local_ref.clone(),
                    remote_ref: p.remote_ref.clone(),
                    accepted: refused.is_empty(),
                    refusals: refused,
                }
            })
            .collect();
        ui.json(&serde_json::json!({
            "remote": remote,
            "accepted": refusals.is_empty(),
            "refs": judged,
        }));
    }
    if refusals.is_empty() {
        return Ok(());
    }
    let mut err = Error::failure("push refused by the git-agents pre-push guard");
    let mut fixes: Vec<String> = Vec::new();
    for r in refusals {
        err = err.detail(format!("{}: {}", r.reference, r.problem));
        for item in r.items {
            err = err.detail(format!("  {item}"));
        }
        if !fixes.contains(&r.fix) {
            fixes.push(r.fix);
        }
    }
    for fix in fixes {
        err = err.hint(fix);
    }
    Err(err.hint("to push anyway (the guard is advice, not a lock): `git push --no-verify`"))
}
