//! An environment's ports through the API, as a user reaches them with the CLI under runc:
//! `berth codespace ports` lists what listens inside the environment's own network, and
//! `berth codespace ports forward` carries local connections there through the WebSocket tunnel.

mod support;

use std::io::{BufRead as _, BufReader};

use support::environments::{AliceWithImage, created, http_get, serve_page, start_forward};

#[test]
fn a_server_inside_is_listed_and_reached_through_a_forward() {
    let a = AliceWithImage::start();
    a.repo("web", &[("README", "hi\n")]);
    let name = created(&a.alice, &["-R", "alice/web", "--image", &a.image]);
    serve_page(&a.alice, &name, 3000, "hello-from-inside");
    let listed = a.alice.ok(&["codespace", "ports", &name]);
    assert_eq!(
        listed, "PORT\n3000\n",
        "only what listens inside, not the host's ports"
    );

    let (mut forward, local, _) = start_forward(&a.alice, &name, 3000);
    for _ in 0..2 {
        let answer = http_get(local);
        assert!(
            answer.starts_with("HTTP/1.") && answer.ends_with("hello-from-inside\n"),
            "{answer}"
        );
    }
    let _ = forward.kill();
    let _ = forward.wait();

    // Nothing listens on 3001: the local connection is closed, and the forward says why.
    let (mut refused, local, stderr) = start_forward(&a.alice, &name, 3001);
    assert_eq!(http_get(local), "");
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
