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
