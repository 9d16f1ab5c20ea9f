//! Registry logins against real servers: Debian's `docker-registry` (CNCF distribution 2.8)
//! behind htpasswd, Berth's own registry, `moto_server` standing in for Amazon ECR, and a closed
//! port. `berth registry check` names every failure class with its own exit code; the pull
//! client pulls through Basic and Bearer; the `config.json` Berth writes logs skopeo and docker
//! in; and an ECR login is swapped again once half its life has passed.

mod support;

use support::servers::{Berth, Htpasswd, Moto, REG_PASSWORD, REG_USER, free_port, python};

use std::path::Path;
use std::process::{Command, Output};

use berth_domain::logins::{RegistryHost, registry_logins};
use berth_domain::secrets::{ResolvedSecret, SecretLevel, SecretName};
use berth_registry_client::ecr::EcrSwapper;
use berth_registry_client::logins::{AuthFiles, RegistryLogin};
use berth_registry_client::pull::{BlobCache, PullEvent, PullOptions};
use berth_registry_client::{Credentials, ImageRef, Registry, http_client};
use support::images::skopeo_copy;
use support::{BIN, Cli, docker, docker_host, multi_platform_layout, run, run_ok, text};
use time::OffsetDateTime;

const ECR_HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

/// Pushes the two-platform test index to `host/repository:multi` with skopeo.
/// Debian's docker-registry with htpasswd, holding `acme/base:multi` (two platforms).
fn htpasswd_with_base(dir: &Path) -> Htpasswd {
    let reg = Htpasswd::start();
    push_multi(
        dir,
        &reg.host,
        "acme/base",
        &format!("{REG_USER}:{REG_PASSWORD}"),
    );
    reg
}

/// A Berth whose registry holds alice's private `alice/app:multi` (two platforms).
fn berth_with_app(dir: &Path) -> Berth {
    let berth = Berth::start(&[], &[]);
    push_multi(
        dir,
        &berth.host,
        "alice/app",
        &format!("alice:{}", berth.alice),
    );
    berth
}

fn push_multi(dir: &Path, host: &str, repository: &str, creds: &str) {
    let layout = dir.join(format!("layout-{}", repository.replace('/', "-")));
    multi_platform_layout(&layout, &["amd64", "arm64"]);
    let dest = format!("{host}/{repository}:multi");
    skopeo_copy(&layout, "multi", &dest, creds, &["--multi-arch", "all"]);
}

/// `berth registry check ARGS` with the password on standard input.
fn check(cli: &Cli, args: &[&str], password: Option<&str>) -> Output {
    cli.run(
        &[&["registry", "check"], args].concat(),
        password.map(|p| format!("{p}\n")).as_deref(),
    )
}

#[track_caller]
fn assert_class(out: &Output, code: i32, words: &str, secrets: &[&str]) {
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(code), "{all}");
    assert!(all.contains(words), "expected {words:?} in:\n{all}");
    for s in secrets {
        assert!(!all.contains(s), "a secret was printed:\n{all}");
    }
}

#[test]
fn registry_check_explains_every_failure_class() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let reg = htpasswd_with_base(dir.path());
    let cli = Cli::new(&dir.path().join("cli"));
    fn creds(server: &str) -> Vec<&str> {
        vec!["--server", server, "-u", REG_USER, "--password-stdin"]
    }
    let server = reg.host.as_str();

    // Every step passes, and says so.
    let out = check(
        &cli,
        &[creds(server), vec!["--repository", "acme/base"]].concat(),
        Some(REG_PASSWORD),
    );
    assert_class(&out, 0, "all steps passed", &[REG_PASSWORD]);
    let stdout = text(&out.stdout);
    for step in ["resolve", "registry", "login", "pull"] {
        assert!(stdout.contains(&format!("ok    {step}")), "{stdout}");
    }
    assert!(stdout.contains("HTTP Basic"), "{stdout}");

    // Bad credentials (Basic).
    let out = check(&cli, &creds(server), Some("not-the-password"));
    assert_class(&out, 14, "refused by HTTP Basic", &["not-the-password"]);
    // HTTPS to a plain-HTTP port.
    let https = format!("https://{server}");
    let out = check(&cli, &creds(&https), Some(REG_PASSWORD));
    assert_class(&out, 12, "TLS handshake failed", &[REG_PASSWORD]);
    assert!(
        text(&out.stdout).contains(&format!("http://{server}")),
        "the fix is named"
    );
    // Nothing listens.
    let closed = format!("127.0.0.1:{}", free_port());
    let out = check(&cli, &creds(&closed), Some(REG_PASSWORD));
    assert_class(&out, 11, "could not connect", &[REG_PASSWORD]);
    // No pull permission (distribution answers NAME_UNKNOWN for a repository it lacks).
    let out = check(
        &cli,
        &[creds(server), vec!["--repository", "acme/nothing"]].concat(),
        Some(REG_PASSWORD),
    );
    assert_class(&out, 16, "may not pull it", &[REG_PASSWORD]);
    // The name does not resolve: in a network namespace of its own, so no query leaves.
    let mut cmd = Command::new("unshare");
    cmd.args([
        "-n",
        BIN,
        "registry",
        "check",
        "--server",
        "registry.berth-test.invalid",
    ])
    .env("BERTH_CONFIG_DIR", dir.path().join("cli"));
    let out = run(&mut cmd, None);
    assert_class(&out, 10, "does not resolve", &[]);

    // Not a registry: an HTTP server whose /v2/ is something else (moto's 500).
    let moto = Moto::start(&python);
    let out = check(&cli, &["--server", &moto.url], None);
    assert_class(&out, 13, "not the registry API", &[]);
    // ECR refuses the keys: the prefix-less command line names AWS's code, never the keys.
    let ecr_cli = Cli::new(&dir.path().join("cli")).with_env("AWS_ENDPOINT_URL_ECR", &moto.url);
    let out = check(
        &ecr_cli,
        &["--server", ECR_HOST, "-u", &moto.key_id, "--password-stdin"],
        Some("wrong-secret-key"),
    );
    assert_class(
        &out,
        17,
        "SignatureDoesNotMatch",
        &["wrong-secret-key", &moto.key_id],
    );
    let out = check(
        &ecr_cli,
        &[
            "--server",
            ECR_HOST,
            "-u",
            "AKIAUNKNOWNKEY00",
            "--password-stdin",
        ],
        Some(&moto.secret),
    );
    assert_class(
        &out,
        17,
        "InvalidClientTokenId",
        &[&moto.secret, "AKIAUNKNOWNKEY00"],
    );

    // Berth's own registry: the Docker token flow.
    let berth = berth_with_app(dir.path());
    fn bearer<'a>(host: &'a str, user: &'a str) -> Vec<&'a str> {
        vec!["--server", host, "-u", user, "--password-stdin"]
    }
    // Each row: who logs in, the repository checked (if any), the secret given, and the class
    // and words of the answer. Bob may log in, but not pull alice's private package.
    let rows = [
        (
            "alice",
            Some("alice/app"),
            berth.alice.as_str(),
            0,
            "accepted by the token endpoint",
        ),
        (
            "alice",
            None,
            "bph_not_a_token",
            14,
            "refused by the registry's token endpoint",
        ),
        (
            "bob",
            Some("alice/app"),
            berth.bob.as_str(),
            16,
            "may not pull it",
        ),
    ];
    for (user, repository, secret, class, words) in rows {
        let mut args = bearer(&berth.host, user);
        if let Some(repository) = repository {
            args.extend(["--repository", repository]);
        }
        let out = check(&cli, &args, Some(secret));
        assert_class(&out, class, words, &[secret]);
    }
    // A token endpoint that is down: a Berth whose external URL points at nothing.
    let broken = Berth::start(
        &[
            "--external-url",
            &format!("http://127.0.0.1:{}", free_port()),
        ],
        &[],
    );
    let out = check(
        &cli,
        &["--server", &broken.host, "-u", "alice", "--password-stdin"],
        Some(&broken.alice),
    );
    assert_class(&out, 15, "token endpoint", &[&broken.alice]);
}

#[test]
fn environment_logins_are_checked_from_the_server_as_the_caller() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let reg = htpasswd_with_base(dir.path());
    let moto = Moto::start(&python);
    let berth = Berth::start(&[], &[("AWS_ENDPOINT_URL_ECR", &moto.url)]);
    let alice = berth.cli(&berth.alice);
    alice.ok(&["repo", "create", "alice/app", "--visibility", "private"]);
    let secrets = [
        (
            "HTP_CONTAINER_REGISTRY_SERVER",
            format!("http://{}", reg.host),
        ),
        ("HTP_CONTAINER_REGISTRY_USER", REG_USER.to_owned()),
        ("HTP_CONTAINER_REGISTRY_PASSWORD", REG_PASSWORD.to_owned()),
        ("AWS_CONTAINER_REGISTRY_SERVER", ECR_HOST.to_owned()),
        ("AWS_CONTAINER_REGISTRY_USER", moto.key_id.clone()),
        (
            "AWS_CONTAINER_REGISTRY_PASSWORD",
            "wrong-secret-key".to_owned(),
        ),
        ("HALF_CONTAINER_REGISTRY_SERVER", "ghcr.io".to_owned()),
    ];
    for (name, value) in &secrets {
        alice.ok(&["secret", "set", name, "-R", "alice/app", "--body", value]);
    }
    let out = check(
        &alice,
        &["-R", "alice/app", "--repository", "acme/base"],
        None,
    );
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    // The ECR login (first by prefix) fails with its own code; the htpasswd one passes.
    assert_eq!(out.status.code(), Some(17), "{stdout}{stderr}");
    assert!(
        stdout.contains("registry login AWS: ECR refused the access keys: SignatureDoesNotMatch"),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("HTP ({})", reg.host)), "{stdout}");
    assert!(stdout.contains("may pull"), "{stdout}");
    assert!(
        stderr.contains("registry login HALF is incomplete")
            && stderr.contains("HALF_CONTAINER_REGISTRY_USER"),
        "{stderr}"
    );
    // Bob cannot check alice's private repository, and no value was printed or logged.
    let out = check(&berth.cli(&berth.bob), &["-R", "alice/app"], None);
    assert!(!out.status.success());
    let log = berth.server.log.lock().unwrap().clone();
    // Passwords and the access key ID (hosts are shown: they say which registry failed).
    for (_, value) in [&secrets[2], &secrets[4], &secrets[5]] {
        for place in [&stdout, &stderr, &log] {
            assert!(!place.contains(value.as_str()), "{value} leaked");
        }
    }
}

fn resolved(pairs: &[(&str, &str)]) -> Vec<ResolvedSecret<String>> {
    pairs
        .iter()
        .map(|(n, v)| ResolvedSecret {
            name: SecretName::parse(n).unwrap(),
            value: (*v).to_owned(),
            source: SecretLevel::Repository,
        })
        .collect()
}

/// The logins a set of secrets defines, as environments will make them.
fn logins(pairs: &[(&str, &str)]) -> Vec<RegistryLogin> {
    let secrets = resolved(pairs);
    registry_logins(&secrets, String::as_str)
        .logins
        .into_iter()
        .map(|l| {
            RegistryLogin::from_triple(l.prefix, l.host, l.scheme, &l.username, l.password.into())
        })
        .collect()
}

#[test]
fn written_auth_files_log_skopeo_and_docker_in_and_the_pull_client_pulls() {
    let Some(engine) = docker_host() else { return };
    let dir = tempfile::tempdir().unwrap();
    let reg = htpasswd_with_base(dir.path());
    let berth = berth_with_app(dir.path());
    let docker_dir = dir.path().join("home/.docker");
    let auth_json = dir.path().join("home/.config/containers/auth.json");
    let mut files = AuthFiles::new(
        vec![docker_dir.join("config.json"), auth_json.clone()],
        logins(&[
            (
                "HTP_CONTAINER_REGISTRY_SERVER",
                &format!("http://{}/v2/", reg.host),
            ),
            ("HTP_CONTAINER_REGISTRY_USER", REG_USER),
            ("HTP_CONTAINER_REGISTRY_PASSWORD", REG_PASSWORD),
            ("OWN_CONTAINER_REGISTRY_SERVER", &berth.host),
            ("OWN_CONTAINER_REGISTRY_USER", "alice"),
            ("OWN_CONTAINER_REGISTRY_PASSWORD", &berth.alice),
        ]),
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let swapper = EcrSwapper::new(http_client(), None);
    let report = rt
        .block_on(files.write(&swapper, OffsetDateTime::now_utc()))
        .unwrap();
    assert_eq!(report.written.len(), 2);
    assert_eq!(files.next_refresh(), None, "nothing in it expires");

    for image in [
        format!("{}/acme/base:multi", reg.host),
        format!("{}/alice/app:multi", berth.host),
    ] {
        let inspect = |auth: Option<&Path>| {
            let mut cmd = Command::new("skopeo");
            cmd.args(["inspect", "--tls-verify=false", "--raw"])
                .arg(format!("docker://{image}"))
                .env_remove("REGISTRY_AUTH_FILE");
            if let Some(a) = auth {
                cmd.env("REGISTRY_AUTH_FILE", a);
            }
            run(&mut cmd, None)
        };
        assert!(!inspect(None).status.success(), "{image} needs a login");
        let out = inspect(Some(&auth_json));
        assert!(out.status.success(), "{image}: {}", text(&out.stderr));
        let out = run_ok(
            docker(&engine, &docker_dir).args(["pull", "--platform", "linux/amd64", &image]),
            None,
        );
        assert!(out.contains("multi"), "{out}");
        run_ok(docker(&engine, &docker_dir).args(["rmi", &image]), None);
    }

    // The pull client: Basic on distribution, Bearer on Berth; linux/amd64 out of the index;
    // every blob verified into the cache; a second pull finds them all there.
    for (host, repository, user, password) in [
        (&reg.host, "acme/base", REG_USER, REG_PASSWORD),
        (&berth.host, "alice/app", "alice", berth.alice.as_str()),
    ] {
        // The two images hold the same bytes: a cache each, so each pull downloads.
        let cache = BlobCache::open(dir.path().join(format!("cache-{repository}"))).unwrap();
        let image = ImageRef::parse(&format!("{host}/{repository}:multi")).unwrap();
        let pulled = rt.block_on(async {
            let registry = Registry::open(&image.host, Some(Credentials::new(user, password)))
                .await
                .unwrap();
            let events = std::sync::Mutex::new(Vec::new());
            let record = |e: PullEvent| events.lock().unwrap().push(e);
            let pulled = registry
                .pull(&image, &cache, &PullOptions::default(), &record)
                .await
                .unwrap();
            let events = events.into_inner().unwrap();
            assert!(events.iter().any(|e| matches!(e, PullEvent::Done { .. })));
            let again = std::sync::Mutex::new(Vec::new());
            let record = |e: PullEvent| again.lock().unwrap().push(e);
            registry
                .pull(&image, &cache, &PullOptions::default(), &record)
                .await
                .unwrap();
            let again = again.into_inner().unwrap();
            assert!(
                again
                    .iter()
                    .all(|e| matches!(e, PullEvent::Manifest { .. } | PullEvent::Cached { .. })),
                "{again:?}"
            );
            pulled
        });
        assert_eq!(pulled.layers.len(), 1);
        let layer = cache.path(&pulled.layers[0].digest);
        let arch = run_ok(
            Command::new("tar").arg("-xOf").arg(&layer).arg("./arch"),
            None,
        );
        assert_eq!(arch, "amd64", "the amd64 image was chosen");
        assert_eq!(pulled.reference.host, RegistryHost::parse(host).unwrap().0);
    }
}

#[test]
fn ecr_logins_are_swapped_and_rewritten_before_they_expire() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let moto = Moto::start(&python);
    let path = dir.path().join("config.json");
    let mut files = AuthFiles::new(
        vec![path.clone()],
        logins(&[
            (
                "ECR_CONTAINER_REGISTRY_SERVER",
                &format!("https://{ECR_HOST}"),
            ),
            ("ECR_CONTAINER_REGISTRY_USER", &moto.key_id),
            ("ECR_CONTAINER_REGISTRY_PASSWORD", &moto.secret),
        ]),
    );
    let swapper = EcrSwapper::new(http_client(), Some(moto.url.clone()));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let t0 = OffsetDateTime::now_utc();
    let hours = |h: i64| t0 + time::Duration::hours(h);
    let auth_of = |path: &Path| -> Option<String> {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        v["auths"][ECR_HOST]["auth"].as_str().map(str::to_owned)
    };
    // moto's password for account 123456789012, as `AWS:<password>` in base64.
    let expected = "QVdTOjEyMzQ1Njc4OTAxMi1hdXRoLXRva2Vu";

    let before = moto.posts();
    let report = rt.block_on(files.write(&swapper, t0)).unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(auth_of(&path).as_deref(), Some(expected));
    assert_eq!(moto.posts(), before + 1, "one GetAuthorizationToken");
    assert_eq!(files.next_refresh(), Some(hours(6)), "half of the 12 hours");
    assert!(
        !std::fs::read_to_string(&path)
            .unwrap()
            .contains(&moto.secret)
    );

    // Not due yet; and a rewrite inside the first half uses the cached password.
    assert!(
        rt.block_on(files.refresh_if_due(&swapper, hours(5)))
            .unwrap()
            .is_none()
    );
    rt.block_on(files.write(&swapper, hours(5))).unwrap();
    assert_eq!(moto.posts(), before + 1, "cached until half its life");

    // Half its life has passed: swapped again, and the file rewritten.
    std::fs::write(&path, "{}").unwrap();
    let report = rt
        .block_on(files.refresh_if_due(&swapper, hours(6) + time::Duration::SECOND))
        .unwrap()
        .expect("due");
    assert!(report.failures.is_empty());
    assert_eq!(moto.posts(), before + 2, "a second GetAuthorizationToken");
    assert_eq!(auth_of(&path).as_deref(), Some(expected));
    let renewed = hours(6) + time::Duration::SECOND;
    assert_eq!(
        files.next_refresh(),
        Some(renewed + time::Duration::hours(6))
    );

    // The keys are revoked: the renewal fails by prefix and AWS code, and the current password
    // stays in the file while it still works, then goes.
    moto.delete_key();
    let report = rt
        .block_on(files.refresh_if_due(&swapper, hours(13)))
        .unwrap()
        .expect("due");
    let message = report.failures[0].to_string();
    assert!(
        message.contains("registry login ECR") && message.contains("InvalidClientTokenId"),
        "{message}"
    );
    assert!(!message.contains(&moto.key_id) && !message.contains(&moto.secret));
    assert_eq!(
        auth_of(&path).as_deref(),
        Some(expected),
        "still valid until 18h"
    );
    assert_eq!(
        files.next_refresh(),
        Some(hours(13) + time::Duration::minutes(1)),
        "tried again in a minute"
    );
    rt.block_on(files.write(&swapper, hours(19))).unwrap();
    assert_eq!(
        auth_of(&path),
        None,
        "an expired password is not handed out"
    );
}
