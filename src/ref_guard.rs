//! The ref guard: a `reference-transaction` hook, installed by `spawn`, that
//! refuses to let an agent process move any ref but its own task branch.
//!
//! git (2.28 or newer) runs the hook for every ref transaction of a git
//! command, with `prepared`, `committed` or `aborted` as `$1` and one line
//! `<old> <new> <ref>` per update on stdin; a non-zero exit in `prepared`
//! aborts the whole transaction. git-agents writes its own state refs
//! in-process with gix (`state::transaction`, `state::move_branch`), which
//! runs no hooks, so only git commands ever meet the guard.
//!
//! Where it lives: the repository's hooks folder (`git rev-parse --git-path
//! hooks`, so core.hooksPath is honoured), shared by every worktree, with an
//! existing `reference-transaction` hook chained the way `hook install`
//! chains a pre-push hook. The other candidate, per-agent-worktree config
//! (`extensions.worktreeConfig` plus `git config --worktree core.hooksPath`),
//! was rejected although gix 0.90 opens such repositories (its
//! `config/cache/incubate.rs` reads `config.worktree` when the extension is
//! set, and `FormatVersion` lists `worktreeConfig` among the extensions it
//! accepts in format version 0): agents' worktrees are made by the runner
//! only once an agent holds a task, after spawn's one chance to install;
//! a per-worktree core.hooksPath would take the user's other hooks
//! (pre-commit, commit-msg) away from agent worktrees; and the extension
//! changes the format of the user's repository for every other tool.
//!
//! The hook itself decides by the environment: without `GIT_AGENTS_TASK`
//! (the human, the runner's own git commands, acceptance tests) it only runs
//! a chained hook. It needs no git-agents binary, so it never dangles when
//! git-agents is gone; `hook uninstall` and `clean` leave it in place.

use std::path::{Path, PathBuf};

use crate::error::{Context, Error, Result};
use crate::hook_files::{carries, chained_path, hooks_dir_in, occupied, put_in_place};
use crate::ui::Ui;

/// The hook's name in the hooks folder.
pub const HOOK_NAME: &str = "reference-transaction";
/// Marks the hook file as ours.
pub const MARKER: &str = "git-agents ref guard";

/// Installs the guard (idempotent: a current one is left as it is, an older
/// one rewritten). A guard that cannot be installed is a warning, not a
/// reason to stop agents: `doctor` still finds forged state refs.
pub fn install(repo: &gix::Repository, ui: &Ui) {
    if let Err(e) = try_install(repo, ui) {
        ui.warn(&format!(
            "agents can move any ref: the ref guard is not installed: {}",
            e.message
        ));
        for line in e.causes.iter().chain(&e.hints) {
            ui.warn(&format!("  {line}"));
        }
    }
}

fn try_install(repo: &gix::Repository, ui: &Ui) -> Result<()> {
    let workdir = crate::repo::workdir(repo)?;
    let dir = hooks_dir_in(&workdir)?;
    let real = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let (dir_real, common) = (real(&dir), real(repo.common_dir()));
    if dir_real.starts_with(real(&workdir)) && !dir_real.starts_with(&common) {
        // A relative core.hooksPath names a folder of each worktree's own
        // checkout: agents would not run a hook written here.
        return Err(
            Error::usage(format!("core.hooksPath points into the checkout ({})", dir.display()))
                .hint("point core.hooksPath at an absolute folder outside the worktree to have the guard"),
        );
    }
    let hook = dir.join(HOOK_NAME);
    let text = script();
    if carries(&hook, MARKER) {
        if std::fs::read_to_string(&hook).is_ok_and(|t| t == text) {
            return Ok(());
        }
        return write_script(&hook, &text); // an older guard; the chained hook stays
    }
    let chained = chained_path(&dir, HOOK_NAME);
    if !occupied(&hook) {
        std::fs::create_dir_all(&dir).context(|| format!("cannot create {}", dir.display()))?;
        write_script(&hook, &text)?;
        if occupied(&chained) {
            ui.status(&format!(
                "the ref guard runs the hook left at {} first",
                chained.display()
            ));
        }
        return Ok(());
    }
    if occupied(&chained) {
        return Err(Error::usage(format!(
            "{} exists and {} too; chaining would overwrite one",
            hook.display(),
            chained.display()
        ))
        .hint("move one of the two hooks away, then spawn again"));
    }
    put_in_place(&hook, &chained, |path| write_script(path, &text))?;
    ui.status(&format!(
        "installed the ref guard at {}; the previous hook runs first, from {}",
        hook.display(),
        chained.display()
    ));
    Ok(())
}

/// Writes `text` to a temporary file beside `path` and renames it over
/// `path`, so a git running meanwhile sees either hook whole.
fn write_script(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let name = format!(".{HOOK_NAME}.git-agents-{}", std::process::id());
    let temp: PathBuf = path.with_file_name(name);
    let written = std::fs::write(&temp, text)
        .and_then(|()| std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(0o755)))
        .and_then(|()| std::fs::rename(&temp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written.context(|| format!("cannot write {}", path.display()))
}

/// The hook: POSIX sh, self-contained.
pub fn script() -> String {
    format!(
        r#"#!/bin/sh
# {MARKER}: installed by `git agents spawn`; it needs no git-agents binary.
# In an agent process (GIT_AGENTS_TASK set) git may move only HEAD, this
# worktree's pseudo refs (ORIG_HEAD, MERGE_HEAD, AUTO_MERGE, ...) and
# per-worktree refs (refs/bisect/, refs/worktree/, refs/rewritten/),
# refs/stash and the task branch refs/heads/$GIT_AGENTS_BRANCH; any other
# update is refused. Everywhere else it only runs a chained hook. To remove
# it, delete this file (and move git-agents-chained/{HOOK_NAME} back).
chained="$(dirname "$0")/git-agents-chained/{HOOK_NAME}"
if [ -z "${{GIT_AGENTS_TASK:-}}" ]; then
	[ -x "$chained" ] && exec "$chained" "$@"
	exec cat >/dev/null
fi
input=$(cat)
if [ -x "$chained" ]; then
	if [ -n "$input" ]; then printf '%s\n' "$input"; fi | "$chained" "$@" || exit $?
fi
[ "$1" = prepared ] || exit 0
# git-agents' own git commands in an agent process (`git agents done` run by
# the agent fetches refs/agents/* from a shared remote): the git running this
# hook was started by git-agents, which has GIT_AGENTS_TASK itself (the spawn
# that starts agents has not). Only Linux's /proc tells; without it, pass.
[ -r "/proc/$PPID/status" ] || exit 0
caller=$(sed -n 's/^PPid:[[:space:]]*//p' "/proc/$PPID/status")
if [ "$(cat "/proc/$caller/comm" 2>/dev/null)" = git-agents ] &&
	tr '\0' '\n' <"/proc/$caller/environ" 2>/dev/null | grep -q '^GIT_AGENTS_TASK='; then
	exit 0
fi
# `git pack-refs` (run by gc and maintenance) rewrites refs without moving them.
case "$(tr '\0' ' ' <"/proc/$PPID/cmdline" 2>/dev/null)" in
"git pack-refs "* | */git\ pack-refs\ *) exit 0 ;;
esac
branch="refs/heads/${{GIT_AGENTS_BRANCH:-agents/$GIT_AGENTS_TASK}}"
refused=0
while read -r old new ref; do
	case "$ref" in
	"" | "$branch" | HEAD | refs/stash | refs/bisect/* | refs/worktree/* | refs/rewritten/*) continue ;;
	*/* | *[!ABCDEFGHIJKLMNOPQRSTUVWXYZ_]*) ;;
	*) continue ;;
	esac
	case "$old" in
	*[!0]*) [ "$old" = "$new" ] && continue ;;
	esac
	echo "git-agents: refusing to update $ref: ${{GIT_AGENTS_AGENT:-the agent}} works on task $GIT_AGENTS_TASK and may only move its task branch ${{branch#refs/heads/}} (and HEAD)" >&2
	refused=1
done <<EOF
$input
EOF
exit $refused
"#
    )
}
