//! Minting, hashing and checking access tokens.
//!
//! A token is a kind prefix plus 40 random alphanumerics (~238 bits). Only an HMAC-SHA256 of it,
//! keyed with a server secret, is stored: a leaked database does not yield usable tokens, and a
//! lookup costs one hash, not a password-hashing round (tokens are not guessable, so a slow hash
//! would buy nothing).

use berth_domain::{Login, RepoName, Scope, Scopes};
use berth_store::{NewToken, TokenKind, TokenRecord};
use hmac::{Hmac, Mac};
use rand::Rng;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::Sha256;

use super::{Accounts, only_a_user};
use crate::authz::Access;
use crate::error::found;
use crate::{Principal, Result, ServiceError};

const PERSONAL_PREFIX: &str = "berth_pat_";
const REPOSITORY_PREFIX: &str = "berth_rt_";
const ENVIRONMENT_PREFIX: &str = "berth_et_";
const RANDOM_LEN: usize = 40;

/// Keyed hashing of tokens. The key is the server's token secret (kept in the data directory).
pub struct TokenHasher {
    key: SecretBox<[u8; 32]>,
}

impl std::fmt::Debug for TokenHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenHasher(..)")
    }
}

impl TokenHasher {
    pub fn new(key: [u8; 32]) -> Self {
        Self {
            key: SecretBox::new(Box::new(key)),
        }
    }

    /// A fresh random key for a new data directory.
    pub fn generate_key() -> [u8; 32] {
        rand::rng().random()
    }

    pub fn hash(&self, token: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.key.expose_secret())
            .expect("any key length works");
        mac.update(token.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// A token just created: the only moment its value exists outside the caller's hands.
#[derive(Debug)]
pub struct MintedToken {
    pub token: SecretString,
    pub record: TokenRecord,
}

/// The secret part of every token: 40 random alphanumerics (~238 bits).
fn random_part() -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(RANDOM_LEN)
        .map(char::from)
        .collect()
}

fn mint_value(kind: TokenKind) -> String {
    let prefix = match kind {
        TokenKind::Personal => PERSONAL_PREFIX,
        TokenKind::Repository => REPOSITORY_PREFIX,
    };
    format!("{prefix}{}", random_part())
}

/// The shortest token an operator may choose for the bootstrap administrator.
pub const MIN_CHOSEN_TOKEN_LEN: usize = 16;

/// Refuses an operator-chosen token that is too short or has spaces.
pub(crate) fn check_chosen_token(token: &SecretString) -> Result<()> {
    let t = token.expose_secret();
    if t.chars().count() < MIN_CHOSEN_TOKEN_LEN || t.chars().any(char::is_whitespace) {
        return Err(ServiceError::invalid(
            "Token",
            "token",
            "invalid",
            format!(
                "a chosen token must be at least {MIN_CHOSEN_TOKEN_LEN} characters without spaces"
            ),
        ));
    }
    Ok(())
}

/// The last `n` characters of `s` (all of it when shorter).
fn last_chars(s: &str, n: usize) -> String {
    let skip = s.chars().count().saturating_sub(n);
    s.chars().skip(skip).collect()
}

/// The options of a new token.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    pub scopes: Scopes,
    pub note: String,
    /// Unix seconds; `None` never expires.
    pub expires_at: Option<i64>,
}

/// Whom a stored token acts as, if it is live: its user (personal tokens) or its repository.
/// Unknown, revoked and expired tokens, and those whose holder is gone, are all
/// `BadCredentials`, as GitHub answers.
pub(crate) async fn token_principal(
    store: &berth_store::Store,
    record: Option<TokenRecord>,
    now: i64,
) -> Result<Principal> {
    let record = record
        .filter(|r| r.is_live(now))
        .ok_or(ServiceError::BadCredentials)?;
    let principal =
        match (record.kind, record.user_id, record.repo_id) {
            (TokenKind::Personal, Some(user_id), _) => {
                store
                    .account_by_id(user_id)
                    .await?
                    .map(|account| Principal::User {
                        account,
                        scopes: record.scopes,
                        token_id: record.id,
                    })
            }
            (TokenKind::Repository, _, Some(repo_id)) => store
                .repo_by_id(repo_id, None)
                .await?
                .map(|(repo, _)| Principal::Repository {
                    repo,
                    token_id: record.id,
                }),
            _ => None,
        };
    principal.ok_or(ServiceError::BadCredentials)
}

impl Accounts {
    /// Resolves presented credentials to a principal. Unknown, revoked and expired tokens are all
    /// `BadCredentials`, as GitHub answers.
    pub async fn authenticate(&self, token: &SecretString) -> Result<Principal> {
        let hash = self.hasher.hash(token.expose_secret());
        if token.expose_secret().starts_with(ENVIRONMENT_PREFIX) {
            return self.authenticate_environment(&hash).await;
        }
        let record = self.store.token_by_hash(&hash).await?;
        token_principal(&self.store, record, self.now()).await
    }

    async fn authenticate_environment(&self, hash: &str) -> Result<Principal> {
        let record = self
            .store
            .environment_token_by_hash(hash)
            .await?
            .ok_or(ServiceError::BadCredentials)?;
        if !record.is_live(self.now()) {
            return Err(ServiceError::BadCredentials);
        }
        let account = self
            .store
            .account_by_id(record.user_id)
            .await?
            .ok_or(ServiceError::BadCredentials)?;
        let (repo, facts) = self
            .store
            .repo_by_id(record.repo_id, Some(account.id))
            .await?
            .ok_or(ServiceError::BadCredentials)?;
        // On every use, the user must still be able to read the repository: one removed from it
        // loses what its environments could pull at once, not when the token expires.
        let as_user = Principal::User {
            account: account.clone(),
            scopes: Scopes::parse(["repo"]).expect("a known scope"),
            token_id: 0,
        };
        if self.authz.repo_permission(&as_user, &repo, facts).is_none() {
            return Err(ServiceError::BadCredentials);
        }
        Ok(Principal::Environment {
            account,
            repo,
            token_id: record.id,
        })
    }

    /// Issues a token for the environment `environment` of `repo`, used by `user`, valid for
    /// `ttl` seconds. Environments get a fresh one at every start (see the environments issue);
    /// tests mint them here.
    pub async fn mint_environment_token(
        &self,
        user: &berth_store::Account,
        repo: &berth_store::Repo,
        environment: &str,
        ttl: i64,
    ) -> Result<(SecretString, berth_store::EnvironmentTokenRecord)> {
        let value = format!("{ENVIRONMENT_PREFIX}{}", random_part());
        let now = self.now();
        let record = self
            .store
            .insert_environment_token(
                &self.hasher.hash(&value),
                user.id,
                repo.id,
                environment,
                now,
                now + ttl,
            )
            .await?;
        Ok((SecretString::from(value), record))
    }

    async fn mint(&self, new: NewToken<'_>, value: String) -> Result<MintedToken> {
        let hash = self.hasher.hash(&value);
        let last_eight = last_chars(&value, 8);
        let record = self
            .store
            .insert_token(
                &NewToken {
                    hash: &hash,
                    last_eight: &last_eight,
                    ..new
                },
                self.now(),
            )
            .await?;
        Ok(MintedToken {
            token: SecretString::from(value),
            record,
        })
    }

    /// The parent of a token `p` creates (the token `p` presented) and the new token's expiry:
    /// the one asked for, but never after the parent's, so a token never outlives the token it
    /// was made with (and is revoked with it).
    async fn under_parent(
        &self,
        p: &Principal,
        asked: Option<i64>,
    ) -> Result<(Option<i64>, Option<i64>)> {
        let Principal::User { token_id, .. } = p else {
            return Ok((None, asked));
        };
        let parent = self.store.token_by_id(*token_id).await?;
        let Some(parent) = parent else {
            return Ok((None, asked));
        };
        let expires_at = match (asked, parent.expires_at) {
            (Some(a), Some(p)) => Some(a.min(p)),
            (a, p) => a.or(p),
        };
        Ok((Some(parent.id), expires_at))
    }

    fn check_expiry(&self, req: &TokenRequest) -> Result<()> {
        match req.expires_at {
            Some(t) if t <= self.now() => Err(ServiceError::invalid(
                "Token",
                "expires_at",
                "invalid",
                "expires_at must be in the future",
            )),
            _ => Ok(()),
        }
    }

    /// Creates a personal token for `for_login` (site admins only: GHES impersonation) or, when
    /// `None`, for the caller. A caller can only hand on scopes its own token has.
    pub async fn create_personal_token(
        &self,
        p: &Principal,
        for_login: Option<&Login>,
        req: TokenRequest,
    ) -> Result<MintedToken> {
        self.check_expiry(&req)?;
        let target = match for_login {
            Some(login) => {
                self.authz.check(p, Access::SiteAdmin).await?;
                only_a_user(self.authz.account(login).await?, "Token", || {
                    format!("{login} is an organization; tokens belong to users")
                })?
            }
            None => {
                let caller = self.authz.check(p, Access::User).await?.clone();
                let caller_scopes = p.scopes().unwrap_or_default();
                let is_site_admin = caller.site_admin && caller_scopes.has(Scope::SiteAdmin);
                if let Some(missing) = req
                    .scopes
                    .iter()
                    .find(|s| !caller_scopes.has(*s))
                    .filter(|_| !is_site_admin)
                {
                    return Err(ServiceError::Forbidden(format!(
                        "the token you are using lacks the {missing} scope, so it cannot create a token with it"
                    )));
                }
                caller
            }
        };
        if req.scopes.has(Scope::SiteAdmin) && !target.site_admin {
            return Err(ServiceError::invalid(
                "Token",
                "scopes",
                "invalid",
                format!(
                    "site_admin can only be granted to site administrators, and {} is not one",
                    target.login
                ),
            ));
        }
        let (parent_id, expires_at) = self.under_parent(p, req.expires_at).await?;
        let new = NewToken {
            hash: "",
            kind: TokenKind::Personal,
            user_id: Some(target.id),
            repo_id: None,
            created_by: p.user_id(),
            scopes: req.scopes,
            note: &req.note,
            last_eight: "",
            expires_at,
            parent_id,
        };
        self.mint(new, mint_value(TokenKind::Personal)).await
    }

    /// Creates a token that acts as the repository (admins of the repository only).
    pub async fn create_repository_token(
        &self,
        p: &Principal,
        owner: &Login,
        name: &RepoName,
        req: TokenRequest,
    ) -> Result<MintedToken> {
        self.check_expiry(&req)?;
        let view = self
            .authz
            .repo_for(p, owner, name, berth_domain::Permission::Admin)
            .await?;
        let (parent_id, expires_at) = self.under_parent(p, req.expires_at).await?;
        let new = NewToken {
            hash: "",
            kind: TokenKind::Repository,
            user_id: None,
            repo_id: Some(view.repo.id),
            created_by: p.user_id(),
            scopes: Scopes::none(),
            note: &req.note,
            last_eight: "",
            expires_at,
            parent_id,
        };
        self.mint(new, mint_value(TokenKind::Repository)).await
    }

    /// Creates the bootstrap token of the first site admin, with every scope. `value` is the
    /// operator-chosen token (`BERTH_BOOTSTRAP_TOKEN`) or `None` to generate one.
    pub(crate) async fn mint_bootstrap_token(
        &self,
        admin_id: i64,
        value: Option<&SecretString>,
    ) -> Result<MintedToken> {
        let new = NewToken {
            hash: "",
            kind: TokenKind::Personal,
            user_id: Some(admin_id),
            repo_id: None,
            created_by: None,
            scopes: Scopes::all(),
            note: "bootstrap",
            last_eight: "",
            expires_at: None,
            parent_id: None,
        };
        let value = match value {
            Some(v) => v.expose_secret().to_owned(),
            None => mint_value(TokenKind::Personal),
        };
        self.mint(new, value).await
    }

    /// The caller's live personal tokens.
    pub async fn list_personal_tokens(&self, p: &Principal) -> Result<Vec<TokenRecord>> {
        let user = self.authz.check(p, Access::User).await?;
        let now = self.now();
        Ok(self
            .store
            .personal_tokens(user.id)
            .await?
            .into_iter()
            .filter(|t| t.is_live(now))
            .collect())
    }

    /// Revokes one of the caller's personal tokens (site admins: anyone's). Someone else's token
    /// is `NotFound`.
    pub async fn revoke_personal_token(&self, p: &Principal, id: i64) -> Result<()> {
        let user = self.authz.check(p, Access::User).await?;
        let record = self
            .store
            .token_by_id(id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let own = record.kind == TokenKind::Personal && record.user_id == Some(user.id);
        if !own && self.authz.check(p, Access::SiteAdmin).await.is_err() {
            return Err(ServiceError::NotFound);
        }
        found(self.store.revoke_token(id, self.now()).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_keyed() {
        let a = TokenHasher::new([1; 32]);
        let b = TokenHasher::new([2; 32]);
        assert_eq!(a.hash("t"), a.hash("t"));
        assert_ne!(a.hash("t"), b.hash("t"));
        assert_eq!(a.hash("t").len(), 64);
    }

    #[test]
    fn minted_values_have_their_prefix_and_entropy() {
        let v = mint_value(TokenKind::Personal);
        assert!(v.starts_with(PERSONAL_PREFIX));
        assert_eq!(v.len(), PERSONAL_PREFIX.len() + RANDOM_LEN);
        assert_ne!(v, mint_value(TokenKind::Personal));
        assert!(mint_value(TokenKind::Repository).starts_with(REPOSITORY_PREFIX));
    }

    #[test]
    fn last_chars_never_panics() {
        assert_eq!(last_chars("abcdefghij", 8), "cdefghij");
        assert_eq!(last_chars("tok", 8), "tok");
        assert_eq!(last_chars("ééééééééé", 8), "éééééééé");
    }

    #[test]
    fn debug_does_not_show_the_key() {
        assert_eq!(
            format!("{:?}", TokenHasher::new([7; 32])),
            "TokenHasher(..)"
        );
    }
}
