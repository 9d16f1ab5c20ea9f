//! The container registry's HTTP edge: `/v2/…` (OCI Distribution v1.1) and `/token` (Docker
//! token authentication). Handlers parse the request, call one registry service method with the
//! caller, and render the answer; [`errors`] is the one table of wire errors.

mod errors;
mod handlers;
mod route;
mod token;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, OriginalUri, Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use berth_service::Principal;
use berth_service::registry::{RegistryCaller, RegistryError};
use secrecy::ExposeSecret;

use crate::AppState;
use errors::OciError;

/// The most a `POST /token` form may hold: a token request is a few hundred bytes.
pub const TOKEN_BODY_LIMIT: usize = 64 << 10;

pub fn router() -> Router<AppState> {
    let token = Router::new()
        .route("/token", get(token::get).post(token::post))
        .layer(DefaultBodyLimit::max(TOKEN_BODY_LIMIT));
    Router::new()
        .route("/v2", any(dispatch))
        .route("/v2/", any(dispatch))
        .route("/v2/{*rest}", any(dispatch))
        // Blobs stream through with no size limit; manifests are read with their own cap.
        .layer(DefaultBodyLimit::disable())
        .merge(token)
}

/// `Range` of an upload holding `size` bytes: `0-<last byte>`, and `0-0` when empty.
pub(crate) fn upload_range(size: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("0-{}", size.saturating_sub(1))).expect("digits and a dash")
}

/// `Bearer realm="<base>/token",service="<host>"`.
fn challenge(state: &AppState) -> String {
    format!(
        "Bearer realm=\"{}/token\",service=\"{}\"",
        state.base_url, state.registry_service
    )
}

/// Resolves the caller from `Authorization`: a registry token issued by `/token` (a JWT: three
/// dot-separated parts) carries its grants; anything else is a Berth token, checked as a principal.
async fn caller(state: &AppState, headers: &HeaderMap) -> Result<RegistryCaller, RegistryError> {
    let unauthorized = || RegistryError::Unauthorized {
        scope: String::new(),
        insufficient: false,
    };
    let token = crate::auth::bearer_token(headers).map_err(|_| unauthorized())?;
    let Some(token) = token else {
        return Ok(RegistryCaller::Principal(Principal::Anonymous));
    };
    if token.expose_secret().split('.').count() == 3 {
        return state
            .registry()
            .verify_registry_token(token.expose_secret(), &state.registry_service)
            .map(RegistryCaller::Grant)
            .ok_or_else(unauthorized);
    }
    state
        .accounts()
        .authenticate(&token)
        .await
        .map(RegistryCaller::Principal)
        .map_err(|_| unauthorized())
}

async fn dispatch(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    req: Request,
) -> Response {
    let rest = uri
        .path()
        .strip_prefix("/v2")
        .unwrap_or("")
        .trim_start_matches('/')
        .to_owned();
    let mut location = None;
    let result = match caller(&state, req.headers()).await {
        Ok(caller) => match route::parse(&rest) {
            Some(route) => {
                if let route::Route::Upload { name, id } = route {
                    location = Some(format!("/v2/{name}/blobs/uploads/{id}"));
                }
                handlers::handle(&state, &caller, route, uri.query().unwrap_or(""), req).await
            }
            None => Err(RegistryError::NameUnknown),
        },
        Err(e) => Err(e),
    };
    let mut response = result.unwrap_or_else(|error| {
        OciError {
            error,
            challenge: challenge(&state),
            location,
        }
        .into_response()
    });
    response.headers_mut().insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    response
}

/// Turns a request body into the stream the services take.
fn body_stream(body: Body) -> berth_blob::ByteStream {
    use futures_util::TryStreamExt;
    Box::pin(body.into_data_stream().map_err(std::io::Error::other))
}
