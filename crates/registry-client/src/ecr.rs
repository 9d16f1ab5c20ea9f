//! Amazon ECR's token swap: access keys become a registry password through ECR's
//! `GetAuthorizationToken` (JSON 1.1, `X-Amz-Target:
//! AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken`), signed with SigV4 for service
//! `ecr` in the registry's region. The answer is `base64("AWS:<password>")`, valid 12 hours;
//! like the Amazon ECR credential helper we cache it, but only until half its lifetime, so a
//! login handed out is never close to expiry.
//!
//! The endpoint follows the AWS SDKs' standard overrides: `AWS_ENDPOINT_URL_ECR`, then
//! `AWS_ENDPOINT_URL`, then the registry's regional endpoint (FIPS for FIPS hosts).

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::SystemTime;

use aws_credential_types::Credentials as AwsCredentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use base64::Engine as _;
use berth_domain::logins::EcrRegistry;
use secrecy::{ExposeSecret, SecretString};
use sha2::Digest as _;
use time::OffsetDateTime;

const TARGET: &str = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken";
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// An AWS access key pair (the `_USER` and `_PASSWORD` secrets of an ECR login).
#[derive(Clone)]
pub struct AccessKeys {
    pub access_key_id: String,
    pub secret_access_key: SecretString,
}

impl fmt::Debug for AccessKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessKeys([redacted])")
    }
}

/// A registry password from ECR, and when it stops working.
#[derive(Clone)]
pub struct EcrToken {
    pub password: SecretString,
    pub fetched_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

impl EcrToken {
    /// When a cached token should be fetched again: half way through its life.
    pub fn refresh_at(&self) -> OffsetDateTime {
        self.fetched_at + (self.expires_at - self.fetched_at) / 2
    }
}

impl fmt::Debug for EcrToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EcrToken")
            .field("password", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Why the swap failed. Never carries the keys, nor AWS's message text (which may echo them):
/// the error code, and what it means.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EcrError {
    #[error("ECR refused the access keys: {code} (HTTP {status}): {meaning}")]
    Refused {
        code: String,
        status: u16,
        meaning: &'static str,
    },
    #[error("the ECR endpoint {endpoint} could not be reached: {detail}")]
    Unreachable { endpoint: String, detail: String },
    #[error("the ECR endpoint {endpoint} answered something that is not a token: {detail}")]
    BadAnswer { endpoint: String, detail: String },
}

/// What an AWS error code means for the person holding the keys.
fn meaning(code: &str) -> &'static str {
    match code {
        "UnrecognizedClientException" | "InvalidClientTokenId" => {
            "AWS does not know this access key ID; check the _USER secret"
        }
        "InvalidSignatureException" | "SignatureDoesNotMatch" | "IncompleteSignature" => {
            "the secret access key does not belong to the access key ID; check the _PASSWORD \
             secret"
        }
        "AccessDeniedException" | "AccessDenied" => {
            "the keys' IAM identity may not call ecr:GetAuthorizationToken; grant it that action"
        }
        "ExpiredTokenException" | "ExpiredToken" => "the keys have expired; issue new ones",
        "InvalidParameterException" => "ECR refused the request's registry id",
        _ => "see AWS's documentation of this error code",
    }
}

/// Swaps access keys for registry passwords, with a cache.
pub struct EcrSwapper {
    http: reqwest::Client,
    endpoint_override: Option<String>,
    cache: Mutex<HashMap<CacheKey, EcrToken>>,
}

impl fmt::Debug for EcrSwapper {
    // The cache is keyed by access key IDs: show how many entries, never the keys.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cached = self.cache.lock().map_or(0, |c| c.len());
        f.debug_struct("EcrSwapper")
            .field("endpoint_override", &self.endpoint_override)
            .field("cached", &cached)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    endpoint: String,
    region: String,
    account: String,
    access_key_id: String,
    /// SHA-256 of the secret key: a changed secret misses the cache.
    secret_hash: [u8; 32],
}

/// The AWS SDKs' endpoint override for ECR, read from the environment given.
pub fn endpoint_override(var: impl Fn(&str) -> Option<String>) -> Option<String> {
    ["AWS_ENDPOINT_URL_ECR", "AWS_ENDPOINT_URL"]
        .into_iter()
        .find_map(|name| var(name).filter(|v| !v.trim().is_empty()))
}

impl EcrSwapper {
    pub fn new(http: reqwest::Client, endpoint_override: Option<String>) -> Self {
        Self {
            http,
            endpoint_override,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Honours `AWS_ENDPOINT_URL_ECR` / `AWS_ENDPOINT_URL` of this process.
    pub fn from_env(http: reqwest::Client) -> Self {
        Self::new(http, endpoint_override(|v| std::env::var(v).ok()))
    }

    fn endpoint(&self, registry: &EcrRegistry) -> String {
        self.endpoint_override
            .clone()
            .unwrap_or_else(|| registry.api_endpoint())
    }

    /// A password for `registry`, from the cache while it is in the first half of its life.
    pub async fn token(
        &self,
        registry: &EcrRegistry,
        keys: &AccessKeys,
        now: OffsetDateTime,
    ) -> Result<EcrToken, EcrError> {
        let key = CacheKey {
            endpoint: self.endpoint(registry),
            region: registry.region.clone(),
            account: registry.account.clone(),
            access_key_id: keys.access_key_id.clone(),
            secret_hash: sha2::Sha256::digest(keys.secret_access_key.expose_secret().as_bytes())
                .into(),
        };
        if let Some(t) = self.cache.lock().expect("ecr cache lock").get(&key)
            && now < t.refresh_at()
        {
            return Ok(t.clone());
        }
        let token = self.fetch(registry, keys, now).await?;
        self.cache
            .lock()
            .expect("ecr cache lock")
            .insert(key, token.clone());
        Ok(token)
    }

    /// Calls `GetAuthorizationToken`, uncached.
    pub async fn fetch(
        &self,
        registry: &EcrRegistry,
        keys: &AccessKeys,
        now: OffsetDateTime,
    ) -> Result<EcrToken, EcrError> {
        let endpoint = self.endpoint(registry);
        let url = format!("{}/", endpoint.trim_end_matches('/'));
        let body = serde_json::json!({ "registryIds": [registry.account] }).to_string();
        let headers = [("content-type", CONTENT_TYPE), ("x-amz-target", TARGET)];
        let signed = sigv4_headers(
            "POST",
            &url,
            &headers,
            body.as_bytes(),
            &registry.region,
            "ecr",
            keys,
            now.into(),
        )
        .map_err(|detail| EcrError::BadAnswer {
            endpoint: endpoint.clone(),
            detail: format!("the request could not be signed: {detail}"),
        })?;
        let mut request = self
            .http
            .post(&url)
            .timeout(crate::egress::SMALL_REQUEST_TIMEOUT)
            .body(body);
        for (name, value) in headers
            .iter()
            .copied()
            .chain(signed.iter().map(|(n, v)| (n.as_str(), v.as_str())))
        {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|e| EcrError::Unreachable {
            endpoint: endpoint.clone(),
            detail: error_chain(&e),
        })?;
        let status = response.status();
        let error_type = response
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = crate::egress::read_limited(response, crate::egress::SMALL_BODY_LIMIT)
            .await
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        if !status.is_success() {
            let code = error_type
                .or_else(|| {
                    serde_json::from_str::<serde_json::Value>(&text)
                        .ok()
                        .and_then(|v| {
                            v.get("__type")
                                .or_else(|| v.get("code"))
                                .and_then(|t| t.as_str())
                                .map(str::to_owned)
                        })
                })
                .or_else(|| xml_code(&text))
                .map(|c| clean_code(&c))
                .unwrap_or_else(|| "UnknownError".to_owned());
            return Err(EcrError::Refused {
                meaning: meaning(&code),
                code,
                status: status.as_u16(),
            });
        }
        parse_answer(&text, now).map_err(|detail| EcrError::BadAnswer { endpoint, detail })
    }
}

/// `com.amazon.coral.service#UnrecognizedClientException` or `Code:http://…` → the bare code.
fn clean_code(code: &str) -> String {
    let code = code.rsplit('#').next().unwrap_or(code);
    code.split(':').next().unwrap_or(code).trim().to_owned()
}

/// `<Code>InvalidClientTokenId</Code>` in a query-protocol error.
fn xml_code(text: &str) -> Option<String> {
    let start = text.find("<Code>")? + "<Code>".len();
    let end = text[start..].find("</Code>")? + start;
    Some(text[start..end].to_owned())
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.join(": ")
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    authorization_data: Vec<AuthorizationData>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthorizationData {
    authorization_token: SecretString,
    /// Seconds since the epoch (JSON 1.1 timestamps are numbers).
    expires_at: Option<f64>,
}

fn parse_answer(text: &str, now: OffsetDateTime) -> Result<EcrToken, String> {
    let answer: Answer =
        serde_json::from_str(text).map_err(|e| format!("the JSON does not parse: {e}"))?;
    let data = answer
        .authorization_data
        .into_iter()
        .next()
        .ok_or("authorizationData is empty")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(data.authorization_token.expose_secret().trim())
        .map_err(|_| "authorizationToken is not base64")?;
    let decoded = String::from_utf8(decoded).map_err(|_| "authorizationToken is not UTF-8")?;
    let password = decoded
        .strip_prefix("AWS:")
        .ok_or("authorizationToken is not AWS:<password>")?;
    // ECR documents 12 hours. An expiry not in the future cannot be honoured (a skewed clock,
    // or an AWS-compatible server answering a fixed date, as moto does): assume the 12 hours.
    let expires_at = data
        .expires_at
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s as i64).ok())
        .filter(|at| *at > now)
        .unwrap_or(now + time::Duration::hours(12));
    Ok(EcrToken {
        password: SecretString::from(password.to_owned()),
        fetched_at: now,
        expires_at,
    })
}

/// The headers SigV4 adds to a request (`authorization`, `x-amz-date`, …), signing `headers`
/// and `body` for `service` in `region` at `time`.
#[allow(
    clippy::too_many_arguments,
    reason = "each is one part of what SigV4 signs"
)]
pub fn sigv4_headers(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    region: &str,
    service: &str,
    keys: &AccessKeys,
    time: SystemTime,
) -> Result<Vec<(String, String)>, String> {
    let identity = AwsCredentials::new(
        keys.access_key_id.clone(),
        keys.secret_access_key.expose_secret().to_owned(),
        None,
        None,
        "berth",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let request = SignableRequest::new(
        method,
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _) = sign(request, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AWS Signature Version 4 test suite's credentials and instant (`aws-sig-v4-test-suite`,
    /// 2015-08-30T12:36:00Z, region us-east-1, service `service`).
    fn suite_keys() -> AccessKeys {
        AccessKeys {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_owned().into(),
        }
    }

    fn suite_time() -> SystemTime {
        OffsetDateTime::from_unix_timestamp(1_440_938_160)
            .unwrap()
            .into()
    }

    #[test]
    fn signatures_match_the_aws_sigv4_test_suite() {
        let vectors = [
            (
                "get-vanilla",
                "GET",
                "https://example.amazonaws.com/",
                "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            ),
            (
                "post-vanilla",
                "POST",
                "https://example.amazonaws.com/",
                "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
            ),
            (
                "get-vanilla-query-order-key-case",
                "GET",
                "https://example.amazonaws.com/?Param2=value2&Param1=value1",
                "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
            ),
        ];
        for (name, method, url, signature) in vectors {
            let headers = sigv4_headers(
                method,
                url,
                &[],
                b"",
                "us-east-1",
                "service",
                &suite_keys(),
                suite_time(),
            )
            .unwrap();
            let get = |h: &str| {
                headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(h))
                    .map(|(_, v)| v.as_str())
            };
            assert_eq!(get("x-amz-date"), Some("20150830T123600Z"), "{name}");
            assert_eq!(
                get("authorization"),
                Some(
                    format!(
                        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/\
                         aws4_request, SignedHeaders=host;x-amz-date, Signature={signature}"
                    )
                    .as_str()
                ),
                "{name}"
            );
        }
    }

    #[test]
    fn answers_decode_to_the_password_after_aws() {
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let token = base64::engine::general_purpose::STANDARD.encode("AWS:pass:with:colons");
        let text = format!(
            r#"{{"authorizationData":[{{"authorizationToken":"{token}","expiresAt":1700043200.5,"proxyEndpoint":"https://1.dkr.ecr.x.amazonaws.com"}}]}}"#
        );
        let t = parse_answer(&text, now).unwrap();
        assert_eq!(t.password.expose_secret(), "pass:with:colons");
        assert_eq!(t.expires_at.unix_timestamp(), 1_700_043_200);
        assert_eq!(
            t.refresh_at().unix_timestamp(),
            1_700_021_600,
            "half its life"
        );
        let not_aws = base64::engine::general_purpose::STANDARD.encode("bob:x");
        assert!(
            parse_answer(
                &format!(r#"{{"authorizationData":[{{"authorizationToken":"{not_aws}"}}]}}"#),
                now
            )
            .is_err()
        );
        assert!(parse_answer(r#"{"authorizationData":[]}"#, now).is_err());
    }

    #[test]
    fn error_codes_are_read_from_every_shape_aws_sends() {
        assert_eq!(
            clean_code("com.amazon.coral.service#UnrecognizedClientException"),
            "UnrecognizedClientException"
        );
        assert_eq!(
            clean_code("InvalidSignatureException:http://internal.amazon.com/coral/"),
            "InvalidSignatureException"
        );
        assert_eq!(
            xml_code("<ErrorResponse><Error><Code>InvalidClientTokenId</Code></Error>"),
            Some("InvalidClientTokenId".into())
        );
    }

    #[test]
    fn endpoint_overrides_follow_the_sdks() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(
            endpoint_override(env(&[
                ("AWS_ENDPOINT_URL", "http://general"),
                ("AWS_ENDPOINT_URL_ECR", "http://ecr")
            ])),
            Some("http://ecr".into())
        );
        assert_eq!(
            endpoint_override(env(&[("AWS_ENDPOINT_URL", "http://general")])),
            Some("http://general".into())
        );
        assert_eq!(
            endpoint_override(env(&[("AWS_ENDPOINT_URL_ECR", " ")])),
            None
        );
        assert_eq!(endpoint_override(env(&[])), None);
    }

    #[test]
    fn keys_and_tokens_never_show_in_debug() {
        let k = suite_keys();
        assert!(!format!("{k:?}").contains("EXAMPLEKEY"));
        assert!(!format!("{k:?}").contains("AKIDEXAMPLE"));
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let swapper = EcrSwapper::new(reqwest::Client::new(), None);
        swapper.cache.lock().unwrap().insert(
            CacheKey {
                endpoint: "https://api.ecr.us-east-1.amazonaws.com".into(),
                region: "us-east-1".into(),
                account: "123456789012".into(),
                access_key_id: "AKIDEXAMPLE".into(),
                secret_hash: [7; 32],
            },
            EcrToken {
                password: "ecr-password".to_owned().into(),
                fetched_at: now,
                expires_at: now + time::Duration::hours(12),
            },
        );
        let shown = format!("{swapper:?}");
        assert!(shown.contains("cached: 1"), "{shown}");
        for secret in ["AKIDEXAMPLE", "ecr-password"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}
