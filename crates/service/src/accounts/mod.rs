//! Accounts (SPEC §3): users, organizations and their members, teams, repositories and their
//! collaborators, and tokens — who there is and what they own. The first start's site
//! administrator is made here too.

pub mod keys;
pub mod passwords;
pub mod repos;
pub mod sessions;
pub mod teams;
pub mod tokens;

use std::sync::Arc;

use berth_domain::{AccountKind, Login, OrgRole};
use berth_store::{Account, Listing, Store, StoreError, Window};
use secrecy::SecretString;

use crate::authz::{Access, Authz};
use crate::error::found;
use crate::{Clock, MintedToken, Principal, Result, ServiceError, TokenHasher};

/// The login of the site administrator created on a fresh data directory.
pub const BOOTSTRAP_ADMIN: &str = "admin";

fn taken(resource: &'static str, login: &Login) -> ServiceError {
    ServiceError::invalid(
        resource,
        "login",
        "already_exists",
        format!("the login {login} is already taken"),
    )
}

/// The accounts service. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Accounts {
    store: Store,
    authz: Authz,
    clock: Arc<dyn Clock>,
    hasher: Arc<TokenHasher>,
    /// The directories a repository's clone URL may name locally (SPEC §8).
    local_clone_dirs: Arc<Vec<std::path::PathBuf>>,
}

impl Accounts {
    pub(crate) fn new(
        store: Store,
        authz: Authz,
        clock: Arc<dyn Clock>,
        hasher: Arc<TokenHasher>,
    ) -> Self {
        Self {
            store,
            authz,
            clock,
            hasher,
            local_clone_dirs: Arc::default(),
        }
    }

    /// Lets clone URLs name local directories under `dirs`.
    pub(crate) fn with_local_clone_dirs(mut self, dirs: Vec<std::path::PathBuf>) -> Self {
        self.local_clone_dirs = Arc::new(dirs);
        self
    }

    fn now(&self) -> i64 {
        self.clock.now()
    }

    /// On a store with no accounts, creates the site administrator `admin` and its token (the
    /// given value, or a generated one). Returns `None` when the store was already set up.
    pub async fn bootstrap(&self, token: Option<&SecretString>) -> Result<Option<MintedToken>> {
        if self.store.has_accounts().await? {
            return Ok(None);
        }
        // Checked before anything is created, so a refused token leaves a fresh store fresh.
        if let Some(t) = token {
            crate::tokens::check_chosen_token(t)?;
        }
        let login = Login::parse(BOOTSTRAP_ADMIN).expect("a valid login");
        let admin = match self
            .store
            .create_account(&login, AccountKind::User, true, self.now())
            .await
        {
            Ok(a) => a,
            // Another replica bootstrapped the same database a moment ago.
            Err(StoreError::Conflict(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Ok(Some(self.mint_bootstrap_token(admin.id, token).await?))
    }

    pub(crate) async fn user_account(&self, login: &Login) -> Result<Account> {
        only_a_user(self.authz.account(login).await?, "User", || {
            format!("{login} is an organization, not a user")
        })
    }

    /// Creates a user (site administrators only).
    pub async fn create_user(&self, p: &Principal, login: &Login) -> Result<Account> {
        self.authz.check(p, Access::SiteAdmin).await?;
        self.store
            .create_account(login, AccountKind::User, false, self.now())
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => taken("User", login),
                e => e.into(),
            })
    }

    /// Creates an organization owned by the existing user `admin` (site administrators only).
    pub async fn create_organization(
        &self,
        p: &Principal,
        login: &Login,
        admin: &Login,
    ) -> Result<Account> {
        self.authz.check(p, Access::SiteAdmin).await?;
        let owner = self
            .store
            .account_by_login(admin)
            .await?
            .filter(|a| a.kind == AccountKind::User)
            .ok_or_else(|| {
                ServiceError::invalid(
                    "Organization",
                    "admin",
                    "invalid",
                    format!("no user with the login {admin}"),
                )
            })?;
        let org = self
            .store
            .create_account(login, AccountKind::Organization, false, self.now())
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => taken("Organization", login),
                e => e.into(),
            })?;
        self.store
            .set_membership(org.id, owner.id, OrgRole::Owner)
            .await?;
        Ok(org)
    }

    /// Adds a user to an organization or changes their role (org owners).
    pub async fn set_membership(
        &self,
        p: &Principal,
        org: &Login,
        login: &Login,
        role: OrgRole,
    ) -> Result<(Account, Account, OrgRole)> {
        let org = self.authz.organization(org).await?;
        self.authz.check(p, Access::OrgOwner { org: &org }).await?;
        let user = self.user_account(login).await?;
        self.store.set_membership(org.id, user.id, role).await?;
        Ok((org, user, role))
    }

    /// A user's membership: visible to the user themself and to the org's members.
    pub async fn membership(
        &self,
        p: &Principal,
        org: &Login,
        login: &Login,
    ) -> Result<(Account, Account, OrgRole)> {
        let org = self.authz.organization(org).await?;
        let caller = self.authz.check(p, Access::User).await?;
        let user = self.user_account(login).await?;
        if caller.id != user.id
            && self.store.membership(org.id, caller.id).await?.is_none()
            && self.authz.check(p, Access::SiteAdmin).await.is_err()
        {
            return Err(ServiceError::NotFound);
        }
        let role = self
            .store
            .membership(org.id, user.id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        Ok((org, user, role))
    }

    /// Every account of `kind`: users or organizations (site administrators).
    pub async fn list_accounts(&self, p: &Principal, kind: AccountKind) -> Result<Vec<Account>> {
        self.authz.check(p, Access::SiteAdmin).await?;
        Ok(self.store.accounts_of_kind(kind).await?)
    }

    /// Removes a user from an organization (org owners).
    pub async fn remove_membership(&self, p: &Principal, org: &Login, login: &Login) -> Result<()> {
        let org = self.authz.organization(org).await?;
        self.authz.check(p, Access::OrgOwner { org: &org }).await?;
        let user = self.user_account(login).await?;
        found(self.store.remove_membership(org.id, user.id).await?)
    }

    /// The organizations the caller belongs to, with their role in each, by login.
    pub async fn my_organizations(
        &self,
        p: &Principal,
        w: Window,
    ) -> Result<Listing<(Account, OrgRole)>> {
        let caller = self.authz.check(p, Access::User).await?;
        let orgs = self.store.organizations_of(caller.id).await?;
        Ok(Listing::page(orgs, w))
    }

    /// An organization's members (visible to its members and site administrators).
    pub async fn list_members(
        &self,
        p: &Principal,
        org: &Login,
        role: Option<OrgRole>,
        w: Window,
    ) -> Result<Listing<(Account, OrgRole)>> {
        let org = self.authz.organization(org).await?;
        let caller = self.authz.check(p, Access::User).await?;
        if self.store.membership(org.id, caller.id).await?.is_none()
            && self.authz.check(p, Access::SiteAdmin).await.is_err()
        {
            return Err(ServiceError::Forbidden(format!(
                "you must be a member of {} to list its members",
                org.login
            )));
        }
        Ok(self.store.list_members(org.id, role, w).await?)
    }
}

/// `account` if it is a user; else a validation error of `resource`'s `login`, saying `why`.
pub(crate) fn only_a_user(
    account: Account,
    resource: &'static str,
    why: impl FnOnce() -> String,
) -> Result<Account> {
    if account.kind != AccountKind::User {
        return Err(ServiceError::invalid(resource, "login", "invalid", why()));
    }
    Ok(account)
}
