//! The web UI's sign-in and sessions (SPEC §11): a password checked (rate-limited per account and
//! per client address), a session whose cookie value is stored only as a keyed hash, a form token
//! (CSRF) per session, and sign-out that revokes it on the server. A session acts as its user with
//! every scope: the pages call the same services, under the same authorization, as the API.

use std::net::IpAddr;

use berth_domain::{Login, Scopes};
use berth_store::{Account, WebSession};
use rand::Rng as _;
use secrecy::{ExposeSecret, SecretString};

use super::Accounts;
use crate::{Principal, Result, ServiceError};

/// A session lasts this long after its last use.
pub const IDLE_LIFETIME: i64 = 14 * 24 * 3600;
/// A session's last use is written at most this often.
const TOUCH_EVERY: i64 = 60;
/// The failed sign-ins an account, or a client address, may have in [`WINDOW`] seconds.
pub const FAILURES_ALLOWED: i64 = 10;
const WINDOW: i64 = 15 * 60;

/// A new session: the cookie's value (seen only now) and the session.
#[derive(Debug)]
pub struct NewSession {
    pub cookie: SecretString,
    pub session: WebSession,
}

/// A request's session: who it acts as, and the session itself (its form token).
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub principal: Principal,
    pub session: WebSession,
}

fn random(n: usize) -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

impl Accounts {
    /// Signs `login` in with `password` from `client` (when the server knows the address): a new
    /// session, or `BadCredentials` (the same for every wrong combination), or `TooManyAttempts`
    /// once the account or the address failed [`FAILURES_ALLOWED`] times in fifteen minutes.
    pub async fn sign_in(
        &self,
        login: &Login,
        password: SecretString,
        client: Option<IpAddr>,
    ) -> Result<NewSession> {
        let now = self.now();
        let mut keys = vec![format!("login:{}", login.key())];
        keys.extend(client.map(|c| format!("client:{c}")));
        if let Some(seconds) = self.sign_in_wait(&keys, now).await? {
            return Err(ServiceError::TooManyAttempts { seconds });
        }
        let user = match self.check_password(login, password).await {
            Ok(user) => user,
            Err(e) => {
                self.store
                    .record_sign_in_failure(&keys, now, now - WINDOW)
                    .await?;
                tracing::info!(user = %login, client = ?client, "a sign-in was refused");
                return Err(e);
            }
        };
        let cookie = SecretString::from(format!("berth_ses_{}", random(40)));
        let session = self
            .store
            .create_web_session(
                &self.hasher.hash(cookie.expose_secret()),
                user.id,
                &random(32),
                now,
                now + IDLE_LIFETIME,
            )
            .await?;
        tracing::info!(user = %user.login, session = session.id, "signed in to the web UI");
        Ok(NewSession { cookie, session })
    }

    /// Seconds until `subjects` may try again, when one of them used up its allowance. The
    /// failures are kept in the database, so every replica applies the same limit.
    async fn sign_in_wait(&self, subjects: &[String], now: i64) -> Result<Option<i64>> {
        let mut wait = None;
        for subject in subjects {
            let failed = self.store.sign_in_failures(subject, now - WINDOW).await?;
            if failed.count >= FAILURES_ALLOWED
                && let Some(oldest) = failed.oldest
            {
                wait = wait.max(Some(WINDOW - (now - oldest)));
            }
        }
        Ok(wait)
    }

    /// The live session a cookie value names, as its user; `BadCredentials` for anything else.
    pub async fn session(&self, cookie: &SecretString) -> Result<SignedIn> {
        let now = self.now();
        let session = self
            .store
            .web_session_by_hash(&self.hasher.hash(cookie.expose_secret()))
            .await?
            .filter(|s| s.is_live(now))
            .ok_or(ServiceError::BadCredentials)?;
        let account: Account = self
            .store
            .account_by_id(session.user_id)
            .await?
            .ok_or(ServiceError::BadCredentials)?;
        if now - session.last_used_at >= TOUCH_EVERY {
            self.store
                .touch_web_session(session.id, now, now + IDLE_LIFETIME)
                .await?;
        }
        Ok(SignedIn {
            principal: Principal::User {
                account,
                scopes: Scopes::all(),
                token_id: 0,
            },
            session,
        })
    }

    /// The caller's live sessions, newest first.
    pub async fn list_sessions(&self, p: &Principal) -> Result<Vec<WebSession>> {
        let user = self.authz.check(p, crate::Access::User).await?;
        Ok(self.store.live_web_sessions(user.id, self.now()).await?)
    }

    /// Revokes one of the caller's sessions (another browser, a lost laptop).
    pub async fn revoke_session(&self, p: &Principal, id: i64) -> Result<()> {
        let user = self.authz.check(p, crate::Access::User).await?;
        crate::error::found(
            self.store
                .revoke_web_session(user.id, id, self.now())
                .await?,
        )
    }

    /// Signs a session out: revoked on the server, whatever the browser keeps.
    pub async fn sign_out(&self, signed_in: &SignedIn) -> Result<()> {
        self.store
            .revoke_web_session(signed_in.session.user_id, signed_in.session.id, self.now())
            .await?;
        Ok(())
    }
}
