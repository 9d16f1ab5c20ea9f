//! The service's only source of time, so that tests can move it.

use std::fmt::Debug;

/// Unix seconds now.
pub trait Clock: Send + Sync + Debug {
    fn now(&self) -> i64;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }
}

/// Unix seconds as GitHub and npm write times: `2011-01-26T19:01:12Z` (the number itself for a
/// time no calendar date names).
pub fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| secs.to_string())
}
