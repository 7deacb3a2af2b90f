//! `git agents install-man` and `git agents completions`: the man page and
//! shell completions, both generated from the CLI definition.

use std::path::PathBuf;

use clap::{Args, CommandFactory};

use crate::error::{Context, Result};
use crate::ui::Ui;

/// Install the man page, so `git help agents` and `git agents --help` work
///
/// `git agents --help` makes git run `man git-agents`. This writes
/// git-agents.1 and a page per subcommand into DIR/man1. The default DIR
/// is `share/man` beside the folder holding this binary (for `cargo
/// install`, ~/.cargo/share/man), which man finds from PATH with no setup;
/// when that folder cannot be written, ~/.local/share/man.
///
/// Examples:
///
///   git agents install-man && git help agents
///   git agents install-man /usr/local/share/man
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct InstallManArgs {
    /// The man directory (the page goes into DIR/man1)
    pub dir: Option<PathBuf>,
}

/// Print shell completions
///
/// Examples:
///
///   git agents completions bash > ~/.local/share/bash-completion/completions/git-agents
///   (completes both `git-agents …` and, with git's completion, `git agents …`)
///   git agents completions zsh > ~/.zfunc/_git-agents
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell
    pub shell: clap_complete::Shell,
}

/// Every man page as (file name, roff): git-agents.1 and one
/// git-agents-<subcommand>.1 per visible subcommand, which the main page lists.
pub fn man_pages() -> Vec<(String, Vec<u8>)> {
    let cli = super::Cli::command();
    let mut pages = vec![("git-agents.1".to_string(), render(cli.clone()))];
    for sub in cli
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        let name = format!("git-agents-{}", sub.get_name());
        let bin = format!("git agents {}", sub.get_name());
        pages.push((
            format!("{name}.1"),
            render(sub.clone().name(name.clone()).bin_name(bin)),
        ));
    }
    pages
}

fn render(cmd: clap::Command) -> Vec<u8> {
    let mut out = Vec::new();
    // Rendering into memory cannot fail.
    let _ = clap_mangen::Man::new(cmd).render(&mut out);
    out
}

/// `<bin>/../share/man`: man-db searches it for every `<bin>` on PATH.
fn beside_the_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?.canonicalize().ok()?;
    Some(exe.parent()?.parent()?.join("share/man"))
}

pub fn install_man(args: &InstallManArgs, ui: &Ui) -> Result<()> {
    let home = || {
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."))
            .join(".local/share/man")
    };
    let (dir, man1) = match &args.dir {
        Some(d) => (d.clone(), d.join("man1")),
        None => match beside_the_binary().filter(|d| std::fs::create_dir_all(d.join("man1")).is_ok()) {
            Some(d) => (d.clone(), d.join("man1")),
            None => (home(), home().join("man1")),
        },
    };
    std::fs::create_dir_all(&man1).context(|| format!("cannot create {}", man1.display()))?;
    for (name, roff) in man_pages() {
        let page = man1.join(name);
        std::fs::write(&page, roff).context(|| format!("cannot write {}", page.display()))?;
        ui.result(&page.display().to_string());
    }
    let found = args.dir.is_none() && beside_the_binary().as_deref() == Some(dir.as_path());
    if found {
        ui.status("`git help agents` and `git agents --help` now open it");
    } else {
        ui.status(&format!(
            "`git help agents` opens it when man searches {} (add it to MANPATH if it does not)",
            dir.display()
        ));
    }
    Ok(())
}

/// What git's own bash completion calls for `git agents …`: it looks for a
/// function `_git_agents` (loading `completions/git-agents` on demand), so
/// the clap-made function is handed the words as git sees them; its loop
/// starts at the word `agents`.
const GIT_BASH_HOOK: &str = r#"
# `git agents <TAB>` with git's completion loaded: git calls _git_agents.
_git_agents() {
    _git__agents agents "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
}
"#;

pub fn completions(args: &CompletionsArgs, ui: &Ui) -> Result<()> {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut super::Cli::command(), "git-agents", &mut out);
    let mut text = String::from_utf8_lossy(&out).into_owned();
    if args.shell == clap_complete::Shell::Bash {
        // clap_complete 4.6 names a hyphenated binary's subcommand cases
        // `git__subcmd__agents__subcmd__X` but looks them up as
        // `git__agents__subcmd__X`: no subcommand's options would complete.
        text = text.replace("git__subcmd__agents__subcmd__", "git__agents__subcmd__");
        text.push_str(GIT_BASH_HOOK);
    }
    ui.result(&text);
    Ok(())
}
