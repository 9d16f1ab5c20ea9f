//! Development environments end to end, as a user drives them with `berth codespace …`: real
//! `runc` (and the Docker Engine), images in Berth's registry and behind htpasswd in Debian's
//! `docker-registry`, an ECR login swapped by `moto_server`, a repository cloned from a local
//! git repository with a `devcontainer.json`, and `skopeo` run inside an environment.

mod support;

use std::process::Command;

use base64::Engine as _;
use support::environments::{
    AliceWithImage, Images, TeamRegistry, create, created, exec, exec_ok, git_repo, http_get,
    other_image_inspected, reaches_berth, serve_page, start_forward, state, with_images,
};
use support::servers::{Berth, Htpasswd, Moto, REG_PASSWORD, REG_USER, python};
use support::ssh::{
    file_client, forwarded_agent_answers, hanging_up_leaves_nothing_running,
    signals_reach_the_command, ssh, terminal_session,
};
use support::{Cli, Gh, assert_stderr, docker_host, keygen, text};

fn set_secret(cli: &Cli, name: &str, scope: &[&str], value: &str) {
    cli.ok(&[&["secret", "set", name], scope, &["--body", value]].concat());
}

/// Repository secrets `ACME_CONTAINER_REGISTRY_{SERVER,USER,PASSWORD}` for the htpasswd registry.
fn htpasswd_triple(cli: &Cli, repo: &str, host: &str) {
    for (k, v) in [
        ("SERVER", host),
        ("USER", REG_USER),
        ("PASSWORD", REG_PASSWORD),
    ] {
        set_secret(
            cli,
            &format!("ACME_CONTAINER_REGISTRY_{k}"),
            &["-R", repo],
            v,
        );
    }
}

/// The `auth` of `host` in a `config.json`, decoded.
fn auth_of(config: &str, host: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(config).ok()?;
    let auth = v["auths"][host]["auth"].as_str()?;
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(auth)
            .ok()?,
    )
    .ok()
}

#[test]
fn an_image_in_berths_registry_comes_up_keeps_its_changes_and_sees_new_secrets_after_start() {
    let (dir, images, berth, alice) = with_images(Images::build);
    let bob = berth.cli(&berth.bob);
    let image = format!("{}/alice/devimg:1", berth.host);
    let devcontainer = format!(
        "{{\n  // the dev container\n  \"image\": \"{image}\",\n  \"containerEnv\": {{\"FROM_DC\": \"yes\", \"IMAGE_VAR\": \"from-dc\"}},\n  \"remoteUser\": \"vscode\",\n  \"postCreateCommand\": \"echo created >> /workspaces/web/created.txt; echo greeting=$GREETING\",\n  \"forwardPorts\": [3000],\n}}\n"
    );
    let url = git_repo(
        dir.path(),
        "web",
        &[
            (".devcontainer/devcontainer.json", &devcontainer),
            ("README", "hello\n"),
        ],
    );
    alice.ok(&["repo", "create", "alice/web", "--clone-url", &url]);
    // Published by the repository's token: linked to alice/web, so its environments pull it.
    let rt = alice
        .ok(&["token", "create", "--repo", "alice/web"])
        .trim()
        .to_owned();
    images.push("dev", &image, &format!("ci:{rt}"));
    set_secret(&alice, "GREETING", &["-R", "alice/web"], "hello-1");

    let (out, name) = create(&alice, &["-R", "alice/web"]);
    let progress = text(&out.stderr);
    assert!(out.status.success(), "{progress}");
    for step in [
        "secrets: GREETING (repository)",
        "cloning file://",
        "read .devcontainer/devcontainer.json",
        "not supported by Berth, ignored: forwardPorts",
        "with the environment token",
        "unpacked",
        "postCreateCommand",
        "| greeting=***",
        "codespace is Available",
    ] {
        assert!(
            progress.contains(step),
            "{step:?} not in the creation log:\n{progress}"
        );
    }
    assert!(
        !progress.contains("hello-1") && !progress.contains(&rt),
        "a secret reached the log"
    );

    // Inside: the secrets, Berth's variables, the dev container's env over the image's, the
    // workspace, the remote user, postCreateCommand's work.
    let seen = exec_ok(
        &alice,
        &name,
        "echo $GREETING $CODESPACES $CODESPACE_NAME $GITHUB_REPOSITORY $GITHUB_USER $FROM_DC $IMAGE_VAR; id -u; pwd; cat README created.txt; test -n \"$BERTH_TOKEN\" && test \"$BERTH_TOKEN\" = \"$GITHUB_TOKEN\" && echo token; echo $GITHUB_API_URL",
    );
    assert_eq!(
        seen,
        format!(
            "hello-1 true {name} alice/web alice yes from-dc\n1000\n/workspaces/web\nhello\ncreated\ntoken\n{}/api/v3\n",
            berth.server.url
        )
    );
    // Logged in to Berth's registry inside, with the environment token; npm too.
    let config = exec_ok(&alice, &name, "cat $HOME/.docker/config.json");
    let token = exec_ok(&alice, &name, "echo -n $BERTH_TOKEN");
    assert_eq!(
        auth_of(&config, &berth.host),
        Some(format!("alice:{token}"))
    );
    assert_eq!(
        exec_ok(&alice, &name, "cat $HOME/.config/containers/auth.json"),
        config
    );
    assert!(
        exec_ok(&alice, &name, "cat $HOME/.npmrc")
            .contains(&format!("//{}/npm/:_authToken={token}", berth.host))
    );
    assert_eq!(
        exec_ok(&alice, &name, "stat -c %u $HOME/.docker/config.json"),
        "1000\n"
    );
    // skopeo inside pulls from Berth's registry with the written login alone.
    let inspected = exec_ok(
        &alice,
        &name,
        &format!("skopeo inspect --tls-verify=false docker://{image}"),
    );
    assert!(inspected.contains("\"Digest\""), "{inspected}");

    // The exit code passes through; output streams both ways.
    let out = exec(&alice, &name, "echo out; echo err >&2; exit 7");
    assert_eq!(
        (out.status.code(), text(&out.stdout), text(&out.stderr)),
        (Some(7), "out\n".into(), "err\n".into())
    );
    // Only the owner sees or touches it.
    assert!(
        !bob.run(&["codespace", "show", &name], None)
            .status
            .success()
    );
    assert!(
        !bob.run(&["codespace", "exec", &name, "--", "true"], None)
            .status
            .success()
    );
    assert!(!bob.ok(&["codespace", "list"]).contains(&name));
    assert!(alice.ok(&["codespace", "list"]).contains(&name));

    // Changes in the workspace and in the environment's own layer; a secret changed while it runs.
    exec_ok(
        &alice,
        &name,
        "echo kept > /workspaces/web/mine.txt; echo layer > $HOME/in-layer.txt",
    );
    set_secret(&alice, "GREETING", &["-R", "alice/web"], "hello-2");
    assert_eq!(
        exec_ok(&alice, &name, "echo $GREETING"),
        "hello-1\n",
        "not while it runs"
    );
    alice.ok(&["codespace", "stop", &name]);
    assert_eq!(state(&alice, &name), "Shutdown");
    assert!(
        !exec(&alice, &name, "true").status.success(),
        "a stopped environment runs nothing"
    );
    // The token it had is revoked: Berth's registry refuses it.
    let refused = Command::new("skopeo")
        .args([
            "inspect",
            "--tls-verify=false",
            "--creds",
            &format!("alice:{token}"),
        ])
        .arg(format!("docker://{image}"))
        .output()
        .unwrap();
    assert!(
        !refused.status.success(),
        "the stopped environment's token still pulls"
    );
    let started = alice.run(&["codespace", "start", &name], None);
    assert!(started.status.success(), "{}", text(&started.stderr));
    assert_eq!(
        exec_ok(&alice, &name, "echo $GREETING"),
        "hello-2\n",
        "seen after start"
    );
    assert_eq!(
        exec_ok(
            &alice,
            &name,
            "cat /workspaces/web/mine.txt $HOME/in-layer.txt /workspaces/web/created.txt"
        ),
        "kept\nlayer\ncreated\n",
        "changes kept, postCreateCommand ran once"
    );
    assert_ne!(
        exec_ok(&alice, &name, "echo -n $BERTH_TOKEN"),
        token,
        "a fresh token at every start"
    );

    alice.ok(&["codespace", "delete", &name]);
    assert!(!alice.ok(&["codespace", "list"]).contains(&name));
    assert!(
        !alice
            .run(&["codespace", "show", &name], None)
            .status
            .success()
    );
}

#[test]
fn an_image_behind_htpasswd_comes_up_through_a_repository_triple_and_its_registry_is_logged_in_inside()
 {
    let dir = tempfile::tempdir().unwrap();
    // The registry is a host of a private network the server allows environments to reach: the
    // host's loopback is not reachable from inside an environment.
    let TeamRegistry { net, registry, .. } = TeamRegistry::start(dir.path(), 213);
    let berth = Berth::start(
        &[
            "--environment-egress-allow",
            &net.net,
            "--egress-allow",
            &net.net,
        ],
        &[],
    );
    let alice = berth.cli(&berth.alice);
    alice.ok(&["repo", "create", "alice/api"]);
    let image = format!("{}/team/dev:1", registry.host);

    // Without a login for a registry the environment fails, saying what to do (a registry on
    // the server's loopback: plain HTTP is tried there without being named, as Docker does).
    let local = Htpasswd::start();
    let (out, name) = create(
        &alice,
        &[
            "-R",
            "alice/api",
            "--image",
            &format!("{}/team/dev:1", local.host),
        ],
    );
    assert!(!out.status.success());
    let v: serde_json::Value =
        serde_json::from_str(&alice.ok(&["--json", "codespace", "show", &name])).unwrap();
    let reason = v["state_reason"].as_str().unwrap();
    assert_eq!(v["state"], "Failed");
    assert!(
        reason.contains(&format!("no registry login for {}", local.host))
            && reason.contains("P_CONTAINER_REGISTRY_SERVER"),
        "{reason}"
    );
    alice.ok(&["codespace", "delete", &name]);

    htpasswd_triple(&alice, "alice/api", &format!("http://{}", registry.host));
    set_secret(
        &alice,
        "HALF_CONTAINER_REGISTRY_SERVER",
        &["-R", "alice/api"],
        "half.example.invalid",
    );
    let (out, name) = create(&alice, &["-R", "alice/api", "--image", &image]);
    let log = text(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains(&format!("registry login ACME: {}", registry.host)),
        "{log}"
    );
    assert!(log.contains("with the registry login ACME"), "{log}");
    assert!(
        log.contains("warning:") && log.contains("HALF"),
        "a partial triple is a warning:\n{log}"
    );
    assert!(!log.contains(REG_PASSWORD), "the password reached the log");
    assert!(!text(&out.stdout).contains(REG_PASSWORD));
    assert_eq!(exec_ok(&alice, &name, "cat /etc/berth-image"), "dev\n");
    // Inside, skopeo reads the written login and reaches another image on that registry.
    other_image_inspected(&alice, &name, &registry.host);
    let logs = alice.ok(&["codespace", "logs", &name]);
    assert!(!logs.contains(REG_PASSWORD) && logs.contains("codespace is Available"));
    alice.ok(&["codespace", "delete", &name]);
}

#[test]
fn an_organization_triple_with_ecr_access_keys_is_swapped_and_written_inside() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let images = Images::build(dir.path());
    let moto = Moto::start(&python);
    let berth = Berth::start(&[], &[("AWS_ENDPOINT_URL", &moto.url)]);
    let admin = Cli::admin(&berth.server, &berth.data(), &dir.path().join("admin"));
    admin.ok(&["org", "create", "acme", "--admin", "alice"]);
    let owner_token = admin.token_for("alice", "repo,codespace,admin:org,write:packages");
    let alice = berth.cli(&owner_token);
    alice.ok(&["repo", "create", "acme/svc"]);
    let ecr = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
    for (k, v) in [
        ("SERVER", ecr),
        ("USER", moto.key_id.as_str()),
        ("PASSWORD", moto.secret.as_str()),
    ] {
        alice.ok(&[
            "secret",
            "set",
            &format!("AWS_CONTAINER_REGISTRY_{k}"),
            "--org",
            "acme",
            "--visibility",
            "all",
            "--body",
            v,
        ]);
    }
    let image = format!("{}/acme/svc-dev:1", berth.host);
    let rt = alice
        .ok(&["token", "create", "--repo", "acme/svc"])
        .trim()
        .to_owned();
    images.push("dev", &image, &format!("ci:{rt}"));
    let (out, name) = create(&alice, &["-R", "acme/svc", "--image", &image]);
    let log = text(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains(&format!(
            "registry login AWS: {ecr} (AWS access keys, swapped for an ECR token)"
        )),
        "{log}"
    );
    let config = exec_ok(&alice, &name, "cat $HOME/.docker/config.json");
    let auth = auth_of(&config, ecr).expect("the ECR login is written");
    assert!(auth.starts_with("AWS:") && auth.len() > 20, "{auth}");
    assert!(!config.contains(&moto.secret) && !log.contains(&moto.secret));
    alice.ok(&["codespace", "delete", &name]);
}

#[test]
fn an_environment_of_a_public_repository_pulls_an_internal_image_only_once_granted() {
    let dir = tempfile::tempdir().unwrap();
    let images = Images::build(dir.path());
    let berth = Berth::start(&[], &[]);
    let admin = Cli::admin(&berth.server, &berth.data(), &dir.path().join("admin"));
    admin.ok(&["org", "create", "acme", "--admin", "alice"]);
    let alice = berth.cli(&berth.alice);
    let image = format!("{}/acme/base:1", berth.host);
    images.push("other", &image, &format!("alice:{}", berth.alice));
    alice.ok(&["package", "visibility", "acme/base", "internal"]);
    alice.ok(&["repo", "create", "alice/site", "--visibility", "public"]);

    let (out, name) = create(&alice, &["-R", "alice/site", "--image", &image]);
    assert!(!out.status.success());
    let v: serde_json::Value =
        serde_json::from_str(&alice.ok(&["--json", "codespace", "show", &name])).unwrap();
    let reason = v["state_reason"].as_str().unwrap();
    assert!(
        reason.contains("not granted to the repository alice/site")
            && reason.contains("berth package grant"),
        "{reason}"
    );

    alice.ok(&[
        "package",
        "grant",
        "acme/base",
        "--repo",
        "alice/site",
        "--environments",
    ]);
    let started = alice.run(&["codespace", "start", &name], None);
    assert!(started.status.success(), "{}", text(&started.stderr));
    assert_eq!(exec_ok(&alice, &name, "cat /etc/berth-image"), "other\n");

    // A restart of the server leaves a running environment running, and reachable.
    exec_ok(&alice, &name, "echo before > /tmp/mark");
    let mut berth = berth;
    berth.restart();
    assert_eq!(state(&alice, &name), "Available");
    assert_eq!(
        exec_ok(&alice, &name, "cat /tmp/mark"),
        "before\n",
        "the same process tree"
    );
    // Its network came through the restart, and the new server answers inside it.
    reaches_berth(&alice, &name, &berth.host);
    alice.ok(&["codespace", "stop", &name]);
    berth.restart();
    assert_eq!(state(&alice, &name), "Shutdown");
    alice.ok(&["codespace", "delete", &name]);
}

#[test]
fn the_docker_engine_runtime_runs_images_from_berth_and_from_htpasswd() {
    let Some(docker) = docker_host() else { return };
    let dir = tempfile::tempdir().unwrap();
    // In a test network the server lets environments reach (scripts/test starts dockerd with
    // that range as an insecure registry range).
    let TeamRegistry {
        images,
        net,
        registry,
    } = TeamRegistry::start(dir.path(), 214);
    let berth = Berth::start(
        &[
            "--runtime",
            "docker",
            "--environment-egress-allow",
            &net.net,
            "--egress-allow",
            &net.net,
            "--ssh-listen",
            "127.0.0.1:0",
        ],
        &[("DOCKER_HOST", &docker)],
    );
    let alice = berth.cli(&berth.alice);

    // (a) Berth's registry, no user credentials.
    alice.ok(&["repo", "create", "alice/web"]);
    let rt = alice
        .ok(&["token", "create", "--repo", "alice/web"])
        .trim()
        .to_owned();
    let image = format!("{}/alice/devimg:1", berth.host);
    images.push("other", &image, &format!("ci:{rt}"));
    let name = created(&alice, &["-R", "alice/web", "--image", &image]);
    assert_eq!(
        exec_ok(&alice, &name, "cat /etc/berth-image; echo $CODESPACES; pwd"),
        "other\ntrue\n/workspaces/web\n"
    );
    let out = exec(&alice, &name, "exit 3");
    assert_eq!(out.status.code(), Some(3));
    // Its own network, as under runc: the host's loopback is not reachable, Berth is.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    for target in ["10.0.2.2", "127.0.0.1"] {
        let out = exec(
            &alice,
            &name,
            &format!("nc -w 2 {target} {port} </dev/null"),
        );
        assert!(!out.status.success(), "reached the host's {target}:{port}");
    }
    listener.set_nonblocking(true).unwrap();
    assert!(
        listener.accept().is_err(),
        "the host's listener was reached"
    );
    reaches_berth(&alice, &name, &berth.host);
    // Its ports, as under runc: listed from its own network and forwarded through the API.
    serve_page(&alice, &name, 3000, "served-under-docker");
    assert_eq!(alice.ok(&["codespace", "ports", &name]), "PORT\n3000\n");
    let (mut forward, local, _) = start_forward(&alice, &name, 3000);
    assert!(http_get(local).ends_with("served-under-docker\n"));
    let _ = forward.kill();
    let _ = forward.wait();
    // A shell on a terminal over SSH, as under runc.
    let (key, fingerprint) = keygen(dir.path(), "alice-key");
    let admin = Cli::admin(&berth.server, &berth.data(), &dir.path().join("admin"));
    berth
        .cli(&admin.token_for("alice", "write:public_key"))
        .ok(&["key", "add", key.with_extension("pub").to_str().unwrap()]);
    terminal_session(&ssh(
        dir.path(),
        berth.server.ssh_port(),
        &key,
        &name,
        &["-tt"],
    ));
    // And files, with scp over Berth's sftp.
    let up = dir.path().join("up.txt");
    std::fs::write(&up, "carried under docker\n").unwrap();
    let port = berth.server.ssh_port();
    let target = format!("{name}@127.0.0.1:up.txt");
    let out = file_client(
        "scp",
        dir.path(),
        port,
        &key,
        &[up.to_str().unwrap(), &target],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        exec_ok(&alice, &name, "cat up.txt"),
        "carried under docker\n"
    );
    alice.ok(&["codespace", "delete", &name]);

    // (b) htpasswd through a repository triple; skopeo inside reaches another image.
    alice.ok(&["repo", "create", "alice/api"]);
    htpasswd_triple(&alice, "alice/api", &format!("http://{}", registry.host));
    let name = created(
        &alice,
        &[
            "-R",
            "alice/api",
            "--image",
            &format!("{}/team/dev:1", registry.host),
        ],
    );
    other_image_inspected(&alice, &name, &registry.host);
    // The client's agent, forwarded over SSH, as under runc.
    forwarded_agent_answers(
        dir.path(),
        berth.server.ssh_port(),
        &key,
        &fingerprint,
        &name,
    );
    hanging_up_leaves_nothing_running(dir.path(), berth.server.ssh_port(), &key, &name, &alice);
    signals_reach_the_command(berth.server.ssh_port(), &key, &name);
    alice.ok(&["codespace", "delete", &name]);
}

/// Debian's `gh` drives codespaces the way it drives GitHub's, pointed at Berth by
/// `GITHUB_API_URL` and `GITHUB_SERVER_URL`: create (choosing a machine and one of two dev
/// container configurations), list, stop, delete.
#[test]
fn gh_creates_lists_stops_and_deletes_codespaces() {
    let env = AliceWithImage::start();
    let (alice, image, berth, dir) = (&env.alice, &env.image, &env.berth, &env.dir);
    env.repo(
        "web",
        &[
            (
                ".devcontainer/devcontainer.json",
                &format!("{{\"image\": \"{image}\"}}"),
            ),
            (
                ".devcontainer/alt/devcontainer.json",
                &format!("{{\"image\": \"{image}\", \"containerEnv\": {{\"WHICH\": \"alt\"}}}}"),
            ),
        ],
    );
    assert_eq!(
        alice.ok(&[
            "codespace",
            "devcontainers",
            "-R",
            "alice/web",
            "-b",
            "main"
        ]),
        ".devcontainer/devcontainer.json\n.devcontainer/alt/devcontainer.json\n"
    );
    let server = format!("http://{}", berth.host);
    let gh = Gh::new(&berth.host, &berth.alice, &dir.path().join("gh"))
        .with_env("GITHUB_API_URL", &format!("{server}/api/v3"))
        .with_env("GITHUB_SERVER_URL", &server);
    // A machine the server does not have is refused by gh itself, from Berth's list.
    let gh_create = |machine: &str, path: &str| {
        gh.run(&[
            "codespace",
            "create",
            "-R",
            "alice/web",
            "-b",
            "main",
            "--machine",
            machine,
            "--devcontainer-path",
            path,
        ])
    };
    let out = gh_create("hugeLinux", ".devcontainer/devcontainer.json");
    assert!(!out.status.success());
    assert_stderr(&out, "basicLinux");

    let out = gh_create("basicLinux", ".devcontainer/alt/devcontainer.json");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let name = text(&out.stdout).trim().to_owned();
    assert!(name.starts_with("alice-web-"), "{name}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !matches!(state(alice, &name).as_str(), "Available" | "Failed") {
        assert!(
            std::time::Instant::now() < deadline,
            "still {}",
            state(alice, &name)
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(
        state(alice, &name),
        "Available",
        "{}",
        alice.ok(&["codespace", "logs", &name])
    );
    assert_eq!(exec_ok(alice, &name, "echo $WHICH").trim(), "alt");
    let listed = gh.ok(&["codespace", "list"]);
    assert!(
        listed.contains(&name) && listed.contains("alice/web") && listed.contains("Available"),
        "{listed}"
    );
    gh.ok(&["codespace", "stop", "-c", &name]);
    assert_eq!(state(alice, &name), "Shutdown");
    gh.ok(&["codespace", "delete", "-c", &name]);
    assert!(!gh.ok(&["codespace", "list"]).contains(&name));
}

/// The image caches of the machine stay within their sizes (`[environments] layer_cache_gb`,
/// `pull_cache_gb`): collected after each start and by `berth admin gc`, least recently used
/// first, never a layer an environment — running or stopped — uses.
#[test]
fn the_image_caches_are_kept_within_their_sizes_and_never_lose_a_layer_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let images = Images::small(dir.path());
    // A byte each: everything not in use goes.
    let config = dir.path().join("berth.toml");
    std::fs::write(
        &config,
        "[environments]\nlayer_cache_gb = 0.000000001\npull_cache_gb = 0.000000001\n",
    )
    .unwrap();
    let berth = Berth::start(&["--config", config.to_str().unwrap()], &[]);
    let alice = berth.cli(&berth.alice);
    let admin = Cli::admin(&berth.server, &berth.data(), &dir.path().join("admin"));
    let image = format!("{}/alice/other:1", berth.host);
    images.push("other", &image, &format!("alice:{}", berth.alice));
    alice.ok(&["repo", "create", "alice/web"]);
    alice.ok(&["package", "grant", "alice/other", "--repo", "alice/web"]);
    let layers = |data: &std::path::Path| {
        std::fs::read_dir(data.join("layers/sha256"))
            .unwrap()
            .flatten()
            .filter(|e| e.path().is_dir())
            .count()
    };
    let gc = |extra: &[&str]| -> serde_json::Value {
        let said = admin.ok(&[&["admin", "gc", "--json"], extra].concat());
        serde_json::from_str::<serde_json::Value>(&said).unwrap()["caches"].clone()
    };

    let name = created(&alice, &["-R", "alice/web", "--image", &image]);
    assert_eq!(layers(&berth.data()), 2, "busybox and the marker, unpacked");
    let caches = gc(&[]);
    assert_eq!(caches["layers_in_use"], 2, "{caches}");
    assert_eq!(caches["layers_removed"], 0, "{caches}");
    assert_eq!(
        caches["blob_bytes_held"], 0,
        "pulled blobs are not in use: {caches}"
    );
    assert_eq!(exec_ok(&alice, &name, "cat /etc/berth-image"), "other\n");

    // Stopped, it still uses them (its next start mounts them again).
    alice.ok(&["codespace", "stop", &name]);
    assert_eq!(gc(&[])["layers_removed"], 0);
    alice.ok(&["codespace", "start", &name]);
    assert_eq!(exec_ok(&alice, &name, "cat /etc/berth-image"), "other\n");

    // Deleted, they go: a dry run says so and removes nothing, then a pass removes them.
    alice.ok(&["codespace", "delete", &name]);
    let would = gc(&["--dry-run"]);
    assert_eq!(
        (
            would["layers_removed"].as_u64(),
            would["layers_in_use"].as_u64()
        ),
        (Some(2), Some(0)),
        "{would}"
    );
    assert_eq!(layers(&berth.data()), 2, "a dry run removes nothing");
    let done = gc(&[]);
    assert_eq!(done["layers_removed"], would["layers_removed"], "{done}");
    assert_eq!(
        done["layer_bytes_freed"], would["layer_bytes_freed"],
        "{done}"
    );
    assert_eq!(layers(&berth.data()), 0);

    // A new environment of the image pulls and unpacks it again.
    let again = created(&alice, &["-R", "alice/web", "--image", &image]);
    assert_eq!(exec_ok(&alice, &again, "cat /etc/berth-image"), "other\n");
    assert_eq!(gc(&[])["layers_in_use"], 2);
}
