//! Why a write of state did not apply: the one verdict both backends give
//! (the local ref transaction and the shared remote's atomic push), kept
//! apart so neither has to import the other.

use crate::error::Error;

/// Why a transaction did not apply.
#[derive(Debug)]
pub enum WriteError {
    /// A ref no longer holds the value we read: another writer won. Retry on fresh state.
    Moved,
    /// Anything else, ready to show.
    Failed(Error),
}

impl From<Error> for WriteError {
    fn from(e: Error) -> Self {
        WriteError::Failed(e)
    }
}
