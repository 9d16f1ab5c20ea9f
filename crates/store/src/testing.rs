//! Helpers for tests that need a real database: a fresh, empty PostgreSQL database per test.
//! Used by this crate's store suite and by other crates' tests.

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{Connection, Executor, PgConnection};

/// A store on a new SQLite database in a new temporary directory, which is removed when the
/// returned guard is dropped (a test may keep other files there too).
pub async fn sqlite_store() -> (tempfile::TempDir, crate::Store) {
    let dir = tempfile::tempdir().expect("make a temporary directory");
    let store = crate::Store::connect(&crate::Store::sqlite_url(&dir.path().join("berth.db")))
        .await
        .expect("open a SQLite store");
    (dir, store)
}

/// What `scripts/test` says in `var` of a real service the tests use (a URL, a socket, a
/// program). Without it the test fails, unless `skip` is set to 1 to skip it knowingly.
pub fn given(var: &str, skip: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(value) if !value.is_empty() => Some(value),
        _ if std::env::var(skip).is_ok_and(|v| v == "1") => None,
        _ => panic!(
            "{var} is not set: run the tests with scripts/test, or set {skip}=1 to skip what needs it knowingly"
        ),
    }
}

/// The PostgreSQL server that tests use: `BERTH_TEST_POSTGRES_URL`, unless
/// `BERTH_SKIP_POSTGRES=1`.
pub fn postgres_server() -> Option<String> {
    given("BERTH_TEST_POSTGRES_URL", "BERTH_SKIP_POSTGRES")
}

/// Creates an empty database on `server` and returns its URL.
pub async fn fresh_postgres_database(server: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "berth_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    );
    let mut conn = PgConnection::connect(server)
        .await
        .expect("connect to the test PostgreSQL server");
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create a test database");
    let (before_query, query) = match server.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (server, String::new()),
    };
    let (prefix, _) = before_query
        .rsplit_once('/')
        .expect("a PostgreSQL URL with a database path");
    format!("{prefix}/{name}{query}")
}
