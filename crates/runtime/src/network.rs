//! An environment's own network (SPEC §7). The runtime gives the environment a fresh network
//! namespace; this module connects it to the outside through user-mode networking
//! (`slirp4netns`, which makes every outbound connection as an ordinary socket of its own on the
//! host), fences it with routes, and lets Berth serve itself inside it.
//!
//! - `slirp4netns --disable-host-loopback`: the host's loopback is not reachable through the
//!   gateway address 10.0.2.2; the environment's own 127.0.0.1 is its own.
//! - `prohibit` routes for the egress policy's denied ranges (link-local with the cloud metadata
//!   address, private ranges, the host's own addresses), added from outside; the environment has
//!   no `CAP_NET_ADMIN` to change them.
//! - Berth's API and registry: a listening socket made *inside* the namespace at the address
//!   environments are told (the server's URL, e.g. 127.0.0.1:8080), which Berth serves.
//! - Nothing listens on the host for an environment: its ports are reached only through Berth.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use berth_domain::isolation::{EgressRoute, RouteAction};
use tokio::process::Command;

use crate::RuntimeError;

/// The address environments' DNS resolver has on slirp4netns's network.
const DNS: &str = "10.0.2.3";
/// slirp4netns's interface inside the environment.
const TAP: &str = "tap0";

/// Where an environment's network keeps its own files: in its secret directory (memory).
fn dir(secret_dir: &Path) -> PathBuf {
    secret_dir.join("network")
}

/// The `/etc/resolv.conf` and `/etc/hosts` bound into an environment with its own network:
/// slirp4netns's resolver, and the environment's own name.
pub fn write_name_files(
    secret_dir: &Path,
    hostname: &str,
) -> Result<(PathBuf, PathBuf), RuntimeError> {
    let dir = dir(secret_dir);
    std::fs::create_dir_all(&dir)
        .map_err(RuntimeError::io("cannot create the network directory"))?;
    let resolv = dir.join("resolv.conf");
    let hosts = dir.join("hosts");
    std::fs::write(&resolv, format!("nameserver {DNS}\n")).map_err(RuntimeError::io(
        "cannot write the environment's resolv.conf",
    ))?;
    std::fs::write(
        &hosts,
        format!("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n"),
    )
    .map_err(RuntimeError::io("cannot write the environment's hosts file"))?;
    Ok((resolv, hosts))
}

/// Connects the network namespace of process `pid` to the outside and fences it: starts
/// slirp4netns (in a session of its own, so that it outlives a restart of the server, as the
/// environment does), waits for its interface, then adds `routes`.
pub async fn attach(
    pid: u32,
    secret_dir: &Path,
    routes: &[EgressRoute],
) -> Result<(), RuntimeError> {
    let dir = dir(secret_dir);
    std::fs::create_dir_all(&dir)
        .map_err(RuntimeError::io("cannot create the network directory"))?;
    let log = std::fs::File::create(dir.join("slirp4netns.log"))
        .map_err(RuntimeError::io("cannot create the network log"))?;
    let child = Command::new("setsid")
        .args(["slirp4netns", "--configure", "--mtu=65520", "--disable-host-loopback"])
        .arg(pid.to_string())
        .arg(TAP)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(RuntimeError::io("cannot open the network log"))?)
        .stderr(log)
        .spawn()
        .map_err(|e| {
            RuntimeError::Engine(format!(
                "cannot run slirp4netns for the environment's network: {e}; install it (apt-get install slirp4netns)"
            ))
        })?;
    let slirp = child.id().unwrap_or_default();
    std::fs::write(dir.join("slirp4netns.pid"), slirp.to_string())
        .map_err(RuntimeError::io("cannot record the network's process"))?;
    // The process is on its own from here: it is stopped through its recorded id.
    drop(child);
    wait_for_default_route(pid, slirp, &dir).await?;
    let mut batch = String::new();
    for r in routes {
        // ip tells the family from the address.
        match r.action {
            RouteAction::Prohibit => batch.push_str(&format!("route add prohibit {}\n", r.net)),
            RouteAction::Out if r.net.addr().is_ipv4() => {
                batch.push_str(&format!("route add {} via 10.0.2.2 dev {TAP}\n", r.net));
            }
            // slirp4netns gives no IPv6 here: an allowed IPv6 range has nowhere to go.
            RouteAction::Out => {}
        }
    }
    in_namespace(pid, &["ip", "-batch", "-"], Some(&batch)).await
}

/// Waits until slirp4netns has configured the interface (a default route through it appears in
/// the namespace's routing table), or says why not.
async fn wait_for_default_route(pid: u32, slirp: u32, dir: &Path) -> Result<(), RuntimeError> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let table = std::fs::read_to_string(format!("/proc/{pid}/net/route")).unwrap_or_default();
        if table
            .lines()
            .skip(1)
            .any(|l| l.split_whitespace().take(2).eq([TAP, "00000000"]))
        {
            return Ok(());
        }
        let alive = Path::new(&format!("/proc/{slirp}")).exists();
        if !alive || Instant::now() > deadline {
            let log = std::fs::read_to_string(dir.join("slirp4netns.log")).unwrap_or_default();
            return Err(RuntimeError::Engine(format!(
                "the environment's network did not come up (slirp4netns: {})",
                log.lines().last().unwrap_or("no output")
            )));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Runs a command in the network namespace of `pid` (as the server, with its capabilities).
async fn in_namespace(pid: u32, argv: &[&str], stdin: Option<&str>) -> Result<(), RuntimeError> {
    use tokio::io::AsyncWriteExt as _;
    let mut child = Command::new("nsenter")
        .arg(format!("--net=/proc/{pid}/ns/net"))
        .arg("--")
        .args(argv)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(RuntimeError::io("cannot run nsenter (util-linux)"))?;
    if let (Some(mut pipe), Some(text)) = (child.stdin.take(), stdin) {
        pipe.write_all(text.as_bytes())
            .await
            .map_err(RuntimeError::io(
                "cannot configure the environment's network",
            ))?;
    }
    let out = child.wait_with_output().await.map_err(RuntimeError::io(
        "cannot configure the environment's network",
    ))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(RuntimeError::Engine(format!(
            "cannot configure the environment's network ({}): {}",
            argv.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Stops the environment's user-mode networking, if it runs.
pub fn detach(secret_dir: &Path) {
    let file = dir(secret_dir).join("slirp4netns.pid");
    let Ok(pid) = std::fs::read_to_string(&file) else {
        return;
    };
    let Ok(pid) = pid.trim().parse::<i32>() else {
        return;
    };
    // Only if that process is still slirp4netns (the id may have been reused).
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    if comm.trim() == "slirp4netns"
        && let Some(pid) = rustix::process::Pid::from_raw(pid)
    {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
    let _ = std::fs::remove_file(file);
}

/// A listening socket at `addr` inside the network namespace of `pid`, for Berth to serve
/// itself there. An address that is not the namespace's loopback is added to its `lo` first.
pub async fn listen_inside(
    pid: u32,
    addr: SocketAddr,
) -> Result<std::net::TcpListener, RuntimeError> {
    if !addr.ip().is_loopback() {
        let net = match addr.ip() {
            IpAddr::V4(ip) => format!("{ip}/32"),
            IpAddr::V6(ip) => format!("{ip}/128"),
        };
        in_namespace(pid, &["ip", "addr", "add", &net, "dev", "lo"], None).await?;
    }
    in_network_of(pid, move || {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        Ok(listener)
    })
    .await
    .map_err(RuntimeError::io(format!(
        "cannot listen at {addr} inside the environment's network"
    )))
}

/// Runs `make` (which makes a socket) in the network namespace of `pid`: a thread of its own
/// enters the namespace, makes the socket there, and ends; the socket stays in the namespace it
/// was made in.
async fn in_network_of<T: Send + 'static>(
    pid: u32,
    make: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let ns = format!("/proc/{pid}/ns/net");
    let joined = tokio::task::spawn_blocking(move || {
        std::thread::spawn(move || {
            let file = std::fs::File::open(&ns)?;
            rustix::thread::move_into_link_name_space(
                std::os::fd::AsFd::as_fd(&file),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )?;
            make()
        })
        .join()
        .map_err(|_| io::Error::other("the namespace thread panicked"))?
    })
    .await;
    joined.map_err(io::Error::other)?
}

/// The TCP ports listening in the network namespace of `pid` (any address, IPv4 or IPv6),
/// ascending, from the kernel's tables as that namespace sees them.
pub fn listening_ports(pid: u32) -> Result<Vec<u16>, RuntimeError> {
    let mut ports = Vec::new();
    for table in ["tcp", "tcp6"] {
        let path = format!("/proc/{pid}/net/{table}");
        match std::fs::read_to_string(&path) {
            Ok(text) => ports.extend(listening_in_table(&text)),
            // A kernel without IPv6 has no tcp6 table.
            Err(e) if e.kind() == io::ErrorKind::NotFound && table == "tcp6" => {}
            Err(e) => return Err(RuntimeError::io(format!("cannot read {path}"))(e)),
        }
    }
    ports.sort_unstable();
    ports.dedup();
    Ok(ports)
}

/// The listening ports of one of the kernel's `/proc/net/tcp{,6}` tables (state `0A`).
fn listening_in_table(text: &str) -> impl Iterator<Item = u16> + '_ {
    text.lines().skip(1).filter_map(|line| {
        let mut fields = line.split_whitespace();
        let local = fields.nth(1)?;
        let state = fields.nth(1)?;
        if state != "0A" {
            return None;
        }
        let (_, port) = local.rsplit_once(':')?;
        u16::from_str_radix(port, 16).ok()
    })
}

/// A connection to `port` on the loopback of the network namespace of `pid` (IPv4, else IPv6),
/// made there: the environment's own services, reached without any route from the host.
pub async fn connect_inside(pid: u32, port: u16) -> Result<std::net::TcpStream, RuntimeError> {
    in_network_of(pid, move || {
        let timeout = Duration::from_secs(5);
        let v4 = SocketAddr::from(([127, 0, 0, 1], port));
        let stream = std::net::TcpStream::connect_timeout(&v4, timeout).or_else(|e| {
            let v6 = SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port));
            std::net::TcpStream::connect_timeout(&v6, timeout).map_err(|_| e)
        })?;
        stream.set_nonblocking(true)?;
        Ok(stream)
    })
    .await
    .map_err(RuntimeError::io(format!(
        "nothing accepts connections on port {port} inside the environment (is the server there listening?)"
    )))
}

/// A Unix socket listening at `/tmp/<dir_name>/agent.sock` inside the environment of `pid`, for an
/// SSH agent forwarded there; its path inside.
///
/// Made as OpenSSH's `sshd` makes its own: a 0700 directory and the socket in it, both owned by
/// the environment's user (the ids its first process runs as), so that no other user inside
/// reaches the agent. A file system mounted in the environment's user namespace refuses files of
/// an owner it cannot map (host root), so the directory and socket are made on a thread of their
/// own that takes the user's ids and its own working directory, and ends with them. Everything is
/// resolved inside the environment's root (`openat2` with `RESOLVE_IN_ROOT`), so a symlink at
/// `/tmp` cannot lead out.
pub async fn listen_agent_inside(pid: u32, dir_name: &str) -> Result<AgentSocket, RuntimeError> {
    let path = format!("/tmp/{dir_name}/agent.sock");
    let dir_name = dir_name.to_owned();
    let (uid, gid) =
        process_ids(pid).map_err(RuntimeError::io("cannot read who the environment runs as"))?;
    let made = {
        let dir_name = dir_name.clone();
        std::thread::spawn(move || agent_socket_as(pid, &dir_name, uid, gid))
    };
    let (listener, tmp) = made
        .join()
        .map_err(|_| RuntimeError::Engine("making the agent socket panicked".into()))?
        .map_err(RuntimeError::io(
            "cannot make the agent socket inside the environment",
        ))?;
    // Removed again, should the listener not be usable.
    let mut made = AgentSocket {
        listener: None,
        path,
        tmp,
        dir_name,
    };
    listener
        .set_nonblocking(true)
        .map_err(RuntimeError::io("cannot use the agent socket"))?;
    made.listener = Some(
        tokio::net::UnixListener::from_std(listener)
            .map_err(RuntimeError::io("cannot use the agent socket"))?,
    );
    Ok(made)
}

/// A socket inside an environment that a forwarded SSH agent answers on; the socket and its
/// directory are removed when it is dropped.
#[derive(Debug)]
pub struct AgentSocket {
    listener: Option<tokio::net::UnixListener>,
    /// Its path inside the environment (for `SSH_AUTH_SOCK`).
    pub path: String,
    /// The environment's `/tmp`, resolved inside its root when the socket was made.
    tmp: std::os::fd::OwnedFd,
    dir_name: String,
}

impl AgentSocket {
    /// The next connection a program inside makes to the agent.
    pub async fn accept(&self) -> io::Result<tokio::net::UnixStream> {
        match &self.listener {
            Some(listener) => listener.accept().await.map(|(conn, _)| conn),
            None => Err(io::Error::other("the agent socket is closed")),
        }
    }
}

impl Drop for AgentSocket {
    fn drop(&mut self) {
        use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags};
        self.listener = None;
        // The directory is opened again without following anything (its user may have replaced
        // it with a symlink), and only then emptied; removing it does not follow a last symlink.
        let dir = rustix::fs::openat2(
            &self.tmp,
            self.dir_name.as_str(),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
        );
        if let Ok(dir) = dir {
            let _ = rustix::fs::unlinkat(&dir, "agent.sock", AtFlags::empty());
        }
        let _ = rustix::fs::unlinkat(&self.tmp, self.dir_name.as_str(), AtFlags::REMOVEDIR);
    }
}

/// The real user and group ids (as the host sees them) that process `pid` runs as.
fn process_ids(pid: u32) -> io::Result<(u32, u32)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| io::Error::other(format!("no {name} in /proc/{pid}/status")))
    };
    Ok((field("Uid:")?, field("Gid:")?))
}

/// On a thread of its own (it changes the thread's ids and working directory for good): the
/// directory `/tmp/<dir_name>` and the socket `agent.sock` in it, made as `uid`/`gid`.
fn agent_socket_as(
    pid: u32,
    dir_name: &str,
    uid: u32,
    gid: u32,
) -> io::Result<(std::os::unix::net::UnixListener, std::os::fd::OwnedFd)> {
    use rustix::fs::{Gid, Mode, OFlags, ResolveFlags, Uid};
    use rustix::thread::{self, UnshareFlags};
    let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    let path = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let root = rustix::fs::open(format!("/proc/{pid}/root"), path, Mode::empty())?;
    let tmp = rustix::fs::openat2(&root, "tmp", path, Mode::empty(), resolve)?;
    // Only the file system context (working directory, umask) is unshared: `unshare_unsafe`
    // replaced this call for the sake of `UnshareFlags::FILES`, which is not asked for here.
    #[allow(deprecated)]
    thread::unshare(UnshareFlags::FS)?;
    let (uid, gid) = (Uid::from_raw(uid), Gid::from_raw(gid));
    thread::set_thread_groups(&[])?;
    thread::set_thread_res_gid(gid, gid, gid)?;
    thread::set_thread_res_uid(uid, uid, uid)?;
    rustix::fs::mkdirat(&tmp, dir_name, Mode::from_raw_mode(0o700))?;
    let dir = rustix::fs::openat2(
        &tmp,
        dir_name,
        path | OFlags::NOFOLLOW,
        Mode::empty(),
        resolve | ResolveFlags::NO_SYMLINKS,
    )?;
    rustix::process::fchdir(&dir)?;
    Ok((std::os::unix::net::UnixListener::bind("agent.sock")?, tmp))
}

/// The host's own addresses (every interface's), which environments may not reach.
pub fn host_addresses() -> Vec<IpAddr> {
    let out = std::process::Command::new("ip")
        .args(["-j", "addr", "show"])
        .stdin(Stdio::null())
        .output();
    let Ok(out) = out else {
        return Vec::new();
    };
    let links: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap_or_default();
    links
        .iter()
        .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a["local"].as_str().and_then(|s| s.parse().ok()))
        .collect()
}

#[cfg(test)]
mod port_tests {
    #[test]
    fn only_listening_sockets_count() {
        // From a real /proc/net/tcp: a listener on 0.0.0.0:3000, one on 127.0.0.1:8080, and an
        // established connection from port 3000.
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1 1 0 100 0 0 10 0
   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 2 1 0 100 0 0 10 0
   2: 0100007F:0BB8 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000  1000        0 3 1 0 20 4 30 10 -1
";
        assert_eq!(
            super::listening_in_table(table).collect::<Vec<_>>(),
            [3000, 8080]
        );
    }
}
