//! Web UI sessions: found by the keyed hash of the cookie's value, live until they expire or are
//! revoked (signed out, or by their user).

use crate::binds::Bind;
use crate::{Result, Store};

/// A session of the web UI.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WebSession {
    pub id: i64,
    pub user_id: i64,
    /// The form token every form of this session carries.
    pub csrf: String,
    pub created_at: i64,
    pub last_used_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

impl WebSession {
    pub fn is_live(&self, now: i64) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

const COLUMNS: &str = "id, user_id, csrf, created_at, last_used_at, expires_at, revoked_at";

impl Store {
    /// Records a new session of `user_id`.
    pub async fn create_web_session(
        &self,
        token_hash: &str,
        user_id: i64,
        csrf: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<WebSession> {
        Ok(sqlx::query_as(&format!(
            "INSERT INTO web_sessions (token_hash, user_id, csrf, created_at, last_used_at, \
             expires_at) VALUES ($1, $2, $3, $4, $4, $5) RETURNING {COLUMNS}"
        ))
        .binds((token_hash, user_id, csrf, now, expires_at))
        .fetch_one(&self.writer)
        .await?)
    }

    /// The session whose cookie hashes to `token_hash`, live or not.
    pub async fn web_session_by_hash(&self, token_hash: &str) -> Result<Option<WebSession>> {
        self.row_where(
            ("web_sessions", COLUMNS),
            "token_hash",
            token_hash.to_owned(),
        )
        .await
    }

    /// Notes a use of the session, and moves its expiry to `expires_at`.
    pub async fn touch_web_session(&self, id: i64, now: i64, expires_at: i64) -> Result<()> {
        sqlx::query("UPDATE web_sessions SET last_used_at = $2, expires_at = $3 WHERE id = $1")
            .binds((id, now, expires_at))
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Revokes a session of `user_id`; `false` when it has no such live session.
    pub async fn revoke_web_session(&self, user_id: i64, id: i64, now: i64) -> Result<bool> {
        self.change(
            "UPDATE web_sessions SET revoked_at = $3 WHERE id = $1 AND user_id = $2 \
             AND revoked_at IS NULL",
            (id, user_id, now),
        )
        .await
    }

    /// A user's sessions that are not revoked and not expired, newest first.
    pub async fn live_web_sessions(&self, user_id: i64, now: i64) -> Result<Vec<WebSession>> {
        self.rows(
            &format!(
                "SELECT {COLUMNS} FROM web_sessions WHERE user_id = $1 AND revoked_at IS NULL \
                 AND expires_at > $2 ORDER BY id DESC"
            ),
            (user_id, now),
        )
        .await
    }
}

/// Failed sign-ins of one subject (an account or a client address) within a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SignInFailures {
    pub count: i64,
    /// When the oldest of them happened.
    pub oldest: Option<i64>,
}

impl Store {
    /// The failed sign-ins of `subject` after `since`.
    pub async fn sign_in_failures(&self, subject: &str, since: i64) -> Result<SignInFailures> {
        let (count, oldest): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(at) FROM sign_in_failures WHERE subject = $1 AND at > $2",
        )
        .binds((subject, since))
        .fetch_one(&self.pool)
        .await?;
        Ok(SignInFailures { count, oldest })
    }

    /// Records a failed sign-in of each of `subjects` at `now`, forgetting those at or before
    /// `forget_before` (outside every window), so the table stays as small as the window.
    pub async fn record_sign_in_failure(
        &self,
        subjects: &[String],
        now: i64,
        forget_before: i64,
    ) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        sqlx::query("DELETE FROM sign_in_failures WHERE at <= $1")
            .bind(forget_before)
            .execute(&mut *tx)
            .await?;
        for subject in subjects {
            sqlx::query("INSERT INTO sign_in_failures (subject, at) VALUES ($1, $2)")
                .binds((subject, now))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
