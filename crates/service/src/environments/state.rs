//! The service's own state: what lives in this process beside the database.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::{CreationLog, EnvironmentConfig, Paths};

/// The service's own state: configuration, per-environment locks, the tasks keeping running
/// environments' ECR logins fresh, and each environment's events.
#[derive(Debug)]
pub(crate) struct State {
    pub(super) config: EnvironmentConfig,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    pub(super) refreshers: Mutex<HashMap<String, tokio::task::JoinHandle<()>>>,
    /// Berth served inside each running environment's network.
    pub(super) inside: Mutex<HashMap<String, Vec<tokio::task::AbortHandle>>>,
    /// Each environment's events (a line logged, a state changed), for followers of its log.
    events: Mutex<HashMap<String, Arc<tokio::sync::watch::Sender<u64>>>>,
}

impl State {
    pub(crate) fn new(config: EnvironmentConfig) -> Self {
        Self {
            config,
            locks: Mutex::new(HashMap::new()),
            refreshers: Mutex::new(HashMap::new()),
            inside: Mutex::new(HashMap::new()),
            events: Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn events(&self, name: &str) -> Arc<tokio::sync::watch::Sender<u64>> {
        self.events
            .lock()
            .expect("event map poisoned")
            .entry(name.to_owned())
            .or_insert_with(|| Arc::new(tokio::sync::watch::channel(0).0))
            .clone()
    }

    /// The environment's creation log; every line written is an event its followers hear.
    pub(super) fn log(&self, name: &str) -> CreationLog {
        CreationLog::new(self.paths(name).log(), self.events(name))
    }

    /// Tells the followers of `name`'s log that something happened (its state changed).
    pub(super) fn notify(&self, name: &str) {
        self.events(name).send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Forgets a deleted environment: its lock and its events (followers of its log end).
    pub(super) fn forget(&self, name: &str) {
        self.locks.lock().expect("lock map poisoned").remove(name);
        self.events.lock().expect("event map poisoned").remove(name);
    }

    pub(super) fn lock(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks
            .lock()
            .expect("lock map poisoned")
            .entry(name.to_owned())
            .or_default()
            .clone()
    }

    pub(super) fn dir(&self, name: &str) -> PathBuf {
        self.config.root.join(name)
    }

    pub(super) fn paths(&self, name: &str) -> Paths {
        Paths {
            dir: self.dir(name),
            secrets: self.config.run_root.join(name),
            disks: self.config.disks,
        }
    }

    /// Stops serving Berth inside the environment's network (so nothing of the server keeps
    /// that network alive once the environment stops).
    pub(super) fn stop_serving(&self, name: &str) {
        if let Some(handles) = self
            .inside
            .lock()
            .expect("inside map poisoned")
            .remove(name)
        {
            for h in handles {
                h.abort();
            }
        }
    }

    pub(super) fn stop_refreshing(&self, name: &str) {
        self.stop_serving(name);
        if let Some(task) = self
            .refreshers
            .lock()
            .expect("refresher map poisoned")
            .remove(name)
        {
            task.abort();
        }
    }
}
