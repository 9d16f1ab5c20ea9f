//! Users' SSH public keys, each with its fingerprint (unique across all accounts).

use crate::binds::Bind;
use crate::{Result, Store, conflict_as};

/// A stored public key.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SshKeyRecord {
    pub id: i64,
    pub user_id: i64,
    pub title: String,
    /// `<type> <base64>`, without a comment.
    pub key: String,
    /// `SHA256:<base64>`.
    pub fingerprint: String,
    pub created_at: i64,
}

/// What a new key is.
#[derive(Debug, Clone, Copy)]
pub struct NewSshKey<'a> {
    pub user_id: i64,
    pub title: &'a str,
    pub key: &'a str,
    pub fingerprint: &'a str,
}

const COLUMNS: &str = "id, user_id, title, key, fingerprint, created_at";

impl Store {
    /// Adds a key; `None` when the user already holds `max` keys. A key another account (or this
    /// one) holds already is a conflict.
    pub async fn add_ssh_key(
        &self,
        new: NewSshKey<'_>,
        max: usize,
        now: i64,
    ) -> Result<Option<SshKeyRecord>> {
        let mut tx = self.writer.begin().await?;
        self.take_turns(&mut tx, &format!("ssh_keys:{}", new.user_id))
            .await?;
        let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ssh_keys WHERE user_id = $1")
            .bind(new.user_id)
            .fetch_one(&mut *tx)
            .await?;
        if usize::try_from(held).unwrap_or(usize::MAX) >= max {
            return Ok(None);
        }
        let record: SshKeyRecord = sqlx::query_as(&format!(
            "INSERT INTO ssh_keys (user_id, title, key, fingerprint, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
        ))
        .binds((new.user_id, new.title, new.key, new.fingerprint, now))
        .fetch_one(&mut *tx)
        .await
        .map_err(conflict_as("key"))?;
        tx.commit().await?;
        Ok(Some(record))
    }

    /// A user's keys, oldest first.
    pub async fn ssh_keys(&self, user_id: i64) -> Result<Vec<SshKeyRecord>> {
        self.rows(
            &format!("SELECT {COLUMNS} FROM ssh_keys WHERE user_id = $1 ORDER BY id"),
            (user_id,),
        )
        .await
    }

    /// One of a user's keys.
    pub async fn ssh_key(&self, user_id: i64, id: i64) -> Result<Option<SshKeyRecord>> {
        self.row(
            &format!("SELECT {COLUMNS} FROM ssh_keys WHERE user_id = $1 AND id = $2"),
            (user_id, id),
        )
        .await
    }

    /// The key with `fingerprint`, whoever holds it.
    pub async fn ssh_key_by_fingerprint(&self, fingerprint: &str) -> Result<Option<SshKeyRecord>> {
        self.row_where(("ssh_keys", COLUMNS), "fingerprint", fingerprint.to_owned())
            .await
    }

    /// Deletes one of a user's keys; whether it was there.
    pub async fn delete_ssh_key(&self, user_id: i64, id: i64) -> Result<bool> {
        self.change(
            "DELETE FROM ssh_keys WHERE user_id = $1 AND id = $2",
            (user_id, id),
        )
        .await
    }
}
