//! `berth serve`: settings from flags, environment and config file; the data directory and its
//! keys; the first start's site administrator; HTTP or HTTPS with graceful shutdown.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use berth_blob::{BlobDriver, FsDriver, S3Driver, S3Location};
use berth_domain::isolation::{EgressPolicy, IdPool, IpNet, MachineType};
use berth_http::AppState;
use berth_runtime::layers::DEFAULT_IMAGE_BYTES;
use berth_service::environments::{EnvironmentConfig, Replica, ServeInside};
use berth_service::registry::CollectPolicy;
use berth_service::secrets::{MasterKey, MasterKeys, PersistKeys};
use berth_service::{Berth, BerthParts, SystemClock, TokenHasher};
use berth_store::Store;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::cli::ServeArgs;
use crate::private_file::{self, Existing};

const DEFAULT_DATA_DIR: &str = "./berth-data";
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
const DEFAULT_SSH_LISTEN: &str = "127.0.0.1:2222";
const TOKEN_KEY_FILE: &str = "token.key";
const SIGNING_KEY_FILE: &str = "registry.key";
/// Which replica the server is (random, made on first start; see [`replica`]).
const REPLICA_ID_FILE: &str = "replica.id";
/// The master keys environment secrets are wrapped with: base64, one per line, the first wraps.
const MASTER_KEY_FILE: &str = "master.key";
/// Blob storage root (the layout below it is documented in berth-service's registry module).
const STORAGE_DIR: &str = "storage";
const ADMIN_TOKEN_FILE: &str = "admin-token";
/// The first administrator's initial password (for the web UI's sign-in), beside its token.
const ADMIN_PASSWORD_FILE: &str = "admin-password";
const DEFAULT_GC_INTERVAL: Duration = Duration::from_secs(3600);
const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a pre-signed URL a pull is redirected to stays valid (distribution's S3 default).
const BLOB_REDIRECT_VALIDITY: Duration = Duration::from_secs(20 * 60);

/// The config file's keys: the same settings as the flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    data_dir: Option<PathBuf>,
    listen: Option<String>,
    ssh_listen: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    database_url: Option<String>,
    external_url: Option<String>,
    replica_address: Option<String>,
    gc_interval: Option<u64>,
    gc_untagged_after: Option<u64>,
    shutdown_timeout: Option<u64>,
    blob_store: Option<String>,
    blob_part_size: Option<usize>,
    blob_redirect: Option<bool>,
    /// `[s3]`: the store's endpoint, region, keys and addressing, for what the AWS variables do
    /// not say.
    #[serde(default)]
    s3: berth_blob::S3Settings,
    runtime: Option<String>,
    #[serde(default)]
    environments: EnvironmentFileSettings,
    #[serde(default)]
    egress: EgressFileSettings,
    #[serde(default)]
    clone: CloneFileSettings,
}

/// The config file's `[clone]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CloneFileSettings {
    /// Directories under which users may set local clone URLs.
    #[serde(default)]
    allow_dirs: Vec<PathBuf>,
}

/// The config file's `[egress]` table: what the server may reach for users (SPEC §8).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EgressFileSettings {
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    deny: Vec<String>,
}

/// The config file's `[environments]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvironmentFileSettings {
    /// `[[environments.machines]]`: `name`, `cpus`, `memory_gb`, `storage_gb`
    /// (`display_name` optional). None: GitHub's basicLinux and standardLinux.
    #[serde(default)]
    machines: Vec<MachineSetting>,
    #[serde(default)]
    egress_allow: Vec<String>,
    #[serde(default)]
    egress_deny: Vec<String>,
    /// The most one image layer may unpack to (GiB; its tar stream, and its files at their
    /// logical size).
    max_layer_gb: Option<f64>,
    /// The most entries one layer may hold.
    max_layer_entries: Option<u64>,
    /// The most an image's layers may unpack to together (GiB).
    max_image_gb: Option<f64>,
    /// The most this machine keeps of pulled blobs (GiB; least recently used go first).
    pull_cache_gb: Option<f64>,
    /// The most this machine keeps of unpacked layers (GiB; least recently used go first,
    /// never one an environment uses).
    layer_cache_gb: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MachineSetting {
    name: String,
    display_name: Option<String>,
    cpus: u32,
    /// Gigabytes (GiB), fractions allowed.
    memory_gb: f64,
    storage_gb: f64,
}

/// Validated settings: flags > `BERTH_*` environment (both via clap) > config file > defaults.
#[derive(Debug)]
struct Settings {
    data_dir: PathBuf,
    listen: SocketAddr,
    ssh_listen: SshListen,
    tls: Option<(PathBuf, PathBuf)>,
    database_url: Option<String>,
    external_url: Option<String>,
    /// Where other replicas reach this one (`None`: from the listening address).
    replica_address: Option<url::Url>,
    /// How often the registry's garbage collection runs; `None`: never.
    gc_interval: Option<Duration>,
    /// What those collections do (untagged versions: kept unless `--gc-untagged-after`).
    gc_policy: CollectPolicy,
    /// How long a shutdown waits for running requests.
    shutdown_timeout: Duration,
    /// An S3 bucket for blobs (`None`: files under the data directory), its part size, and how
    /// long the pre-signed URLs pulls are redirected to are valid (`None`: no redirects).
    blob_store: Option<(S3Location, usize, Option<Duration>)>,
    /// The config file's `[s3]` table.
    s3: berth_blob::S3Settings,
    runtime: RuntimeKind,
    machines: Vec<MachineType>,
    egress: EgressPolicy,
    /// What the server itself may reach for users.
    server_egress: EgressPolicy,
    clone_allow_dirs: Vec<PathBuf>,
    layer_limits: berth_runtime::unpack::UnpackLimits,
    image_bytes: u64,
    caches: berth_runtime::caches::CacheLimits,
}

/// Where the SSH gateway listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SshListen {
    Off,
    /// The default address: when it is taken, the server goes on without SSH, saying so.
    Default(SocketAddr),
    /// An address the operator gave: when it is taken, the server does not start.
    Given(SocketAddr),
}

/// What runs environments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RuntimeKind {
    Runc,
    Docker,
}

impl Settings {
    fn resolve(args: ServeArgs) -> anyhow::Result<Self> {
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the config file {}", path.display()))?;
                toml::from_str(&text)
                    .with_context(|| format!("the config file {} is not valid", path.display()))?
            }
            None => FileSettings::default(),
        };
        let listen = args
            .listen
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen = listen.parse().with_context(|| {
            format!("--listen {listen:?} is not an address such as 127.0.0.1:8080")
        })?;
        let ssh_listen = match args.ssh_listen.or(file.ssh_listen).as_deref() {
            Some("0") => SshListen::Off,
            Some(addr) => SshListen::Given(addr.parse().with_context(|| {
                format!("--ssh-listen {addr:?} is not an address such as 127.0.0.1:2222 (0 turns SSH off)")
            })?),
            None => SshListen::Default(DEFAULT_SSH_LISTEN.parse().expect("a valid address")),
        };
        let tls = match (
            args.tls_cert.or(file.tls_cert),
            args.tls_key.or(file.tls_key),
        ) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => bail!("TLS needs both a certificate and a key (--tls-cert and --tls-key)"),
        };
        let redirect_asked = args.blob_redirect || file.blob_redirect.unwrap_or(false);
        let blob_store = match args.blob_store.or(file.blob_store) {
            None => None,
            Some(url) => {
                let at =
                    S3Location::parse(&url).map_err(|e| anyhow::anyhow!("--blob-store: {e}"))?;
                let mib = args
                    .blob_part_size
                    .or(file.blob_part_size)
                    .unwrap_or(berth_blob::DEFAULT_PART_SIZE >> 20);
                if mib < 5 {
                    bail!("--blob-part-size {mib}: S3 takes parts of 5 MiB or more");
                }
                let redirect = redirect_asked.then_some(BLOB_REDIRECT_VALIDITY);
                Some((at, mib << 20, redirect))
            }
        };
        if redirect_asked && blob_store.is_none() {
            bail!("--blob-redirect needs --blob-store s3://…: files are served by Berth itself");
        }
        let runtime = match args.runtime.or(file.runtime).as_deref() {
            None | Some("runc") => RuntimeKind::Runc,
            Some("docker") => RuntimeKind::Docker,
            Some(other) => bail!("--runtime {other:?} is not a runtime: use runc or docker"),
        };
        let cidrs = |list: Vec<String>, what: &str| -> anyhow::Result<Vec<IpNet>> {
            list.iter()
                .map(|c| {
                    c.parse::<IpNet>()
                        .or_else(|_| c.parse::<std::net::IpAddr>().map(IpNet::from))
                        .with_context(|| {
                            format!("{what} {c:?} is not a network such as 10.1.0.0/16")
                        })
                })
                .collect()
        };
        let mut allow = cidrs(args.egress_allow, "--environment-egress-allow")?;
        allow.extend(cidrs(
            file.environments.egress_allow,
            "environments.egress_allow",
        )?);
        let mut deny = cidrs(args.egress_deny, "--environment-egress-deny")?;
        deny.extend(cidrs(
            file.environments.egress_deny,
            "environments.egress_deny",
        )?);
        let machines = if file.environments.machines.is_empty() {
            MachineType::defaults()
        } else {
            file.environments
                .machines
                .into_iter()
                .map(|m| {
                    // At least 64 MiB of memory and 128 MiB of disk: less runs nothing useful.
                    let enough = |gb: f64, least: f64| gb.is_finite() && gb >= least;
                    if m.cpus == 0 || !enough(m.memory_gb, 0.0625) || !enough(m.storage_gb, 0.125) {
                        bail!(
                            "machine {:?} in the config file needs cpus above 0, memory_gb of at least 0.0625 and storage_gb of at least 0.125",
                            m.name
                        );
                    }
                    let bytes = |gb: f64| (gb * f64::from(1u32 << 30)) as u64;
                    Ok(MachineType {
                        display_name: m.display_name.unwrap_or_else(|| {
                            format!(
                                "{} cores, {} GB RAM, {} GB storage",
                                m.cpus, m.memory_gb, m.storage_gb
                            )
                        }),
                        name: m.name,
                        cpus: m.cpus,
                        memory_in_bytes: bytes(m.memory_gb),
                        storage_in_bytes: bytes(m.storage_gb),
                    })
                })
                .collect::<anyhow::Result<_>>()?
        };
        let mut server_allow = cidrs(args.server_egress_allow, "--egress-allow")?;
        server_allow.extend(cidrs(file.egress.allow, "egress.allow")?);
        let mut server_deny = cidrs(args.server_egress_deny, "--egress-deny")?;
        server_deny.extend(cidrs(file.egress.deny, "egress.deny")?);
        let gb = |v: Option<f64>, key: &str, default: u64| -> anyhow::Result<u64> {
            match v {
                None => Ok(default),
                Some(g) if g.is_finite() && g > 0.0 => Ok((g * f64::from(1u32 << 30)) as u64),
                Some(_) => {
                    bail!("environments.{key} in the config file must be a positive number of GB")
                }
            }
        };
        let EnvironmentFileSettings {
            max_layer_gb,
            max_layer_entries,
            max_image_gb,
            pull_cache_gb,
            layer_cache_gb,
            ..
        } = file.environments;
        let defaults = berth_runtime::unpack::UnpackLimits::default();
        let layer_limits = berth_runtime::unpack::UnpackLimits {
            bytes: gb(max_layer_gb, "max_layer_gb", defaults.bytes)?,
            entries: max_layer_entries.unwrap_or(defaults.entries),
        };
        let image_bytes = gb(max_image_gb, "max_image_gb", DEFAULT_IMAGE_BYTES)?;
        let sizes = berth_runtime::caches::CacheLimits::default();
        let caches = berth_runtime::caches::CacheLimits {
            pull_cache_bytes: gb(pull_cache_gb, "pull_cache_gb", sizes.pull_cache_bytes)?,
            layer_bytes: gb(layer_cache_gb, "layer_cache_gb", sizes.layer_bytes)?,
        };
        let mut clone_allow_dirs = args.clone_allow_dirs;
        clone_allow_dirs.extend(file.clone.allow_dirs);
        Ok(Settings {
            caches,
            layer_limits,
            image_bytes,
            clone_allow_dirs,
            machines,
            egress: EgressPolicy { allow, deny },
            server_egress: EgressPolicy {
                allow: server_allow,
                deny: server_deny,
            },
            data_dir: args
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| DEFAULT_DATA_DIR.into()),
            listen,
            ssh_listen,
            tls,
            database_url: args.database_url.or(file.database_url),
            external_url: args.external_url.or(file.external_url),
            replica_address: match args.replica_address.or(file.replica_address) {
                None => None,
                Some(given) => Some(replica_address(&given)?),
            },
            gc_policy: CollectPolicy {
                untagged: args
                    .gc_untagged_after
                    .or(file.gc_untagged_after)
                    .map(Duration::from_secs),
                ..CollectPolicy::default()
            },
            gc_interval: match args.gc_interval.or(file.gc_interval) {
                Some(0) => None,
                Some(secs) => Some(Duration::from_secs(secs)),
                None => Some(DEFAULT_GC_INTERVAL),
            },
            shutdown_timeout: args
                .shutdown_timeout
                .or(file.shutdown_timeout)
                .map_or(DEFAULT_SHUTDOWN_TIMEOUT, Duration::from_secs),
            blob_store,
            s3: file.s3,
            runtime,
        })
    }
}

fn init_logging() {
    use tracing_subscriber::prelude::*;
    let filter = tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
        .unwrap_or_else(|_| "info,sqlx=warn".into());
    // bollard logs request bodies (an exec's carries the environment's variables) at debug and
    // trace: dropped by a filter of their own, so no BERTH_LOG can turn them back on.
    let no_bollard_bodies = tracing_subscriber::filter::filter_fn(|m| {
        !(m.target().starts_with("bollard") && *m.level() > tracing::Level::INFO)
    });
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    if std::env::var("BERTH_LOG_FORMAT").is_ok_and(|f| f == "json") {
        tracing_subscriber::registry()
            .with(
                layer
                    .json()
                    .with_filter(filter)
                    .with_filter(no_bollard_bodies),
            )
            .init();
    } else {
        tracing_subscriber::registry()
            .with(layer.with_filter(filter).with_filter(no_bollard_bodies))
            .init();
    }
}

/// The data directory: created when missing, checked to be a writable directory, and turned
/// into an absolute path once, here, so that nothing later resolves it against another working
/// directory (runc resolves a relative `root.path` inside the bundle).
fn open_data_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    let hint = "choose another with --data-dir, or fix its permissions";
    std::fs::create_dir_all(dir).with_context(|| {
        format!(
            "cannot create the data directory {} ({hint})",
            dir.display()
        )
    })?;
    let dir = dir
        .canonicalize()
        .with_context(|| format!("cannot resolve the data directory {}", dir.display()))?;
    // Owner only, whatever an earlier version or the umask made it: it holds keys, the
    // database and every environment's files.
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).with_context(
            || {
                format!(
                    "cannot make the data directory {} private ({hint})",
                    dir.display()
                )
            },
        )?;
    }
    let probe = dir.join(".write-test");
    std::fs::write(&probe, b"").with_context(|| {
        format!(
            "the data directory {} is not writable ({hint})",
            dir.display()
        )
    })?;
    std::fs::remove_file(&probe)?;
    Ok(dir)
}

/// The data directory's lock: held for the life of the server, so that a second `berth serve`
/// on the same directory is refused instead of taking over the first one's environments. The
/// file holds the holder's process id, for the message a second server prints.
#[derive(Debug)]
struct DataDirLock {
    _file: std::fs::File,
}

const LOCK_FILE: &str = "berth.lock";

fn lock_data_dir(dir: &Path) -> anyhow::Result<DataDirLock> {
    use std::io::{Read as _, Seek as _, Write as _};
    let path = dir.join(LOCK_FILE);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let who = if holder.is_empty() {
                "another process".to_owned()
            } else {
                format!("another berth serve (process {holder})")
            };
            bail!(
                "the data directory {} is in use by {who}; stop that server first, or give this one another --data-dir",
                dir.display()
            );
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", path.display()));
        }
    }
    file.set_len(0)?;
    file.rewind()?;
    writeln!(file, "{}", std::process::id())?;
    Ok(DataDirLock { _file: file })
}

/// `--replica-address`: an `http` or `https` URL with a host and nothing after it.
fn replica_address(given: &str) -> anyhow::Result<url::Url> {
    let url = url::Url::parse(given).ok().filter(|u| {
        matches!(u.scheme(), "http" | "https")
            && u.host().is_some()
            && u.path() == "/"
            && u.query().is_none()
    });
    url.ok_or_else(|| {
        anyhow::anyhow!(
            "--replica-address {given:?} is not a base URL such as http://10.0.0.5:8080 (the other replicas forward environments' requests there)"
        )
    })
}

/// Which replica this server is: `id` (see [`replica_id`]: where its environments' files are; a
/// copy of the directory for another replica must leave `replica.id` out, or it is refused while
/// the original runs), and where the
/// other replicas reach it: `--replica-address`, else the address it listens on unless that is
/// every address; its SSH gateway at the address it listens on, or on every address at the
/// replica address's host.
fn replica(
    id: String,
    settings: &Settings,
    local: SocketAddr,
    scheme: &str,
    ssh: Option<SocketAddr>,
) -> Replica {
    let address = match &settings.replica_address {
        Some(url) => Some(url.as_str().trim_end_matches('/').to_owned()),
        None if local.ip().is_unspecified() => None,
        None => Some(format!("{scheme}://{local}")),
    };
    let ssh_address = ssh.and_then(|ssh| {
        if !ssh.ip().is_unspecified() {
            return Some(ssh.to_string());
        }
        let host = url::Url::parse(address.as_deref()?).ok()?;
        Some(format!("{}:{}", host.host_str()?, ssh.port()))
    });
    Replica {
        id,
        address,
        ssh_address,
    }
}

/// The id of the replica whose data directory is `dir`, kept there (`replica.id`).
fn replica_id(dir: &Path) -> anyhow::Result<String> {
    let id = data_dir_key(dir, REPLICA_ID_FILE, "replica id")?;
    Ok(hex::encode(&id[..8]))
}

/// A 32-byte key kept in the data directory (`what` names it in errors): generated on first
/// start, then read back on every start.
fn data_dir_key(dir: &Path, file: &str, what: &str) -> anyhow::Result<[u8; 32]> {
    let path = dir.join(file);
    if !path.exists() {
        private_file::write(&path, &TokenHasher::generate_key(), Existing::Keep)?;
    }
    let bytes = std::fs::read(&path)
        .with_context(|| format!("cannot read the {what} {}", path.display()))?;
    bytes.try_into().map_err(|_| {
        anyhow::anyhow!(
            "the {what} {} is damaged (it must be 32 bytes); restore it from a backup",
            path.display()
        )
    })
}

/// The master key ring: from `BERTH_MASTER_KEY` (base64 keys, comma-separated, the first wraps;
/// rotation re-wraps under it) or from `<data-dir>/master.key`, created on first start, which
/// rotation rewrites.
fn master_keys(dir: &Path) -> anyhow::Result<MasterKeys> {
    let parse = |text: &str, source: &str| -> anyhow::Result<Vec<MasterKey>> {
        text.split([',', '\n'])
            .filter(|k| !k.trim().is_empty())
            .map(|k| {
                MasterKey::decode(k).map_err(|e| {
                    anyhow::anyhow!("{source} holds a bad key: {e} (generate one with `openssl rand -base64 32`)")
                })
            })
            .collect()
    };
    if let Ok(text) = std::env::var("BERTH_MASTER_KEY") {
        let keys = parse(&text, "BERTH_MASTER_KEY")?;
        return MasterKeys::new(keys, None).map_err(|e| anyhow::anyhow!("BERTH_MASTER_KEY: {e}"));
    }
    let path = dir.join(MASTER_KEY_FILE);
    let save = {
        let path = path.clone();
        move |keys: &[MasterKey], existing: Existing| -> std::io::Result<()> {
            let mut text = zeroize::Zeroizing::new(String::new());
            for k in keys {
                text.push_str(&k.encode());
                text.push('\n');
            }
            private_file::write(&path, text.as_bytes(), existing).map_err(std::io::Error::other)
        }
    };
    if !path.exists() {
        save(&[MasterKey::generate()], Existing::Keep)?;
    }
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the master key file {}", path.display()))?,
    );
    let keys = parse(&text, &format!("the master key file {}", path.display()))?;
    let persist: PersistKeys = Arc::new(move |keys: &[MasterKey]| save(keys, Existing::Replace));
    MasterKeys::new(keys, Some(persist)).map_err(|e| {
        anyhow::anyhow!(
            "the master key file {} is empty ({e}); restore it from a backup",
            path.display()
        )
    })
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    init_logging();
    let mut settings = Settings::resolve(args)?;
    settings.data_dir = open_data_dir(&settings.data_dir)?;
    let _lock = lock_data_dir(&settings.data_dir)?;
    let db_url = settings
        .database_url
        .clone()
        .unwrap_or_else(|| Store::sqlite_url(&settings.data_dir.join("berth.db")));
    let store = Store::connect(&db_url).await?;
    let replica_id = replica_id(&settings.data_dir)?;
    let claimed_as = replica_id.clone();
    // One server a replica: its environments' records name it.
    let mut one_server = store
        .claim(
            &format!("replica:{replica_id}"),
            berth_store::CLAIM_CHECK_INTERVAL,
        )
        .await?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "another server sharing the database runs as this replica ({replica_id}): {} was copied from its data directory with {REPLICA_ID_FILE}; remove that file from this copy to make it a replica of its own",
                settings.data_dir.display()
            )
        })?;
    let host_addresses = berth_runtime::network::host_addresses();
    let berth = Berth::new(BerthParts {
        store,
        token_key: data_dir_key(&settings.data_dir, TOKEN_KEY_FILE, "token key")?,
        signing_key: data_dir_key(&settings.data_dir, SIGNING_KEY_FILE, "registry signing key")?,
        blobs: blob_store(&settings)?,
        clock: Arc::new(SystemClock),
        master_keys: master_keys(&settings.data_dir)?,
    })
    .with_remote(
        berth_service::logins::Remote::new(&settings.server_egress, &host_addresses)
            .with_local_clone_dirs(settings.clone_allow_dirs.clone()),
    );

    if let Some(every) = settings.gc_interval {
        tokio::spawn(collect_garbage_every(
            berth.clone(),
            every,
            settings.gc_policy,
        ));
    }

    let bootstrap_token = std::env::var("BERTH_BOOTSTRAP_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .map(SecretString::from);
    let bootstrapped = berth
        .accounts()
        .bootstrap(bootstrap_token.as_ref())
        .await
        .map_err(|e| match e {
            berth_service::ServiceError::Invalid(i) => {
                anyhow::anyhow!("BERTH_BOOTSTRAP_TOKEN is not usable: {}", i.message)
            }
            e => e.into(),
        })?;
    if let Some(minted) = bootstrapped {
        if bootstrap_token.is_some() {
            tracing::info!(
                "created the site administrator admin with the token from BERTH_BOOTSTRAP_TOKEN"
            );
        } else {
            let path = settings.data_dir.join(ADMIN_TOKEN_FILE);
            private_file::write(
                &path,
                format!(
                    "{}
",
                    minted.token.expose_secret()
                )
                .as_bytes(),
                Existing::Keep,
            )?;
            tracing::info!(path = %path.display(), "created the site administrator admin; its token is in the file");
        }
        if let Some(password) = berth.accounts().bootstrap_password().await? {
            let path = settings.data_dir.join(ADMIN_PASSWORD_FILE);
            private_file::write(
                &path,
                format!("{}\n", password.expose_secret()).as_bytes(),
                Existing::Keep,
            )?;
            tracing::info!(path = %path.display(), "the site administrator's initial password is in the file");
        }
    }

    let listener = std::net::TcpListener::bind(settings.listen).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
            " (another program uses it; choose another with --listen)"
        } else {
            ""
        };
        anyhow::anyhow!("cannot listen on {}: {e}{hint}", settings.listen)
    })?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    let scheme = if settings.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let base_url = settings
        .external_url
        .clone()
        .unwrap_or_else(|| format!("{scheme}://{local}"));
    let run_root = run_dir(&settings.data_dir)?;
    // Bound before the environments are configured: the other replicas relay SSH to it.
    let ssh = ssh_listener(settings.ssh_listen).await?;
    let ssh_addr = ssh.as_ref().map(|l| l.local_addr()).transpose()?;
    // The application is served inside environments' networks too; it exists only once the
    // environments are configured, hence the slot.
    let inside_app: Arc<std::sync::OnceLock<InsideApp>> = Arc::new(std::sync::OnceLock::new());
    let berth = berth.with_environments(EnvironmentConfig {
        sources: Arc::new(berth_service::environments::Git),
        root: settings.data_dir.join("environments"),
        run_root: run_root.join("environments"),
        runtime: environment_runtime(&settings, &run_root)?,
        server_url: base_url.clone(),
        token_ttl: ENVIRONMENT_TOKEN_TTL,
        machines: settings.machines.clone(),
        egress: settings.egress.clone(),
        host_addresses: host_addresses.clone(),
        id_pool: IdPool::default(),
        serve_inside: Some(serve_inside(inside_app.clone())),
        disks: true,
        replica: replica(replica_id, &settings, local, scheme, ssh_addr),
        caches: settings.caches,
    });
    let mut state = AppState::new(berth.clone(), &base_url);
    if let Some(listener) = ssh {
        let key = berth_ssh::load_or_create(&settings.data_dir)?;
        let addr = listener.local_addr()?;
        let gateway = berth_ssh::Gateway::new(berth.clone(), key);
        tracing::info!(
            "SSH gateway at ssh://{addr} (host key {})",
            gateway.host_key().1
        );
        state = state.with_ssh(Arc::new(SshHandle {
            gateway: gateway.clone(),
            addr,
            data_dir: settings.data_dir.clone(),
        }));
        tokio::spawn(gateway.serve(listener));
    }
    let draining = state.draining.clone();
    let app = berth_http::app(state);
    let tls_config = match &settings.tls {
        None => None,
        Some((cert, key)) => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            Some(
                axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                    .await
                    .with_context(|| {
                        format!(
                            "cannot load the TLS certificate {} and key {} (both must be PEM files)",
                            cert.display(),
                            key.display()
                        )
                    })?,
            )
        }
    };
    let _ = inside_app.set(InsideApp {
        app: app.clone(),
        tls: tls_config.clone(),
    });
    // After the application exists: running environments are served inside again.
    berth
        .environments()
        .recover_codespaces()
        .await
        .context("cannot settle the environments a restart interrupted")?;
    // Installed before the server says it listens, so a signal right after start-up is caught.
    let shutdown = shutdown_signal().context("cannot watch SIGINT and SIGTERM")?;
    // At the signal `/readyz` says so, no new connection is taken, and running requests (an
    // upload, a download) get `shutdown_timeout` to finish.
    // The same when the replica's claim is lost: another server runs as this replica now.
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let replica = claimed_as.clone();
    let watcher = tokio::spawn(async move {
        let lost = tokio::select! {
            () = shutdown => false,
            () = one_server.lost() => {
                tracing::error!(%replica, "another server sharing the database took this replica's claim while this one could not reach the database; stopping");
                true
            }
        };
        draining.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = stop.send(true);
        // The claim is held until the server is done.
        (one_server, lost)
    });
    let signalled = move || {
        let mut stopping = stopping.clone();
        async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        }
    };
    let timeout = settings.shutdown_timeout;

    match &settings.tls {
        None => {
            tracing::info!("listening on {scheme}://{local}");
            no_delay(&listener);
            let listener = tokio::net::TcpListener::from_std(listener)?;
            let serving = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .with_graceful_shutdown(signalled());
            let overdue = signalled();
            tokio::select! {
                served = serving.into_future() => served?,
                () = async move { overdue.await; tokio::time::sleep(timeout).await } => {
                    tracing::warn!("requests still running {timeout:?} after the signal are cut off");
                }
            }
        }
        Some(_) => {
            let config = tls_config.clone().expect("loaded above");
            let handle = axum_server::Handle::new();
            let on_signal = handle.clone();
            let signal = signalled();
            tokio::spawn(async move {
                signal.await;
                on_signal.graceful_shutdown(Some(timeout));
            });
            tracing::info!("listening on {scheme}://{local}");
            axum_server::from_tcp_rustls(listener, config)
                .handle(handle)
                .serve(app.into_make_service_with_connect_info::<std::net::SocketAddr>())
                .await?;
        }
    }
    let (one_server, lost) = watcher.await?;
    berth.store().close().await;
    drop(one_server);
    tracing::info!("stopped");
    if lost {
        anyhow::bail!(
            "stopped: another server sharing the database runs as this replica ({claimed_as}); give each server a data directory of its own"
        );
    }
    Ok(())
}

/// Where blobs are kept: the S3 bucket configured, else files under the data directory.
fn blob_store(settings: &Settings) -> anyhow::Result<Arc<dyn BlobDriver>> {
    Ok(match &settings.blob_store {
        None => Arc::new(FsDriver::new(settings.data_dir.join(STORAGE_DIR), true)),
        Some((at, part_size, redirect)) => {
            let driver = S3Driver::open(at, *part_size, *redirect, &settings.s3)
                .map_err(anyhow::Error::msg)?;
            tracing::info!(bucket = %at.bucket, prefix = %at.prefix, "blobs in S3");
            Arc::new(driver)
        }
    })
}

/// Makes the connections `listener` accepts send each write at once (`TCP_NODELAY`, which
/// Linux hands from a listening socket to the ones it accepts; axum-server sets it itself under
/// TLS): a terminal's echo is one small write, which Nagle's algorithm would hold back until the
/// last one is acknowledged.
fn no_delay<L: std::os::fd::AsFd>(listener: L) -> L {
    if let Err(e) = rustix::net::sockopt::set_tcp_nodelay(&listener, true) {
        tracing::debug!(error = %e, "cannot set TCP_NODELAY");
    }
    listener
}

/// What is served inside environments' networks: the same application, with the same TLS.
#[derive(Clone)]
struct InsideApp {
    app: axum::Router,
    tls: Option<axum_server::tls_rustls::RustlsConfig>,
}

/// Serves the application on a listener made inside an environment's network.
fn serve_inside(slot: Arc<std::sync::OnceLock<InsideApp>>) -> ServeInside {
    ServeInside(Arc::new(move |listener: std::net::TcpListener| {
        let slot = slot.clone();
        tokio::spawn(async move {
            let Some(inside) = slot.get().cloned() else {
                return;
            };
            let served = match inside.tls {
                None => match tokio::net::TcpListener::from_std(no_delay(listener)) {
                    Ok(l) => axum::serve(
                        l,
                        inside
                            .app
                            .into_make_service_with_connect_info::<std::net::SocketAddr>(),
                    )
                    .await
                    .map_err(anyhow::Error::from),
                    Err(e) => Err(e.into()),
                },
                Some(tls) => axum_server::from_tcp_rustls(listener, tls)
                    .serve(
                        inside
                            .app
                            .into_make_service_with_connect_info::<std::net::SocketAddr>(),
                    )
                    .await
                    .map_err(anyhow::Error::from),
            };
            if let Err(e) = served {
                tracing::warn!(error = %e, "serving Berth inside an environment stopped");
            }
        })
        .abort_handle()
    }))
}

/// How long an environment token lives: a week, the longest an environment is expected to run
/// between starts (each start issues a new one; stop revokes it).
const ENVIRONMENT_TOKEN_TTL: i64 = 7 * 24 * 3600;

/// Where environments' secret-bearing files live: a private directory on the `/dev/shm` tmpfs,
/// one per data directory (linked from `<data-dir>/run`), so plaintext secrets never reach a disk
/// (SPEC §2). A directory there that is not this user's alone is refused rather than used.
fn run_dir(data_dir: &Path) -> anyhow::Result<PathBuf> {
    use sha2::Digest as _;
    use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
    let canonical = data_dir.canonicalize()?;
    let id = sha2::Sha256::digest(canonical.as_os_str().as_encoded_bytes());
    let dir = PathBuf::from(format!("/dev/shm/berth-{}", &hex::encode(id)[..16]));
    // 0711: environments' own ids pass through it to their own directory (0710, of their group)
    // below `environments/`; nobody can list it.
    match std::fs::DirBuilder::new().mode(0o711).create(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            return Err(anyhow::anyhow!(
                "cannot create {} for environments' secrets: {e}",
                dir.display()
            ));
        }
        _ => {}
    }
    let meta = std::fs::symlink_metadata(&dir)?;
    let mine = std::fs::metadata(data_dir)?.uid();
    if !meta.is_dir() || meta.uid() != mine || meta.permissions().mode() & 0o066 != 0 {
        bail!(
            "{} is not a private directory of this user; remove it and start again",
            dir.display()
        );
    }
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o711))?;
    let environments = dir.join("environments");
    std::fs::DirBuilder::new()
        .mode(0o711)
        .create(&environments)
        .or_else(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Ok(()),
            _ => Err(e),
        })?;
    std::fs::set_permissions(&environments, std::fs::Permissions::from_mode(0o711))?;
    // Shown in the data directory, for operators (and tidy-ups) to find.
    let link = data_dir.join("run");
    if std::fs::read_link(&link).ok().as_deref() != Some(dir.as_path()) {
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&dir, &link)
            .with_context(|| format!("cannot link {} to {}", link.display(), dir.display()))?;
    }
    Ok(dir)
}

fn environment_runtime(
    settings: &Settings,
    run_root: &Path,
) -> anyhow::Result<Arc<dyn berth_runtime::Runtime>> {
    Ok(match settings.runtime {
        RuntimeKind::Runc => Arc::new(
            berth_runtime::runc::Runc::open(&settings.data_dir, run_root)
                .with_context(|| {
                    format!(
                        "cannot create the image caches under {}",
                        settings.data_dir.display()
                    )
                })?
                .with_layer_limits(settings.layer_limits, settings.image_bytes),
        ),
        RuntimeKind::Docker => Arc::new(berth_runtime::docker::connect()?),
    })
}

/// The registry's periodic garbage collection (the first pass one interval after start-up).
async fn collect_garbage_every(berth: Berth, every: Duration, policy: CollectPolicy) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match berth.registry().collect(policy).await {
            Ok(_) => {}
            Err(berth_service::ServiceError::Conflict(_)) => {
                tracing::debug!("another server is collecting the registry's garbage; skipped");
            }
            Err(e) => {
                tracing::warn!(error = %e, "registry garbage collection failed; it runs again in {every:?}");
            }
        }
        // Every replica keeps its own machine's caches within their sizes.
        if let Err(e) = berth.environments().collect_caches_now(false).await {
            tracing::warn!(error = %e, "collecting the image caches failed; it runs again in {every:?}");
        }
    }
}

/// Installs the SIGINT and SIGTERM handlers now and returns what resolves at the first signal.
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        tracing::info!("shutting down");
    })
}

/// The SSH gateway as the API reaches it.
#[derive(Debug)]
struct SshHandle {
    gateway: berth_ssh::Gateway,
    addr: SocketAddr,
    data_dir: PathBuf,
}

impl berth_http::SshGateway for SshHandle {
    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn host_key(&self) -> (String, String) {
        self.gateway.host_key()
    }

    fn rotate_host_key(&self) -> Result<(String, String), String> {
        self.gateway
            .rotate(&self.data_dir)
            .map_err(|e| e.to_string())
    }
}

/// The SSH gateway's listener, if it is to run (see [`SshListen`]).
async fn ssh_listener(listen: SshListen) -> anyhow::Result<Option<tokio::net::TcpListener>> {
    let (addr, given) = match listen {
        SshListen::Off => return Ok(None),
        SshListen::Default(addr) => (addr, false),
        SshListen::Given(addr) => (addr, true),
    };
    match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => Ok(Some(listener)),
        Err(e) if !given && e.kind() == std::io::ErrorKind::AddrInUse => {
            tracing::warn!(
                "the SSH gateway is off: {addr} is taken by another program; give it another address with --ssh-listen"
            );
            Ok(None)
        }
        Err(e) => Err(anyhow::anyhow!(
            "cannot listen for SSH on {addr}: {e} (choose another address with --ssh-listen, or 0 to turn SSH off)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::{no_delay, replica_address};

    #[test]
    fn a_replica_address_is_a_base_url_other_replicas_can_forward_to() {
        for (given, taken) in [
            ("http://10.0.0.5:8080", Some("http://10.0.0.5:8080/")),
            (
                "https://berth-a.internal",
                Some("https://berth-a.internal/"),
            ),
            ("http://10.0.0.5:8080/", Some("http://10.0.0.5:8080/")),
            ("10.0.0.5:8080", None),
            ("ftp://10.0.0.5", None),
            ("http://10.0.0.5:8080/api", None),
            ("http://10.0.0.5:8080/?x=1", None),
            ("", None),
        ] {
            let got = replica_address(given).ok().map(|u| u.to_string());
            assert_eq!(got.as_deref(), taken, "{given:?}");
        }
        let refused = replica_address("10.0.0.5").unwrap_err().to_string();
        assert!(refused.contains("--replica-address"), "{refused}");
    }

    #[test]
    fn accepted_connections_send_without_delay() {
        let listener = no_delay(std::net::TcpListener::bind("127.0.0.1:0").unwrap());
        let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        assert!(
            accepted.nodelay().unwrap(),
            "TCP_NODELAY passes from the listener to what it accepts"
        );
    }
}
