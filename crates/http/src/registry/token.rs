//! `/token`: the Docker token endpoint (GET with Basic or anonymous; POST with the OAuth2
//! password or refresh-token grant). Bad credentials are a 401; asking for more than is allowed
//! is not an error: the token grants the intersection.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_service::Principal;
use berth_service::registry::{IssuedToken, TokenGrantRequest};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use crate::AppState;

fn denied(message: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({ "errors": [{ "code": "UNAUTHORIZED", "message": message }] })),
    )
        .into_response()
}

fn render(issued: IssuedToken) -> Response {
    let issued_at = crate::render::timestamp(issued.issued_at);
    let mut body = json!({
        "token": issued.token.expose_secret(),
        "access_token": issued.token.expose_secret(),
        "expires_in": issued.expires_in,
        "issued_at": issued_at,
    });
    if let Some(r) = &issued.refresh_token {
        body["refresh_token"] = json!(r.expose_secret());
    }
    Json(body).into_response()
}

async fn issue(
    state: &AppState,
    principal: Principal,
    scopes: Vec<String>,
    offline: bool,
) -> Response {
    let req = TokenGrantRequest {
        service: state.registry_service.clone(),
        scopes,
        offline,
    };
    match state
        .registry()
        .issue_registry_token(&principal, &req)
        .await
    {
        Ok(issued) => render(issued),
        Err(e) => {
            tracing::error!(error = %e, "issuing a registry token failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({ "errors": [{ "code": "UNKNOWN", "message": "internal error" }] })),
            )
                .into_response()
        }
    }
}

/// `GET /token?service=…&scope=…[&scope=…]`: credentials, if any, in `Authorization`.
pub async fn get(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let scopes = params
        .iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.clone())
        .collect();
    let offline = params
        .iter()
        .any(|(k, v)| k == "offline_token" && v == "true");
    let principal = match crate::auth::bearer_token(&headers) {
        Ok(None) => Principal::Anonymous,
        Ok(Some(token)) => match state.accounts().authenticate(&token).await {
            Ok(p) => p,
            Err(_) => return denied("bad credentials: use your login and a personal access token"),
        },
        Err(_) => return denied("unreadable Authorization header"),
    };
    issue(&state, principal, scopes, offline).await
}

/// `POST /token` with an OAuth2 form: `grant_type=password` (username, password) or
/// `grant_type=refresh_token` (refresh_token), plus scope (space separated) and service.
pub async fn post(State(state): State<AppState>, body: Result<Bytes, BytesRejection>) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            return (
                e.status(),
                axum::Json(serde_json::json!({ "error": "invalid_request", "error_description": e.body_text() })),
            )
                .into_response();
        }
    };
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |k: &str| {
        form.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let scopes = field("scope")
        .map(|s| s.split(' ').map(str::to_owned).collect())
        .unwrap_or_default();
    let principal = match field("grant_type").as_deref() {
        Some("password") => {
            let Some(password) = field("password") else {
                return denied("the password grant needs a password (a personal access token)");
            };
            match state
                .accounts()
                .authenticate(&SecretString::from(password))
                .await
            {
                Ok(p) => p,
                Err(_) => {
                    return denied("bad credentials: use your login and a personal access token");
                }
            }
        }
        Some("refresh_token") => {
            let Some(refresh) = field("refresh_token") else {
                return denied("the refresh_token grant needs a refresh_token");
            };
            match state
                .registry()
                .principal_from_refresh_token(&refresh, &state.registry_service)
                .await
            {
                Ok(p) => p,
                Err(_) => return denied("the refresh token is invalid or expired; log in again"),
            }
        }
        other => {
            let msg = format!("unsupported grant_type {other:?}: use password or refresh_token");
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({ "errors": [{ "code": "UNSUPPORTED", "message": msg }] })),
            )
                .into_response();
        }
    };
    let offline = field("access_type").as_deref() == Some("offline")
        || field("grant_type").as_deref() == Some("password");
    issue(&state, principal, scopes, offline).await
}
