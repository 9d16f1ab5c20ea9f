//! The service's errors. They carry what the caller needs to act, never a secret; the HTTP edge
//! maps them to GitHub's JSON shapes.

use berth_store::StoreError;

/// A validation failure, in the terms of GitHub's `errors: [{resource, field, code}]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub resource: &'static str,
    pub field: &'static str,
    /// GitHub's codes: `missing`, `missing_field`, `invalid`, `already_exists`, `unprocessable`.
    pub code: &'static str,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No credentials where they are needed.
    #[error("requires authentication")]
    Unauthenticated,
    /// Credentials that are unknown, expired or revoked.
    #[error("bad credentials")]
    BadCredentials,
    /// Missing, or not visible to the caller: the two are never told apart.
    #[error("not found")]
    NotFound,
    /// Visible but not allowed; the message says what is missing.
    #[error("{0}")]
    Forbidden(String),
    #[error("{}", .0.message)]
    Invalid(Invalid),
    /// Too many failed attempts (signing in); the caller may try again in `seconds`.
    #[error("too many failed attempts; try again in {} minutes", (seconds + 59) / 60)]
    TooManyAttempts { seconds: i64 },
    /// The request conflicts with the resource's state; the message says which and what to do.
    #[error("{0}")]
    Conflict(String),
    /// Something on the server's side failed; the message is for the log, not the client.
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Storage(#[from] berth_blob::BlobError),
}

/// `Ok` when a change found what it was to change; `NotFound` when there was nothing.
pub(crate) fn found(changed: bool) -> Result<(), ServiceError> {
    if changed {
        Ok(())
    } else {
        Err(ServiceError::NotFound)
    }
}

impl ServiceError {
    pub fn invalid(
        resource: &'static str,
        field: &'static str,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self::Invalid(Invalid {
            resource,
            field,
            code,
            message: message.into(),
        })
    }
}
