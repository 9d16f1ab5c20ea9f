//! GHES-shaped site administration: `/admin/users`, `/admin/organizations`, and impersonation
//! tokens at `/admin/users/{login}/authorizations`; and Berth's own
//! `/admin/registry/collect` (one garbage-collection pass of the container registry, and of the
//! answering server's image caches).

use std::time::Duration;

use axum::Json;
use axum::http::StatusCode;
use berth_domain::Login;
use berth_service::registry::CollectPolicy;
use serde::Deserialize;
use serde_json::Value;

use super::tokens::TokenBody;
use crate::auth::Call;
use crate::error::{ApiError, ApiResult};
use crate::render;
use crate::wire::{At, Body, body_login};

fn required<'a>(resource: &str, field: &str, v: &'a Option<String>) -> Result<&'a str, ApiError> {
    v.as_deref().ok_or_else(|| {
        ApiError::invalid(
            resource,
            field,
            "missing_field",
            format!("{field} is required"),
        )
    })
}

#[derive(Deserialize)]
pub struct CreateUser {
    login: Option<String>,
}

pub async fn create_user(
    Call(s, p): Call,
    Body(body): Body<CreateUser>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let login = body_login("User", "login", required("User", "login", &body.login)?)?;
    let user = s.accounts().create_user(&p, &login).await?;
    Ok((
        StatusCode::CREATED,
        Json(render::account(&s.base_url, &user)),
    ))
}

#[derive(Deserialize)]
pub struct SetPassword {
    password: Option<String>,
}

/// `PUT /admin/users/{login}/password` `{password?}` (Berth's; site administrators): sets the
/// user's password for the web UI's sign-in; without one in the body, one is made up and answered
/// once as `{password}`.
pub async fn set_password(
    Call(s, p): Call,
    At(login): At<Login>,
    Body(body): Body<SetPassword>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse as _;
    let given = body.password.map(secrecy::SecretString::from);
    let made = s.accounts().set_password(&p, &login, given).await?;
    Ok(match made {
        Some(password) => {
            use secrecy::ExposeSecret as _;
            Json(serde_json::json!({ "password": password.expose_secret() })).into_response()
        }
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

#[derive(Deserialize)]
pub struct CreateOrg {
    login: Option<String>,
    admin: Option<String>,
}

pub async fn create_org(
    Call(s, p): Call,
    Body(body): Body<CreateOrg>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let login = body_login(
        "Organization",
        "login",
        required("Organization", "login", &body.login)?,
    )?;
    let admin = body_login(
        "Organization",
        "admin",
        required("Organization", "admin", &body.admin)?,
    )?;
    let org = s.accounts().create_organization(&p, &login, &admin).await?;
    Ok((
        StatusCode::CREATED,
        Json(render::account(&s.base_url, &org)),
    ))
}

pub async fn impersonation_token(
    call: Call,
    At(login): At<Login>,
    body: Body<TokenBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    super::tokens::create_personal(call, Some(&login), body).await
}

/// Overrides of the collection policy, in seconds (the defaults keep deleted versions 30 days),
/// and `dry_run`: say what a pass would remove, removing nothing.
#[derive(Deserialize)]
pub struct CollectBody {
    version_retention_seconds: Option<u64>,
    grace_seconds: Option<u64>,
    upload_ttl_seconds: Option<u64>,
    /// Delete container versions no tag or live manifest keeps once pushed this long ago
    /// (absent: keep them).
    untagged_after_seconds: Option<u64>,
    #[serde(default)]
    dry_run: bool,
}

pub async fn collect_garbage(
    Call(s, p): Call,
    Body(body): Body<CollectBody>,
) -> ApiResult<Json<Value>> {
    let default = CollectPolicy::default();
    let secs = |v: Option<u64>, d: Duration| v.map_or(d, Duration::from_secs);
    let policy = CollectPolicy {
        version_retention: secs(body.version_retention_seconds, default.version_retention),
        grace: secs(body.grace_seconds, default.grace),
        upload_ttl: secs(body.upload_ttl_seconds, default.upload_ttl),
        untagged: body.untagged_after_seconds.map(Duration::from_secs),
    };
    let report = s
        .registry()
        .collect_garbage(&p, policy, body.dry_run)
        .await?;
    let mut answer = serde_json::to_value(report).unwrap_or_default();
    // The image caches of the server answering (each replica keeps its own).
    if let Some(caches) = s.environments().collect_caches(&p, body.dry_run).await? {
        answer["caches"] = serde_json::to_value(caches).unwrap_or_default();
    }
    Ok(Json(answer))
}
