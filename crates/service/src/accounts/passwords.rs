//! Users' passwords, for signing in to the web UI (SPEC §11): argon2id (the `argon2` crate's
//! defaults, OWASP's recommendation: 19 MiB, two passes), hashed and checked on a blocking
//! thread. Site administrators set anyone's (`berth user password LOGIN`), or have one made; the
//! first start's administrator gets one beside its token. API tokens stay the way programs sign in.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use rand::Rng as _;
use secrecy::{ExposeSecret, SecretString};

use super::Accounts;
use crate::authz::Access;
use crate::{Principal, Result, ServiceError};
use berth_domain::{AccountKind, Login};
use berth_store::Account;

/// The shortest password taken (NIST SP 800-63B asks for at least 8; Berth asks for more).
pub const MIN_PASSWORD: usize = 12;
/// The longest: argon2 takes any length, but a request should not make it hash a megabyte.
pub const MAX_PASSWORD: usize = 1024;
/// How long a made-up password is: 24 alphanumerics (~143 bits).
const MADE_UP: usize = 24;

/// Whether `password` may be set, or what is wrong with it.
fn check_rules(password: &SecretString) -> Result<()> {
    let n = password.expose_secret().chars().count();
    if !(MIN_PASSWORD..=MAX_PASSWORD).contains(&n) {
        return Err(ServiceError::invalid(
            "User",
            "password",
            "invalid",
            format!(
                "a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters (this one has {n})"
            ),
        ));
    }
    Ok(())
}

/// A new password: random alphanumerics.
pub fn made_up_password() -> SecretString {
    let chars: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(MADE_UP)
        .map(char::from)
        .collect();
    SecretString::from(chars)
}

/// The PHC string of `password` (a fresh salt each time).
async fn hash(password: SecretString) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        argon2::Argon2::default()
            .hash_password(password.expose_secret().as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| ServiceError::Internal(format!("hashing a password: {e}")))
    })
    .await
    .map_err(|e| ServiceError::Internal(format!("hashing a password: {e}")))?
}

/// Whether `password` is the one `phc` was made from. A stored hash that does not parse matches
/// nothing.
async fn matches(password: SecretString, phc: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&phc).is_ok_and(|parsed| {
            argon2::Argon2::default()
                .verify_password(password.expose_secret().as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
}

/// A hash of a password nobody knows, made once: what a sign-in as someone without a password is
/// checked against, so that every refusal costs one hash.
async fn nobody() -> Result<String> {
    static NOBODY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    NOBODY
        .get_or_try_init(|| hash(made_up_password()))
        .await
        .cloned()
}

impl Accounts {
    /// Sets the password of the user `login` (site administrators): `password`, or one made up
    /// here, which is returned (the only time it is seen).
    pub async fn set_password(
        &self,
        p: &Principal,
        login: &Login,
        password: Option<SecretString>,
    ) -> Result<Option<SecretString>> {
        self.authz.check(p, Access::SiteAdmin).await?;
        let user = self.user_account(login).await?;
        let made_up = password.is_none();
        let password = password.unwrap_or_else(made_up_password);
        self.store_password(&user, password.clone()).await?;
        tracing::info!(user = %login, "password set by a site administrator");
        Ok(made_up.then_some(password))
    }

    /// Changes the caller's own password, given the current one (the web UI's account page).
    pub async fn change_own_password(
        &self,
        p: &Principal,
        current: SecretString,
        new: SecretString,
    ) -> Result<()> {
        let user = self.authz.check(p, Access::User).await?.clone();
        check_rules(&new)?;
        self.check_password(&user.login, current)
            .await
            .map_err(|_| {
                ServiceError::invalid(
                    "User",
                    "current_password",
                    "invalid",
                    "the current password is not right",
                )
            })?;
        self.store_password(&user, new).await?;
        tracing::info!(user = %user.login, "password changed by its user");
        Ok(())
    }

    /// The first start's administrator's initial password: made up and set when it has none yet
    /// (`berth serve` writes it beside the token); `None` once it has one.
    pub async fn bootstrap_password(&self) -> Result<Option<SecretString>> {
        let login = Login::parse(super::BOOTSTRAP_ADMIN).expect("a valid login");
        let Some(admin) = self.store.account_by_login(&login).await? else {
            return Ok(None);
        };
        if self.store.password_hash(admin.id).await?.is_some() {
            return Ok(None);
        }
        let password = made_up_password();
        self.store_password(&admin, password.clone()).await?;
        Ok(Some(password))
    }

    /// Checks a password and stores its hash for `user`.
    pub(crate) async fn store_password(
        &self,
        user: &Account,
        password: SecretString,
    ) -> Result<()> {
        check_rules(&password)?;
        let phc = hash(password).await?;
        crate::error::found(
            self.store
                .set_password_hash(user.id, Some(&phc), self.now())
                .await?,
        )
    }

    /// The user `login` when `password` is theirs; `BadCredentials` otherwise, the same for a
    /// missing user, an organization, a user without a password and a wrong password (a missing
    /// user costs a hash too, so the time tells nothing).
    pub async fn check_password(&self, login: &Login, password: SecretString) -> Result<Account> {
        let user = self
            .store
            .account_by_login(login)
            .await?
            .filter(|a| a.kind == AccountKind::User);
        let phc = match &user {
            Some(u) => self.store.password_hash(u.id).await?,
            None => None,
        };
        let against = match &phc {
            Some(phc) => phc.clone(),
            None => nobody().await?,
        };
        let ok = matches(password, against).await;
        match user {
            Some(u) if ok && phc.is_some() => Ok(u),
            _ => Err(ServiceError::BadCredentials),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_salted_and_checked() {
        let a = hash(SecretString::from("correct horse battery"))
            .await
            .unwrap();
        let b = hash(SecretString::from("correct horse battery"))
            .await
            .unwrap();
        assert!(a.starts_with("$argon2id$v=19$"), "{a}");
        assert_ne!(a, b, "each hash has its own salt");
        assert!(matches(SecretString::from("correct horse battery"), a.clone()).await);
        assert!(!matches(SecretString::from("correct horse battery!"), a).await);
        assert!(!matches(SecretString::from("x"), "not a hash".into()).await);
    }

    #[test]
    fn passwords_have_twelve_to_1024_characters_and_made_up_ones_qualify() {
        for (password, ok) in [
            ("short", false),
            ("elevenchars", false),
            ("twelve chars", true),
            ("ünïcödé ünïc", true),
        ] {
            assert_eq!(
                check_rules(&SecretString::from(password)).is_ok(),
                ok,
                "{password}"
            );
        }
        assert!(check_rules(&SecretString::from("x".repeat(MAX_PASSWORD + 1))).is_err());
        let made = made_up_password();
        assert_eq!(made.expose_secret().len(), MADE_UP);
        assert!(check_rules(&made).is_ok());
    }
}
