//! Pulling through the Engine: what to ask it for, the login header it needs, its progress
//! narrated at a readable rate, and its failures sorted into the registry client's classes.

use super::*;

/// `fromImage` and `tag` for the pull: the digest if there is one, else the tag (an empty tag
/// would pull every tag).
pub(super) fn pull_target(reference: &ImageRef) -> (String, String) {
    (
        format!("{}/{}", reference.host, reference.repository),
        reference.manifest_reference().to_owned(),
    )
}

/// The name the Engine knows the pulled image by.
pub(super) fn local_name(reference: &ImageRef) -> String {
    let (from, tag) = pull_target(reference);
    if reference.digest.is_some() {
        format!("{from}@{tag}")
    } else {
        format!("{from}:{tag}")
    }
}

/// `X-Registry-Auth`: the login as JSON, base64url-encoded as dockerd decodes it.
pub(super) fn registry_auth(host: &str, credentials: &Credentials) -> SecretString {
    let json = serde_json::json!({
        "username": credentials.username,
        "password": credentials.password.expose_secret(),
        "serveraddress": host,
    });
    SecretString::from(base64::engine::general_purpose::URL_SAFE.encode(json.to_string()))
}

pub(super) fn pull_error(image: &ImageSource, shown: &str, e: DockerError) -> RuntimeError {
    let message = match e {
        DockerError::DockerStreamError { error } => error,
        DockerError::DockerResponseServerError { message, .. } => message,
        other => return engine(&format!("pull {shown}"), other),
    };
    match classify_pull(&message, &image.reference, image.credentials.is_some()) {
        Some(source) => RuntimeError::Pull {
            image: shown.to_owned(),
            source,
        },
        None => RuntimeError::Engine(format!("docker could not pull {shown}: {message}")),
    }
}

/// Sorts the Engine's pull failure into the registry client's classes, from its message (the
/// Engine passes the registry's words along); `None` when it names none of them.
pub(super) fn classify_pull(
    message: &str,
    reference: &ImageRef,
    with_login: bool,
) -> Option<RegistryError> {
    let m = message.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| m.contains(w));
    let host = reference.host.to_string();
    let repository = reference.repository.clone();
    let detail = message.to_owned();
    if has(&[
        "no such host",
        "server misbehaving",
        "temporary failure in name resolution",
    ]) {
        Some(RegistryError::Resolve { host })
    } else if has(&[
        "connection refused",
        "i/o timeout",
        "no route to host",
        "network is unreachable",
        "connection reset",
    ]) {
        Some(RegistryError::Connect { host, detail })
    } else if has(&["x509:", "tls:", "http response to https client"]) {
        Some(RegistryError::Tls { host, detail })
    } else if has(&[
        "unauthorized",
        "authentication required",
        "incorrect username or password",
        "no basic auth credentials",
    ]) {
        Some(if with_login {
            let via = if m.contains("token") {
                AuthVia::TokenEndpoint
            } else {
                AuthVia::Basic
            };
            RegistryError::BadCredentials { host, via }
        } else {
            RegistryError::Denied { host, repository }
        })
    } else if has(&["manifest unknown"]) {
        Some(RegistryError::ManifestUnknown {
            host,
            repository,
            reference: reference.manifest_reference().to_owned(),
        })
    } else if has(&[
        "denied",
        "not found",
        "name unknown",
        "repository does not exist",
    ]) {
        Some(RegistryError::Denied { host, repository })
    } else {
        None
    }
}

/// Turns the Engine's pull events into a few lines: per layer, its download progress at most
/// every 10% and 2 s; the totals at the end.
#[derive(Debug, Default)]
pub(super) struct PullProgress {
    /// Per layer: the percentage last told, and when.
    told: HashMap<String, (u64, Instant)>,
    fresh: usize,
    present: usize,
}

impl PullProgress {
    const STEP: u64 = 10;
    const EVERY: Duration = Duration::from_secs(2);

    pub(super) fn see(&mut self, event: &CreateImageInfo, now: Instant) -> Option<String> {
        let id = event.id.as_deref().unwrap_or_default();
        match event.status.as_deref()? {
            "Already exists" => self.present += 1,
            "Pull complete" => self.fresh += 1,
            "Downloading" => {
                let detail = event.progress_detail.as_ref()?;
                let total = u64::try_from(detail.total?).ok().filter(|t| *t > 0)?;
                let current = u64::try_from(detail.current?).unwrap_or(0).min(total);
                let percent = current * 100 / total;
                let due = match self.told.get(id) {
                    None => true,
                    Some((last, at)) => {
                        percent >= last + Self::STEP && now.duration_since(*at) >= Self::EVERY
                    }
                };
                if due {
                    self.told.insert(id.to_owned(), (percent, now));
                    return Some(format!(
                        "layer {id}: {percent}% of {:.1} MB",
                        total as f64 / 1e6
                    ));
                }
            }
            _ => {}
        }
        None
    }

    pub(super) fn summary(&self, image: &str) -> String {
        match (self.fresh, self.present) {
            (0, 0) => format!("docker: {image} is up to date"),
            (fresh, present) => {
                format!("docker: pulled {image} ({fresh} new layers, {present} already present)")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::ProgressDetail;

    #[test]
    fn pull_failures_sort_into_registry_classes() {
        let image = ImageRef::parse("127.0.0.1:5055/team/app:1").unwrap();
        let class = |m: &str, login: bool| match classify_pull(m, &image, login) {
            None => "engine".to_owned(),
            Some(RegistryError::BadCredentials { via, .. }) => {
                format!("bad_credentials via {via:?}")
            }
            Some(e) => e.class().as_str().to_owned(),
        };
        let table: &[(&str, bool, &str)] = &[
            (
                "Head \"http://127.0.0.1:5055/v2/team/app/manifests/1\": no basic auth credentials",
                false,
                "denied",
            ),
            (
                "Get \"http://127.0.0.1:5055/v2/\": unauthorized: authentication required",
                true,
                "bad_credentials via Basic",
            ),
            (
                "Get \"https://registry-1.docker.io/v2/\": unauthorized: incorrect username or password",
                true,
                "bad_credentials via Basic",
            ),
            (
                "Get \"https://auth.docker.io/token?scope=x\": unauthorized: incorrect username or password",
                true,
                "bad_credentials via TokenEndpoint",
            ),
            (
                "pull access denied for app, repository does not exist or may require 'docker login': denied: requested access to the resource is denied",
                true,
                "denied",
            ),
            (
                "manifest for 127.0.0.1:5055/team/app:1 not found: manifest unknown: manifest unknown",
                false,
                "denied",
            ),
            (
                "Get \"http://127.0.0.1:5056/v2/\": dial tcp 127.0.0.1:5056: connect: connection refused",
                false,
                "connect",
            ),
            (
                "Get \"https://nowhere.invalid/v2/\": dial tcp: lookup nowhere.invalid on 127.0.0.53:53: no such host",
                false,
                "resolve",
            ),
            (
                "Get \"https://r.example/v2/\": x509: certificate signed by unknown authority",
                false,
                "tls",
            ),
            (
                "toomanyrequests: You have reached your pull rate limit",
                false,
                "engine",
            ),
        ];
        for (message, login, want) in table {
            assert_eq!(class(message, *login), *want, "{message}");
        }
        assert!(matches!(
            classify_pull("manifest unknown", &image, false),
            Some(RegistryError::ManifestUnknown { reference, .. }) if reference == "1"
        ));
    }

    #[test]
    fn pulls_name_the_digest_else_the_tag() {
        let d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let table = [
            (
                "busybox",
                "docker.io/library/busybox",
                "latest",
                "docker.io/library/busybox:latest",
            ),
            ("ghcr.io/a/b:v1", "ghcr.io/a/b", "v1", "ghcr.io/a/b:v1"),
        ];
        for (reference, from, tag, local) in table {
            let r = ImageRef::parse(reference).unwrap();
            assert_eq!(pull_target(&r), (from.to_owned(), tag.to_owned()));
            assert_eq!(local_name(&r), local);
        }
        let r = ImageRef::parse(&format!("ghcr.io/a/b:v1@{d}")).unwrap();
        assert_eq!(pull_target(&r).1, d);
        assert_eq!(local_name(&r), format!("ghcr.io/a/b@{d}"));
    }

    #[test]
    fn registry_auth_is_base64url_json() {
        // This password's JSON encodes to '+' and '/' in the standard alphabet.
        let credentials = Credentials::new("alice", "p+ss/w>rd?~~");
        let header = registry_auth("127.0.0.1:5055", &credentials);
        let header = header.expose_secret();
        assert!(!header.contains(['+', '/']), "{header}");
        let json = base64::engine::general_purpose::URL_SAFE
            .decode(header)
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(json["username"], "alice");
        assert_eq!(json["password"], "p+ss/w>rd?~~");
        assert_eq!(json["serveraddress"], "127.0.0.1:5055");
    }

    #[test]
    fn pull_progress_is_rate_limited() {
        let t0 = Instant::now();
        let event = |status: &str, id: &str, current: i64| CreateImageInfo {
            id: Some(id.to_owned()),
            status: Some(status.to_owned()),
            progress_detail: Some(ProgressDetail {
                current: Some(current),
                total: Some(1_000_000),
            }),
            ..Default::default()
        };
        let mut p = PullProgress::default();
        let s = Duration::from_secs;
        let steps = [
            (event("Downloading", "a", 0), t0, true),
            (event("Downloading", "a", 50_000), t0 + s(3), false), // < 10%
            (event("Downloading", "a", 200_000), t0 + s(1), false), // < 2 s
            (event("Downloading", "a", 200_000), t0 + s(3), true),
            (event("Downloading", "b", 10_000), t0 + s(3), true), // another layer
            (event("Extracting", "a", 500_000), t0 + s(9), false),
            (event("Pull complete", "a", 0), t0 + s(9), false),
            (event("Already exists", "c", 0), t0 + s(9), false),
        ];
        let mut told = Vec::new();
        for (i, (e, at, want)) in steps.iter().enumerate() {
            let line = p.see(e, *at);
            assert_eq!(line.is_some(), *want, "step {i}: {line:?}");
            told.extend(line);
        }
        assert_eq!(told[1], "layer a: 20% of 1.0 MB");
        assert_eq!(
            p.summary("x/y:1"),
            "docker: pulled x/y:1 (1 new layers, 1 already present)"
        );
        assert_eq!(
            PullProgress::default().summary("x/y:1"),
            "docker: x/y:1 is up to date"
        );
    }
}
