//! End to end: the real `berth` binary as server and as client.

mod support;

use std::os::unix::fs::PermissionsExt;

use support::{
    Cli, Server, assert_stderr, postgres_database, run_to_end, runtime, serve_at, serve_command,
    text,
};

fn data_dir_arg(dir: &std::path::Path) -> String {
    dir.display().to_string()
}

#[test]
fn first_start_writes_a_private_admin_token_and_a_restart_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(serve_at(&data, &[]));
    let token_file = data.join("admin-token");
    let mode = std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the admin token file is private");
    let token = std::fs::read_to_string(&token_file).unwrap();
    assert!(
        server.log.lock().unwrap().contains("admin-token"),
        "the log says where the token is"
    );
    assert!(
        !server.log.lock().unwrap().contains(token.trim()),
        "the log never shows the token"
    );
    // Beside it, the administrator's initial password for the web UI, as private.
    let password_file = data.join("admin-password");
    let mode = std::fs::metadata(&password_file)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "the admin password file is private");
    let password = std::fs::read_to_string(&password_file).unwrap();
    assert_eq!(password.trim().len(), 24);
    assert!(!server.log.lock().unwrap().contains(password.trim()));

    let cli = Cli::new(&dir.path().join("cfg"));
    let out = cli.run(&["login", "--server", &server.url], Some(&token));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("as admin"),
        "{}",
        text(&out.stdout)
    );
    let saved = dir.path().join("cfg/config.json");
    assert_eq!(
        std::fs::metadata(&saved).unwrap().permissions().mode() & 0o777,
        0o600,
        "saved credentials are private"
    );
    drop(server);

    let again = Server::start(serve_at(&data, &[]));
    assert_eq!(
        std::fs::read_to_string(&token_file).unwrap(),
        token,
        "a restart does not replace the token"
    );
    assert_eq!(
        std::fs::read_to_string(&password_file).unwrap(),
        password,
        "nor the password"
    );
    let out = cli.run(&["user", "show", "--server", &again.url], None);
    assert!(
        out.status.success(),
        "the old token still works after a restart: {}",
        text(&out.stderr)
    );
}

#[test]
fn the_bootstrap_token_can_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = serve_at(dir.path(), &[]);
    cmd.env("BERTH_BOOTSTRAP_TOKEN", "chosen-by-the-operator");
    let server = Server::start(cmd);
    assert!(
        !dir.path().join("admin-token").exists(),
        "no file when the operator chose the token"
    );
    let cli = Cli::signed_in(
        &dir.path().join("cfg"),
        &server.url,
        "chosen-by-the-operator",
    );
    assert!(cli.ok(&["user", "show"]).contains("admin"));
    assert!(
        dir.path().join("admin-password").exists(),
        "the initial password is written all the same"
    );
    // Passwords are set by site administrators: made up and printed, or read from stdin.
    cli.ok(&["user", "create", "alice"]);
    let made = cli.ok(&["user", "password", "alice"]);
    assert_eq!(made.trim().len(), 24);
    let out = cli.run(&["user", "password", "alice", "--stdin"], Some("short\n"));
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("a password has 12 to 1024 characters"));
}

#[test]
fn a_whole_setup_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(serve_at(&dir.path().join("d"), &[]));
    let admin_token = std::fs::read_to_string(dir.path().join("d/admin-token")).unwrap();
    let admin = Cli::new(&dir.path().join("admin"));
    assert!(
        admin
            .run(&["login", "--server", &server.url], Some(&admin_token))
            .status
            .success()
    );

    assert!(admin.ok(&["user", "create", "alice"]).contains("alice"));
    admin.ok(&["user", "create", "bob"]);
    let org = admin.ok(&["org", "create", "acme", "--admin", "alice", "--json"]);
    let org: serde_json::Value = serde_json::from_str(&org).unwrap();
    assert_eq!(org["type"], "Organization");

    let alice_token = admin
        .ok(&[
            "token",
            "create",
            "--user",
            "alice",
            "--scopes",
            "repo,admin:org",
            "--note",
            "setup",
        ])
        .trim()
        .to_owned();
    assert!(
        alice_token.starts_with("berth_pat_"),
        "the token alone on stdout: {alice_token}"
    );
    let alice = Cli::signed_in(&dir.path().join("alice"), &server.url, &alice_token);

    let created = alice.ok(&[
        "repo",
        "create",
        "acme/tools",
        "--visibility",
        "internal",
        "--clone-url",
        "https://git.example/tools.git",
    ]);
    assert!(
        created.contains("acme/tools")
            && created.contains("internal")
            && created.contains("https://git.example/tools.git"),
        "{created}"
    );
    let mine = alice.ok(&["repo", "create", "alice/notes"]);
    assert!(
        mine.contains("private"),
        "the CLI creates private repositories unless told otherwise: {mine}"
    );
    alice.ok(&["org", "member", "add", "acme", "bob"]);
    assert!(alice.ok(&["org", "member", "list", "acme"]).contains("bob"));
    alice.ok(&[
        "repo",
        "collaborator",
        "add",
        "alice/notes",
        "bob",
        "--permission",
        "read",
    ]);
    assert!(
        alice
            .ok(&["repo", "collaborator", "list", "alice/notes"])
            .contains("bob")
    );

    let bob_token = admin.token_for("bob", "repo");
    let bob = Cli::signed_in(&dir.path().join("bob"), &server.url, &bob_token);
    let listed: serde_json::Value =
        serde_json::from_str(&bob.ok(&["repo", "list", "--json"])).unwrap();
    let names: Vec<_> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["full_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["acme/tools", "alice/notes"],
        "internal through membership, private through collaboration"
    );

    // Errors: the server's words, what to do, exit 1.
    bob.exits(&["repo", "show", "acme/nothing"], 1, "Not Found (HTTP 404)");
    bob.exits(&["user", "create", "carol"], 1, "site administrator");
    let out = alice.run(&["repo", "create", "acme/tools"], None);
    assert_stderr(&out, "already exists");
    // Usage errors exit 2.
    assert_eq!(
        bob.run(&["repo", "create", "x/y", "--visibility", "secret"], None)
            .status
            .code(),
        Some(2)
    );
    assert_eq!(bob.run(&["frobnicate"], None).status.code(), Some(2));

    // Tokens: own listing and revocation.
    let own = alice
        .ok(&[
            "token",
            "create",
            "--scopes",
            "repo",
            "--note",
            "laptop",
            "--expires-in-days",
            "30",
        ])
        .trim()
        .to_owned();
    let list: serde_json::Value =
        serde_json::from_str(&alice.ok(&["token", "list", "--json"])).unwrap();
    let laptop = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["note"] == "laptop")
        .expect("listed");
    assert!(laptop["expires_at"].is_string());
    let id = laptop["id"].to_string();
    alice.ok(&["token", "revoke", &id]);
    let gone = Cli::signed_in(&dir.path().join("x"), &server.url, &own);
    let out = gone.run(&["user", "show"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("Bad credentials") && text(&out.stderr).contains("berth login"),
        "{}",
        text(&out.stderr)
    );

    // A repository token, printed once.
    let rt = alice
        .ok(&["token", "create", "--repo", "alice/notes"])
        .trim()
        .to_owned();
    assert!(rt.starts_with("berth_rt_"));
    let as_repo = Cli::signed_in(&dir.path().join("rt"), &server.url, &rt);
    assert!(
        as_repo
            .ok(&["repo", "show", "alice/notes"])
            .contains("write")
    );
}

#[test]
fn the_cli_says_how_to_log_in() {
    let dir = tempfile::tempdir().unwrap();
    let out = Cli::new(dir.path()).run(&["repo", "list"], None);
    assert_eq!(out.status.code(), Some(1));
    assert_stderr(&out, "berth login --server");
    let out = Cli::new(dir.path()).run(&["login", "--server", "http://127.0.0.1:1"], Some(""));
    assert_stderr(&out, "no token on standard input");
    let out = Cli::new(dir.path()).run(&["login", "--server", "http://127.0.0.1:1"], Some("tok\n"));
    assert_stderr(&out, "cannot reach");
}

#[test]
fn start_up_errors_say_what_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run_to_end(serve_command(&[
        "--data-dir",
        &data_dir_arg(&dir.path().join("a")),
        "--listen",
        &addr,
    ]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(&format!("cannot listen on {addr}"))
            && text(&out.stderr).contains("--listen"),
        "{}",
        text(&out.stderr)
    );

    let file = dir.path().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let out = run_to_end(serve_at(&file, &[]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("data directory") && text(&out.stderr).contains("--data-dir"),
        "{}",
        text(&out.stderr)
    );

    let cert = dir.path().join("cert.pem");
    std::fs::write(&cert, "not a certificate").unwrap();
    let out = run_to_end(serve_at(
        &dir.path().join("b"),
        &[
            "--tls-cert",
            &data_dir_arg(&cert),
            "--tls-key",
            &data_dir_arg(&cert),
        ],
    ));
    assert_eq!(out.status.code(), Some(1));
    assert_stderr(&out, "cannot load the TLS certificate");

    let mut short = serve_at(&dir.path().join("d"), &[]);
    short.env("BERTH_BOOTSTRAP_TOKEN", "tok");
    let out = run_to_end(short);
    assert_eq!(
        out.status.code(),
        Some(1),
        "regression: a short chosen token used to panic"
    );
    assert!(
        text(&out.stderr).contains("BERTH_BOOTSTRAP_TOKEN is not usable")
            && text(&out.stderr).contains("at least 16"),
        "{}",
        text(&out.stderr)
    );
    let mut good = serve_at(&dir.path().join("d"), &[]);
    good.env("BERTH_BOOTSTRAP_TOKEN", "long-enough-to-be-chosen");
    let server = Server::start(good);
    let cli = Cli::signed_in(
        &dir.path().join("cfg"),
        &server.url,
        "long-enough-to-be-chosen",
    );
    assert!(
        cli.ok(&["user", "show"]).contains("admin"),
        "the refused start created nothing, so a good token still bootstraps"
    );
    drop(server);

    let out = run_to_end(serve_command(&["--listen", "nowhere"]));
    assert_stderr(&out, "--listen \"nowhere\" is not an address");

    let config = dir.path().join("berth.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\nport = 1\n").unwrap();
    let out = run_to_end(serve_command(&["--config", &data_dir_arg(&config)]));
    assert!(
        text(&out.stderr).contains("config file") && text(&out.stderr).contains("port"),
        "{}",
        text(&out.stderr)
    );

    let out = run_to_end(serve_at(
        &dir.path().join("c"),
        &["--database-url", "mysql://x"],
    ));
    assert_stderr(&out, "sqlite: or postgres:");
}

#[test]
fn flags_beat_environment_beat_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let [from_file, from_env, from_flag] = ["file", "env", "flag"].map(|d| dir.path().join(d));
    let config = dir.path().join("berth.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\nlisten = \"127.0.0.1:0\"\n",
            from_file.display().to_string()
        ),
    )
    .unwrap();
    let cfg = data_dir_arg(&config);

    drop(Server::start(serve_command(&["--config", &cfg])));
    assert!(from_file.join("admin-token").exists(), "the file applies");

    let mut cmd = serve_command(&["--config", &cfg]);
    cmd.env("BERTH_DATA_DIR", &from_env);
    drop(Server::start(cmd));
    assert!(
        from_env.join("admin-token").exists(),
        "the environment beats the file"
    );

    let mut cmd = serve_command(&["--config", &cfg, "--data-dir", &data_dir_arg(&from_flag)]);
    cmd.env("BERTH_DATA_DIR", &from_env);
    drop(Server::start(cmd));
    assert!(
        from_flag.join("admin-token").exists(),
        "the flag beats both"
    );
}

#[test]
fn sigterm_shuts_down_gracefully() {
    // Regression: the handler used to be installed after "listening on" was logged, so a SIGTERM
    // sent at once killed the process. Several starts make the race show if it comes back.
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start(serve_at(dir.path(), &[]));
        let (status, log) = server.terminate();
        assert!(status.success(), "{status}\n{log}");
        assert!(
            log.contains("shutting down") && log.contains("stopped"),
            "{log}"
        );
    }
}

/// Begins a chunk of `len` bytes of a blob upload on a connection of its own, and sends the
/// first `sent` of them: an upload running when the server is told to stop.
fn begin_upload(server: &Server, token: &str, len: usize, sent: usize) -> std::net::TcpStream {
    use std::io::Write;
    let location = runtime().block_on(async {
        let r = reqwest::Client::new()
            .post(format!("{}/v2/admin/app/blobs/uploads/", server.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 202);
        r.headers()["location"].to_str().unwrap().to_owned()
    });
    let path = location.trim_start_matches(&server.url);
    let host = server.url.trim_start_matches("http://");
    let mut conn = std::net::TcpStream::connect(host).unwrap();
    write!(
        conn,
        "PATCH {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {len}\r\n\r\n"
    )
    .unwrap();
    conn.write_all(&vec![7; sent]).unwrap();
    conn
}

/// Waits for the server to exit by itself (within `within`); its status and log.
fn exit_of(mut server: Server, within: std::time::Duration) -> (std::process::ExitStatus, String) {
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            std::thread::sleep(std::time::Duration::from_millis(200));
            let log = server.log.lock().unwrap().clone();
            return (status, log);
        }
        assert!(started.elapsed() < within, "still running after {within:?}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A server with `--shutdown-timeout seconds`, asked to stop (SIGTERM) while it takes an upload
/// of 4 MiB whose first MiB is sent; the server, and the upload's connection.
fn terminated_during_an_upload(
    dir: &std::path::Path,
    seconds: &str,
) -> (Server, std::net::TcpStream) {
    let data = dir.join("d");
    let server = Server::start(serve_at(&data, &["--shutdown-timeout", seconds]));
    let ready = runtime().block_on(async {
        let r = reqwest::get(format!("{}/readyz", server.url))
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    });
    assert_eq!(ready, (200, "ready\n".to_owned()));
    let upload = begin_upload(&server, &support::admin_token(&data), 4 << 20, 1 << 20);
    std::thread::sleep(std::time::Duration::from_millis(300));
    support::sigterm(&server.child);
    (server, upload)
}

#[test]
fn readyz_answers_and_a_shutdown_lets_a_running_upload_finish() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let (server, mut upload) = terminated_during_an_upload(dir.path(), "30");
    // No new connection is taken...
    let host = server.url.trim_start_matches("http://").to_owned();
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(&host).is_ok() {
        assert!(
            started.elapsed().as_secs() < 10,
            "new connections still taken"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // ... but the running upload finishes.
    upload.write_all(&vec![7; 3 << 20]).unwrap();
    let mut reply = [0; 64];
    let n = upload.read(&mut reply).unwrap();
    let reply = String::from_utf8_lossy(&reply[..n]).into_owned();
    assert!(reply.starts_with("HTTP/1.1 202"), "{reply}");
    drop(upload);
    let (status, log) = exit_of(server, std::time::Duration::from_secs(20));
    assert!(status.success(), "{status}\n{log}");
    assert!(
        log.contains("shutting down") && log.contains("stopped"),
        "{log}"
    );
    assert!(!log.contains("cut off"), "{log}");
}

#[test]
fn a_shutdown_cuts_off_what_is_still_running_after_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    // An upload whose client stalls: the server does not wait for it past the timeout.
    let (server, _stalled) = terminated_during_an_upload(dir.path(), "1");
    let (status, log) = exit_of(server, std::time::Duration::from_secs(15));
    assert!(status.success(), "{status}\n{log}");
    assert!(log.contains("cut off") && log.contains("stopped"), "{log}");
}

#[test]
fn serves_https_with_the_given_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = support::tls_certificates(dir.path());
    let server = Server::start(serve_at(
        &dir.path().join("d"),
        &[
            "--tls-cert",
            &data_dir_arg(&cert),
            "--tls-key",
            &data_dir_arg(&key),
        ],
    ));
    assert!(server.url.starts_with("https://"), "{}", server.url);
    let pem = std::fs::read(&ca).unwrap();
    let rt = runtime();
    let body = rt.block_on(async {
        let client = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .build()
            .unwrap();
        client
            .get(format!("{}/healthz", server.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    assert_eq!(body, "ok\n");
}

#[test]
fn serves_from_postgresql_and_keeps_data_across_restarts() {
    let Some(db) = postgres_database() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let serve = || serve_at(dir.path(), &["--database-url", &db]);
    let server = Server::start(serve());
    let cli = Cli::admin(&server, dir.path(), &dir.path().join("cfg"));
    cli.ok(&["user", "create", "pg-user"]);
    drop(server);
    assert!(
        !dir.path().join("berth.db").exists(),
        "no SQLite file when PostgreSQL is used"
    );
    let server = Server::start(serve());
    let cli = cli.with_env("BERTH_SERVER", &server.url);
    assert!(cli.ok(&["user", "show", "pg-user"]).contains("pg-user"));
}

/// A server holds its replica id on a database connection of its own. When the database ends
/// that connection (a restart, a broken network) and another server takes the replica meanwhile,
/// the server stops and says why, rather than run on as a second server of one replica.
#[test]
fn a_server_whose_replica_is_taken_while_its_connection_is_down_stops_saying_why() {
    let Some(db) = postgres_database() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(serve_at(dir.path(), &["--database-url", &db]));
    let id = std::fs::read(dir.path().join("replica.id")).unwrap();
    let key: String = id[..8].iter().map(|b| format!("{b:02x}")).collect();
    // In one session: end the server's claim session, then take the replica as another server
    // would, and keep it.
    let mut other = std::process::Command::new("psql")
        .args([
            db.as_str(),
            "-Atc",
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' \
             AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            "-c",
            &format!("SELECT pg_advisory_lock(hashtextextended('replica:{key}', 0))"),
            "-c",
            "SELECT pg_sleep(120)",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("psql (scripts/test installs postgresql)");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server still runs:\n{}",
            server.log.lock().unwrap()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let _ = other.kill();
    let _ = other.wait();
    let log = server.log.lock().unwrap().clone();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        log.contains("took this replica's claim")
            && log.contains("another server sharing the database runs as this replica"),
        "{log}"
    );
}

/// Pushes a one-blob artifact to `name:v1` through the registry API.
fn push_artifact(server: &str, token: &str, name: &str) {
    use sha2::Digest as _;
    let rt = runtime();
    rt.block_on(async {
        let client = reqwest::Client::new();
        let blob = format!("config of {name}");
        let digest = format!("sha256:{}", sha2::Sha256::digest(blob.as_bytes()).iter().map(|b| format!("{b:02x}")).collect::<String>());
        let r = client.post(format!("{server}/v2/{name}/blobs/uploads/?digest={digest}")).bearer_auth(token).body(blob.clone()).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 201);
        let manifest = serde_json::json!({ "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": { "mediaType": "application/vnd.example.config", "digest": digest, "size": blob.len() }, "layers": [] });
        let r = client
            .put(format!("{server}/v2/{name}/manifests/v1"))
            .bearer_auth(token)
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(manifest.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
    });
}

#[test]
fn packages_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(serve_at(&dir.path().join("d"), &[]));
    let admin = Cli::admin(&server, &dir.path().join("d"), &dir.path().join("admin"));
    admin.ok(&["user", "create", "alice"]);
    admin.ok(&["user", "create", "bob"]);
    let alice_token = admin.token_for("alice", "repo,write:packages");
    let bob_token = admin.token_for("bob", "read:packages");
    let alice = Cli::signed_in(&dir.path().join("alice"), &server.url, &alice_token);
    let bob = Cli::signed_in(&dir.path().join("bob"), &server.url, &bob_token);
    alice.ok(&["repo", "create", "alice/app"]);
    push_artifact(&server.url, &alice_token, "alice/tools/cli");

    let listed = alice.ok(&["package", "list"]);
    assert!(
        listed.contains("alice/tools/cli") && listed.contains("private"),
        "{listed}"
    );
    assert!(
        !bob.ok(&["package", "list", "alice"]).contains("tools/cli"),
        "bob sees nothing yet"
    );

    alice.ok(&[
        "package",
        "grant",
        "alice/tools/cli",
        "--user",
        "bob",
        "--role",
        "read",
    ]);
    assert!(
        bob.ok(&["package", "list", "alice"])
            .contains("alice/tools/cli"),
        "a grant makes it visible"
    );
    let access = alice.ok(&["package", "access", "alice/tools/cli"]);
    assert!(
        access.contains("bob") && access.contains("read"),
        "{access}"
    );

    let linked = alice.ok(&["package", "link", "alice/tools/cli", "alice/app"]);
    assert!(linked.contains("alice/app"), "{linked}");
    let inheriting = alice.ok(&["package", "inherit", "alice/tools/cli", "on", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&inheriting).unwrap();
    assert_eq!(v["inherit_access"], true);
    let out = bob.run(&["package", "show", "alice/tools/cli"], None);
    assert_eq!(
        out.status.code(),
        Some(1),
        "switching inheritance replaced bob's grant"
    );
    assert_stderr(&out, "Not Found");

    alice.ok(&["package", "inherit", "alice/tools/cli", "off"]);
    alice.ok(&[
        "package",
        "grant",
        "alice/tools/cli",
        "--repo",
        "alice/app",
        "--environments",
        "--token-role",
        "read",
    ]);
    assert!(
        alice
            .ok(&["package", "access", "alice/tools/cli"])
            .contains("alice/app")
    );
    alice.ok(&[
        "package",
        "revoke",
        "alice/tools/cli",
        "--repo",
        "alice/app",
    ]);
    assert!(
        !alice
            .ok(&["package", "access", "alice/tools/cli"])
            .contains("alice/app")
    );
    assert!(
        alice
            .ok(&["package", "visibility", "alice/tools/cli", "public"])
            .contains("public")
    );
    let out = alice.run(
        &["package", "visibility", "alice/tools/cli", "private"],
        None,
    );
    assert_stderr(&out, "cannot be made private");
    assert_eq!(
        alice
            .run(&["package", "grant", "alice/tools/cli"], None)
            .status
            .code(),
        Some(2),
        "whom to grant is required"
    );

    alice.exits(&["admin", "gc"], 1, "site administrator");
    let said = admin.ok(&["admin", "gc", "--grace", "0", "--dry-run"]);
    assert!(said.contains("nothing was removed"), "{said}");
    assert!(said.contains("BLOBS_DELETED"), "{said}");
    let report: serde_json::Value =
        serde_json::from_str(&admin.ok(&["admin", "gc", "--grace", "0", "--json"])).unwrap();
    assert_eq!(
        (
            report["blobs_deleted"].as_u64(),
            report["links_removed"].as_u64()
        ),
        (Some(0), Some(0)),
        "everything pushed is in use: {report}"
    );
}
