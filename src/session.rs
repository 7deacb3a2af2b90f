//! One run of git-agents: what `lib::run` builds once from the command line
//! and hands to every command. It holds the output (`ui`), the global
//! options, and the repository the run works in, opened on first use with
//! its settings resolved and its state backend chosen, so no command opens
//! a repository or reads a setting of its own, and a command can be run
//! in-process against a given session.

use std::cell::{Cell, OnceCell};
use std::rc::Rc;

use crate::error::Result;
use crate::settings::{Globals, Settings};
use crate::state::Store;
use crate::ui::Ui;

pub struct Session<'u> {
    pub ui: &'u Ui,
    globals: Globals,
    store: OnceCell<Store>,
    /// Shared with the sessions made by [`Session::with_ui`].
    fallback_identity: Rc<Cell<bool>>,
}

impl<'u> Session<'u> {
    pub fn new(globals: Globals, ui: &'u Ui) -> Self {
        Session {
            ui,
            globals,
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
        let (repo, fallback) = crate::repo::open()?;
        self.fallback_identity.set(fallback);
        Ok(repo)
    }
}
