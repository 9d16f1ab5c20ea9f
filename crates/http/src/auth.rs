//! Authentication: the middleware that turns the `Authorization` header into a
//! [`Principal`] once per request, and the [`Call`] extractor handlers use (the platform and the
//! [`Caller`]).
//!
//! Accepted forms (SPEC §1): `Bearer <token>`, `token <token>`, and Basic with the token as the
//! password (or as the user name when the password is empty, as git clients sometimes send).

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use berth_service::Principal;
use secrecy::SecretString;

use crate::{ApiError, AppState};

/// The authenticated caller of this request.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        // The middleware always runs first on /api/v3; anywhere else the caller is anonymous.
        Ok(parts
            .extensions
            .get::<Caller>()
            .cloned()
            .unwrap_or(Caller(Principal::Anonymous)))
    }
}

/// A call to the API: the platform and who is calling, what every handler starts from.
#[derive(Debug)]
pub struct Call(pub AppState, pub Principal);

impl FromRequestParts<AppState> for Call {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Caller(p) = Caller::from_request_parts(parts, state).await?;
        Ok(Call(state.clone(), p))
    }
}

/// The token in an `Authorization` header; `Ok(None)` when there is none, `Err` when the header
/// is present but not a form Berth reads.
pub fn bearer_token(headers: &HeaderMap) -> Result<Option<SecretString>, ApiError> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| ApiError::bad_credentials())?;
    let (scheme, rest) = value
        .split_once(' ')
        .ok_or_else(ApiError::bad_credentials)?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token") {
        return Ok(Some(SecretString::from(rest.to_owned())));
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .map_err(|_| ApiError::bad_credentials())?;
        let decoded = String::from_utf8(decoded).map_err(|_| ApiError::bad_credentials())?;
        let (user, password) = decoded.split_once(':').unwrap_or((&decoded, ""));
        let token = if password.is_empty() { user } else { password };
        return Ok(Some(SecretString::from(token.to_owned())));
    }
    Err(ApiError::bad_credentials())
}

/// Resolves the caller, stores it for [`Caller`], and reports the token's scopes in
/// `X-OAuth-Scopes` as GitHub does.
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let principal = match bearer_token(req.headers()) {
        Ok(None) => Principal::Anonymous,
        Ok(Some(token)) => match state.accounts().authenticate(&token).await {
            Ok(p) => p,
            Err(e) => return ApiError::from(e).into_response(),
        },
        Err(e) => return e.into_response(),
    };
    let scopes = principal.scopes();
    req.extensions_mut().insert(Caller(principal));
    let mut response = next.run(req).await;
    if let Some(scopes) = scopes
        && let Ok(value) = HeaderValue::from_str(&scopes.header_value())
    {
        response.headers_mut().insert("x-oauth-scopes", value);
    }
    response
}
