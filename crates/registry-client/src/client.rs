//! A session with one registry: how to reach it (HTTPS, or plain HTTP where Docker would use it),
//! what its `/v2/` challenge is, and an `Authorization` for each repository scope, with Bearer
//! tokens cached per scope and fetched again when they expire or the registry refuses them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use berth_domain::logins::{RegistryHost, Scheme};
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue, RANGE, WWW_AUTHENTICATE};
use reqwest::{Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};

use crate::auth::{Challenge, Credentials, DEFAULT_TOKEN_SECONDS, TokenResponse};
use crate::egress::{Egress, SMALL_BODY_LIMIT, SMALL_REQUEST_TIMEOUT, read_limited};
use crate::error::{AuthVia, RegistryError, transport};

/// A reqwest client set up the way every registry call wants it, with no egress restriction
/// (for what runs on the user's own machine, and for operators' endpoints).
pub fn http_client() -> reqwest::Client {
    Egress::unrestricted().client().clone()
}

/// How to reach a registry and how it authenticates, learnt from `GET /v2/`.
#[derive(Debug)]
pub struct Registry {
    http: reqwest::Client,
    egress: Egress,
    host: RegistryHost,
    /// `https://host[:port]` or `http://…`.
    base: String,
    credentials: Option<Credentials>,
    challenge: Challenge,
    tokens: Mutex<HashMap<String, CachedToken>>,
}

#[derive(Debug, Clone)]
struct CachedToken {
    value: SecretString,
    refresh_at: Instant,
}

/// One step of [`Registry::connect`], for callers that narrate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectStep {
    /// `GET /v2/` answered; `url` is where, and `challenge` what it asked for.
    Reached { url: String, challenge: Challenge },
    /// HTTPS failed on a loopback registry and plain HTTP is tried, as Docker does.
    FellBackToHttp { https_error: String },
}

impl Registry {
    /// [`Registry::connect`] from wherever this machine reaches, over HTTPS (or plain HTTP to a
    /// loopback host), noting no steps: for tools and tests.
    pub async fn open(
        host: &RegistryHost,
        credentials: Option<Credentials>,
    ) -> Result<Self, RegistryError> {
        Self::connect(&Egress::unrestricted(), host, None, credentials, |_| {}).await
    }

    /// Reaches `/v2/` over the scheme the server named, or HTTPS, falling back to plain HTTP
    /// only for loopback registries (Docker's default insecure registries).
    pub async fn connect(
        egress: &Egress,
        host: &RegistryHost,
        scheme: Option<Scheme>,
        credentials: Option<Credentials>,
        mut narrate: impl FnMut(ConnectStep),
    ) -> Result<Self, RegistryError> {
        let authority = host.api_authority();
        let schemes: &[Scheme] = match scheme {
            Some(Scheme::Http) => &[Scheme::Http],
            Some(Scheme::Https) => &[Scheme::Https],
            None if host.is_loopback() => &[Scheme::Https, Scheme::Http],
            None => &[Scheme::Https],
        };
        for (i, scheme) in schemes.iter().enumerate() {
            let base = match scheme {
                Scheme::Http => format!("http://{authority}"),
                Scheme::Https => format!("https://{authority}"),
            };
            let url = format!("{base}/v2/");
            let https = *scheme == Scheme::Https;
            if let Ok(parsed) = url::Url::parse(&url) {
                egress.check_url(&parsed)?;
            }
            let response = match egress
                .client()
                .get(&url)
                .timeout(SMALL_REQUEST_TIMEOUT)
                .send()
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    let err = transport(authority, https, &e);
                    let retry = i + 1 < schemes.len()
                        && matches!(
                            err,
                            RegistryError::Tls { .. } | RegistryError::Connect { .. }
                        );
                    if retry {
                        let https_error = match &err {
                            RegistryError::Tls { detail, .. }
                            | RegistryError::Connect { detail, .. } => detail.clone(),
                            other => other.to_string(),
                        };
                        narrate(ConnectStep::FellBackToHttp { https_error });
                        continue;
                    }
                    return Err(err);
                }
            };
            let challenge = match response.status() {
                s if s.is_success() => Challenge::None,
                StatusCode::UNAUTHORIZED => response
                    .headers()
                    .get(WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(Challenge::parse)
                    .ok_or_else(|| RegistryError::Protocol {
                        host: authority.to_owned(),
                        detail: format!(
                            "{url} answered 401 without a Basic or Bearer challenge the Docker \
                             token spec allows"
                        ),
                    })?,
                status => {
                    return Err(RegistryError::NotRegistry {
                        url,
                        status: status.as_u16(),
                    });
                }
            };
            narrate(ConnectStep::Reached {
                url,
                challenge: challenge.clone(),
            });
            return Ok(Self {
                http: egress.client().clone(),
                egress: egress.clone(),
                host: host.clone(),
                base,
                credentials,
                challenge,
                tokens: Mutex::new(HashMap::new()),
            });
        }
        unreachable!("the last scheme tried returns, whatever happens")
    }

    pub fn host(&self) -> &RegistryHost {
        &self.host
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub fn challenge(&self) -> &Challenge {
        &self.challenge
    }

    /// Checks the username and password the way `docker login` does: `/v2/` with Basic, or a
    /// scope-less token from the token endpoint. Without credentials there is nothing to check.
    pub async fn login(&self) -> Result<(), RegistryError> {
        let Some(credentials) = &self.credentials else {
            return Ok(());
        };
        match &self.challenge {
            Challenge::None => Ok(()),
            Challenge::Basic => {
                let response = self
                    .http
                    .get(format!("{}/v2/", self.base))
                    .header(AUTHORIZATION, credentials.basic_header())
                    .send()
                    .await
                    .map_err(|e| self.transport(&e))?;
                match response.status() {
                    s if s.is_success() => Ok(()),
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                        Err(RegistryError::BadCredentials {
                            host: self.host.to_string(),
                            via: AuthVia::Basic,
                        })
                    }
                    s => Err(RegistryError::NotRegistry {
                        url: format!("{}/v2/", self.base),
                        status: s.as_u16(),
                    }),
                }
            }
            Challenge::Bearer { .. } => self.fetch_token(None).await.map(drop),
        }
    }

    /// The `Authorization` header for `scope`, or none when the registry wants none.
    async fn authorization(&self, scope: &str) -> Result<Option<String>, RegistryError> {
        match &self.challenge {
            Challenge::None => Ok(None),
            Challenge::Basic => Ok(self.credentials.as_ref().map(Credentials::basic_header)),
            Challenge::Bearer { .. } => {
                let cached = self
                    .tokens
                    .lock()
                    .expect("token cache lock")
                    .get(scope)
                    .filter(|t| t.refresh_at > Instant::now())
                    .map(|t| t.value.clone());
                let token = match cached {
                    Some(t) => t,
                    None => self.fetch_token(Some(scope)).await?,
                };
                Ok(Some(format!("Bearer {}", token.expose_secret())))
            }
        }
    }

    /// Asks the token endpoint for a token for `scope` (none: just check the credentials).
    async fn fetch_token(&self, scope: Option<&str>) -> Result<SecretString, RegistryError> {
        let Challenge::Bearer { realm, service } = &self.challenge else {
            unreachable!("only a Bearer challenge has a token endpoint");
        };
        let token_error = |detail: String| RegistryError::TokenEndpoint {
            host: self.host.to_string(),
            realm: realm.clone(),
            detail,
        };
        let mut url = url::Url::parse(realm)
            .map_err(|e| token_error(format!("the realm is not a URL: {e}")))?;
        // The realm is the registry's to name, so it may point anywhere: the egress policy
        // applies to it, and credentials travel over plain HTTP only to the registry itself.
        self.egress.check_url(&url)?;
        let same_host = url.host_str().is_some_and(|h| {
            let realm_authority = match url.port() {
                Some(p) => format!("{h}:{p}"),
                None => h.to_owned(),
            };
            realm_authority.eq_ignore_ascii_case(self.host.api_authority())
                || h.eq_ignore_ascii_case(self.host.hostname())
        });
        if url.scheme() != "https" && self.credentials.is_some() && !same_host {
            return Err(token_error(
                "the token endpoint is plain HTTP on another host, and the login's credentials are sent in the clear only to the registry itself; the registry must name an https:// realm".into(),
            ));
        }
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = service {
                query.append_pair("service", service);
            }
            if let Some(scope) = scope {
                query.append_pair("scope", scope);
            }
            if let Some(c) = &self.credentials {
                query.append_pair("account", &c.username);
            }
        }
        let mut request = self.http.get(url.clone()).timeout(SMALL_REQUEST_TIMEOUT);
        if let Some(c) = &self.credentials {
            request = request.header(AUTHORIZATION, c.basic_header());
        }
        let realm_host = url.host_str().unwrap_or_default().to_owned();
        let response = request.send().await.map_err(|e| {
            let https = url.scheme() == "https";
            match transport(&realm_host, https, &e) {
                RegistryError::Protocol { detail, .. } => token_error(detail),
                err => token_error(err.to_string()),
            }
        })?;
        match response.status() {
            s if s.is_success() => {}
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN if self.credentials.is_some() => {
                return Err(RegistryError::BadCredentials {
                    host: self.host.to_string(),
                    via: AuthVia::TokenEndpoint,
                });
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                return Err(self.denied(&scope_repository(scope.unwrap_or_default())));
            }
            s => return Err(token_error(format!("HTTP {s}"))),
        }
        let body = read_limited(response, SMALL_BODY_LIMIT)
            .await
            .map_err(token_error)?;
        let body: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| token_error(format!("the answer is not a token: {e}")))?;
        let token = body
            .token
            .or(body.access_token)
            .ok_or_else(|| token_error("the answer has neither token nor access_token".into()))?;
        if let Some(scope) = scope {
            let lifetime = body.expires_in.unwrap_or(DEFAULT_TOKEN_SECONDS).max(1);
            // Refresh a little early, so a request never leaves with a token about to expire.
            let refresh_at = Instant::now() + Duration::from_secs(lifetime) * 9 / 10;
            self.tokens.lock().expect("token cache lock").insert(
                scope.to_owned(),
                CachedToken {
                    value: token.clone(),
                    refresh_at,
                },
            );
        }
        Ok(token)
    }

    /// `GET path` with the authorization for `scope`; a 401 drops the cached token and tries
    /// once more with a fresh one.
    pub(crate) async fn get(
        &self,
        path: &str,
        scope: &str,
        accept: Option<&str>,
        range_from: Option<u64>,
    ) -> Result<Response, RegistryError> {
        self.send(reqwest::Method::GET, path, scope, accept, range_from, None)
            .await
    }

    /// A `GET` of something small (a manifest, a tag list): it must be whole within
    /// [`SMALL_REQUEST_TIMEOUT`], however slowly the registry answers.
    pub(crate) async fn get_small(
        &self,
        path: &str,
        scope: &str,
        accept: Option<&str>,
    ) -> Result<Response, RegistryError> {
        self.send(
            reqwest::Method::GET,
            path,
            scope,
            accept,
            None,
            Some(SMALL_REQUEST_TIMEOUT),
        )
        .await
    }

    /// A `HEAD` with this session's credentials (e.g. does this login reach that blob?).
    pub(crate) async fn head(&self, path: &str, scope: &str) -> Result<Response, RegistryError> {
        self.send(
            reqwest::Method::HEAD,
            path,
            scope,
            None,
            None,
            Some(SMALL_REQUEST_TIMEOUT),
        )
        .await
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        scope: &str,
        accept: Option<&str>,
        range_from: Option<u64>,
        overall: Option<Duration>,
    ) -> Result<Response, RegistryError> {
        let url = format!("{}{path}", self.base);
        for attempt in 0..2 {
            let mut headers = HeaderMap::new();
            if let Some(a) = accept {
                headers.insert(ACCEPT, HeaderValue::from_str(a).expect("accept is ASCII"));
            }
            if let Some(from) = range_from {
                headers.insert(
                    RANGE,
                    HeaderValue::from_str(&format!("bytes={from}-")).expect("range is ASCII"),
                );
            }
            if let Some(auth) = self.authorization(scope).await? {
                let mut value =
                    HeaderValue::from_str(&auth).map_err(|_| RegistryError::Protocol {
                        host: self.host.to_string(),
                        detail: "the credentials hold characters HTTP headers cannot carry".into(),
                    })?;
                value.set_sensitive(true);
                headers.insert(AUTHORIZATION, value);
            }
            let mut request = self.http.request(method.clone(), &url).headers(headers);
            if let Some(t) = overall {
                request = request.timeout(t);
            }
            let response = request.send().await.map_err(|e| self.transport(&e))?;
            if response.status() == StatusCode::UNAUTHORIZED
                && attempt == 0
                && matches!(self.challenge, Challenge::Bearer { .. })
            {
                self.tokens.lock().expect("token cache lock").remove(scope);
                continue;
            }
            return Ok(response);
        }
        unreachable!("the loop returns on its second attempt")
    }

    fn transport(&self, e: &reqwest::Error) -> RegistryError {
        transport(self.host.api_authority(), self.base.starts_with("https"), e)
    }

    /// Can this session pull `repository`? Lists its tags, which needs exactly pull access.
    pub async fn check_pull(&self, repository: &str) -> Result<(), RegistryError> {
        let scope = pull_scope(repository);
        let response = self
            .get_small(&format!("/v2/{repository}/tags/list?n=1"), &scope, None)
            .await?;
        match response.status() {
            s if s.is_success() => Ok(()),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => {
                Err(self.denied(repository))
            }
            s => Err(RegistryError::Protocol {
                host: self.host.to_string(),
                detail: format!("listing the tags of {repository} answered HTTP {s}"),
            }),
        }
    }
}

/// `repository:NAME:pull`.
pub fn pull_scope(repository: &str) -> String {
    format!("repository:{repository}:pull")
}

fn scope_repository(scope: &str) -> String {
    scope
        .strip_prefix("repository:")
        .and_then(|s| s.rsplit_once(':'))
        .map_or_else(String::new, |(name, _)| name.to_owned())
}
