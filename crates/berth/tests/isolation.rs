//! Environments that are safe for many tenants (issue 13), tried from inside real environments
//! under runc: everything an unreviewed image could try against the host, the server or another
//! environment must fail to get through, and what development needs keeps working.
//!
//! Outbound traffic is tried only against listeners these tests start: on the host's loopback,
//! and in network namespaces they make (a link-local and a private address, never on the host).

mod support;

use std::io::Read as _;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use support::environments::{created, exec, exec_ok, git_repo, reaches_berth};
use support::images::{busybox_layer, file_layer, image_layout, push, setuid_layer};
use support::netns::TestNet;
use support::servers::{Berth, Daemon};
use support::{Cli, assert_stderr, text};

/// A machine type small enough to exhaust in a test.
const CONFIG: &str = "[[environments.machines]]\nname = \"tiny\"\ncpus = 1\nmemory_gb = 1\nstorage_gb = 0.25\n\n[[environments.machines]]\nname = \"basicLinux\"\ncpus = 2\nmemory_gb = 4\nstorage_gb = 32\n";

/// A server with the tiny machine type, alice's repository `alice/web` (a workspace with a
/// README), and the image `alice/dev:1` (busybox, a user vscode, a setuid helper) granted to it.
struct Setup {
    berth: Berth,
    alice: Cli,
    image: String,
    _dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("berth.toml");
        std::fs::write(&config, CONFIG).unwrap();
        let layout = dir.path().join("layout");
        let busybox = busybox_layer(dir.path());
        let suid = setuid_layer(dir.path());
        let marker = file_layer(dir.path(), "marker", "/etc/berth-image", b"dev\n");
        image_layout(
            &layout,
            "dev",
            &[busybox, suid, marker],
            &["PATH=/usr/local/bin:/bin"],
        );
        let berth = Berth::start(&["--config", config.to_str().unwrap()], &[]);
        let alice = berth.cli(&berth.alice);
        let url = git_repo(dir.path(), "web", &[("README", "hi\n")]);
        alice.ok(&["repo", "create", "alice/web", "--clone-url", &url]);
        let image = format!("{}/alice/dev:1", berth.host);
        push(&layout, "dev", &image, &format!("alice:{}", berth.alice));
        alice.ok(&["package", "grant", "alice/dev", "--repo", "alice/web"]);
        Self {
            berth,
            alice,
            image,
            _dir: dir,
        }
    }

    fn create(&self, machine: &str) -> String {
        created(
            &self.alice,
            &[
                "-R",
                "alice/web",
                "--image",
                &self.image,
                "--machine",
                machine,
            ],
        )
    }
}

/// A TCP listener on the host that counts the connections it accepts.
fn counting_listener(addr: &str) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind(addr).unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(conn);
        }
    });
    (port, hits)
}

/// A listener at `net`'s namespace address that appends a line to `log` per connection.
fn listener_in(net: &TestNet, port: u16, log: &Path) -> Daemon {
    let script = format!(
        "import socket\ns = socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind(('{}', {port}))\ns.listen()\nwhile True:\n    c, _ = s.accept()\n    open('{}', 'a').write('hit\\n')\n    c.close()\n",
        net.ns_ip,
        log.display()
    );
    let mut child = net
        .command("python3")
        .args(["-c", &script])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log.with_extension("err")).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect((net.ns_ip, port)).is_err() {
        assert!(
            Instant::now() < deadline && child.try_wait().unwrap().is_none(),
            "the namespace's listener did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // That connection was the host's own (the control): the listener is reachable from here.
    Daemon(child)
}

fn hits(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .count()
}

/// The host pid of the environment's main process (its runc state).
fn main_pid(berth: &Berth, name: &str) -> u32 {
    let run = std::fs::read_link(berth.data().join("run")).unwrap();
    let out = Command::new("runc")
        .arg("--root")
        .arg(run.join("runc"))
        .args(["state", name])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    u32::try_from(v["pid"].as_u64().unwrap()).unwrap()
}

fn host_uid_of(pid: u32) -> u32 {
    std::fs::metadata(format!("/proc/{pid}")).unwrap().uid()
}

#[test]
fn nothing_of_the_host_is_reachable_from_inside_and_development_still_works() {
    let s = Setup::new();
    let a = s.create("tiny");
    let b = s.create("tiny");

    // The regressions of issue 13: the host's cgroups, devices, debugfs, root and network.
    let cgroups = exec(
        &s.alice,
        &a,
        "for f in /sys/fs/cgroup/*/cgroup.procs /sys/fs/cgroup/*/devices.allow; do echo 1 > $f 2>/dev/null && echo WROTE $f; done; \
         grep -v ':/$' /proc/self/cgroup; true",
    );
    assert_eq!(
        text(&cgroups.stdout),
        "",
        "no cgroup file written, only the environment's own cgroups seen"
    );
    let probes = [
        ("mknod /tmp/sda b 8 0", "a block device"),
        ("mount -t tmpfs none /mnt", "a mount"),
        ("mount -t debugfs none /mnt", "debugfs"),
        (
            "cat /sys/kernel/debug/* 2>&1 | grep -q . && false",
            "debugfs files",
        ),
        ("echo > /tmp/x.ko; insmod /tmp/x.ko", "a kernel module"),
        ("unshare -U -r id", "a new user namespace"),
        ("touch /sys/kernel/new", "a write to /sys"),
        ("echo 1 > /proc/sys/kernel/sysrq", "a write to /proc/sys"),
        ("cat /proc/kcore | head -c 1 | grep -q .", "/proc/kcore"),
    ];
    for (probe, what) in probes {
        let out = exec(&s.alice, &a, probe);
        assert!(
            !out.status.success(),
            "{what} got through: {probe}\n{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }
    let status = exec_ok(
        &s.alice,
        &a,
        "grep -E '^(Seccomp|CapBnd):' /proc/self/status; cat /proc/self/uid_map; id -u",
    );
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap()
            .trim()
            .to_owned()
    };
    assert_eq!(field("Seccomp:"), "2", "a seccomp filter: {status}");
    let bounding = u64::from_str_radix(&field("CapBnd:"), 16).unwrap();
    assert_eq!(bounding & (1 << 27), 0, "no CAP_MKNOD");
    assert_eq!(bounding & (1 << 13), 0, "no CAP_NET_RAW");
    assert_eq!(bounding & (1 << 21), 0, "no CAP_SYS_ADMIN");

    // Root inside is an unprivileged host uid of the environment's own range.
    let (pa, pb) = (main_pid(&s.berth, &a), main_pid(&s.berth, &b));
    let (ua, ub) = (host_uid_of(pa), host_uid_of(pb));
    assert!(ua >= 1 << 30 && ub >= 1 << 30, "{ua} {ub}");
    assert_ne!(ua, ub, "two environments never share a host uid");
    let words: Vec<&str> = status.split_whitespace().collect();
    let ua_text = ua.to_string();
    assert!(
        words
            .windows(3)
            .any(|w| w == ["0", ua_text.as_str(), "65536"]),
        "root inside maps to the range: {status}"
    );
    let shown: serde_json::Value =
        serde_json::from_str(&s.alice.ok(&["--json", "codespace", "show", &a])).unwrap();
    assert_eq!(shown["machine"]["name"], "tiny");
    assert!(
        shown["isolation"]["user_namespace"]
            .as_str()
            .unwrap()
            .starts_with(&ua.to_string()),
        "{shown}"
    );

    // Another environment's processes are not even visible.
    exec_ok(&s.alice, &b, "sleep 31337 >/dev/null 2>&1 &");
    let seen = exec_ok(
        &s.alice,
        &a,
        // The pattern does not match this command line itself.
        "for p in /proc/[0-9]*; do grep -q '3133[7]' $p/cmdline 2>/dev/null && echo SEEN; done; true",
    );
    assert_eq!(seen, "", "B's process is invisible to A");
    let b_sleep = Command::new("pgrep")
        .args(["-f", "sleep 31337"])
        .output()
        .unwrap();
    let b_pid = text(&b_sleep.stdout)
        .trim()
        .lines()
        .next()
        .unwrap()
        .to_owned();
    let out = exec(&s.alice, &a, &format!("kill -0 {b_pid}"));
    assert!(!out.status.success(), "A cannot signal B's process");

    // The network: the host's loopback, another environment, link-local and private addresses.
    let (port, host_hits) = counting_listener("127.0.0.1:0");
    for target in ["10.0.2.2", "127.0.0.1"] {
        let out = exec(&s.alice, &a, &format!("nc -w 2 {target} {port} </dev/null"));
        assert!(!out.status.success(), "reached {target}:{port}");
    }
    assert_eq!(
        host_hits.load(Ordering::SeqCst),
        0,
        "the host's loopback listener was reached"
    );
    exec_ok(
        &s.alice,
        &b,
        "(nc -l -p 7777 > /tmp/got 2>&1 &) ; sleep 0.2",
    );
    let out = exec(
        &s.alice,
        &a,
        "echo hello | nc -w 2 10.0.2.100 7777; echo hello | nc -w 2 10.0.2.2 7777",
    );
    assert!(
        !text(&out.stdout).contains("hello"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        exec_ok(&s.alice, &b, "cat /tmp/got"),
        "",
        "B's listener got nothing"
    );

    let dir = tempfile::tempdir().unwrap();
    for (first, second, what) in [(169, 254, "link-local"), (10, 215, "private")] {
        let net = TestNet::new(first, second);
        let log = dir.path().join(format!("{what}.log"));
        let _listener = listener_in(&net, 8080, &log);
        let deadline = Instant::now() + Duration::from_secs(10);
        while hits(&log) == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let before = hits(&log);
        assert_eq!(
            before,
            1,
            "the host reaches the {what} listener (the control): {}",
            std::fs::read_to_string(log.with_extension("err")).unwrap_or_default()
        );
        let out = exec(
            &s.alice,
            &a,
            &format!("nc -w 2 {} 8080 </dev/null", net.ns_ip),
        );
        assert!(
            !out.status.success(),
            "reached the {what} address {}",
            net.ns_ip
        );
        assert!(
            text(&out.stderr)
                .to_lowercase()
                .contains("permission denied"),
            "refused by the environment's routes: {}",
            text(&out.stderr)
        );
        assert_eq!(hits(&log), before, "the {what} listener saw a connection");
    }
    // The metadata address is refused the same way.
    let out = exec(&s.alice, &a, "nc -w 2 169.254.169.254 80 </dev/null");
    assert!(
        text(&out.stderr)
            .to_lowercase()
            .contains("permission denied")
    );

    // Berth itself is reachable, at the address the login files name.
    let config = exec_ok(&s.alice, &a, "cat $HOME/.docker/config.json");
    assert!(config.contains(&s.berth.host), "{config}");
    reaches_berth(&s.alice, &a, &s.berth.host);

    // What development needs: a setuid program (sudo's way) for another user, files of the
    // workspace owned by the user inside and by the environment's range outside.
    let out = exec_ok(&s.alice, &a, "su -s /bin/sh vscode -c 'id -u; suid-id'");
    assert_eq!(out, "1000\n0\n", "a setuid program works for another user");
    // The workspace is the environment's user's (root here; the image names no other).
    let out = exec_ok(
        &s.alice,
        &a,
        "touch /workspaces/web/mine; mkdir -p /workspaces/web/v && chown 1000 /workspaces/web/v && su -s /bin/sh vscode -c 'touch /workspaces/web/v/theirs'; stat -c %u /workspaces/web/mine /workspaces/web/v/theirs",
    );
    assert_eq!(out, "0\n1000\n", "inside, files belong to who made them");
    let workspace = s
        .berth
        .data()
        .join("environments")
        .join(&a)
        .join("disk/workspace");
    assert_eq!(
        (
            std::fs::metadata(workspace.join("mine")).unwrap().uid(),
            std::fs::metadata(workspace.join("v/theirs")).unwrap().uid()
        ),
        (ua, ua + 1000),
        "outside, to the environment's range"
    );

    s.alice.ok(&["codespace", "delete", &a]);
    s.alice.ok(&["codespace", "delete", &b]);
}

#[test]
fn a_fork_bomb_a_memory_hog_or_a_full_disk_stays_inside_its_environment() {
    let s = Setup::new();
    let a = s.create("tiny");
    let b = s.create("tiny");
    let cgroup = |controller: &str, file: &str| {
        let path = format!("/sys/fs/cgroup/{controller}/berth/{a}/{file}");
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .trim()
            .to_owned()
    };
    assert_eq!(
        cgroup("memory", "memory.limit_in_bytes"),
        (1u64 << 30).to_string()
    );
    assert_eq!(cgroup("pids", "pids.max"), "1024");

    // A full disk stops writes with the kernel's own error, inside the environment only: in
    // the workspace and in the writable layer alike.
    for target in ["/workspaces/web/big", "/big"] {
        let out = exec(
            &s.alice,
            &a,
            &format!("dd if=/dev/zero of={target} bs=1M count=400"),
        );
        assert!(!out.status.success(), "wrote 400 MB to {target}");
        assert_stderr(&out, "No space left on device");
        exec_ok(&s.alice, &a, &format!("rm {target}"));
    }
    assert_eq!(
        exec_ok(&s.alice, &b, "echo written > /tmp/x; cat /tmp/x"),
        "written\n"
    );

    // A memory hog is killed inside its environment.
    let out = exec(&s.alice, &a, "head -c 3000m /dev/zero | tail > /dev/null");
    assert!(!out.status.success(), "the hog was stopped");
    let oom = cgroup("memory", "memory.oom_control");
    assert!(
        oom.lines()
            .any(|l| l.strip_prefix("oom_kill ").is_some_and(|n| n != "0")),
        "by its memory limit: {:?} {} {oom} max usage {}",
        out.status,
        text(&out.stderr),
        cgroup("memory", "memory.max_usage_in_bytes")
    );
    assert_eq!(exec_ok(&s.alice, &b, "echo alive"), "alive\n");

    // A fork bomb stops at its environment's process limit; the other keeps answering.
    let started = Instant::now();
    let mut bomb: Child = Command::new(support::BIN)
        .args([
            "codespace",
            "exec",
            "-n",
            &a,
            "--",
            "sh",
            "-c",
            "f() { f | f & }; f; sleep 20",
        ])
        .env("BERTH_CONFIG_DIR", &s.alice.config_dir)
        .envs(s.alice.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while cgroup("pids", "pids.current").parse::<u64>().unwrap() < 1000 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the bomb never reached the limit"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let answered = Instant::now();
    assert_eq!(exec_ok(&s.alice, &b, "echo alive"), "alive\n");
    assert!(
        answered.elapsed() < Duration::from_secs(10),
        "B answered in {:?}",
        answered.elapsed()
    );
    assert!(cgroup("pids", "pids.current").parse::<u64>().unwrap() <= 1024);
    s.alice.ok(&["codespace", "delete", &a]);
    let _ = bomb.kill();
    let _ = bomb.wait();
    let mut err = String::new();
    let _ = bomb.stderr.take().map(|mut e| e.read_to_string(&mut err));
    s.alice.ok(&["codespace", "delete", &b]);
}

#[test]
fn machine_types_are_listed_as_github_does_and_an_unknown_one_is_refused() {
    let s = Setup::new();
    let out = s
        .alice
        .ok(&["--json", "codespace", "machines", "-R", "alice/web"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["total_count"], 2);
    assert_eq!(v["machines"][0]["name"], "tiny");
    assert_eq!(v["machines"][0]["cpus"], 1);
    assert_eq!(v["machines"][0]["memory_in_bytes"], 1u64 << 30);
    assert_eq!(v["machines"][0]["operating_system"], "linux");
    let out = s.alice.run(
        &[
            "codespace",
            "create",
            "-R",
            "alice/web",
            "--machine",
            "hugeLinux",
        ],
        None,
    );
    assert!(!out.status.success());
    assert_stderr(&out, "choose one of tiny, basicLinux");
}
