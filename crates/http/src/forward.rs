//! Requests for an environment another replica runs (SPEC §6: environments run on the machine of
//! the replica that created them; any replica answers for them). Such a request is sent on
//! whole to that replica's address — method, path, headers (credentials included: the replica
//! there authenticates and authorizes the caller again, as for any request) and the body
//! streamed both ways; a WebSocket upgrade (the terminal, SSH over the API, port tunnels) is
//! joined end to end. Only a caller who may reach the environment is forwarded: for anyone
//! else the request goes on here and is answered as for a missing environment.

use std::sync::OnceLock;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use berth_service::Principal;
use berth_service::environments::Placement;
use futures_util::TryStreamExt as _;

use crate::{ApiError, AppState};

/// Set on a forwarded request (to the forwarding replica's id): it is never forwarded again,
/// whatever the receiving replica's records say.
const FORWARDED_BY: HeaderName = HeaderName::from_static("x-berth-forwarded-by");

/// The middleware: forwards a request naming an environment another replica runs.
pub(crate) async fn to_its_replica(
    State(s): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let Some(name) = environment_named(req.uri().path()) else {
        return next.run(req).await;
    };
    let Some(this) = s.environments().replica().map(|r| r.id.clone()) else {
        return next.run(req).await;
    };
    // The common case costs one lookup: an environment this server runs (or none by that name)
    // is answered here, by the handler's own checks, with no caller resolved twice.
    if req.headers().contains_key(&FORWARDED_BY)
        || s.environments().runs_here(name).await.unwrap_or(true)
    {
        return next.run(req).await;
    }
    let caller = caller(&s, req.headers()).await;
    match s.environments().placement(&caller, name).await {
        Ok(Placement::Elsewhere {
            replica, address, ..
        }) => {
            let name = name.to_owned();
            forward(req, &this, &address).await.unwrap_or_else(|e| {
                tracing::warn!(codespace = %name, %replica, %address, error = %e, "cannot forward to the replica running the environment");
                ApiError::bad_gateway(format!(
                    "codespace {name} runs on another server (replica {replica}), which is not answering; try again once it is back"
                ))
                .into_response()
            })
        }
        _ => next.run(req).await,
    }
}

/// The environment a request path names, if it names one: `/api/v3/user/codespaces/{name}…`
/// (not its secrets) and the web UI's `/environments/{name}…`.
fn environment_named(path: &str) -> Option<&str> {
    let rest = path
        .strip_prefix("/api/v3/user/codespaces/")
        .filter(|rest| *rest != "secrets" && !rest.starts_with("secrets/"))
        .or_else(|| path.strip_prefix("/environments/"))?;
    let name = rest.split('/').next()?;
    (!name.is_empty()).then_some(name)
}

/// Who the caller is, as far as deciding whether to forward goes: a token (the API), else a
/// web session (the pages, and the terminal they open), else nobody. Credentials that do not
/// check out make an anonymous caller, whom nothing is forwarded for: the request goes on here
/// and gets this server's answer.
async fn caller(s: &AppState, headers: &HeaderMap) -> Principal {
    if let Ok(Some(token)) = crate::auth::bearer_token(headers) {
        return s
            .accounts()
            .authenticate(&token)
            .await
            .unwrap_or(Principal::Anonymous);
    }
    crate::web::signed_in(s, headers)
        .await
        .unwrap_or(Principal::Anonymous)
}

/// Headers that describe one connection, not the request (RFC 9110 §7.6.1), dropped both ways;
/// an upgrade keeps `connection` and `upgrade`, which ask for it.
const HOP_BY_HOP: [HeaderName; 6] = [
    header::CONNECTION,
    header::UPGRADE,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::PROXY_AUTHORIZATION,
];

fn drop_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    for name in &HOP_BY_HOP {
        if !(upgrade && (name == header::CONNECTION || name == header::UPGRADE)) {
            headers.remove(name);
        }
    }
    headers.remove("keep-alive");
}

/// The one client forwarding goes through: no proxy from the environment (replicas reach each
/// other directly), no redirects followed (the client gets them), HTTP/1.1 for upgrades.
fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .http1_only()
            .build()
            .expect("a client without custom TLS builds")
    })
}

async fn forward(mut req: Request, this: &str, address: &str) -> Result<Response, reqwest::Error> {
    let upgrade = req.headers().contains_key(header::UPGRADE);
    let on_upgrade = req.extensions_mut().remove::<hyper::upgrade::OnUpgrade>();
    let (parts, body) = req.into_parts();
    // `OriginalUri`: the path as the client sent it, before any router took a prefix off.
    let uri = parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map_or(&parts.uri, |o| &o.0);
    let url = format!(
        "{address}{}",
        uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let has_body = parts.headers.contains_key(header::CONTENT_LENGTH)
        || parts.headers.contains_key(header::TRANSFER_ENCODING);
    let mut headers = parts.headers;
    drop_hop_by_hop(&mut headers, upgrade);
    if let Ok(value) = HeaderValue::from_str(this) {
        headers.insert(FORWARDED_BY, value);
    }
    let mut request = client().request(parts.method, url).headers(headers);
    if has_body {
        request = request.body(reqwest::Body::wrap_stream(body.into_data_stream()));
    }
    let answer = request.send().await?;
    let status = answer.status();
    let mut headers = answer.headers().clone();
    if status == StatusCode::SWITCHING_PROTOCOLS
        && let Some(on_upgrade) = on_upgrade
    {
        drop_hop_by_hop(&mut headers, true);
        let mut theirs = answer.upgrade().await?;
        tokio::spawn(async move {
            if let Ok(ours) = on_upgrade.await {
                let mut ours = hyper_util::rt::TokioIo::new(ours);
                let _ = tokio::io::copy_bidirectional(&mut ours, &mut theirs).await;
            }
        });
        return Ok((status, headers).into_response());
    }
    drop_hop_by_hop(&mut headers, false);
    let body = Body::from_stream(answer.bytes_stream().map_err(std::io::Error::other));
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::environment_named;

    #[test]
    fn requests_naming_one_environment_are_told_apart() {
        for (path, named) in [
            ("/api/v3/user/codespaces/alice-web-x1", Some("alice-web-x1")),
            (
                "/api/v3/user/codespaces/alice-web-x1/exec",
                Some("alice-web-x1"),
            ),
            ("/api/v3/user/codespaces/a/ports/3000/tunnel", Some("a")),
            ("/environments/alice-web-x1", Some("alice-web-x1")),
            (
                "/environments/alice-web-x1/terminal/socket",
                Some("alice-web-x1"),
            ),
            ("/api/v3/user/codespaces", None),
            ("/api/v3/user/codespaces/", None),
            ("/api/v3/user/codespaces/secrets", None),
            ("/api/v3/user/codespaces/secrets/public-key", None),
            ("/api/v3/user/codespaces/secrets/TOKEN/repositories", None),
            ("/environments", None),
            ("/api/v3/repos/alice/web/codespaces", None),
            ("/v2/alice/web/manifests/1", None),
        ] {
            assert_eq!(environment_named(path), named, "{path}");
        }
    }
}
