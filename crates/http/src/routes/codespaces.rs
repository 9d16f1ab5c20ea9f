//! Development environments at GitHub's codespaces paths: create for a repository, list, get,
//! start, stop, delete; plus Berth's exec (a stream of NDJSON frames) and the creation log
//! (plain text, optionally followed until the environment settles).

use std::convert::Infallible;

use axum::Json;
use axum::body::Body as HttpBody;
use axum::extract::{Path, Query};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use berth_domain::Login;
use berth_domain::RepoName;
use berth_service::environments::{CodespaceView, NewEnvironment, Output};
use berth_service::environments::{ExecSpec, Stdin};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::Call;
use crate::error::{ApiError, ApiResult};
use crate::paging::Paging;
use crate::render::{account, timestamp};
use crate::wire::{Body, RepoPath};

/// A machine type in GitHub's shape.
fn machine(m: &berth_domain::isolation::MachineType) -> Value {
    json!({
        "name": m.name,
        "display_name": m.display_name,
        "operating_system": "linux",
        "storage_in_bytes": m.storage_in_bytes,
        "memory_in_bytes": m.memory_in_bytes,
        "cpus": m.cpus,
        "prebuild_availability": Value::Null,
    })
}

/// `GET /repos/{o}/{r}/codespaces/machines`: `{total_count, machines}`.
pub async fn machines(Call(s, p): Call, RepoPath(owner, repo): RepoPath) -> ApiResult<Json<Value>> {
    let list = s
        .environments()
        .codespace_machines(&p, &owner, &repo)
        .await?;
    let machines: Vec<Value> = list.iter().map(machine).collect();
    Ok(Json(
        json!({ "total_count": machines.len(), "machines": machines }),
    ))
}

/// A repository id, as the owner and name the by-name routes take.
async fn repo_by_id(
    s: &AppState,
    p: &berth_service::Principal,
    id: i64,
) -> ApiResult<(Login, RepoName)> {
    let view = s
        .authz()
        .repo_by_id_for(p, id, berth_domain::Permission::Read)
        .await?;
    Ok((view.repo.owner_login, view.repo.name))
}

/// `GET /repos/{o}/{r}/codespaces/new`: who would pay for a codespace and what it would get by
/// default. Berth bills nobody: the billable owner is always the caller; the location is the
/// server's one (`local`); `devcontainer_path` is `null`, the default rule
/// (`.devcontainer/devcontainer.json`, then `.devcontainer.json`).
pub async fn defaults(Call(s, p): Call, RepoPath(owner, repo): RepoPath) -> ApiResult<Json<Value>> {
    let user = s
        .environments()
        .codespace_billable_owner(&p, &owner, &repo)
        .await?;
    Ok(Json(json!({
        "billable_owner": account(&s.base_url, &user),
        "defaults": { "location": "local", "devcontainer_path": Value::Null },
    })))
}

#[derive(Debug, Deserialize)]
pub struct RefQuery {
    #[serde(rename = "ref")]
    git_ref: Option<String>,
}

/// `GET /repos/{o}/{r}/codespaces/devcontainers?ref=`: `{total_count, devcontainers: [{path}]}`,
/// the configurations at the branch (else the default), defaults first.
pub async fn devcontainers(
    Call(s, p): Call,
    RepoPath(owner, repo): RepoPath,
    Query(q): Query<RefQuery>,
    paging: Paging,
) -> ApiResult<Response> {
    let paths = s
        .environments()
        .codespace_devcontainers(
            &p,
            &owner,
            &repo,
            q.git_ref.as_deref().filter(|r| !r.is_empty()),
        )
        .await?;
    let page = paging.cut(paths);
    Ok(paging.list_counted(
        &s,
        "devcontainers",
        page,
        |path| json!({ "path": path, "name": Value::Null, "display_name": Value::Null }),
    ))
}

/// GitHub's codespace object, with the fields Berth has.
fn render(s: &AppState, v: &CodespaceView) -> Value {
    let api = format!("{}/api/v3", s.base_url);
    let c = &v.record;
    let r = &v.repo;
    let url = format!("{api}/user/codespaces/{}", c.name);
    json!({
        "id": c.id,
        "name": c.name,
        "display_name": c.display_name,
        "environment_id": Value::Null,
        "owner": account(&s.base_url, &v.owner),
        "billable_owner": account(&s.base_url, &v.owner),
        "repository": {
            "id": r.id,
            "name": r.name,
            "full_name": r.full_name(),
            "private": r.visibility != berth_domain::Visibility::Public,
            "visibility": r.visibility.as_str(),
            "url": format!("{api}/repos/{}", r.full_name()),
        },
        "machine": v.machine.as_ref().map(machine),
        // Berth's: the host ids the environment's user namespace maps to.
        "isolation": {
            "user_namespace": c.uid_base.map(|b| format!("{b}-{}", u64::from(b) + u64::from(berth_domain::isolation::IDS_PER_ENVIRONMENT) - 1)),
            "network": "own (slirp4netns)",
        },
        "devcontainer_path": c.devcontainer_path,
        "prebuild": false,
        "created_at": timestamp(c.created_at),
        "updated_at": timestamp(c.updated_at),
        "last_used_at": timestamp(c.last_used_at),
        "state": c.state.as_str(),
        "state_reason": c.state_reason,
        "runtime": c.runtime,
        "image": c.image,
        "url": url,
        "git_status": {"ref": c.git_ref, "ahead": 0, "behind": 0, "has_unpushed_changes": false, "has_uncommitted_changes": false},
        "location": "local",
        "idle_timeout_minutes": Value::Null,
        "web_url": format!("{}/codespaces/{}", s.base_url, c.name),
        "machines_url": format!("{url}/machines"),
        "start_url": format!("{url}/start"),
        "stop_url": format!("{url}/stop"),
        "logs_url": format!("{url}/logs"),
        "recent_folders": [],
        "pending_operation": false,
    })
}

/// The body of both ways to create (`POST /repos/{o}/{r}/codespaces` and `POST
/// /user/codespaces`), as gh and GitHub's docs send it: the repository by id (by-user form only),
/// what Berth acts on, and what GitHub clients send that means nothing here and is accepted
/// without effect: one location (`location`, `geo`, `client_ip`), no idle shutdown or retention
/// (`idle_timeout_minutes`, `retention_period_minutes`), no multi-repository permissions, no VS
/// Code service targets.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    repository_id: Option<i64>,
    pull_request: Option<Value>,
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    image: Option<String>,
    display_name: Option<String>,
    /// A machine type's name (`GET …/codespaces/machines`).
    machine: Option<String>,
    /// One of the paths `GET …/codespaces/devcontainers` lists.
    devcontainer_path: Option<String>,
    #[allow(dead_code)]
    location: Option<String>,
    #[allow(dead_code)]
    geo: Option<String>,
    #[allow(dead_code)]
    client_ip: Option<String>,
    #[allow(dead_code)]
    idle_timeout_minutes: Option<Value>,
    #[allow(dead_code)]
    retention_period_minutes: Option<Value>,
    #[allow(dead_code)]
    multi_repo_permissions_opt_out: Option<bool>,
    #[allow(dead_code)]
    working_directory: Option<String>,
    #[allow(dead_code)]
    vscs_target: Option<String>,
    #[allow(dead_code)]
    vscs_target_url: Option<String>,
}

const NO_PULL_REQUESTS: &str =
    "Berth has no pull requests: give repository_id and the branch as ref";
const REPOSITORY_IN_PATH: &str =
    "the path names the repository: leave out repository_id, or POST /user/codespaces";
const REPOSITORY_ID_NEEDED: &str =
    "repository_id is required (the id GET /repos/{owner}/{repo} answers)";

/// A creation body's `field` refused: GitHub's validation error on the Codespace resource.
fn refused(field: &str, code: &str, message: &str) -> ApiError {
    ApiError::invalid("Codespace", field, code, message)
}

impl CreateRequest {
    /// Refuses a codespace for a pull request, which Berth has not.
    fn without_pull_request(self) -> ApiResult<Self> {
        if self.pull_request.is_some() {
            return Err(refused("pull_request", "invalid", NO_PULL_REQUESTS));
        }
        Ok(self)
    }

    fn into_new(self) -> NewEnvironment {
        NewEnvironment {
            git_ref: self.git_ref.filter(|r| !r.is_empty()),
            image: self.image,
            display_name: self.display_name.filter(|d| !d.is_empty()),
            machine: self.machine.filter(|m| !m.is_empty()),
            devcontainer_path: self.devcontainer_path.filter(|d| !d.is_empty()),
        }
    }
}

/// `POST /repos/{o}/{r}/codespaces`.
pub async fn create(
    Call(s, p): Call,
    RepoPath(owner, repo): RepoPath,
    Body(body): Body<CreateRequest>,
) -> ApiResult<Response> {
    let body = body.without_pull_request()?;
    if body.repository_id.is_some() {
        return Err(refused("repository_id", "invalid", REPOSITORY_IN_PATH));
    }
    created(s, p, &owner, &repo, body).await
}

async fn created(
    s: AppState,
    p: berth_service::Principal,
    owner: &Login,
    repo: &RepoName,
    body: CreateRequest,
) -> ApiResult<Response> {
    let view = s
        .environments()
        .create_codespace(&p, owner, repo, body.into_new())
        .await?;
    Ok((StatusCode::CREATED, Json(render(&s, &view))).into_response())
}

/// `POST /user/codespaces`: create for the repository `repository_id` names.
pub async fn create_for_user(
    Call(s, p): Call,
    Body(body): Body<CreateRequest>,
) -> ApiResult<Response> {
    let body = body.without_pull_request()?;
    let Some(id) = body.repository_id else {
        return Err(refused(
            "repository_id",
            "missing_field",
            REPOSITORY_ID_NEEDED,
        ));
    };
    let (owner, repo) = repo_by_id(&s, &p, id).await?;
    created(s, p, &owner, &repo, body).await
}

pub async fn list(Call(s, p): Call, paging: Paging) -> ApiResult<Response> {
    let listing = s
        .environments()
        .list_codespaces(&p, paging.window())
        .await?;
    Ok(paging.list_counted(&s, "codespaces", listing, |v| render(&s, v)))
}

pub async fn get(Call(s, p): Call, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    let view = s.environments().get_codespace(&p, &name).await?;
    Ok(Json(render(&s, &view)))
}

pub async fn start(Call(s, p): Call, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    let view = s.environments().start_codespace(&p, &name).await?;
    Ok(Json(render(&s, &view)))
}

pub async fn stop(Call(s, p): Call, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    let view = s.environments().stop_codespace(&p, &name).await?;
    Ok(Json(render(&s, &view)))
}

pub async fn delete(Call(s, p): Call, Path(name): Path<String>) -> ApiResult<StatusCode> {
    s.environments().delete_codespace(&p, &name).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecRequest {
    command: Vec<String>,
    /// Standard input for the command, base64, at most [`EXEC_STDIN_LIMIT`] bytes; without it
    /// the command reads end of file at once.
    stdin: Option<String>,
}

/// The most standard input `exec` passes (interactive, streamed input is the SSH gateway's).
pub const EXEC_STDIN_LIMIT: usize = 1 << 20;

/// Runs a command and streams NDJSON frames: `{"stream":"stdout"|"stderr","data":<base64>}`
/// as output arrives, then `{"exit_code":N}` (or `{"error":"…"}`) last.
pub async fn exec(
    Call(s, p): Call,
    Path(name): Path<String>,
    Body(body): Body<ExecRequest>,
) -> ApiResult<Response> {
    let stdin = body
        .stdin
        .map(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(|_| ApiError::invalid("Exec", "stdin", "invalid", "stdin must be base64"))
        })
        .transpose()?;
    if stdin.as_ref().is_some_and(|b| b.len() > EXEC_STDIN_LIMIT) {
        return Err(ApiError::invalid(
            "Exec",
            "stdin",
            "invalid",
            format!(
                "stdin is larger than {EXEC_STDIN_LIMIT} bytes, the most exec passes; copy bigger inputs into the workspace"
            ),
        ));
    }
    // Checked before the stream starts, so refusals are ordinary errors.
    let envs = s.environments().clone();
    envs.get_codespace(&p, &name).await?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Output>(64);
    let (frames, out) = tokio::sync::mpsc::channel::<Result<String, Infallible>>(64);
    tokio::spawn(async move {
        let exec = ExecSpec {
            argv: body.command,
            stdin: stdin.map_or(Stdin::None, Stdin::Bytes),
            env: Vec::new(),
            tty: None,
            signals: None,
        };
        let run = envs.exec_codespace(&p, &name, exec, tx);
        let forward = async {
            while let Some(chunk) = rx.recv().await {
                let (stream, data) = match chunk {
                    Output::Stdout(b) => ("stdout", b),
                    Output::Stderr(b) => ("stderr", b),
                };
                let frame = json!({"stream": stream, "data": base64::engine::general_purpose::STANDARD.encode(data)});
                if frames.send(Ok(format!("{frame}\n"))).await.is_err() {
                    break;
                }
            }
        };
        let (result, ()) = tokio::join!(run, forward);
        let last = match result {
            Ok(code) => json!({"exit_code": code}),
            Err(e) => json!({"error": e.to_string()}),
        };
        let _ = frames.send(Ok(format!("{last}\n"))).await;
    });
    let stream = tokio_stream_from(out);
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        HttpBody::from_stream(stream),
    )
        .into_response())
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[derive(Debug, Deserialize)]
pub struct LogQuery {
    #[serde(default)]
    follow: bool,
}

/// The creation log as text; with `follow=true`, streamed until the environment settles (the
/// service follows it; this only frames what it sends).
pub async fn logs(
    Call(s, p): Call,
    Path(name): Path<String>,
    Query(q): Query<LogQuery>,
) -> ApiResult<Response> {
    let text = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
    if !q.follow {
        let log = s.environments().codespace_log(&p, &name).await?;
        return Ok((text, log).into_response());
    }
    let pieces = s.environments().follow_codespace_log(&p, &name).await?;
    let stream = futures_util::StreamExt::map(tokio_stream_from(pieces), Ok::<_, Infallible>);
    Ok((text, HttpBody::from_stream(stream)).into_response())
}
