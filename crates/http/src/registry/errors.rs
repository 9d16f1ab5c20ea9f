//! The one table from registry errors to the OCI distribution-spec wire format:
//! `{"errors": [{"code", "message", "detail"}]}` with the code's status.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_service::registry::RegistryError;
use serde_json::{Value, json};

/// A registry error on its way to the client, with the challenge to send on 401.
#[derive(Debug)]
pub struct OciError {
    pub error: RegistryError,
    /// `Bearer realm=…,service=…` (the scope is appended from the error).
    pub challenge: String,
    /// The upload's URL, for 416 answers to chunks.
    pub location: Option<String>,
}

fn entry(code: &str, message: &str, detail: Value) -> Value {
    json!({ "errors": [{ "code": code, "message": message, "detail": detail }] })
}

/// Distribution's detail for a 401: the access that was needed, `[{Type, Name, Action}]`.
fn scope_detail(scope: &str) -> Value {
    let mut parts = scope.splitn(2, ':');
    let (kind, rest) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    match rest.rsplit_once(':') {
        Some((name, action)) => json!([{ "Type": kind, "Name": name, "Action": action }]),
        None => Value::Null,
    }
}

impl IntoResponse for OciError {
    fn into_response(self) -> Response {
        use RegistryError as E;
        let message = self.error.to_string();
        let (status, code, detail) = match &self.error {
            E::BlobUnknown => (StatusCode::NOT_FOUND, "BLOB_UNKNOWN", Value::Null),
            E::BlobUploadInvalid(_) => {
                (StatusCode::BAD_REQUEST, "BLOB_UPLOAD_INVALID", Value::Null)
            }
            E::BlobUploadUnknown => (StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN", Value::Null),
            E::DigestInvalid(_) => (StatusCode::BAD_REQUEST, "DIGEST_INVALID", Value::Null),
            E::ManifestBlobUnknown(d) => (
                StatusCode::BAD_REQUEST,
                "MANIFEST_BLOB_UNKNOWN",
                json!({ "digest": d.as_str() }),
            ),
            E::ManifestInvalid(_) => (StatusCode::BAD_REQUEST, "MANIFEST_INVALID", Value::Null),
            E::ManifestUnknown => (StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN", Value::Null),
            E::NameInvalid(_) => (StatusCode::BAD_REQUEST, "NAME_INVALID", Value::Null),
            E::NameUnknown => (StatusCode::NOT_FOUND, "NAME_UNKNOWN", Value::Null),
            E::SizeInvalid(_) => (StatusCode::BAD_REQUEST, "SIZE_INVALID", Value::Null),
            E::Unauthorized { scope, .. } => (
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                scope_detail(scope),
            ),
            E::Denied(_) => (StatusCode::FORBIDDEN, "DENIED", Value::Null),
            E::Unsupported(_) => (StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED", Value::Null),
            E::ChunkOutOfOrder { .. } | E::RangeNotSatisfiable { .. } => (
                StatusCode::RANGE_NOT_SATISFIABLE,
                "RANGE_INVALID",
                Value::Null,
            ),
            E::Store(_) | E::Storage(_) => {
                tracing::error!(error = %self.error, "registry storage error");
                (StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN", Value::Null)
            }
        };
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            "internal error".to_owned()
        } else {
            message
        };
        let mut response = (status, axum::Json(entry(code, &message, detail))).into_response();
        let headers = response.headers_mut();
        match &self.error {
            E::Unauthorized {
                scope,
                insufficient,
            } => {
                let mut challenge = self.challenge.clone();
                if !scope.is_empty() {
                    challenge.push_str(&format!(",scope=\"{scope}\""));
                }
                if *insufficient {
                    challenge.push_str(",error=\"insufficient_scope\"");
                }
                if let Ok(v) = HeaderValue::from_str(&challenge) {
                    headers.insert(header::WWW_AUTHENTICATE, v);
                }
            }
            E::ChunkOutOfOrder { size } => {
                headers.insert(header::RANGE, super::upload_range(*size));
                if let Some(v) = self
                    .location
                    .as_deref()
                    .and_then(|l| HeaderValue::from_str(l).ok())
                {
                    headers.insert(header::LOCATION, v);
                }
            }
            E::RangeNotSatisfiable { size } => {
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    headers.insert(header::CONTENT_RANGE, v);
                }
            }
            _ => {}
        }
        response
    }
}
