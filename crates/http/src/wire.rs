//! Turning the raw parts of a request into domain values.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use std::collections::HashMap;

use berth_domain::{Login, Permission, RepoName};
use serde::de::DeserializeOwned;

use crate::auth::Caller;
use crate::{ApiError, AppState};

/// A JSON request body. Unlike `axum::Json` it does not insist on a `Content-Type` (GitHub does
/// not), answers 400 for text that is not JSON and 422 for JSON of the wrong shape, naming the
/// field at fault.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::too_large()
            } else {
                ApiError::unparsable(e.body_text())
            }
        })?;
        let bytes = if bytes.iter().all(u8::is_ascii_whitespace) {
            Bytes::from_static(b"{}")
        } else {
            bytes
        };
        serde_json::from_slice(&bytes).map(Body).map_err(|e| {
            if e.is_data() {
                ApiError::invalid("Body", "body", "invalid", format!("invalid request: {e}"))
            } else {
                ApiError::unparsable(e)
            }
        })
    }
}

/// Path parameters as domain values (`Login`, `RepoName`, …). One that does not parse names
/// nothing that exists, so it answers as a missing resource does: 404.
#[derive(Debug)]
pub struct At<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for At<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(value) = Path::<T>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found())?;
        Ok(At(value))
    }
}

/// The repository a path names, as its owner and name: `/repos/{owner}/{repo}/…`, or gh's
/// `/repositories/{id}/…`, which must be a repository the caller may read (else 404, as for one
/// that does not exist).
#[derive(Debug)]
pub struct RepoPath(pub Login, pub RepoName);

impl FromRequestParts<AppState> for RepoPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, ApiError> {
        let At(path) = At::<HashMap<String, String>>::from_request_parts(parts, s).await?;
        if let Some(id) = path.get("id") {
            let id: i64 = id.parse().map_err(|_| ApiError::not_found())?;
            let Caller(p) = Caller::from_request_parts(parts, s).await?;
            let view = s.authz().repo_by_id_for(&p, id, Permission::Read).await?;
            return Ok(RepoPath(view.repo.owner_login, view.repo.name));
        }
        let part = |k: &str| path.get(k).map_or("", String::as_str);
        let (owner, name) = path_repo(part("owner"), part("repo"))?;
        Ok(RepoPath(owner, name))
    }
}

/// For `#[serde(default, deserialize_with = "nullable")]`: tells a field given as `null`
/// (`Some(None)`: clear it) from one not given (`None`, by `default`: leave it).
pub fn nullable<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    use serde::Deserialize as _;
    Option::<String>::deserialize(d).map(Some)
}

/// A login taken from a path: a malformed one names nothing, so it is a 404.
pub fn path_login(s: &str) -> Result<Login, ApiError> {
    Login::parse(s).map_err(|_| ApiError::not_found())
}

pub fn path_repo(owner: &str, name: &str) -> Result<(Login, RepoName), ApiError> {
    Ok((
        path_login(owner)?,
        RepoName::parse(name).map_err(|_| ApiError::not_found())?,
    ))
}

/// A word of a body or a query that must be one of a few: `parse`d, or a 422 naming the field
/// and what it may be (`allowed`, e.g. "member or maintainer").
pub fn word_field<T>(
    resource: &str,
    field: &str,
    word: &str,
    parse: impl Fn(&str) -> Option<T>,
    allowed: &str,
) -> Result<T, ApiError> {
    parse(word).ok_or_else(|| {
        let message = format!("{field} must be {allowed}, not {word:?}");
        ApiError::invalid(resource, field, "invalid", message)
    })
}

/// A body or query with only a `role` (memberships, and the `?role=` filter of member lists).
#[derive(Debug, serde::Deserialize)]
pub struct RoleField {
    pub role: Option<String>,
}

/// A login given in a body: a malformed one is a 422 naming the rule it breaks.
pub fn body_login(resource: &str, field: &str, s: &str) -> Result<Login, ApiError> {
    Login::parse(s).map_err(|e| ApiError::invalid(resource, field, "invalid", e.to_string()))
}

/// An ISO 8601 / RFC 3339 time given in a body, as Unix seconds.
pub fn body_time(resource: &str, field: &str, s: &str) -> Result<i64, ApiError> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|e| {
            ApiError::invalid(
                resource,
                field,
                "invalid",
                format!("{field} must be an RFC 3339 time such as 2030-01-31T00:00:00Z: {e}"),
            )
        })
}
