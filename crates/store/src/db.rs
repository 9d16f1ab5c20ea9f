//! Opening the database, choosing the backend from the URL, and running migrations.

use std::str::FromStr;

use sqlx::any::{AnyArguments, AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::query::QueryAs;
use sqlx::{Any, AnyPool, Executor, FromRow};

use crate::{Result, StoreError};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The metadata store. Cheap to clone: it is a connection pool.
#[derive(Debug, Clone)]
pub struct Store {
    /// Reads (and, on PostgreSQL, writes).
    pub(crate) pool: AnyPool,
    /// Writes. On SQLite a single connection, so writers queue in-process instead of meeting
    /// `SQLITE_BUSY` and SQLite's sleeping busy handler; on PostgreSQL the same pool as reads.
    pub(crate) writer: AnyPool,
    backend: Backend,
}

impl Store {
    /// Connects to `url` (`sqlite://PATH?mode=rwc` or `postgres://…`) and brings the schema up
    /// to date.
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::Connect {
                url: redact_url(url),
                source: sqlx::Error::Configuration(
                    "the database URL must start with sqlite: or postgres:".into(),
                ),
            });
        };
        let connect_err = |source| StoreError::Connect {
            url: redact_url(url),
            source,
        };
        let options = AnyConnectOptions::from_str(url).map_err(connect_err)?;
        let pool_options = |max: u32| {
            let options = AnyPoolOptions::new().max_connections(max);
            if backend != Backend::Sqlite {
                return options;
            }
            // WAL (which sqlx's Any driver does not turn on by itself) lets readers run beside the
            // writer and commits without a journal fsync each; NORMAL sync is durable under WAL
            // except for the last commits before a power loss, and five times faster than FULL.
            options.after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;").await?;
                    Ok(())
                })
            })
        };
        let pool = pool_options(16)
            .connect_with(options.clone())
            .await
            .map_err(connect_err)?;
        let writer = match backend {
            Backend::Sqlite => pool_options(1)
                .connect_with(options)
                .await
                .map_err(connect_err)?,
            Backend::Postgres => pool.clone(),
        };
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&writer).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&writer).await?,
        }
        Ok(Self {
            pool,
            writer,
            backend,
        })
    }

    /// The SQLite database file inside a data directory, created when missing.
    pub fn sqlite_url(path: &std::path::Path) -> String {
        format!("sqlite://{}?mode=rwc", path.display())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }
}

/// A database URL fit for messages: any password is replaced.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

impl Store {
    /// Makes writers of `key` take turns until `tx` ends, so that what one reads stays true until
    /// it writes (a count under a limit, a name not yet taken). SQLite has a single writer
    /// connection already; on PostgreSQL it is a transaction advisory lock on `key`.
    pub(crate) async fn take_turns(
        &self,
        tx: &mut sqlx::Transaction<'_, Any>,
        key: &str,
    ) -> Result<()> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(key)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }
}

/// A query for rows of `R`, each the stored form of a domain value.
type RowsOf<'q, R> = QueryAs<'q, Any, R, AnyArguments<'q>>;

impl Store {
    /// The one row `query` finds, if any, as the value it stores.
    pub(crate) async fn optional<'q, R, T>(&self, query: RowsOf<'q, R>) -> Result<Option<T>>
    where
        R: for<'r> FromRow<'r, AnyRow> + Send + Unpin + TryInto<T, Error = StoreError>,
    {
        let row = query.fetch_optional(&self.pool).await?;
        row.map(TryInto::try_into).transpose()
    }

    /// Every row `query` finds, as the values they store.
    pub(crate) async fn every<'q, R, T>(&self, query: RowsOf<'q, R>) -> Result<Vec<T>>
    where
        R: for<'r> FromRow<'r, AnyRow> + Send + Unpin + TryInto<T, Error = StoreError>,
    {
        let rows = query.fetch_all(&self.pool).await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn sqlite_runs_in_wal_mode() {
        // Regression: the database was left in rollback-journal mode, and every commit paid for
        // a journal fsync, serialised through the writer.
        let dir = tempfile::tempdir().unwrap();
        let store = super::Store::connect(&super::Store::sqlite_url(&dir.path().join("b.db")))
            .await
            .unwrap();
        for pool in [&store.pool, &store.writer] {
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(pool)
                .await
                .unwrap();
            assert_eq!(mode, "wal");
        }
    }

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            super::redact_url("postgres://u:hunter2@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(super::redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(super::redact_url("sqlite:///x.db"), "sqlite:///x.db");
    }
}
