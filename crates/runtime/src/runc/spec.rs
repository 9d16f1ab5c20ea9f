//! The OCI bundle's `config.json` for an environment (SPEC §7): its own user, network, cgroup,
//! pid, ipc, uts and mount namespaces; root inside mapped to the environment's host id range; a
//! fresh read-only `/sys` with only its own cgroups, the runtime spec's masked and read-only
//! `/proc` paths; Docker's default capabilities without `CAP_MKNOD` and `CAP_NET_RAW`; Berth's
//! seccomp filter; CPU, memory and pids limits from its machine type.

use std::path::Path;

use serde_json::{Value, json};

use crate::{Mount, MountTarget, RunSpec, UserIds};

/// The capabilities Docker gives a container by default, without `CAP_MKNOD` (no device nodes
/// of the host's disks) and `CAP_NET_RAW` (no raw sockets). They are the bounding set of every
/// process, so that setuid programs (`sudo`) work for other users; only root starts with them.
const CAPABILITIES: [&str; 12] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// The runtime spec's default masked paths (runc's `specconv.Example`): nothing of the host's
/// hardware, keys or scheduler shows through `/proc` and `/sys`.
const MASKED: [&str; 11] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

const READ_ONLY: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The cgroup environments' cgroups live under (one per environment, in every hierarchy).
pub(super) const CGROUP_PARENT: &str = "/berth";

fn bind(source: &Path, target: &str, readonly: bool) -> Value {
    let mut options = vec!["rbind", "rprivate", "nosuid", "nodev"];
    if readonly {
        options.push("ro");
    }
    json!({"destination": target, "type": "bind", "source": source, "options": options})
}

/// The files an environment gets in place of the host's: its `/etc/resolv.conf` and `/etc/hosts`.
pub(super) struct NameFiles<'a> {
    pub resolv: &'a Path,
    pub hosts: &'a Path,
}

/// The bundle's `config.json` for the environment's main process (`args`), running as `ids`
/// with `env`, its root file system at `rootfs`, `mounts` bound in.
pub(super) fn config(
    spec: &RunSpec,
    mounts: &[Mount],
    ids: &UserIds,
    env: &[String],
    args: &[&str],
    rootfs: &Path,
    names: &NameFiles<'_>,
) -> Value {
    let caps = CAPABILITIES.to_vec();
    let own: Vec<&str> = if ids.uid == 0 {
        caps.clone()
    } else {
        Vec::new()
    };
    let mut bound = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        // A sysfs of the environment's own network namespace, read-only; the cgroup mount
        // shows only the environment's own cgroups (a cgroup namespace), read-only.
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}),
        json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]}),
        bind(names.resolv, "/etc/resolv.conf", true),
        bind(names.hosts, "/etc/hosts", true),
    ];
    for m in mounts {
        let target = match &m.target {
            MountTarget::Absolute(t) => t.clone(),
            MountTarget::Home(rel) => format!("{}/{rel}", ids.home.trim_end_matches('/')),
        };
        bound.push(bind(&m.source, &target, m.readonly));
    }
    let range = spec.isolation.ids;
    let machine = &spec.isolation.machine;
    // CPU time: `cpus` full cores' worth per 100 ms period.
    let period: u64 = 100_000;
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": ids.uid, "gid": ids.gid},
            "args": args,
            "env": env,
            "cwd": spec.cwd,
            "capabilities": {"bounding": caps, "effective": own, "permitted": own},
            // sudo and other setuid programs need to gain privileges.
            "noNewPrivileges": false
        },
        "root": {"path": rootfs, "readonly": false},
        "hostname": spec.name,
        "mounts": bound,
        "linux": {
            "namespaces": [
                {"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"},
                {"type": "network"}, {"type": "user"}, {"type": "cgroup"}
            ],
            "uidMappings": [{"containerID": 0, "hostID": range.base, "size": range.size}],
            "gidMappings": [{"containerID": 0, "hostID": range.base, "size": range.size}],
            "cgroupsPath": format!("{CGROUP_PARENT}/{}", spec.name),
            "resources": {
                "memory": {"limit": machine.memory_in_bytes, "swap": machine.memory_in_bytes},
                "cpu": {"quota": u64::from(machine.cpus) * period, "period": period},
                "pids": {"limit": machine.pids_limit()},
                "devices": [{"allow": false, "access": "rwm"}]
            },
            "seccomp": crate::seccomp::profile(),
            "maskedPaths": MASKED,
            "readonlyPaths": READ_ONLY
        }
    })
}
