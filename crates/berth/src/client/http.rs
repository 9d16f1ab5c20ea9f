//! A small client of Berth's REST API: authentication, GitHub-shaped errors turned into
//! messages a user can act on, and `Link`-header pagination.

use anyhow::{Context, bail};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::config;

/// A server given without a scheme (`127.0.0.1:8080`): plain HTTP for loopback addresses, where
/// `berth serve` listens by default, HTTPS for anything else; either way the user is told.
pub fn with_scheme(server: &str) -> anyhow::Result<String> {
    let server = server.trim().trim_end_matches('/');
    if server.contains("://") {
        let url = url::Url::parse(server).with_context(|| {
            format!("--server {server:?} is not a URL such as http://127.0.0.1:8080")
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            bail!("--server {server:?}: use an http:// or https:// URL");
        }
        return Ok(server.to_owned());
    }
    let host = server.split('/').next().unwrap_or_default();
    let bare = host
        .rsplit_once(':')
        .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
        .map_or(host, |(h, _)| h)
        .trim_matches(['[', ']']);
    let loopback = bare == "localhost"
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    let scheme = if loopback { "http" } else { "https" };
    let full = format!("{scheme}://{server}");
    url::Url::parse(&full).with_context(|| {
        format!("--server {server:?} is not an address such as http://127.0.0.1:8080")
    })?;
    eprintln!("note: no scheme in --server; using {full}");
    Ok(full)
}

#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    server: String,
    token: Option<SecretString>,
}

impl Client {
    pub fn new(server: &str, token: Option<SecretString>) -> anyhow::Result<Self> {
        let mut builder =
            reqwest::Client::builder().user_agent(concat!("berth-cli/", env!("CARGO_PKG_VERSION")));
        // A server with a certificate of a private CA: trusted through SSL_CERT_FILE, the
        // variable OpenSSL, Go (gh) and curl read too.
        if let Some(file) = std::env::var_os("SSL_CERT_FILE").filter(|f| !f.is_empty()) {
            let pem = std::fs::read(&file)
                .with_context(|| format!("cannot read SSL_CERT_FILE {}", file.to_string_lossy()))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem).with_context(|| {
                format!(
                    "SSL_CERT_FILE {} holds no PEM certificates",
                    file.to_string_lossy()
                )
            })? {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder.build()?;
        Ok(Self {
            http,
            server: server.trim_end_matches('/').to_owned(),
            token,
        })
    }

    /// The server and token from `--server`/`BERTH_SERVER` and `BERTH_TOKEN`, else from
    /// `berth login`.
    pub fn from_env(server: Option<&str>) -> anyhow::Result<Self> {
        let saved = config::load()?;
        let server = match server {
            Some(given) => with_scheme(given)?,
            None => saved
                .as_ref()
                .map(|s| s.server.clone())
                .context("no server: run `berth login --server URL`, or set BERTH_SERVER")?,
        };
        let token = std::env::var("BERTH_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
            .map(SecretString::from)
            .or_else(|| saved.map(|s| s.token));
        Self::new(&server, token)
    }

    /// The server's URL (`http(s)://host[:port]`).
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The token calls are made with, if any.
    pub fn token(&self) -> Option<&SecretString> {
        self.token.as_ref()
    }

    /// `DELETE path` (a deletion answers no body).
    pub async fn delete(&self, path: &str) -> anyhow::Result<()> {
        self.call(Method::DELETE, path, None).await?;
        Ok(())
    }

    /// One call; `Ok(None)` for an empty (204) answer.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Option<Value>> {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}/api/v3{path}", self.server)
        };
        Ok(self.send(method, &url, body).await?.0)
    }

    /// `GET`: the answer (`null` when empty).
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        Ok(self
            .call(Method::GET, path, None)
            .await?
            .unwrap_or_default())
    }

    /// `POST` with `body`: the answer (`null` when empty).
    pub async fn post(&self, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        Ok(self
            .call(Method::POST, path, body)
            .await?
            .unwrap_or_default())
    }

    /// `PUT` with `body`: the answer (`null` when empty).
    pub async fn put(&self, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        Ok(self
            .call(Method::PUT, path, body)
            .await?
            .unwrap_or_default())
    }

    /// `PATCH` with `body`: the answer (`null` when empty).
    pub async fn patch(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        Ok(self
            .call(Method::PATCH, path, Some(body))
            .await?
            .unwrap_or_default())
    }

    /// A WebSocket on `path` of the API (a tunnel), over this client's own connection settings
    /// (its token, `SSL_CERT_FILE`).
    pub async fn websocket(
        &self,
        path: &str,
    ) -> anyhow::Result<WebSocketStream<reqwest::Upgraded>> {
        use base64::Engine as _;
        let url = format!("{}/api/v3{path}", self.server);
        let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 16]>());
        let req = self
            .http
            .get(&url)
            .header("connection", "Upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", &key);
        let resp = self.dispatch(req, None).await?;
        let status = resp.status();
        if status != StatusCode::SWITCHING_PROTOCOLS {
            let value: Option<Value> = resp.json().await.ok();
            bail!("{}", describe(status, value.as_ref()));
        }
        let accept = resp
            .headers()
            .get("sec-websocket-accept")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if accept != derive_accept_key(key.as_bytes()) {
            bail!(
                "{} answered the tunnel without a valid WebSocket handshake",
                self.server
            );
        }
        let upgraded = resp
            .upgrade()
            .await
            .context("the tunnel could not be opened")?;
        Ok(WebSocketStream::from_raw_socket(upgraded, Role::Client, None).await)
    }

    /// A call whose answer is read as it arrives (exec output, a followed log).
    pub async fn open(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<reqwest::Response> {
        let url = format!("{}/api/v3{path}", self.server);
        let resp = self.dispatch(self.http.request(method, &url), body).await?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let value: Option<Value> = resp.json().await.ok();
        bail!("{}", describe(status, value.as_ref()))
    }

    /// Sends `req` with the token and `body`; an error only when the server cannot be reached.
    async fn dispatch(
        &self,
        mut req: reqwest::RequestBuilder,
        body: Option<Value>,
    ) -> anyhow::Result<reqwest::Response> {
        if let Some(token) = &self.token {
            req = req.bearer_auth(token.expose_secret());
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.with_context(|| {
            format!(
                "cannot reach {} (is the server running, and is --server right?)",
                self.server
            )
        })
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(Option<Value>, Option<String>)> {
        let req = self
            .http
            .request(method, url)
            .header("accept", "application/vnd.github+json");
        let resp = self.dispatch(req, body).await?;
        let status = resp.status();
        let next = resp
            .headers()
            .get("link")
            .and_then(|v| v.to_str().ok())
            .and_then(next_link);
        let bytes = resp.bytes().await?;
        let value: Option<Value> = if bytes.is_empty() {
            None
        } else {
            serde_json::from_slice(&bytes).ok()
        };
        if status.is_success() {
            return Ok((value, next));
        }
        bail!("{}", describe(status, value.as_ref()))
    }

    /// Every page of a listing, following `Link: rel="next"`.
    pub async fn all_pages(&self, path: &str) -> anyhow::Result<Vec<Value>> {
        self.items(path, None, usize::MAX).await
    }

    /// The first `limit` items of a listing, page by page.
    pub async fn first_items(&self, path: &str, limit: usize) -> anyhow::Result<Vec<Value>> {
        self.items(path, None, limit).await
    }

    /// Every page of a counted listing (`{total_count, <key>: [...]}`, GitHub's shape for
    /// secrets, codespaces and selected repositories).
    pub async fn all_counted_pages(&self, path: &str, key: &str) -> anyhow::Result<Vec<Value>> {
        self.items(path, Some(key), usize::MAX).await
    }

    /// Up to `limit` items of a listing whose pages are arrays (or, with `key`, objects holding
    /// the array under `key`), following `Link: rel="next"`.
    async fn items(
        &self,
        path: &str,
        key: Option<&str>,
        limit: usize,
    ) -> anyhow::Result<Vec<Value>> {
        let mut url = format!(
            "{}/api/v3{path}{}per_page=100",
            self.server,
            if path.contains('?') { "&" } else { "?" }
        );
        let mut items = Vec::new();
        loop {
            let (value, next) = self.send(Method::GET, &url, None).await?;
            let page = match (value, key) {
                (Some(mut v), Some(k)) => v[k].take(),
                (Some(v), None) => v,
                (None, _) => Value::Null,
            };
            if let Value::Array(page) = page {
                items.extend(page);
            }
            match next {
                Some(n) if items.len() < limit => url = n,
                _ => {
                    items.truncate(limit);
                    return Ok(items);
                }
            }
        }
    }
}

fn next_link(header: &str) -> Option<String> {
    header
        .split(',')
        .find(|part| part.contains("rel=\"next\""))
        .and_then(|part| {
            let start = part.find('<')? + 1;
            let end = part.find('>')?;
            Some(part[start..end].to_owned())
        })
}

/// The server's message, its field errors, and what to do about it.
fn describe(status: StatusCode, body: Option<&Value>) -> String {
    let message = body
        .and_then(|b| b["message"].as_str())
        .unwrap_or("the server gave no reason");
    let details: Vec<&str> = body
        .and_then(|b| b["errors"].as_array())
        .map(|errs| errs.iter().filter_map(|e| e["message"].as_str()).collect())
        .unwrap_or_default();
    let mut text = format!("{message} (HTTP {})", status.as_u16());
    if !details.is_empty() {
        text.push_str(": ");
        text.push_str(&details.join("; "));
    }
    let hint = match status {
        StatusCode::UNAUTHORIZED => {
            Some("run `berth login --server URL` with a valid token, or set BERTH_TOKEN")
        }
        StatusCode::NOT_FOUND => Some("check the name, and that your token can see it"),
        _ => None,
    };
    if let Some(hint) = hint {
        text.push_str(" — ");
        text.push_str(hint);
    }
    text
}

/// Carries bytes between a local reader/writer pair and a WebSocket tunnel until either side
/// ends. When the local side ends first, what the far side still sends is delivered to its end.
pub async fn bridge(
    ws: WebSocketStream<reqwest::Upgraded>,
    mut reader: impl tokio::io::AsyncRead + Unpin,
    mut writer: impl tokio::io::AsyncWrite + Unpin,
) -> anyhow::Result<()> {
    use futures_util::{SinkExt as _, StreamExt as _};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio_tungstenite::tungstenite::Message;
    let (mut to_server, mut from_server) = ws.split();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        tokio::select! {
            read = reader.read(&mut buf) => {
                let n = read?;
                if n == 0 {
                    let _ = to_server.send(Message::Close(None)).await;
                    while let Some(Ok(Message::Binary(bytes))) = from_server.next().await {
                        writer.write_all(&bytes).await?;
                        writer.flush().await?;
                    }
                    return Ok(());
                }
                to_server.send(Message::Binary(buf[..n].to_vec().into())).await?;
            }
            message = from_server.next() => match message {
                Some(Ok(Message::Binary(bytes))) => {
                    writer.write_all(&bytes).await?;
                    writer.flush().await?;
                }
                Some(Ok(Message::Close(_))) | None => return Ok(()),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_next_link() {
        let h = r#"<http://x/api/v3/user/repos?per_page=1&page=2>; rel="next", <http://x/api/v3/user/repos?per_page=1&page=3>; rel="last""#;
        assert_eq!(
            next_link(h).as_deref(),
            Some("http://x/api/v3/user/repos?per_page=1&page=2")
        );
        assert_eq!(next_link(r#"<http://x/a?page=1>; rel="first""#), None);
    }

    #[test]
    fn errors_name_the_field_and_the_remedy() {
        let body = serde_json::json!({"message": "Validation Failed", "errors": [{"message": "the login x is already taken"}]});
        let text = describe(StatusCode::UNPROCESSABLE_ENTITY, Some(&body));
        assert_eq!(
            text,
            "Validation Failed (HTTP 422): the login x is already taken"
        );
        assert!(describe(StatusCode::UNAUTHORIZED, None).contains("berth login"));
    }
}
