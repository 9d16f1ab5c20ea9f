//! The web UI against a real server and a real environment: signed in with a password, the
//! terminal page's WebSocket runs a shell in the environment (what xterm.js does in the page).

mod support;

use futures_util::{SinkExt as _, StreamExt as _};
use support::environments::{AliceWithImage, created};
use support::{Cli, runtime};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

const PASSWORD: &str = "a password for the web";

/// The value of the cookie `name` a response sets.
fn cookie_of(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix(&format!("{name}=")))
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("no {name} cookie set"))
        .to_owned()
}

/// Signs `login` in through the sign-in form, as a browser: the session cookie.
async fn sign_in(http: &reqwest::Client, base: &str, login: &str) -> String {
    let form = http.get(format!("{base}/login")).send().await.unwrap();
    let form_cookie = cookie_of(&form, "berth_form");
    let page = form.text().await.unwrap();
    let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = &page[at..at + 32];
    let signed = http
        .post(format!("{base}/login"))
        .header("cookie", format!("berth_form={form_cookie}"))
        .form(&[
            ("csrf", csrf),
            ("login", login),
            ("password", PASSWORD),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 303);
    cookie_of(&signed, "berth_session")
}

/// The terminal WebSocket of `name`, opened with `session` from a page of `origin`; `Err` is the
/// refusal's status.
async fn terminal(
    http: &reqwest::Client,
    base: &str,
    name: &str,
    session: &str,
    origin: &str,
) -> Result<WebSocketStream<reqwest::Upgraded>, u16> {
    use base64::Engine as _;
    let key = base64::engine::general_purpose::STANDARD.encode([7u8; 16]);
    let response = http
        .get(format!("{base}/environments/{name}/terminal/socket"))
        .header("cookie", format!("berth_session={session}"))
        .header("origin", origin)
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", key)
        .send()
        .await
        .unwrap();
    if response.status() != 101 {
        return Err(response.status().as_u16());
    }
    let upgraded = response.upgrade().await.unwrap();
    Ok(WebSocketStream::from_raw_socket(upgraded, Role::Client, None).await)
}

/// Reads the terminal until what it sent (all of it, in `seen`) holds `want`; fails after 30 s.
async fn read_until(
    socket: &mut WebSocketStream<reqwest::Upgraded>,
    seen: &mut String,
    want: &str,
) {
    let limit = std::time::Duration::from_secs(30);
    let reading = async {
        while !seen.contains(want) {
            match socket.next().await {
                Some(Ok(Message::Binary(b))) => seen.push_str(&String::from_utf8_lossy(&b)),
                Some(Ok(Message::Text(t))) => seen.push_str(&t),
                Some(Ok(_)) => {}
                other => panic!("the terminal ended early: {other:?}\n{seen}"),
            }
        }
    };
    if tokio::time::timeout(limit, reading).await.is_err() {
        panic!("no {want:?} from the terminal:\n{seen}");
    }
}

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
