//! What keeps one environment from another and from the host, as values: machine types (CPU,
//! memory, disk), the host id range an environment's user namespace maps to, and the egress
//! policy of its own network turned into routes. The runtimes apply these; nothing here does.

use std::fmt;
use std::net::IpAddr;

pub use ipnet::IpNet;

/// A machine type, as GitHub's machines API shows it (`GET /repos/{o}/{r}/codespaces/machines`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MachineType {
    pub name: String,
    pub display_name: String,
    pub cpus: u32,
    pub memory_in_bytes: u64,
    pub storage_in_bytes: u64,
}

const GIB: u64 = 1 << 30;

impl MachineType {
    /// The server's machine types when its configuration names none: GitHub's two smallest
    /// Linux machines.
    pub fn defaults() -> Vec<MachineType> {
        let machine = |name: &str, cpus: u32, memory: u64, storage: u64| MachineType {
            name: name.to_owned(),
            display_name: format!("{cpus} cores, {memory} GB RAM, {storage} GB storage"),
            cpus,
            memory_in_bytes: memory * GIB,
            storage_in_bytes: storage * GIB,
        };
        vec![
            machine("basicLinux", 2, 4, 32),
            machine("standardLinux", 4, 8, 64),
        ]
    }

    /// The most processes an environment of this machine may run at once: enough for builds
    /// and language servers, few enough that a fork bomb stops at its own limit.
    pub fn pids_limit(&self) -> u64 {
        1024 * u64::from(self.cpus.max(1))
    }
}

/// How many ids each environment's user namespace maps: uid 0 to 65535 inside, as Docker's
/// and Podman's defaults, so every image's users exist.
pub const IDS_PER_ENVIRONMENT: u32 = 65_536;

/// A range of host uids and gids, `[base, base + size)`, that one environment's ids map to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdRange {
    pub base: u32,
    pub size: u32,
}

impl IdRange {
    /// The host id of `inside` (an id inside the environment), if the range maps it.
    pub fn host_id(&self, inside: u32) -> Option<u32> {
        (inside < self.size).then(|| self.base + inside)
    }
}

impl fmt::Display for IdRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.base, self.base + (self.size - 1))
    }
}

/// The pool environments' ranges are taken from: `slots` ranges of [`IDS_PER_ENVIRONMENT`] ids
/// from `first`. The default starts at 2^30, far above the uids of people and system users
/// and of the usual `/etc/subuid` ranges (100000 up), and holds 16,384 environments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdPool {
    pub first: u32,
    pub slots: u32,
}

impl Default for IdPool {
    fn default() -> Self {
        Self {
            first: 1 << 30,
            slots: 16_384,
        }
    }
}

impl IdPool {
    /// The lowest range not in `taken` (the bases of ranges in use), or `None` when every slot
    /// is taken. Bases outside the pool are ignored.
    pub fn allocate(&self, taken: &[u32]) -> Option<IdRange> {
        let mut used: Vec<u32> = taken
            .iter()
            .filter(|b| **b >= self.first)
            .map(|b| (b - self.first) / IDS_PER_ENVIRONMENT)
            .filter(|slot| *slot < self.slots)
            .collect();
        used.sort_unstable();
        used.dedup();
        // The first slot whose index differs from its position is free.
        let slot = used
            .iter()
            .enumerate()
            .find(|(i, s)| u32::try_from(*i).ok() != Some(**s))
            .map_or(u32::try_from(used.len()).ok()?, |(i, _)| {
                u32::try_from(i).expect("fewer slots than u32")
            });
        (slot < self.slots).then(|| IdRange {
            base: self.first + slot * IDS_PER_ENVIRONMENT,
            size: IDS_PER_ENVIRONMENT,
        })
    }
}

/// The ranges an environment may not reach by default: loopback, link-local (with the cloud
/// metadata address 169.254.169.254), private and shared (CGNAT) ranges, and their IPv6 kin.
pub fn default_denied() -> Vec<IpNet> {
    [
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
    ]
    .iter()
    .map(|n| n.parse().expect("a valid network"))
    .collect()
}

/// An environment's egress: what is denied besides the defaults, and what is allowed although
/// a default would deny it (the server's `[egress] allow`/`deny` settings).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EgressPolicy {
    pub allow: Vec<IpNet>,
    pub deny: Vec<IpNet>,
}

/// What a route inside an environment's network does with traffic to `net`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteAction {
    /// Refused at once (`ip route add prohibit`): the connection fails with "permission denied".
    Prohibit,
    /// Out through the user-mode network, like the default route.
    Out,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EgressRoute {
    pub net: IpNet,
    pub action: RouteAction,
}

impl EgressPolicy {
    /// The routes that enforce the policy in an environment's own network namespace, where the
    /// longest prefix wins: `prohibit` for every denied range (the defaults, the `deny` list
    /// and `also_denied`: the host's own addresses), and `Out` for every allowed range, which
    /// beats a shorter denied one and replaces a default one of the same prefix. A range both in
    /// `allow` and in `deny` is denied.
    pub fn routes(&self, also_denied: &[IpAddr]) -> Vec<EgressRoute> {
        // A default range allowed as it is is allowed; an explicit deny of a range also allowed
        // is denied.
        let mut denied: Vec<IpNet> = default_denied()
            .into_iter()
            .filter(|d| !self.allow.iter().any(|a| a.trunc() == *d))
            .collect();
        denied.extend(self.deny.iter().copied());
        // The host's own addresses, except those an allowed range names on purpose (an
        // operator who allows 127.0.0.0/8 means the host's loopback too).
        denied.extend(
            also_denied
                .iter()
                .filter(|a| !self.allow.iter().any(|n| n.contains(*a)))
                .map(|a| IpNet::from(*a)),
        );
        let mut routes: Vec<EgressRoute> = Vec::new();
        for net in denied {
            let net = net.trunc();
            if !routes.iter().any(|r| r.net == net) {
                routes.push(EgressRoute {
                    net,
                    action: RouteAction::Prohibit,
                });
            }
        }
        for net in &self.allow {
            let net = net.trunc();
            if !routes.iter().any(|r| r.net == net) {
                routes.push(EgressRoute {
                    net,
                    action: RouteAction::Out,
                });
            }
        }
        routes
    }

    /// What these routes do with `addr`: the longest matching prefix decides; no match goes out.
    pub fn decide(routes: &[EgressRoute], addr: IpAddr) -> RouteAction {
        routes
            .iter()
            .filter(|r| r.net.contains(&addr))
            .max_by_key(|r| r.net.prefix_len())
            .map_or(RouteAction::Out, |r| r.action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_allocated_lowest_first_and_never_twice() {
        let pool = IdPool {
            first: 1 << 20,
            slots: 3,
        };
        let base = |slot: u32| (1 << 20) + slot * IDS_PER_ENVIRONMENT;
        let table: &[(&[u32], Option<u32>)] = &[
            (&[], Some(base(0))),
            (&[base(0)], Some(base(1))),
            (&[base(1)], Some(base(0))),
            (&[base(0), base(2)], Some(base(1))),
            (&[base(2), base(0), base(0)], Some(base(1))),
            (&[base(0), base(1), base(2)], None),
            // Outside the pool: ignored.
            (&[5, base(7)], Some(base(0))),
        ];
        for (taken, want) in table {
            assert_eq!(
                pool.allocate(taken).map(|r| r.base),
                *want,
                "taken {taken:?}"
            );
        }
        let r = pool.allocate(&[]).unwrap();
        assert_eq!(r.host_id(0), Some(1 << 20));
        assert_eq!(r.host_id(65_535), Some((1 << 20) + 65_535));
        assert_eq!(r.host_id(65_536), None);
        assert_eq!(r.to_string(), "1048576-1114111");
    }

    #[test]
    fn the_default_pool_stays_inside_u32() {
        let pool = IdPool::default();
        let last = pool.first as u64 + pool.slots as u64 * IDS_PER_ENVIRONMENT as u64;
        assert!(last <= u32::MAX as u64);
    }

    #[test]
    fn egress_routes_deny_the_defaults_and_allow_exceptions() {
        let net = |s: &str| s.parse::<IpNet>().unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let policy = EgressPolicy {
            allow: vec![net("10.1.0.0/16"), net("192.168.5.7/32")],
            deny: vec![net("203.0.113.0/24")],
        };
        let host = [ip("198.51.100.7")];
        let routes = policy.routes(&host);
        let table = [
            ("169.254.169.254", RouteAction::Prohibit),
            ("127.0.0.1", RouteAction::Prohibit),
            ("10.0.0.1", RouteAction::Prohibit),
            ("10.1.2.3", RouteAction::Out),
            ("172.20.0.1", RouteAction::Prohibit),
            ("192.168.5.7", RouteAction::Out),
            ("192.168.5.8", RouteAction::Prohibit),
            ("100.100.0.1", RouteAction::Prohibit),
            ("203.0.113.9", RouteAction::Prohibit),
            ("198.51.100.7", RouteAction::Prohibit),
            ("198.51.100.8", RouteAction::Out),
            ("93.184.216.34", RouteAction::Out),
            ("fe80::1", RouteAction::Prohibit),
            ("fd00::1", RouteAction::Prohibit),
            ("::1", RouteAction::Prohibit),
            ("2001:db8::1", RouteAction::Out),
        ];
        for (addr, want) in table {
            assert_eq!(EgressPolicy::decide(&routes, ip(addr)), want, "{addr}");
        }
        // An allowed range takes the host's own addresses in it along.
        let loopback = EgressPolicy {
            allow: vec![net("127.0.0.0/8")],
            deny: vec![],
        };
        assert_eq!(
            EgressPolicy::decide(&loopback.routes(&[ip("127.0.0.1")]), ip("127.0.0.1")),
            RouteAction::Out
        );
        // Allowed and explicitly denied with the same prefix: denied.
        let both = EgressPolicy {
            allow: vec![net("10.0.0.0/8")],
            deny: vec![net("10.0.0.0/8")],
        };
        assert_eq!(
            EgressPolicy::decide(&both.routes(&[]), ip("10.9.9.9")),
            RouteAction::Prohibit
        );
    }

    #[test]
    fn default_machines_are_githubs_smallest() {
        let m = MachineType::defaults();
        assert_eq!(
            m.iter()
                .map(|m| (
                    m.name.as_str(),
                    m.cpus,
                    m.memory_in_bytes >> 30,
                    m.storage_in_bytes >> 30
                ))
                .collect::<Vec<_>>(),
            [("basicLinux", 2, 4, 32), ("standardLinux", 4, 8, 64)]
        );
        assert_eq!(m[0].display_name, "2 cores, 4 GB RAM, 32 GB storage");
        assert_eq!(m[0].pids_limit(), 2048);
    }
}
