//! The registry's callers and bearer tokens (Docker token authentication: `distribution`'s
//! `docs/content/spec/auth/token.md`, `jwt.md`, `scope.md`, `oauth.md`).
//!
//! `/token` turns credentials into a short-lived JWT whose `access` claim lists, per repository,
//! the actions granted: the intersection of what was asked and what [`Registry::authorize_package`]'s
//! rules allow, never an error for asking too much. The registry only ever verifies its own
//! tokens, so they are signed with HS256 under a key kept in the data directory.

use berth_domain::oci::RepositoryName;
use berth_domain::package::PackageAction;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::Registry;
use super::RegistryResult;
use crate::accounts::tokens::token_principal;
use crate::{Principal, ServiceError};

const ISSUER: &str = "berth";
/// Lifetime of an access token: long enough for a large layer to start uploading, short enough
/// that a revoked personal token stops working soon.
const ACCESS_TTL: i64 = 600;
/// Lifetime of a refresh token (Docker's "identity token"); every use re-checks the personal
/// token it came from.
const REFRESH_TTL: i64 = 30 * 86_400;

/// Who is calling the registry.
#[derive(Debug, Clone)]
pub enum RegistryCaller {
    /// Authenticated with a Berth token directly (Basic or Bearer), or anonymous.
    Principal(Principal),
    /// Holding a registry bearer token: what it may do is written in it.
    Grant(Grant),
}

impl RegistryCaller {
    pub fn is_anonymous(&self) -> bool {
        match self {
            Self::Principal(p) => matches!(p, Principal::Anonymous),
            Self::Grant(g) => g.subject.is_empty(),
        }
    }

    /// The account to record as publisher of what this caller pushes.
    pub fn account_id(&self) -> Option<i64> {
        match self {
            Self::Principal(p) => p.user_id(),
            Self::Grant(g) => g.account_id,
        }
    }

    /// The repository this caller acts as, for a repository token.
    pub fn repo_id(&self) -> Option<i64> {
        match self {
            Self::Principal(Principal::Repository { repo, .. }) => Some(repo.id),
            Self::Principal(_) => None,
            Self::Grant(g) => g.repo_id,
        }
    }
}

/// What a verified bearer token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The login it was issued to (`repository:OWNER/NAME` for a repository token); empty for
    /// anonymous tokens.
    pub subject: String,
    pub account_id: Option<i64>,
    /// The repository a repository token acts as.
    pub repo_id: Option<i64>,
    pub access: Vec<GrantedAccess>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantedAccess {
    pub name: String,
    pub actions: Vec<PackageAction>,
}

impl Grant {
    pub fn allows(&self, name: &RepositoryName, action: PackageAction) -> bool {
        self.access
            .iter()
            .any(|a| a.name == name.as_str() && a.actions.contains(&action))
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct ClaimAccess {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    actions: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    exp: i64,
    nbf: i64,
    iat: i64,
    jti: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<i64>,
    /// The repository a repository token acts as.
    #[serde(skip_serializing_if = "Option::is_none")]
    rid: Option<i64>,
    #[serde(default)]
    access: Vec<ClaimAccess>,
    /// `refresh` for refresh tokens; absent for access tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    typ: Option<String>,
    /// The personal token a refresh token stands for.
    #[serde(skip_serializing_if = "Option::is_none")]
    tid: Option<i64>,
}

/// A request to the token endpoint, after the HTTP edge has read it.
#[derive(Debug, Clone, Default)]
pub struct TokenGrantRequest {
    /// The `service` the token is for (this registry's host).
    pub service: String,
    /// Scope strings as sent: `repository:NAME:ACTIONS`.
    pub scopes: Vec<String>,
    /// Whether to issue a refresh token too (`access_type=offline`, or the OAuth2 password grant).
    pub offline: bool,
}

/// What the token endpoint answers.
#[derive(Debug)]
pub struct IssuedToken {
    pub token: SecretString,
    pub expires_in: i64,
    pub issued_at: i64,
    pub refresh_token: Option<SecretString>,
}

/// Splits `repository:NAME:ACTIONS` (the name never holds `:`). Other resource types grant
/// nothing and are skipped.
fn parse_scope(scope: &str) -> Option<(RepositoryName, Vec<PackageAction>)> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    if kind != "repository" {
        return None;
    }
    let name = RepositoryName::parse(name).ok()?;
    let actions = if actions == "*" {
        vec![
            PackageAction::Read,
            PackageAction::Write,
            PackageAction::Delete,
        ]
    } else {
        actions
            .split(',')
            .filter_map(PackageAction::from_docker_word)
            .collect()
    };
    Some((name, actions))
}

impl Registry {
    fn sign(&self, claims: &Claims) -> SecretString {
        let jwt = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(&self.signing_key),
        )
        .expect("HS256 signing of serialisable claims cannot fail");
        SecretString::from(jwt)
    }

    fn verify(&self, jwt: &str, service: &str) -> Option<Claims> {
        let mut v = Validation::new(Algorithm::HS256);
        v.set_audience(&[service]);
        v.set_issuer(&[ISSUER]);
        v.leeway = 5;
        let data =
            jsonwebtoken::decode::<Claims>(jwt, &DecodingKey::from_secret(&self.signing_key), &v)
                .ok()?;
        // The library checks exp; nbf is ours to check against our own clock.
        (data.claims.nbf <= self.now() + 5 && data.claims.exp > self.now()).then_some(data.claims)
    }

    /// Issues an access token for `p`, granting of each requested scope what `p` may do.
    pub async fn issue_registry_token(
        &self,
        p: &Principal,
        req: &TokenGrantRequest,
    ) -> RegistryResult<IssuedToken> {
        let mut access: Vec<ClaimAccess> = Vec::new();
        for scope in req.scopes.iter().flat_map(|s| s.split(' ')) {
            let Some((name, asked)) = parse_scope(scope) else {
                continue;
            };
            let caller = RegistryCaller::Principal(p.clone());
            let mut granted = Vec::new();
            for action in asked {
                if !granted.contains(&action)
                    && self.authorize_package(&caller, &name, action).await.is_ok()
                {
                    granted.push(action);
                }
            }
            match access.iter_mut().find(|a| a.name == name.as_str()) {
                Some(a) => {
                    for g in granted {
                        let word = g.docker_word().unwrap_or_default();
                        if !a.actions.iter().any(|x| x == word) {
                            a.actions.push(word.to_owned());
                        }
                    }
                }
                None => access.push(ClaimAccess {
                    kind: "repository".into(),
                    name: name.to_string(),
                    actions: granted
                        .iter()
                        .filter_map(|g| g.docker_word())
                        .map(str::to_owned)
                        .collect(),
                }),
            }
        }
        let now = self.now();
        let (subject, rid) = match p {
            Principal::User { account, .. } => (account.login.to_string(), None),
            Principal::Repository { repo, .. } => {
                (format!("repository:{}", repo.full_name()), Some(repo.id))
            }
            Principal::Environment { account, repo, .. } => (
                format!("environment:{}@{}", account.login, repo.full_name()),
                None,
            ),
            Principal::Anonymous => (String::new(), None),
        };
        let claims =
            |exp: i64, access: Vec<ClaimAccess>, typ: Option<String>, tid: Option<i64>| Claims {
                iss: ISSUER.into(),
                sub: subject.clone(),
                aud: req.service.clone(),
                exp,
                nbf: now,
                iat: now,
                jti: uuid::Uuid::new_v4().to_string(),
                uid: p.user_id(),
                rid,
                access,
                typ,
                tid,
            };
        let refresh_token = match p {
            Principal::User { token_id, .. } if req.offline => Some(self.sign(&claims(
                now + REFRESH_TTL,
                Vec::new(),
                Some("refresh".into()),
                Some(*token_id),
            ))),
            _ => None,
        };
        let token = self.sign(&claims(now + ACCESS_TTL, access, None, None));
        Ok(IssuedToken {
            token,
            expires_in: ACCESS_TTL,
            issued_at: now,
            refresh_token,
        })
    }
    /// Verifies an access token issued by this registry for `service`.
    pub fn verify_registry_token(&self, jwt: &str, service: &str) -> Option<Grant> {
        let claims = self.verify(jwt, service).filter(|c| c.typ.is_none())?;
        let access = claims
            .access
            .into_iter()
            .filter(|a| a.kind == "repository")
            .map(|a| GrantedAccess {
                name: a.name,
                actions: a
                    .actions
                    .iter()
                    .filter_map(|s| PackageAction::from_docker_word(s))
                    .collect(),
            })
            .collect();
        Some(Grant {
            subject: claims.sub,
            account_id: claims.uid,
            repo_id: claims.rid,
            access,
        })
    }

    /// The principal behind a refresh token, if the token and the personal token it stands for
    /// are both still valid.
    pub async fn principal_from_refresh_token(
        &self,
        jwt: &str,
        service: &str,
    ) -> Result<Principal, ServiceError> {
        let claims = self
            .verify(jwt, service)
            .filter(|c| c.typ.as_deref() == Some("refresh"))
            .ok_or(ServiceError::BadCredentials)?;
        let tid = claims.tid.ok_or(ServiceError::BadCredentials)?;
        let record = self.store.token_by_id(tid).await?;
        match token_principal(&self.store, record, self.now()).await? {
            user @ Principal::User { .. } => Ok(user),
            _ => Err(ServiceError::BadCredentials),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes() {
        let (n, a) = parse_scope("repository:octo/app:pull,push").unwrap();
        assert_eq!(
            (n.as_str(), a),
            ("octo/app", vec![PackageAction::Read, PackageAction::Write])
        );
        assert_eq!(parse_scope("repository:octo/app:*").unwrap().1.len(), 3);
        assert_eq!(
            parse_scope("repository:octo/app:pull,frob").unwrap().1,
            vec![PackageAction::Read]
        );
        assert!(parse_scope("registry:catalog:*").is_none());
        assert!(parse_scope("repository:Octo/App:pull").is_none());
        assert!(parse_scope("garbage").is_none());
    }
}
