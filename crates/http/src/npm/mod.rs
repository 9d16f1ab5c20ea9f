//! The npm registry's HTTP edge at `/npm/…` (GitHub Packages' npm; SPEC §10). [`route`] names
//! the endpoint, the handler calls one registry service method with the caller, and [`errors`]
//! is the one table of wire errors. Access is decided in the service, as for containers.

mod errors;
mod route;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, OriginalUri, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use berth_domain::npm::NpmPackageName;
use berth_service::Principal;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use crate::AppState;
use errors::{NpmError, NpmResult};
use route::Route;

/// The most a publish document may hold: the tarball travels in it as base64 (so about 96 MiB of
/// tarball), and the document is read whole to check it.
pub const PUBLISH_LIMIT: usize = 128 << 20;
/// How many package documents (publishes, and the documents `deprecate` and `unpublish` send back)
/// are read at once; more wait. With [`PUBLISH_LIMIT`] this bounds what publishing holds in
/// memory: each holds its body and the decoded tarball.
const PUBLISHES_AT_ONCE: usize = 4;
static PUBLISHES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(PUBLISHES_AT_ONCE);
/// The most any other npm request body may hold (packuments sent back, tags, logins).
const BODY_LIMIT: usize = 8 << 20;
/// The media type of the abbreviated ("corgi") packument npm installs with.
const INSTALL_V1: &str = "application/vnd.npm.install-v1+json";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/npm/{*rest}", any(dispatch))
        .layer(DefaultBodyLimit::disable())
}

async fn dispatch(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    req: Request,
) -> Response {
    let rest = uri.path().strip_prefix("/npm/").unwrap_or("");
    let result = match route::parse(rest) {
        // A login carries its credentials in the body, whatever token npm still holds.
        Some(Route::Login { user }) if req.method() == Method::PUT => {
            login(&state, &user, req).await
        }
        Some(route) => match caller(&state, req.headers()).await {
            Ok(p) => handle(&state, &p, route, req).await,
            Err(e) => Err(e),
        },
        None => Err(NpmError::NoRoute),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

/// The caller from `Authorization` (npm sends `Bearer` with an `_authToken`, Basic with
/// `_auth`); anonymous when there is none.
async fn caller(state: &AppState, headers: &HeaderMap) -> NpmResult<Principal> {
    let bad = || NpmError::Service(berth_service::ServiceError::BadCredentials);
    match crate::auth::bearer_token(headers).map_err(|_| bad())? {
        None => Ok(Principal::Anonymous),
        Some(token) => Ok(state.accounts().authenticate(&token).await?),
    }
}

async fn handle(
    state: &AppState,
    p: &Principal,
    route: Route,
    req: Request,
) -> NpmResult<Response> {
    let registry = state.registry();
    let method = req.method().clone();
    match (route, method) {
        (Route::Ping, Method::GET) => Ok(ok_json(json!({}))),
        (Route::Whoami, Method::GET) => whoami(p),
        (Route::Audit, Method::POST) => Ok(audit(req.uri().path())),
        (Route::DistTags { package }, Method::GET) => {
            let tags = registry.npm_dist_tags(p, &name(&package)?).await?;
            let map: serde_json::Map<String, Value> = tags
                .into_iter()
                .map(|(t, v)| (t, Value::String(v)))
                .collect();
            Ok(ok_json(Value::Object(map)))
        }
        (Route::DistTag { package, tag }, Method::PUT) => {
            let name = name(&package)?;
            let version: String =
                serde_json::from_slice(&body(req, BODY_LIMIT).await?).map_err(|_| {
                    NpmError::BadRequest("the body must be the version as a JSON string".into())
                })?;
            registry.npm_set_dist_tag(p, &name, &tag, &version).await?;
            Ok(ok_json(json!({ "ok": true })))
        }
        (Route::DistTag { package, tag }, Method::DELETE) => {
            registry
                .npm_remove_dist_tag(p, &name(&package)?, &tag)
                .await?;
            Ok(ok_json(json!({ "ok": true })))
        }
        (
            Route::Package {
                package,
                rev: false,
            },
            Method::GET | Method::HEAD,
        ) => packument(state, p, &name(&package)?, req.headers()).await,
        (Route::Package { package, .. }, Method::PUT) => {
            let name = name(&package)?;
            let _turn = PUBLISHES
                .acquire()
                .await
                .map_err(|_| NpmError::BadRequest("the server is shutting down".into()))?;
            let body = body(req, PUBLISH_LIMIT).await?;
            if let Some(version) = registry.npm_put(p, &name, &body).await? {
                Ok((
                    StatusCode::CREATED,
                    axum::Json(
                        json!({ "ok": true, "id": name.to_string(), "version": version.as_str() }),
                    ),
                )
                    .into_response())
            } else {
                Ok(ok_json(json!({ "ok": true })))
            }
        }
        (Route::Package { package, .. }, Method::DELETE) => {
            registry.npm_unpublish_package(p, &name(&package)?).await?;
            Ok(ok_json(json!({ "ok": true })))
        }
        (
            Route::Tarball {
                package,
                file,
                rev: false,
            },
            Method::GET | Method::HEAD,
        ) => {
            let head = req.method() == Method::HEAD;
            let tarball = registry.npm_tarball(p, &name(&package)?, &file).await?;
            let mut response = if head {
                Body::empty().into_response()
            } else {
                Body::from_stream(tarball.body).into_response()
            };
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(tarball.size));
            Ok(response)
        }
        (Route::Tarball { package, file, .. }, Method::DELETE) => {
            registry
                .npm_unpublish_tarball(p, &name(&package)?, &file)
                .await?;
            Ok(ok_json(json!({ "ok": true })))
        }
        _ => Err(NpmError::NoRoute),
    }
}

fn name(package: &str) -> NpmResult<NpmPackageName> {
    Ok(NpmPackageName::parse(package)?)
}

fn ok_json(value: Value) -> Response {
    axum::Json(value).into_response()
}

async fn body(req: Request, limit: usize) -> NpmResult<axum::body::Bytes> {
    axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|_| NpmError::TooLarge(limit))
}

async fn packument(
    state: &AppState,
    p: &Principal,
    name: &NpmPackageName,
    headers: &HeaderMap,
) -> NpmResult<Response> {
    let abbreviated = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains(INSTALL_V1));
    let registry_url = format!("{}/npm", state.base_url);
    let doc = state
        .registry()
        .npm_packument(p, name, abbreviated, &registry_url)
        .await?;
    let etag = HeaderValue::from_str(&doc.etag).expect("a quoted hex digest");
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().trim_start_matches("W/") == doc.etag)
        });
    let mut response = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Body::from(doc.json).into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(if abbreviated {
            INSTALL_V1
        } else {
            "application/json"
        }),
    );
    headers.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Authorization"),
    );
    Ok(response)
}

/// `npm whoami`: the login the token acts as.
fn whoami(p: &Principal) -> NpmResult<Response> {
    let username = match p {
        Principal::Anonymous => return Err(berth_service::ServiceError::Unauthenticated.into()),
        Principal::User { account, .. } | Principal::Environment { account, .. } => {
            account.login.to_string()
        }
        Principal::Repository { repo, .. } => format!("repository:{}", repo.full_name()),
    };
    Ok(ok_json(json!({ "username": username })))
}

/// `npm login --auth-type=legacy`: the password is a personal token of the user named; the
/// answer hands the same token back for npm to keep as `_authToken`. Nothing else is a password.
async fn login(state: &AppState, user: &str, req: Request) -> NpmResult<Response> {
    #[derive(serde::Deserialize)]
    struct Couch {
        name: Option<String>,
        password: Option<String>,
    }
    let couch: Couch = serde_json::from_slice(&body(req, BODY_LIMIT).await?)
        .map_err(|_| NpmError::BadRequest("the login must be a JSON user document".into()))?;
    let refused = || {
        NpmError::LoginRefused(format!(
            "the password is not a token of {user}: log in as {user} with one of {user}'s Berth personal access tokens as the password (with read:packages, and write:packages to publish)"
        ))
    };
    let password = SecretString::from(couch.password.ok_or_else(refused)?);
    let principal = state
        .accounts()
        .authenticate(&password)
        .await
        .map_err(|_| refused())?;
    let same_user = couch
        .name
        .as_deref()
        .unwrap_or(user)
        .eq_ignore_ascii_case(user);
    match principal {
        Principal::User { account, .. }
            if same_user && account.login.as_str().eq_ignore_ascii_case(user) =>
        {
            tracing::info!(user = %account.login, "npm login");
            Ok((
                StatusCode::CREATED,
                axum::Json(json!({
                    "ok": true,
                    "id": format!("org.couchdb.user:{}", account.login),
                    "token": password.expose_secret(),
                })),
            )
                .into_response())
        }
        _ => Err(refused()),
    }
}

/// The audit endpoints: Berth keeps no advisories, so every audit finds none.
fn audit(path: &str) -> Response {
    if path.ends_with("/advisories/bulk") {
        return ok_json(json!({}));
    }
    ok_json(json!({
        "actions": [],
        "advisories": {},
        "muted": [],
        "metadata": {
            "vulnerabilities": { "info": 0, "low": 0, "moderate": 0, "high": 0, "critical": 0 },
            "dependencies": 0,
            "devDependencies": 0,
            "optionalDependencies": 0,
            "totalDependencies": 0
        }
    }))
}
