//! The environment's container as the Engine sees it: what it is created with (no secrets),
//! the variables kept for its execs on tmpfs, and the users read out of an image or container.

use super::*;

/// The variables every exec of the running environment gets, kept for execs that come without
/// them (e.g. after a restart of the server): in the secret directory, on tmpfs, 0600 — never
/// in the container's configuration, which the Engine keeps on disk.
pub(super) fn env_file(spec: &RunSpec) -> PathBuf {
    spec.secret_dir.join("docker-env.json")
}

pub(super) fn save_env(spec: &RunSpec) -> Result<(), RuntimeError> {
    let plain: Vec<(&str, &str)> = spec
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.expose_secret()))
        .collect();
    let text = zeroize::Zeroizing::new(serde_json::to_vec(&plain).expect("strings serialise"));
    berth_registry_client::logins::write_private_file(&env_file(spec), &text)
        .map_err(RuntimeError::io("cannot keep the environment's variables"))
}

pub(super) fn load_env(spec: &RunSpec) -> Result<Vec<(String, SecretString)>, RuntimeError> {
    let text = zeroize::Zeroizing::new(std::fs::read(env_file(spec)).map_err(RuntimeError::io(
        "the environment's variables are gone (was the host restarted?); stop and start it",
    ))?);
    let plain: Vec<(String, String)> = serde_json::from_slice(&text).map_err(|e| {
        RuntimeError::Engine(format!(
            "the environment's variables are damaged: {e}; stop and start it"
        ))
    })?;
    Ok(plain
        .into_iter()
        .map(|(k, v)| (k, SecretString::from(v)))
        .collect())
}

/// Marks the never-started containers that only lend their files to [`resolve_user`].
pub(super) const PROBE_LABEL: &str = "berth.probe";
/// `/etc/passwd` or `/etc/group` larger than this is not read.
pub(super) const MAX_USER_FILE: usize = 4 << 20;

impl Docker {
    /// A file of a container as text; a missing one is empty.
    pub(super) async fn read_file(
        &self,
        container: &str,
        path: &str,
    ) -> Result<String, RuntimeError> {
        let options = DownloadFromContainerOptionsBuilder::new()
            .path(path)
            .build();
        let mut stream = self
            .api()
            .await?
            .download_from_container(container, Some(options));
        let mut tar = Vec::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => tar.extend_from_slice(&bytes),
                Err(e) if is_not_found(&e) => return Ok(String::new()),
                Err(e) => return Err(engine(&format!("read {path} from the container"), e)),
            }
            if tar.len() > MAX_USER_FILE {
                return Err(RuntimeError::Engine(format!(
                    "the image's {path} is larger than {} MiB",
                    MAX_USER_FILE >> 20
                )));
            }
        }
        Ok(first_file(&tar))
    }

    /// `/etc/passwd` and `/etc/group` of a container.
    pub(super) async fn user_files(
        &self,
        container: &str,
    ) -> Result<(String, String), RuntimeError> {
        Ok((
            self.read_file(container, "/etc/passwd").await?,
            self.read_file(container, "/etc/group").await?,
        ))
    }

    /// `/etc/passwd` and `/etc/group` of an image, through a container created from it and
    /// removed unstarted.
    pub(super) async fn image_user_files(
        &self,
        spec: &RunSpec,
        image: &str,
    ) -> Result<(String, String), RuntimeError> {
        let api = self.api().await?;
        let body = ContainerCreateBody {
            image: Some(image.to_owned()),
            // Never run: the Engine only wants a command for images that name none.
            cmd: Some(vec!["/bin/sh".to_owned()]),
            entrypoint: Some(Vec::new()),
            labels: Some(HashMap::from([
                (CODESPACE_LABEL.to_owned(), spec.name.clone()),
                (PROBE_LABEL.to_owned(), "1".to_owned()),
            ])),
            ..Default::default()
        };
        let probe = api
            .create_container(None, body)
            .await
            .map_err(|e| engine("create a container to read the image's users", e))?;
        let files = self.user_files(&probe.id).await;
        let removed = api
            .remove_container(
                &probe.id,
                Some(RemoveContainerOptionsBuilder::new().force(true).build()),
            )
            .await;
        let files = files?;
        removed.map_err(|e| engine("remove the container that read the image's users", e))?;
        Ok(files)
    }
}

/// How the environment's container is created, but for its image and labels: no secrets
/// (the variables go to each exec), so it can be recorded as the `berth.shape` label.
pub(super) fn container_body(
    spec: &RunSpec,
    ids: &UserIds,
    names: (&std::path::Path, &std::path::Path),
) -> ContainerCreateBody {
    let name_files = [(names.0, "/etc/resolv.conf"), (names.1, "/etc/hosts")]
        .into_iter()
        .map(|(source, target)| DockerMount {
            typ: Some(MountType::BIND),
            source: Some(source.display().to_string()),
            target: Some(target.to_owned()),
            read_only: Some(true),
            ..Default::default()
        });
    let machine = &spec.isolation.machine;
    let mounts = spec
        .mounts
        .iter()
        .map(|m| DockerMount {
            typ: Some(MountType::BIND),
            source: Some(m.source.display().to_string()),
            target: Some(match &m.target {
                MountTarget::Absolute(t) => t.clone(),
                MountTarget::Home(rel) => format!("{}/{rel}", ids.home.trim_end_matches('/')),
            }),
            read_only: Some(m.readonly),
            ..Default::default()
        })
        .chain(name_files)
        .collect();
    ContainerCreateBody {
        hostname: Some(spec.name.clone()),
        user: Some(format!("{}:{}", ids.uid, ids.gid)),
        env: Some(vec![
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned(),
            format!("HOME={}", ids.home),
        ]),
        entrypoint: Some(Vec::new()),
        cmd: Some(vec![
            "/bin/sh".to_owned(),
            "-c".to_owned(),
            KEEP_ALIVE.to_owned(),
        ]),
        working_dir: Some(spec.cwd.clone()),
        stop_timeout: Some(i64::from(STOP_SECS)),
        host_config: Some(HostConfig {
            // A network of its own, attached by Berth (slirp4netns), as under runc.
            network_mode: Some("none".to_owned()),
            cap_drop: Some(vec!["NET_RAW".to_owned(), "MKNOD".to_owned()]),
            memory: i64::try_from(machine.memory_in_bytes).ok(),
            memory_swap: i64::try_from(machine.memory_in_bytes).ok(),
            nano_cpus: Some(i64::from(machine.cpus) * 1_000_000_000),
            pids_limit: i64::try_from(machine.pids_limit()).ok(),
            mounts: Some(mounts),
            tmpfs: Some(HashMap::from([(
                "/tmp".to_owned(),
                "rw,nosuid,nodev,mode=1777".to_owned(),
            )])),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The registry host of committed images: `.invalid` never resolves (RFC 2606), so no pull can
/// ever bring an image of that name and replace an environment's changes (a name without a
/// host would be Docker Hub's `docker.io/…`).
const COMMITTED_REGISTRY: &str = "berth.invalid";

/// Where an environment's changes are committed when its container is created again.
pub(super) fn committed_image(name: &str) -> String {
    format!(
        "{COMMITTED_REGISTRY}/codespace/{}:latest",
        name.to_ascii_lowercase()
    )
}

/// The text of the first regular file in a tar archive (the archive API's answer for a file).
pub(super) fn first_file(tar: &[u8]) -> String {
    use std::io::Read as _;
    let mut archive = tar::Archive::new(tar);
    let Ok(mut entries) = archive.entries() else {
        return String::new();
    };
    while let Some(Ok(mut entry)) = entries.next() {
        if entry.header().entry_type().is_file() {
            let mut bytes = Vec::new();
            if entry.read_to_end(&mut bytes).is_ok() {
                return String::from_utf8_lossy(&bytes).into_owned();
            }
            return String::new();
        }
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_container_holds_no_variables_but_path_and_home() {
        let spec = RunSpec {
            name: "cs-1".into(),
            state_dir: PathBuf::from("/s"),
            secret_dir: PathBuf::from("/m"),
            env: vec![("TOKEN".into(), SecretString::from("s3cret".to_owned()))],
            user: None,
            cwd: "/workspaces/app".into(),
            mounts: vec![
                crate::Mount {
                    source: PathBuf::from("/w"),
                    target: MountTarget::Absolute("/workspaces/app".into()),
                    readonly: false,
                    owned: true,
                    persistent: true,
                },
                crate::Mount {
                    source: PathBuf::from("/m/docker"),
                    target: MountTarget::Home(".docker".into()),
                    readonly: true,
                    owned: true,
                    persistent: false,
                },
            ],
            isolation: crate::Isolation {
                ids: berth_domain::isolation::IdRange {
                    base: 1 << 30,
                    size: 65_536,
                },
                machine: berth_domain::isolation::MachineType::defaults().swap_remove(0),
                routes: Vec::new(),
            },
        };
        let ids = UserIds {
            uid: 1000,
            gid: 50,
            home: "/home/dev/".into(),
            host_uid: 1000,
            host_gid: 50,
        };
        let names = (Path::new("/m/resolv.conf"), Path::new("/m/hosts"));
        let body = container_body(&spec, &ids, names);
        let shape = serde_json::to_string(&body).unwrap();
        assert!(!shape.contains("s3cret"));
        assert_eq!(body.user.as_deref(), Some("1000:50"));
        assert_eq!(body.env.unwrap()[1], "HOME=/home/dev/");
        let mounts = body.host_config.clone().unwrap().mounts.unwrap();
        assert_eq!(mounts[1].target.as_deref(), Some("/home/dev/.docker"));
        assert_eq!(mounts[1].read_only, Some(true));
        assert_eq!(mounts[2].target.as_deref(), Some("/etc/resolv.conf"));
        let host = body.host_config.as_ref().unwrap();
        assert_eq!(
            host.network_mode.as_deref(),
            Some("none"),
            "a network of its own"
        );
        assert_eq!(host.memory, Some(4 << 30));
        assert_eq!(host.pids_limit, Some(2048));
        assert_eq!(
            committed_image("CS-1"),
            "berth.invalid/codespace/cs-1:latest",
            "outside Docker Hub's namespace: no pull can overwrite it"
        );
    }

    #[test]
    fn the_first_file_of_an_archive_is_read() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        let data = b"root:x:0:0:root:/root:/bin/sh\n";
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "passwd", &data[..]).unwrap();
        let tar = b.into_inner().unwrap();
        assert_eq!(first_file(&tar), String::from_utf8_lossy(data));
        assert_eq!(first_file(b"not a tar"), "");
    }
}
