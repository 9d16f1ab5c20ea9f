//! Test hosts in network namespaces the tests make themselves: a namespace joined to the host by
//! a veth pair, with addresses of a range the test chooses (private, link-local), so that what
//! environments may or may not reach is tried against real listeners that are never on the
//! host's own addresses.

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// A network namespace `name`, reachable from the host at `ns_ip` through a veth pair whose
/// host end has `host_ip`, both in the /30 `net`.
pub struct TestNet {
    pub name: String,
    pub host_ip: Ipv4Addr,
    pub ns_ip: Ipv4Addr,
    pub net: String,
    host_if: String,
}

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[track_caller]
fn ip_ok(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("ip (iproute2)");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TestNet {
    /// A namespace with addresses in `first.second.0.0/16` (e.g. `[10, 213]`, `[169, 254]`),
    /// a /30 not used on the host yet.
    pub fn new(first: u8, second: u8) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let taken = String::from_utf8(
            Command::new("ip")
                .args(["-o", "addr"])
                .output()
                .expect("ip (iproute2)")
                .stdout,
        )
        .unwrap_or_default();
        let pid = std::process::id();
        loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            // Spread over the /16 by process and counter, 4 addresses each.
            let slot = (pid.wrapping_mul(97).wrapping_add(n * 13)) % 16_000 + 64;
            let third = u8::try_from(slot / 64).unwrap_or(1);
            let fourth = u8::try_from((slot % 64) * 4).unwrap_or(0);
            let host_ip = Ipv4Addr::new(first, second, third, fourth + 1);
            let ns_ip = Ipv4Addr::new(first, second, third, fourth + 2);
            if taken.contains(&format!(" {host_ip}/")) || taken.contains(&format!(" {ns_ip}/")) {
                continue;
            }
            let name = format!("berth-t{pid}-{n}");
            let host_if = format!("bt{}h{n}", pid % 100_000);
            let ns_if = format!("bt{}n{n}", pid % 100_000);
            if !ip(&["netns", "add", &name]) {
                continue;
            }
            ip_ok(&[
                "link", "add", &host_if, "type", "veth", "peer", "name", &ns_if,
            ]);
            ip_ok(&["link", "set", &ns_if, "netns", &name]);
            ip_ok(&["addr", "add", &format!("{host_ip}/30"), "dev", &host_if]);
            ip_ok(&["link", "set", &host_if, "up"]);
            ip_ok(&[
                "-n",
                &name,
                "addr",
                "add",
                &format!("{ns_ip}/30"),
                "dev",
                &ns_if,
            ]);
            ip_ok(&["-n", &name, "link", "set", &ns_if, "up"]);
            ip_ok(&["-n", &name, "link", "set", "lo", "up"]);
            return Self {
                name,
                host_ip,
                ns_ip,
                net: format!("{first}.{second}.{third}.{fourth}/30"),
                host_if,
            };
        }
    }

    /// `program` run inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        // Processes started inside are the owners' to stop (their guards drop first).
        ip(&["netns", "del", &self.name]);
        ip(&["link", "del", &self.host_if]);
    }
}
