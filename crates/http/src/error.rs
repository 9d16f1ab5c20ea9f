//! The one table from service errors to GitHub's JSON error shapes:
//! `{"message": …, "documentation_url": …}`, plus `errors: [{resource, field, code}]` on 422.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_service::ServiceError;
use serde_json::json;

const DOCS: &str = "https://docs.github.com/rest";

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: serde_json::Value,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            body: json!({ "message": message.into(), "documentation_url": DOCS }),
        }
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not Found")
    }

    pub fn bad_credentials() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Bad credentials")
    }

    /// A body over the route's limit.
    pub fn too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request body is too large (at most {} KiB here)",
                crate::routes::BODY_LIMIT >> 10
            ),
        )
    }

    /// GitHub's 401 for an endpoint with no anonymous use (GraphQL).
    pub fn requires_authentication() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "This endpoint requires you to be authenticated.",
        )
    }

    /// A body that is not JSON at all (GitHub's 400).
    pub fn unparsable(detail: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            format!("Problems parsing JSON: {detail}"),
        )
    }

    /// A 422 for one field, the shape GitHub uses for validation failures.
    pub fn invalid(resource: &str, field: &str, code: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            body: json!({
                "message": "Validation Failed",
                "errors": [{ "resource": resource, "field": field, "code": code, "message": message }],
                "documentation_url": DOCS,
            }),
        }
    }

    /// Another server that was to answer did not (the replica running an environment).
    pub fn bad_gateway(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, message)
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl ApiError {
    /// The detail goes to the log only; the client learns that it was not its fault.
    fn internal(e: &dyn std::error::Error) -> Self {
        tracing::error!(error = %e, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Unauthenticated => {
                Self::new(StatusCode::UNAUTHORIZED, "Requires authentication")
            }
            ServiceError::BadCredentials => Self::bad_credentials(),
            ServiceError::NotFound => Self::not_found(),
            ServiceError::Forbidden(message) => Self::new(StatusCode::FORBIDDEN, message),
            ServiceError::Invalid(i) => Self::invalid(i.resource, i.field, i.code, i.message),
            ServiceError::Conflict(message) => Self::new(StatusCode::CONFLICT, message),
            e @ ServiceError::TooManyAttempts { .. } => {
                Self::new(StatusCode::TOO_MANY_REQUESTS, e.to_string())
            }
            ServiceError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
            ServiceError::Store(e) => Self::internal(&e),
            ServiceError::Storage(e) => Self::internal(&e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
