//! The one user-facing error type: a message, its details and causes, hints
//! for what to do next, and the exit code it maps to.
//!
//! Convention: messages start lowercase and carry no trailing period, like
//! git's own `error:` and `hint:` lines.

use std::fmt;

/// Exit codes, stable across releases: README.md lists them for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Something went wrong that is not the user's input.
    Failure = 1,
    /// Usage error or invalid input (arguments, plan file, names).
    Usage = 2,
    /// A merge stopped on a conflict.
    Conflict = 3,
    /// A test command failed.
    TestsFailed = 4,
    /// Nothing to claim: nothing ready, or the named task is not claimable
    /// (a lost race is retried while another task is ready).
    NothingToClaim = 5,
    /// `plan`: the plan is valid but was not recorded (no terminal to
    /// confirm on and no `--yes`, or the answer was no).
    NotRecorded = 6,
}

/// An error as the user sees it.
#[derive(Debug)]
pub struct Error {
    pub exit: Exit,
    pub message: String,
    /// Lines printed indented under the message (one per problem).
    pub details: Vec<String>,
    /// Underlying causes, outermost first.
    pub causes: Vec<String>,
    /// What to do next.
    pub hints: Vec<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Error {
            exit,
            message: message.into(),
            details: Vec::new(),
            causes: Vec::new(),
            hints: Vec::new(),
        }
    }

    /// An error in what the user gave us: exit 2.
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }

    /// An operational failure: exit 1.
    pub fn failure(message: impl Into<String>) -> Self {
        Self::new(Exit::Failure, message)
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.details.push(detail.into());
        self
    }

    pub fn cause(mut self, cause: impl fmt::Display) -> Self {
        self.causes.push(format!("{cause:#}"));
        self
    }

    pub fn exit_code(&self) -> i32 {
        self.exit as i32
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Wraps a lower-level error with what we were doing when it happened.
pub trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::failure(what()).cause(e))
    }
}
