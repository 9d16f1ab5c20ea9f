//! Small in-process servers the registry client's tests talk to.
#![allow(
    dead_code,
    reason = "shared by several test binaries, each using a subset"
)]

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

/// Serves `app` on `ip` (a loopback address) until the test ends; its `host:port`.
pub async fn serve_on(ip: &str, app: Router) -> String {
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr.to_string()
}

/// Serves `app` on 127.0.0.1; its `host:port`.
pub async fn serve(app: Router) -> String {
    serve_on("127.0.0.1", app).await
}

/// A registry on 127.0.0.1 that asks for a bearer token from `realm` (a URL); its `host:port`.
pub async fn challenging(realm: String) -> String {
    let app = Router::new().route(
        "/v2/",
        get(move || {
            let challenge = format!("Bearer realm=\"{realm}\",service=\"test\"");
            async move {
                let challenge = [(header::WWW_AUTHENTICATE, challenge)];
                (StatusCode::UNAUTHORIZED, challenge).into_response()
            }
        }),
    );
    serve(app).await
}
