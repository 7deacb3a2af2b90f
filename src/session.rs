//! One run of git-agents: what `lib::run` builds once from the command line
//! and hands to every command. It holds the output (`ui`), the global
//! options, and the repository the run works in, opened on first use with
//! its settings resolved and its state backend chosen, so no command opens
//! a repository or reads a setting of its own, and a command can be run
//! in-process against a given session.

use std::cell::{Cell, OnceCell};
use std::path::PathBuf;
use std::rc::Rc;

use crate::error::Result;
use crate::settings::{Globals, Settings};
use crate::state::Store;
use crate::ui::Ui;

pub struct Session<'u> {
    pub ui: &'u Ui,
    globals: Globals,
    /// Where the repository is found: the current directory, or a given one.
    dir: PathBuf,
    store: OnceCell<Store>,
    /// Shared with the sessions made by [`Session::with_ui`].
    fallback_identity: Rc<Cell<bool>>,
}

impl<'u> Session<'u> {
    /// A session in the repository around the current directory.
    pub fn new(globals: Globals, ui: &'u Ui) -> Self {
        Session::at(globals, ui, PathBuf::from("."))
    }

    /// A session in the repository around `dir` (commands run in-process
    /// against a repository of the caller's choice).
    pub fn at(globals: Globals, ui: &'u Ui, dir: PathBuf) -> Self {
        Session {
            ui,
            globals,
            dir,
            store: OnceCell::new(),
            fallback_identity: Rc::default(),
        }
    }

    /// The repository of the current directory with its settings and state
    /// backend, opened on the first call.
    pub fn repo(&self) -> Result<&Store> {
        if let Some(store) = self.store.get() {
            return Ok(store);
        }
        let repo = self.open()?;
        let settings = Settings::resolve(&self.globals, &repo);
        let store = Store::new(repo, settings)?;
        Ok(self.store.get_or_init(|| store))
    }

    /// [`Session::repo`], judged by this clone's refs alone whatever the
    /// settings name as the shared remote (the pre-push guard: it judges by
    /// what this clone knows, must not slow every push, and writes nothing).
    pub fn offline_repo(&self) -> Result<&Store> {
        if let Some(store) = self.store.get() {
            return Ok(store);
        }
        let repo = self.open()?;
        let settings = Settings::resolve(&self.globals, &repo);
        Ok(self.store.get_or_init(|| Store::offline(repo, settings)))
    }

    /// The settings outside any repository (the globals and the environment).
    pub fn settings(&self) -> Settings {
        match self.store.get() {
            Some(store) => store.settings().clone(),
            None => Settings::from_env(&self.globals),
        }
    }

    /// A session with the same options printing through `ui`, which opens
    /// its repository afresh (`demo` runs its steps in the repository it
    /// made, with their results on its own output).
    pub fn with_ui<'v>(&self, ui: &'v Ui) -> Session<'v> {
        Session {
            ui,
            globals: self.globals.clone(),
            dir: self.dir.clone(),
            store: OnceCell::new(),
            fallback_identity: self.fallback_identity.clone(),
        }
    }

    /// Whether this run made commits with the fallback identity (to say so once).
    pub fn fallback_identity_used(&self) -> bool {
        self.fallback_identity.get()
    }

    fn open(&self) -> Result<gix::Repository> {
        // Every command that works in a repository runs git sooner or later.
        crate::process::check_git_version()?;
        let (repo, fallback) = crate::repo::open(&self.dir)?;
        self.fallback_identity.set(fallback);
        Ok(repo)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::commands::{dispatch, Cli};

    fn run(session: &Session, args: &[&str]) -> Result<()> {
        let cli = Cli::try_parse_from(std::iter::once("git-agents").chain(args.iter().copied())).expect("parses");
        dispatch(&cli, session)
    }

    #[test]
    fn commands_run_in_process_against_the_sessions_repository() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path();
        let git = |args: &[&str]| crate::process::git_in(dir, args).expect("git");
        git(&["init", "-q", "-b", "main"]);
        git(&["config", "user.name", "Test"]);
        git(&["config", "user.email", "test@example.com"]);
        std::fs::write(dir.join("README"), "x\n").expect("write");
        git(&["add", "-A"]);
        git(&["commit", "-q", "-m", "base"]);
        let plan = "[[task]]\nid = \"a\"\ntitle = \"A\"\nowns = [\"a/**\"]\nprompt = \"do a\"\n";
        std::fs::write(dir.join("agents.toml"), plan).expect("write");
        let ui = Ui::new(true);
        let session = Session::at(Globals::default(), &ui, dir.to_path_buf());
        run(&session, &["plan", "--yes"]).expect("plan records");
        run(&session, &["claim", "--next", "--agent", "agent-1"]).expect("claims");
        let snap = crate::state::snapshot(session.repo().expect("repo")).expect("snapshot");
        assert_eq!(snap.tasks["a"].state, crate::state::TaskState::Claimed);
        // The test process's own directory is not the session's repository.
        assert_ne!(
            std::env::current_dir().expect("cwd").canonicalize().ok(),
            dir.canonicalize().ok()
        );
    }
}
