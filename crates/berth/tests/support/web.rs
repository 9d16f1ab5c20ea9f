//! The web UI as a browser drives it, without one: the sign-in form, and the terminal page's
//! WebSocket (what xterm.js does in the page).

use futures_util::StreamExt as _;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

/// The password the tests give users for the web UI.
pub const PASSWORD: &str = "a password for the web";

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
pub async fn sign_in(http: &reqwest::Client, base: &str, login: &str) -> String {
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
pub async fn terminal(
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
pub async fn read_until(
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
