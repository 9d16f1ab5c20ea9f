//! The SSH gateway with Debian's OpenSSH client: a user's key (added with `berth key add`) and
//! the environment's name as the user name reach the environment's own ports (`ssh -W`,
//! `ssh -L`); anything else is refused, saying why where it may.

mod support;

use std::path::Path;
use std::process::Stdio;

use support::environments::{Images, created, exec_ok, http_get, serve_page};
use support::images;
use support::servers::Berth;
use support::ssh::{
    connections_are_bounded, file_client, forwarded_agent_answers,
    hanging_up_leaves_nothing_running, sessions_per_connection_are_bounded,
    signals_reach_the_command, ssh, terminal_session, through_config, through_w,
};
use support::{Cli, keygen, text};

#[test]
fn a_users_key_reaches_shells_commands_and_ports_of_their_environments_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let images = Images::small(dir.path());
    let berth = Berth::start(&["--ssh-listen", "127.0.0.1:0"], &[]);
    let port = berth.server.ssh_port();
    let alice = berth.cli(&berth.alice);
    let image = format!("{}/alice/other:1", berth.host);
    images.push("other", &image, &format!("alice:{}", berth.alice));
    let admin = Cli::admin(&berth.server, &berth.data(), &dir.path().join("admin"));
    let keys_of = |login: &str| {
        let token = admin.token_for(login, "admin:public_key");
        berth.cli(&token)
    };
    let (alice_key, fingerprint) = keygen(dir.path(), "alice-key");
    let bob_key = keygen(dir.path(), "bob-key").0;
    let stranger = keygen(dir.path(), "stranger-key").0;
    keys_of("alice").ok(&[
        "key",
        "add",
        alice_key.with_extension("pub").to_str().unwrap(),
    ]);
    keys_of("bob").ok(&[
        "key",
        "add",
        bob_key.with_extension("pub").to_str().unwrap(),
    ]);

    alice.ok(&["repo", "create", "alice/web"]);
    alice.ok(&["package", "grant", "alice/other", "--repo", "alice/web"]);
    let name = created(&alice, &["-R", "alice/web", "--image", &image]);
    serve_page(&alice, &name, 3000, "hello-over-ssh");
    let request = b"GET / HTTP/1.0\r\n\r\n";
    let as_alice = |args: &[&str]| ssh(dir.path(), port, &alice_key, &name, args);

    // -W: one direct-tcpip channel to the environment's own port 3000.
    let out = through_w(&mut as_alice(&["-W", "localhost:3000"]), request);
    assert!(
        text(&out.stdout).ends_with("hello-over-ssh\n"),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let known = std::fs::read_to_string(dir.path().join("known_hosts")).unwrap();
    assert!(known.contains("ssh-ed25519"), "{known}");

    // -L: a local port forwarded, as editors use it.
    let local = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut tunnel = as_alice(&[
        "-N",
        "-o",
        "ExitOnForwardFailure=yes",
        "-L",
        &format!("{local}:localhost:3000"),
    ])
    .stdin(Stdio::null())
    .spawn()
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", local)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "ssh -L never listened"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(http_get(local).ends_with("hello-over-ssh\n"));
    let _ = tunnel.kill();
    let _ = tunnel.wait();
    let log = alice.ok(&["codespace", "logs", &name]);
    for line in [
        format!("ssh: alice signed in with key {fingerprint} from 127.0.0.1"),
        format!("port 3000 forwarded for alice (ssh, key {fingerprint})"),
    ] {
        assert!(log.contains(&line), "{line} in:\n{log}");
    }

    // A shell without a terminal reads its commands from standard input.
    let out = through_w(&mut as_alice(&["-T"]), b"echo from-the-shell; exit 4\n");
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("from-the-shell"),
        "{}",
        text(&out.stdout)
    );

    // A shell on a terminal, driven through tmux as a person types: the prompt, the window size
    // and its changes, Ctrl-C interrupting a command.
    terminal_session(&as_alice(&["-tt"]));
    // The same terminal through the API, without SSH: `berth codespace exec -it`.
    terminal_session(&alice.command(&["codespace", "exec", "-it", &name]));

    // Commands: the exit status, standard error apart, the client's LANG.
    let out = as_alice(&[
        "-o",
        "SendEnv=LANG",
        "echo out; echo err >&2; echo $LANG; exit 3",
    ])
    .env("LANG", "C.UTF-8")
    .stdin(Stdio::null())
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "out\nC.UTF-8\n");
    assert_eq!(text(&out.stderr), "err\n");
    // 10 MiB of binary in through standard input, and back out byte for byte.
    let data: Vec<u8> = (0..10u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let out = through_w(
        &mut as_alice(&["cat > /tmp/blob && wc -c < /tmp/blob"]),
        &data,
    );
    assert_eq!(
        text(&out.stdout).trim(),
        (10u32 << 20).to_string(),
        "{}",
        text(&out.stderr)
    );
    let out = as_alice(&["cat /tmp/blob"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stdout == data,
        "{} bytes back",
        out.stdout.len()
    );
    let log = alice.ok(&["codespace", "logs", &name]);
    assert!(
        log.contains("ssh: a command by alice with key SHA256:"),
        "{log}"
    );
    assert!(
        !log.contains("echo err"),
        "commands are logged, never what they say"
    );

    // Files: scp both ways (OpenSSH 9's scp speaks sftp, served by Berth: the image has no sftp
    // server), owned inside by the environment's user; and sftp's own commands.
    let up = dir.path().join("up.bin");
    std::fs::write(&up, &data[..3 << 20]).unwrap();
    let remote = |path: &str| format!("{name}@127.0.0.1:{path}");
    let out = file_client(
        "scp",
        dir.path(),
        port,
        &alice_key,
        &[up.to_str().unwrap(), &remote("up.bin")],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "scp up: {}", text(&out.stderr));
    let down = dir.path().join("down.bin");
    let out = file_client(
        "scp",
        dir.path(),
        port,
        &alice_key,
        &[&remote("up.bin"), down.to_str().unwrap()],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "scp down: {}", text(&out.stderr));
    assert!(
        std::fs::read(&down).unwrap() == data[..3 << 20],
        "byte for byte both ways"
    );
    let owner = as_alice(&["stat -c %u up.bin; id -u; pwd"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let said = text(&owner.stdout);
    let lines: Vec<&str> = said.lines().collect();
    assert_eq!(
        lines[0], lines[1],
        "owned by the environment's user: {said}"
    );
    let batch = dir.path().join("batch");
    let got = dir.path().join("got.bin");
    std::fs::write(
        &batch,
        format!(
            "mkdir made\nput {} made/a.bin\nrename made/a.bin made/b.bin\nls -l made\nget made/b.bin {}\nrm made/b.bin\nrmdir made\n",
            up.display(),
            got.display()
        ),
    )
    .unwrap();
    let out = file_client(
        "sftp",
        dir.path(),
        port,
        &alice_key,
        &["-b", batch.to_str().unwrap(), &format!("{name}@127.0.0.1")],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "sftp: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("b.bin"), "{}", text(&out.stdout));
    assert!(std::fs::read(&got).unwrap() == data[..3 << 20]);
    let left = as_alice(&["ls made 2>&1; true"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        text(&left.stdout).contains("No such file"),
        "removed: {}",
        text(&left.stdout)
    );

    // Through HTTPS only: the Host block `berth codespace ssh --config` prints, its ProxyCommand
    // carrying the connection over the API's WebSocket, the host key pinned from /meta.
    let block = alice.ok(&["codespace", "ssh", "--config", &name]);
    assert!(block.contains(&format!("Host berth-{name}")), "{block}");
    let config = dir.path().join("ssh_config");
    std::fs::write(&config, &block).unwrap();
    let mut via_api = through_config(
        &config,
        &alice_key,
        &alice,
        &format!("berth-{name}"),
        "echo via-the-api",
    );
    let out = via_api.output().unwrap();
    assert_eq!(text(&out.stdout), "via-the-api\n", "{}", text(&out.stderr));

    // The host key rotated: clients that knew the old one are warned off; --config pins the new.
    assert!(
        !alice
            .run(&["admin", "rotate-ssh-host-key"], None)
            .status
            .success()
    );
    let rotated = admin.ok(&["admin", "rotate-ssh-host-key"]);
    assert!(
        rotated.starts_with("the SSH gateway's host key is now SHA256:"),
        "{rotated}"
    );
    let out = as_alice(&["true"]).stdin(Stdio::null()).output().unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("HOST IDENTIFICATION HAS CHANGED"),
        "{}",
        text(&out.stderr)
    );
    // (The test's own known_hosts learns the new key from here on.)
    std::fs::remove_file(dir.path().join("known_hosts")).unwrap();
    // Without a name, --config writes a block for each environment of alice's.
    let blocks = alice.ok(&["codespace", "ssh", "--config"]);
    assert!(blocks.contains(&format!("Host berth-{name}\n")), "{blocks}");
    std::fs::write(&config, &blocks).unwrap();
    let out = via_api.output().unwrap();
    assert_eq!(text(&out.stdout), "via-the-api\n", "{}", text(&out.stderr));

    // Refusals. A key no account holds, and bob's key at alice's environment (which does not
    // exist for him, as a missing one).
    let refused = |key: &Path, user: &str, target: &str| {
        let out = through_w(
            &mut ssh(dir.path(), port, key, user, &["-W", target]),
            request,
        );
        assert!(!out.status.success());
        assert_eq!(text(&out.stdout), "");
        text(&out.stderr)
    };
    let running = || exec_ok(&alice, &name, "ps -o args");
    let before = running();
    assert!(refused(&stranger, &name, "localhost:3000").contains("Permission denied"));
    assert!(refused(&bob_key, &name, "localhost:3000").contains("no codespace"));
    assert!(refused(&alice_key, "alice-nothing-x1", "localhost:3000").contains("no codespace"));
    // Only the environment's own loopback.
    assert!(
        refused(&alice_key, &name, "10.0.2.2:3000").contains("only the environment's own ports")
    );
    // None of them left anything running inside.
    assert_eq!(running(), before);
    // A deleted key is refused at once.
    let keys = keys_of("alice");
    let listed: serde_json::Value =
        serde_json::from_str(&keys.ok(&["key", "list", "--json"])).unwrap();
    keys.ok(&["key", "delete", &listed[0]["id"].to_string()]);
    assert!(refused(&alice_key, &name, "localhost:3000").contains("Permission denied"));
    // A stopped environment says so (with another key of alice's).
    let again = keygen(dir.path(), "alice-again").0;
    keys.ok(&["key", "add", again.with_extension("pub").to_str().unwrap()]);
    alice.ok(&["codespace", "stop", &name]);
    assert!(refused(&again, &name, "localhost:3000").contains("not Available"));
    // NAME+start starts it first, and the command runs.
    let out = ssh(
        dir.path(),
        port,
        &again,
        &format!("{name}+start"),
        &["echo woke-up"],
    )
    .stdin(Stdio::null())
    .output()
    .unwrap();
    assert_eq!(text(&out.stdout), "woke-up\n", "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("being made Available"),
        "{}",
        text(&out.stderr)
    );
}

/// `ssh -A`: the client's agent answers inside the environment (`ssh-add -l` there lists the key
/// the agent on this side holds), and nothing of it stays after the session.
#[test]
fn a_forwarded_agent_signals_and_hang_ups_reach_what_a_session_runs() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let layers = [
        images::busybox_layer(dir.path()),
        images::host_programs_layer(dir.path(), "ssh-add", &["ssh-add"]),
    ];
    images::image_layout(&layout, "agent", &layers, &["PATH=/bin:/usr/bin"]);
    let berth = Berth::start(&["--ssh-listen", "127.0.0.1:0"], &[]);
    let port = berth.server.ssh_port();
    let alice = berth.cli(&berth.alice);
    let image = format!("{}/alice/agent:1", berth.host);
    images::push(&layout, "agent", &image, &format!("alice:{}", berth.alice));
    let admin = Cli::admin(&berth.server, &berth.data(), &dir.path().join("admin"));
    let (key, fingerprint) = keygen(dir.path(), "alice-key");
    berth
        .cli(&admin.token_for("alice", "write:public_key"))
        .ok(&["key", "add", key.with_extension("pub").to_str().unwrap()]);
    alice.ok(&["repo", "create", "alice/web"]);
    alice.ok(&["package", "grant", "alice/agent", "--repo", "alice/web"]);
    let name = created(&alice, &["-R", "alice/web", "--image", &image]);

    forwarded_agent_answers(dir.path(), port, &key, &fingerprint, &name);

    hanging_up_leaves_nothing_running(dir.path(), port, &key, &name, &alice);
    signals_reach_the_command(port, &key, &name);
    sessions_per_connection_are_bounded(port, &key, &name);
    connections_are_bounded(port);
    let log = alice.ok(&["codespace", "logs", &name]);
    assert!(
        log.contains(&format!(
            "a command with the client's agent by alice with key {fingerprint}"
        )),
        "{log}"
    );
}
