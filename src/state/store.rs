//! The repository a run works in, together with where its state lives (the
//! backend) and the run's settings: the one handle every reader and writer
//! of refs/agents/* takes. `Session` opens it once per run; each agent
//! thread of `spawn` opens its own from a [`Shared`] (gix handles are not
//! shared across threads), with the same backend value, so all of them
//! know when the remote was last fetched.
//!
//! A `Store` dereferences to its `gix::Repository`: code that only reads
//! git objects takes `&gix::Repository` and is handed a store as is; code
//! that reads or writes state takes `&Store`, which says so in its
//! signature.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::backend::Backend;
use crate::error::{Context as _, Result};
use crate::settings::Settings;

/// A repository with its state backend and settings.
pub struct Store {
    repo: gix::Repository,
    backend: Arc<Backend>,
    settings: Arc<Settings>,
}

impl std::ops::Deref for Store {
    type Target = gix::Repository;

    fn deref(&self) -> &gix::Repository {
        &self.repo
    }
}

impl Store {
    /// `repo` with the backend its settings name (a remote that is not one
    /// of the repository's is an error).
    pub fn new(repo: gix::Repository, settings: Settings) -> Result<Store> {
        let settings = Arc::new(settings);
        let backend = Backend::resolve(&repo, &settings)?;
        Ok(Store {
            repo,
            backend: Arc::new(backend),
            settings,
        })
    }

    /// `repo` judged by its local refs only, whatever the settings say (the
    /// pre-push guard: it judges by what this clone knows, must not slow
    /// every push, and writes nothing).
    pub fn offline(repo: gix::Repository, settings: Settings) -> Store {
        Store {
            repo,
            backend: Arc::new(Backend::Local),
            settings: Arc::new(settings),
        }
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The time now in seconds since the epoch, unless `GIT_AGENTS_NOW` pins it.
    pub fn now(&self) -> i64 {
        self.settings.now()
    }

    /// What another thread needs to open its own handle on this repository,
    /// with `settings` (these settings, or a variant of them).
    pub fn share(&self, settings: Settings) -> Result<Shared> {
        // Absolute, so paths derived from it (briefs, logs) work from every worktree.
        let git_dir = self
            .repo
            .git_dir()
            .canonicalize()
            .context(|| "cannot resolve the git dir".into())?;
        Ok(Shared {
            git_dir,
            backend: self.backend.clone(),
            settings: Arc::new(settings),
        })
    }
}

/// A store's repository, backend and settings, to open in another thread.
#[derive(Clone)]
pub struct Shared {
    git_dir: PathBuf,
    backend: Arc<Backend>,
    settings: Arc<Settings>,
}

impl Shared {
    /// The git dir, absolute.
    pub fn git_dir(&self) -> &Path {
        &self.git_dir
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// A handle of this thread's own on the shared repository.
    pub fn open(&self) -> Result<Store> {
        let mut repo =
            gix::open(&self.git_dir).context(|| format!("cannot open the repository at {}", self.git_dir.display()))?;
        repo.committer_or_set_fallback(crate::repo::FALLBACK_NAME, crate::repo::FALLBACK_EMAIL)
            .context(|| "cannot set up a committer identity".into())?;
        Ok(Store {
            repo,
            backend: self.backend.clone(),
            settings: self.settings.clone(),
        })
    }
}
