//! The one table from npm registry failures to npm's wire errors: a status and
//! `{"error": "…"}`, which npm, pnpm and yarn print after the status line.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_service::ServiceError;
use serde_json::json;

/// What went wrong with an npm request.
#[derive(Debug)]
pub enum NpmError {
    Service(ServiceError),
    /// A package name that breaks the rules (unscoped, a scope that is no login, …).
    Name(berth_domain::npm::NpmNameError),
    /// A path that names no npm endpoint, or a method the endpoint does not take.
    NoRoute,
    /// A publish or request body over its limit, in bytes.
    TooLarge(usize),
    /// A request that cannot be read as what the endpoint takes.
    BadRequest(String),
    /// A legacy login whose password is not a token of the user named; says what is.
    LoginRefused(String),
}

impl From<ServiceError> for NpmError {
    fn from(e: ServiceError) -> Self {
        Self::Service(e)
    }
}

impl From<berth_domain::npm::NpmNameError> for NpmError {
    fn from(e: berth_domain::npm::NpmNameError) -> Self {
        Self::Name(e)
    }
}

pub type NpmResult<T> = Result<T, NpmError>;

/// How to give credentials, for 401s.
const LOG_IN: &str = "authenticate with a Berth token: `npm login --scope=@OWNER --auth-type=legacy --registry=<base>/npm/` (the password is the token), or `//HOST/npm/:_authToken=TOKEN` in .npmrc";

impl IntoResponse for NpmError {
    fn into_response(self) -> Response {
        use ServiceError as S;
        let (status, message) = match self {
            Self::Service(S::Unauthenticated) => (
                StatusCode::UNAUTHORIZED,
                format!("authentication required: {LOG_IN}"),
            ),
            Self::Service(S::BadCredentials) => (
                StatusCode::UNAUTHORIZED,
                format!("the token is unknown, expired or revoked: {LOG_IN}"),
            ),
            Self::Service(S::NotFound) | Self::NoRoute => {
                (StatusCode::NOT_FOUND, "Not found".to_owned())
            }
            Self::Service(S::Forbidden(m)) => (StatusCode::FORBIDDEN, m),
            Self::Service(S::Invalid(i)) => (StatusCode::BAD_REQUEST, i.message),
            Self::Service(S::Conflict(m)) => (StatusCode::CONFLICT, m),
            Self::Service(e @ S::TooManyAttempts { .. }) => {
                (StatusCode::TOO_MANY_REQUESTS, e.to_string())
            }
            Self::Service(e @ (S::Internal(_) | S::Store(_) | S::Storage(_))) => {
                tracing::error!(error = %e, "npm request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error; the server's log has the details".to_owned(),
                )
            }
            // A name that can never exist is reported as missing, with the rule it breaks.
            Self::Name(e) => (StatusCode::NOT_FOUND, e.to_string()),
            Self::TooLarge(limit) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the request is larger than {} MiB, the most this registry takes",
                    limit >> 20
                ),
            ),
            Self::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            Self::LoginRefused(m) => (StatusCode::UNAUTHORIZED, m),
        };
        let mut response = (status, Json(json!({ "error": message }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"berth\""),
            );
        }
        response
    }
}
