//! `POST /repos/{owner}/{repo}/codespaces/registry-check`: Berth's `registry check` for every
//! registry login an environment of the repository started by the caller would get, run from
//! the server (where environments pull from). Steps and failure classes only; never a secret.

use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use crate::auth::Call;
use crate::error::ApiResult;
use crate::wire::{Body, RepoPath};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// A repository on each registry to check pull access to (e.g. `acme/app`).
    repository: Option<String>,
}

pub async fn check(
    Call(s, p): Call,
    RepoPath(owner, repo): RepoPath,
    Body(body): Body<CheckRequest>,
) -> ApiResult<Json<Value>> {
    let report = s
        .berth
        .check_environment_logins(&p, &owner, &repo, body.repository.as_deref())
        .await?;
    Ok(Json(serde_json::to_value(report).unwrap_or_default()))
}
