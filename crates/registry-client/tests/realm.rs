//! A registry's token realm is the registry's to name, so it may point anywhere (issue 14):
//! the egress policy applies to it, and the login's credentials go over plain HTTP only to the
//! registry's own host. The registry and the realm here are small in-process servers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

mod support;

use axum::Router;
use axum::routing::get;
use berth_domain::isolation::EgressPolicy;
use berth_domain::logins::RegistryHost;
use berth_registry_client::{Credentials, Egress, Registry, RegistryError};

/// A token endpoint that counts the requests it gets.
async fn realm() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let app = Router::new().route(
        "/token",
        get(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async { axum::Json(serde_json::json!({ "token": "t" })) }
        }),
    );
    let addr = support::serve_on("127.0.0.2", app).await;
    (format!("http://{addr}/token"), hits)
}

fn creds() -> Option<Credentials> {
    Some(Credentials {
        username: "alice".into(),
        password: "s3cret".to_owned().into(),
    })
}

#[tokio::test]
async fn credentials_never_go_over_plain_http_to_a_realm_on_another_host() {
    let (realm_url, hits) = realm().await;
    let host = support::challenging(realm_url).await;
    let (host, _) = RegistryHost::parse(&format!("http://{host}")).unwrap();
    let reg = Registry::open(&host, creds()).await.unwrap();
    let err = reg.login().await.unwrap_err();
    assert!(
        err.to_string().contains("plain HTTP on another host"),
        "{err}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0, "the realm got nothing");
}

#[tokio::test]
async fn the_egress_policy_applies_to_the_realm_too() {
    let (realm_url, hits) = realm().await;
    let host = support::challenging(realm_url).await;
    let (host, _) = RegistryHost::parse(&format!("http://{host}")).unwrap();
    // The registry's own address is allowed; the realm's (127.0.0.2) is not.
    let egress = Egress::restricted(
        &EgressPolicy {
            allow: vec!["127.0.0.1/32".parse().unwrap()],
            deny: Vec::new(),
        },
        &[],
    );
    let reg = Registry::connect(&egress, &host, None, None, |_| {})
        .await
        .unwrap();
    let err = reg.login().await;
    assert!(err.is_ok(), "without credentials there is nothing to check");
    let reg = Registry::connect(&egress, &host, None, creds(), |_| {})
        .await
        .unwrap();
    let err = reg.login().await.unwrap_err();
    assert!(matches!(err, RegistryError::Refused(_)), "{err:?}");
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}
