//! Berth as a client of container registries: image references, the `/v2/` challenge and the
//! Docker token flow, pulling into a verified blob cache, Amazon ECR's token swap, the
//! step-by-step `registry check`, and the `config.json` that logs other clients in.
//!
//! **Architecture Invariant:** nothing in this crate logs or formats a password, token or
//! access key: every type holding one has a redacting `Debug`, and errors carry hosts,
//! repositories and codes only.

pub mod auth;
pub mod check;
pub mod client;
pub mod ecr;
pub mod egress;
mod error;
pub mod logins;
pub mod pull;
pub mod reference;

pub use auth::{Challenge, Credentials};
pub use client::{ConnectStep, Registry, http_client};
pub use egress::{Egress, Refused};
pub use error::{AuthVia, FailureClass, RegistryError};
pub use reference::ImageRef;
