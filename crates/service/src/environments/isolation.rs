//! What fences an environment in (SPEC §7), from its record and the server's configuration: its
//! host id range, its machine type's limits, its network's routes, and where Berth is served
//! inside its network.

use std::net::{IpAddr, SocketAddr};

use berth_domain::isolation::{EgressPolicy, IdRange, RouteAction};
use berth_runtime::Isolation;
use berth_store::CodespaceRecord;

use super::EnvironmentConfig;
use crate::ServiceError;

/// The isolation of the environment `record` describes. An environment from before id ranges
/// has none yet (an empty range); its next start gives it one ([`crate::Berth::ensure_range`]).
pub(super) fn of(config: &EnvironmentConfig, record: &CodespaceRecord) -> Isolation {
    let machine = config
        .machine(Some(&record.machine))
        .or_else(|| config.machine(None))
        .cloned()
        .unwrap_or_else(|| berth_domain::isolation::MachineType::defaults().swap_remove(0));
    Isolation {
        ids: record
            .uid_base
            .map_or(IdRange { base: 0, size: 0 }, |base| IdRange {
                base,
                size: berth_domain::isolation::IDS_PER_ENVIRONMENT,
            }),
        machine,
        routes: config.egress.routes(&config.host_addresses),
    }
}

/// A machine type this server does not offer, as the 422 that lists those it does.
pub(super) fn unknown_machine(config: &EnvironmentConfig, name: Option<&str>) -> ServiceError {
    let offered: Vec<&str> = config.machines.iter().map(|m| m.name.as_str()).collect();
    ServiceError::invalid(
        "Codespace",
        "machine",
        "invalid",
        format!(
            "machine {:?} is not offered by this server; choose one of {}",
            name.unwrap_or_default(),
            offered.join(", ")
        ),
    )
}

/// The addresses Berth must be served at inside an environment's network: those of the
/// server's URL (as environments are told it) that its network would otherwise refuse (the
/// server's loopback or private address). A public address is reached through the network as
/// any other.
pub(super) async fn inside_addresses(server_url: &str, isolation: &Isolation) -> Vec<SocketAddr> {
    let Ok(url) = url::Url::parse(server_url) else {
        return Vec::new();
    };
    let Some(port) = url.port_or_known_default() else {
        return Vec::new();
    };
    let candidates: Vec<IpAddr> = match url.host() {
        Some(url::Host::Ipv4(ip)) => vec![ip.into()],
        Some(url::Host::Ipv6(ip)) => vec![ip.into()],
        Some(url::Host::Domain("localhost")) => vec![IpAddr::from([127, 0, 0, 1])],
        Some(url::Host::Domain(name)) => tokio::net::lookup_host((name, port))
            .await
            .map(|addrs| addrs.map(|a| a.ip()).collect())
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let mut out: Vec<SocketAddr> = candidates
        .into_iter()
        .filter(|ip| EgressPolicy::decide(&isolation.routes, *ip) == RouteAction::Prohibit)
        .map(|ip| SocketAddr::new(ip, port))
        .collect();
    out.dedup();
    out
}

/// The isolation in force, in words, for the creation log and `berth codespace show`.
pub(super) fn describe(isolation: &Isolation) -> String {
    let m = &isolation.machine;
    format!(
        "isolation: user namespace (root is host uid {}, ids {}), own network (slirp4netns; loopback, link-local and private ranges refused), machine {} ({} cpus, {} MB memory, {} processes, {} MB disk)",
        isolation.ids.base,
        isolation.ids,
        m.name,
        m.cpus,
        m.memory_in_bytes >> 20,
        m.pids_limit(),
        m.storage_in_bytes >> 20
    )
}
