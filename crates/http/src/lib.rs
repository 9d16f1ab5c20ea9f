//! Berth's HTTP edge: the GitHub-shaped REST API under `/api/v3`.
//!
//! A handler is parse → call → render: it turns path, query and body into domain values, calls
//! one [`berth_service::Berth`] method with the caller's [`Principal`](berth_service::Principal),
//! and renders the result in GitHub's JSON shape.
//!
//! **Architecture Invariant:** this is the only crate that knows axum and JSON wire shapes.
//! **Architecture Invariant:** the caller is resolved once, by the [`auth`] middleware; handlers
//! receive it through the [`auth::Caller`] extractor and never read credentials themselves.

pub mod auth;
pub mod error;
mod forward;
mod graphql;
mod npm;
mod paging;
mod registry;
mod render;
mod routes;
mod web;
mod wire;

use axum::Router;
use axum::routing::get;
use berth_service::Berth;

pub use error::ApiError;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub berth: Berth,
    /// The external base URL (`http://host:port`) used in the URLs of JSON objects.
    pub base_url: String,
    /// The registry's `service` name in token challenges: the host (and port) of `base_url`.
    pub registry_service: String,
    /// The SSH gateway, when it runs: what `/meta` shows and the API's SSH tunnel reaches.
    pub ssh: Option<std::sync::Arc<dyn SshGateway>>,
    /// Set once the server is shutting down: `/readyz` then says so, for the load balancer.
    pub draining: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// The SSH gateway as the API sees it (the server gives it; the HTTP layer knows no SSH).
pub trait SshGateway: Send + Sync + std::fmt::Debug {
    /// Where it listens.
    fn addr(&self) -> std::net::SocketAddr;
    /// Its host key as a `known_hosts` line carries it (`ssh-ed25519 AAAA…`), and `SHA256:…`.
    fn host_key(&self) -> (String, String);
    /// Makes a new host key and serves it from now on; the new one, or what went wrong.
    fn rotate_host_key(&self) -> Result<(String, String), String>;
}

/// The platform's services, as handlers reach them.
impl AppState {
    pub fn accounts(&self) -> &berth_service::accounts::Accounts {
        self.berth.accounts()
    }

    pub fn registry(&self) -> &berth_service::registry::Registry {
        self.berth.registry()
    }

    pub fn environments(&self) -> &berth_service::environments::Environments {
        self.berth.environments()
    }

    pub fn secrets(&self) -> &berth_service::secrets::Secrets {
        self.berth.secrets()
    }

    pub fn authz(&self) -> &berth_service::Authz {
        self.berth.authz()
    }
}

impl AppState {
    pub fn new(berth: Berth, base_url: &str) -> Self {
        let base_url = base_url.trim_end_matches('/').to_owned();
        let registry_service = url::Url::parse(&base_url)
            .ok()
            .and_then(|u| {
                u.host_str().map(|h| match u.port() {
                    Some(p) => format!("{h}:{p}"),
                    None => h.to_owned(),
                })
            })
            .unwrap_or_else(|| base_url.clone());
        Self {
            berth,
            base_url,
            registry_service,
            ssh: None,
            draining: Default::default(),
        }
    }

    /// With the SSH gateway `gateway`.
    pub fn with_ssh(mut self, gateway: std::sync::Arc<dyn SshGateway>) -> Self {
        self.ssh = Some(gateway);
        self
    }
}

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    let api = routes::api()
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .fallback(|| async { ApiError::not_found() });
    // GitHub Enterprise's GraphQL endpoint sits beside the REST API, not under it.
    let graphql = Router::new()
        .route("/api/graphql", axum::routing::post(graphql::query))
        .layer(axum::extract::DefaultBodyLimit::max(routes::BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .nest("/api/v3", api)
        .merge(graphql)
        .merge(registry::router())
        .merge(npm::router())
        .merge(web::router())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            forward::to_its_replica,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// `GET /readyz`, for load balancers: 200 when the database and blob storage answer and the
/// server is not shutting down; otherwise 503 naming what is not ready.
async fn ready(
    axum::extract::State(s): axum::extract::State<AppState>,
) -> (axum::http::StatusCode, String) {
    use axum::http::StatusCode;
    if s.draining.load(std::sync::atomic::Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n".into());
    }
    let down = s.berth.unreachable().await;
    if down.is_empty() {
        (StatusCode::OK, "ready\n".into())
    } else {
        let down = down.join(", ");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not answering: {down}\n"),
        )
    }
}
