//! Who is calling: resolved once per request from the credentials presented.

use berth_domain::Scopes;
use berth_store::{Account, Repo};

/// The authenticated caller.
#[derive(Debug, Clone)]
pub enum Principal {
    Anonymous,
    /// A user, through a personal access token with `scopes`.
    User {
        account: Account,
        scopes: Scopes,
        token_id: i64,
    },
    /// A repository token: acts as `repo`.
    Repository {
        repo: Repo,
        token_id: i64,
    },
    /// An environment token: `account` inside an environment of `repo`. It pulls packages and
    /// reads its repository; it is not the user on the rest of the API.
    Environment {
        account: Account,
        repo: Repo,
        token_id: i64,
    },
}

impl Principal {
    /// The scopes to report in `X-OAuth-Scopes`, when the caller used a personal token.
    pub fn scopes(&self) -> Option<Scopes> {
        match self {
            Principal::User { scopes, .. } => Some(*scopes),
            _ => None,
        }
    }

    pub fn user(&self) -> Option<&Account> {
        match self {
            Principal::User { account, .. } => Some(account),
            _ => None,
        }
    }

    pub fn user_id(&self) -> Option<i64> {
        self.user().map(|a| a.id)
    }
}
