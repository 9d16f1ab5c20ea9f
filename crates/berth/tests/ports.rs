//! An environment's ports through the API, as a user reaches them with the CLI under runc:
//! `berth codespace ports` lists what listens inside the environment's own network, and
//! `berth codespace ports forward` carries local connections there through the WebSocket tunnel.

mod support;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::process::Stdio;

use support::environments::{AliceWithImage, created, exec_ok};

/// An HTTP/1.0 GET of `/` at 127.0.0.1:`port`: the whole answer (what came before the
/// connection was closed or reset).
fn get(port: u16) -> String {
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer);
    String::from_utf8(answer).unwrap()
}

/// `berth codespace ports forward NAME 0:REMOTE` in the background: the process, the local port
/// it printed, and the rest of its standard error.
fn start_forward(
    cli: &support::Cli,
    name: &str,
    remote: u16,
) -> (std::process::Child, u16, std::process::ChildStderr) {
    let mut child = cli
        .command(&[
            "codespace",
            "ports",
            "forward",
            name,
            &format!("0:{remote}"),
        ])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut said = Vec::new();
    // One byte at a time, so that nothing after the first line is taken from the pipe.
    let mut reader = stderr;
    let mut byte = [0u8; 1];
    while reader.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
        said.push(byte[0]);
    }
    let said = String::from_utf8(said).unwrap();
    let local = said
        .strip_prefix("forwarding 127.0.0.1:")
        .and_then(|rest| rest.split_once(' '))
        .and_then(|(port, _)| port.parse().ok())
        .unwrap_or_else(|| panic!("{said}"));
    (child, local, reader)
}

#[test]
fn a_server_inside_is_listed_and_reached_through_a_forward() {
    let a = AliceWithImage::start();
    a.repo("web", &[("README", "hi\n")]);
    let name = created(&a.alice, &["-R", "alice/web", "--image", &a.image]);
    // busybox's httpd, which puts itself in the background, serving one page on port 3000.
    exec_ok(
        &a.alice,
        &name,
        "mkdir -p /tmp/www && echo hello-from-inside > /tmp/www/index.html && httpd -p 3000 -h /tmp/www",
    );
    let listed = a.alice.ok(&["codespace", "ports", &name]);
    assert_eq!(
        listed, "PORT\n3000\n",
        "only what listens inside, not the host's ports"
    );

    let (mut forward, local, _) = start_forward(&a.alice, &name, 3000);
    for _ in 0..2 {
        let answer = get(local);
        assert!(
            answer.starts_with("HTTP/1.") && answer.ends_with("hello-from-inside\n"),
            "{answer}"
        );
    }
    let _ = forward.kill();
    let _ = forward.wait();

    // Nothing listens on 3001: the local connection is closed, and the forward says why.
    let (mut refused, local, stderr) = start_forward(&a.alice, &name, 3001);
    assert_eq!(get(local), "");
    let mut warning = String::new();
    BufReader::new(stderr).read_line(&mut warning).unwrap();
    assert!(
        warning.contains("nothing accepts connections on port 3001"),
        "{warning}"
    );
    let _ = refused.kill();
    let _ = refused.wait();

    let log = a.alice.ok(&["codespace", "logs", &name]);
    assert!(log.contains("port 3000 forwarded for alice"), "{log}");
    // Someone else's environment does not exist for them.
    let bob = a.berth.cli(&a.berth.bob);
    bob.fails(&["codespace", "ports", &name], "Not Found");
    a.alice.ok(&["codespace", "stop", &name]);
    a.alice
        .fails(&["codespace", "ports", &name], "not Available");
}
