//! Berth's services: what the API and CLI can ask of the platform, each call checked by the one
//! authorization point in [`authz`].
//!
//! **Architecture Invariant:** every operation that touches a protected resource takes the
//! caller's [`Principal`] and goes through [`Berth::check`]; nothing else decides access.
//! **Architecture Invariant:** tokens never leave this crate except once, at creation, as a
//! [`secrecy::SecretString`]; only their keyed hash is stored.

pub mod accounts;
pub mod authz;
pub mod clock;
pub mod error;
pub mod principal;
pub mod repos;
pub mod tokens;

use std::sync::Arc;

use berth_store::Store;

pub use authz::Access;
pub use clock::{Clock, SystemClock};
pub use error::{Invalid, ServiceError};
pub use principal::Principal;
pub use tokens::{MintedToken, TokenHasher};

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// The platform: the store plus what it needs to mint and check tokens. Shared by every request.
#[derive(Debug, Clone)]
pub struct Berth {
    store: Store,
    hasher: Arc<TokenHasher>,
    clock: Arc<dyn Clock>,
}

impl Berth {
    pub fn new(store: Store, hasher: TokenHasher, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            hasher: Arc::new(hasher),
            clock,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    fn now(&self) -> i64 {
        self.clock.now()
    }
}
