//! The web UI against a real server and a real environment: signed in with a password, the
//! terminal page's WebSocket runs a shell in the environment (what xterm.js does in the page).

mod support;

use futures_util::SinkExt as _;
use support::environments::{AliceWithImage, created};
use support::web::{PASSWORD, read_until, sign_in, terminal};
use support::{Cli, runtime};
use tokio_tungstenite::tungstenite::Message;

/// alice, her password (set by the administrator with the CLI), and an environment of her
/// repository `alice/app` running her image: its name.
fn alice_with_an_environment() -> (AliceWithImage, String) {
    let lab = AliceWithImage::start();
    let devcontainer = format!("{{\"image\": \"{}\"}}", lab.image);
    lab.repo("app", &[(".devcontainer/devcontainer.json", &devcontainer)]);
    let name = created(&lab.alice, &["-R", "alice/app"]);
    let admin = Cli::admin(
        &lab.berth.server,
        &lab.berth.data(),
        &lab.dir.path().join("admin"),
    );
    let set = admin.run(
        &["user", "password", "alice", "--stdin"],
        Some(&format!("{PASSWORD}\n")),
    );
    assert!(set.status.success());
    (lab, name)
}

#[test]
fn the_terminal_page_runs_a_shell_in_the_environment() {
    let (lab, name) = alice_with_an_environment();
    let base = lab.berth.server.url.clone();

    runtime().block_on(async {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let session = sign_in(&http, &base, "alice").await;

        // The page, with xterm.js embedded in the binary.
        let page = http
            .get(format!("{base}/environments/{name}/terminal"))
            .header("cookie", format!("berth_session={session}"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let at = page
            .find("src=\"/assets/xterm-")
            .expect("xterm.js on the page")
            + 5;
        let script = &page[at..at + page[at..].find('"').unwrap()];
        let served = http.get(format!("{base}{script}")).send().await.unwrap();
        assert_eq!(served.status(), 200);
        assert!(served.text().await.unwrap().contains("Terminal"));

        // A page of another site cannot open it, nor can anyone without a session.
        let foreign = terminal(&http, &base, &name, &session, "http://evil.example").await;
        assert_eq!(foreign.err(), Some(403));
        let nobody = terminal(&http, &base, &name, "berth_ses_nothing", &base).await;
        assert_eq!(nobody.err(), Some(401));

        // The shell: a command typed, its output, the window resized, and the end.
        let mut socket = terminal(&http, &base, &name, &session, &base)
            .await
            .expect("the terminal opens");
        let start = serde_json::json!({ "cols": 100, "rows": 30, "term": "xterm-256color" });
        socket.send(Message::text(start.to_string())).await.unwrap();
        let keys = b"echo from-the-web-$((6*7)); stty size\r".to_vec();
        socket.send(Message::binary(keys)).await.unwrap();
        let mut seen = String::new();
        read_until(&mut socket, &mut seen, "from-the-web-42").await;
        read_until(&mut socket, &mut seen, "30 100").await;
        let resize = serde_json::json!({ "resize": [120, 40] });
        socket
            .send(Message::text(resize.to_string()))
            .await
            .unwrap();
        socket
            .send(Message::binary(b"stty size; exit 3\r".to_vec()))
            .await
            .unwrap();
        read_until(&mut socket, &mut seen, "40 120").await;
        read_until(&mut socket, &mut seen, "\"exit_code\":3").await;
    });
}

#[test]
fn in_a_real_browser_one_signs_in_and_types_in_the_terminal() {
    let Some(python) = support::servers::python() else {
        return;
    };
    let (lab, name) = alice_with_an_environment();
    let mut browser = std::process::Command::new(python);
    browser
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/clients/web_ui.py"
        ))
        .args([&lab.berth.server.url, "alice", PASSWORD, &name, "alice/app"]);
    // `BERTH_SCREENSHOTS=docs/screenshots` keeps the main pages for the docs.
    if let Ok(dir) = std::env::var("BERTH_SCREENSHOTS") {
        browser.arg(dir);
    }
    let out = browser.output().unwrap();
    assert!(
        out.status.success(),
        "the browser session failed:\n{}{}",
        support::text(&out.stdout),
        support::text(&out.stderr)
    );

    // The secret set in the page reaches the environment at its next start, and never the log.
    lab.alice.ok(&["codespace", "stop", &name]);
    lab.alice.ok(&["codespace", "start", &name]);
    let mut said = String::new();
    for _ in 0..100 {
        if support::environments::state(&lab.alice, &name) == "Available" {
            said = support::environments::exec_ok(&lab.alice, &name, "echo $BROWSER_SECRET");
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(said, "sealed-in-the-browser\n");
    let log = lab.berth.server.log.lock().unwrap().clone();
    assert!(
        !log.contains("sealed-in-the-browser"),
        "the value reached the log"
    );
}
