//! `git agents install-man` and `git agents completions`: the man page and
//! shell completions, both generated from the CLI definition.

use std::path::PathBuf;

use clap::{Args, CommandFactory};

use crate::error::{Context, Result};
use crate::ui::Ui;

/// Install the man page, so `git help agents` and `git agents --help` work
///
/// `git agents --help` makes git run `man git-agents`. This writes
/// git-agents.1 and a page per subcommand into DIR/man1 (default
/// ~/.local/share/man, which man searches when ~/.local/bin is on PATH).
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

pub fn install_man(args: &InstallManArgs, ui: &Ui) -> Result<()> {
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("."));
            home.join(".local/share/man")
        }
    };
    let man1 = dir.join("man1");
    std::fs::create_dir_all(&man1).context(|| format!("cannot create {}", man1.display()))?;
    for (name, roff) in man_pages() {
        let page = man1.join(name);
        std::fs::write(&page, roff).context(|| format!("cannot write {}", page.display()))?;
        ui.result(&page.display().to_string());
    }
    ui.status("`git help agents` now opens it (if that folder is on your MANPATH)");
    Ok(())
}

pub fn completions(args: &CompletionsArgs, ui: &Ui) -> Result<()> {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut super::Cli::command(), "git-agents", &mut out);
    ui.result(&String::from_utf8_lossy(&out));
    Ok(())
}
