//! How environments run on this server: the runtime, where their files live, the URL they reach
//! Berth at, their machine types, their networks' egress, their id ranges.

use std::path::PathBuf;
use std::sync::Arc;

use berth_domain::isolation::{EgressPolicy, IdPool, MachineType};
use berth_runtime::Runtime;

/// Serves Berth (its API and registries) on a listening socket made inside an environment's
/// network; the handle stops it when the environment stops. Given by the server, which knows
/// the HTTP application and its TLS.
#[derive(Clone)]
pub struct ServeInside(
    pub Arc<dyn Fn(std::net::TcpListener) -> tokio::task::AbortHandle + Send + Sync>,
);

impl std::fmt::Debug for ServeInside {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServeInside")
    }
}

/// How environments run on this server.
#[derive(Debug, Clone)]
pub struct EnvironmentConfig {
    /// Where environments' directories live (`<data>/environments`).
    pub root: PathBuf,
    pub runtime: Arc<dyn Runtime>,
    /// Where repositories' code comes from: [`super::Git`] on this server, or a stand-in in
    /// tests.
    pub sources: Arc<dyn super::Sources>,
    /// A directory on a tmpfs for what holds plaintext secrets (SPEC §2: plaintext only in
    /// memory while an environment is started).
    pub run_root: PathBuf,
    /// Berth's URL as environments reach it: the API, the registry and npm are under it.
    pub server_url: String,
    /// How long an environment token lives (it is replaced at every start, revoked at stop).
    pub token_ttl: i64,
    /// The machine types offered; the first is the default.
    pub machines: Vec<MachineType>,
    /// What environments' networks may reach beyond the defaults (SPEC §7).
    pub egress: EgressPolicy,
    /// The host's own addresses, which environments may not reach.
    pub host_addresses: Vec<std::net::IpAddr>,
    /// The host id ranges environments' user namespaces are given.
    pub id_pool: IdPool,
    /// How Berth is served inside environments' networks (`None`: not at all, in tests that
    /// run no HTTP server).
    pub serve_inside: Option<ServeInside>,
    /// Whether each environment gets a disk of its own (an ext4 image of its machine type's
    /// size, loop-mounted: `berth serve` always); without, its files sit on the server's disk
    /// (tests of the lifecycle with a recording runtime, which mount nothing).
    pub disks: bool,
    /// Which replica this server is, and where the others reach it.
    pub replica: Replica,
    /// How much this machine's image caches (pulled blobs, unpacked layers) may hold.
    pub caches: berth_runtime::caches::CacheLimits,
}

/// A server that runs environments, one of several sharing a database (SPEC §11): its own run
/// here, and every other replica answers for them by forwarding their requests to `address`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replica {
    /// Kept by its data directory (where its environments' files are), so it outlives restarts.
    pub id: String,
    /// The base URL other replicas forward to (`http://10.0.0.5:8080`); `None`: they cannot,
    /// and say so.
    pub address: Option<String>,
    /// Its SSH gateway's `host:port`, which the other replicas' gateways relay its
    /// environments' connections to (`None`: no gateway, or none they can reach).
    pub ssh_address: Option<String>,
}

impl EnvironmentConfig {
    /// The machine type `name` (`None`: the default one).
    pub fn machine(&self, name: Option<&str>) -> Option<&MachineType> {
        match name {
            None => self.machines.first(),
            Some(n) => self
                .machines
                .iter()
                .find(|m| m.name.eq_ignore_ascii_case(n)),
        }
    }
}
