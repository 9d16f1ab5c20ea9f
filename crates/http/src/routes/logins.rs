//! `POST /repos/{owner}/{repo}/codespaces/registry-check`: Berth's `registry check` for every
//! registry login an environment of the repository started by the caller would get, run from
//! the server (where environments pull from). Steps and failure classes only; never a secret.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::Value;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::wire::{Body, path_repo};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// A repository on each registry to check pull access to (e.g. `acme/app`).
    repository: Option<String>,
}

pub async fn check(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path((owner, repo)): Path<(String, String)>,
    Body(body): Body<CheckRequest>,
) -> ApiResult<Json<Value>> {
    let (owner, repo) = path_repo(&owner, &repo)?;
    let report = s
        .berth
        .check_environment_logins(&p, &owner, &repo, body.repository.as_deref())
        .await?;
    Ok(Json(serde_json::to_value(report).unwrap_or_default()))
}
