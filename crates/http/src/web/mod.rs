//! The web UI (SPEC §11), served at `/` by the same binary: server-rendered pages (askama
//! templates in `crates/http/templates`, checked at compile time), assets embedded and cached by
//! their hash, a session cookie (`HttpOnly`, `SameSite=Lax`, `Secure` under TLS) naming a session
//! kept on the server, and a form token on every form. Pages call the same service methods, with
//! the same authorization, as the API: a session is its user.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{
    ConnectInfo, DefaultBodyLimit, FromRequest, FromRequestParts, Path, Query, State,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use berth_domain::Login;
use berth_service::ServiceError;
use berth_service::accounts::sessions::{IDLE_LIFETIME, SignedIn};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::AppState;
use account::{Removal, remove_form};
use people::{AdminChange, OrgChange};

mod account;
mod environments;
mod packages;
mod people;
mod secrets;

const SESSION_COOKIE: &str = "berth_session";
/// The form token of signed-out forms (sign-in): a random value in a cookie and in the form,
/// which must agree (a page of another site can post a form but cannot read or set the cookie).
const FORM_COOKIE: &str = "berth_form";
/// The most a form may hold.
const FORM_LIMIT: usize = 64 << 10;
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/environments", post(environments::create))
        .route("/environments/{name}", get(environments::show))
        .route("/environments/{name}/log", get(environments::log))
        .route("/environments/{name}/terminal", get(environments::terminal))
        .route(
            "/environments/{name}/terminal/socket",
            get(environments::terminal_socket),
        )
        .route("/environments/{name}/{verb}", post(environments::act))
        .route("/settings", get(account::show))
        .route("/settings/password", post(account::change_password))
        .route("/settings/tokens", post(account::create_token))
        .route("/settings/tokens/{id}/revoke", remove_form(Removal::Token))
        .route("/settings/keys", post(account::add_key))
        .route("/settings/keys/{id}/delete", remove_form(Removal::Key))
        .route(
            "/settings/sessions/{id}/revoke",
            remove_form(Removal::Session),
        )
        .route("/settings/secrets", get(secrets::page).post(secrets::save))
        .route("/settings/secrets/{name}/delete", post(secrets::delete))
        .route(
            "/repositories/{owner}/{repo}/secrets",
            get(secrets::page).post(secrets::save),
        )
        .route(
            "/repositories/{owner}/{repo}/secrets/{name}/delete",
            post(secrets::delete),
        )
        .route(
            "/orgs/{org}/secrets",
            get(secrets::page).post(secrets::save),
        )
        .route("/orgs/{org}/secrets/{name}/delete", post(secrets::delete))
        .route("/orgs/{org}", get(people::org))
        .route(
            "/orgs/{org}/members",
            people::org_form(|| OrgChange::SetMember),
        )
        .route(
            "/orgs/{org}/teams",
            people::org_form(|| OrgChange::CreateTeam),
        )
        .route("/orgs/{org}/teams/{slug}/{verb}", post(people::change_team))
        .route(
            "/orgs/{org}/members/remove",
            people::org_form(|| OrgChange::RemoveMember),
        )
        .route("/admin", get(people::admin))
        .route("/admin/users", people::admin_form(AdminChange::CreateUser))
        .route(
            "/admin/users/password",
            people::admin_form(AdminChange::NewPassword),
        )
        .route(
            "/admin/organizations",
            people::admin_form(AdminChange::CreateOrganization),
        )
        .route("/packages/{owner}", get(packages::list))
        .route("/packages/{owner}/{kind}/{name}", get(packages::show))
        .route(
            "/packages/{owner}/{kind}/{name}/{action}",
            post(packages::act),
        )
        .route("/assets/{file}", get(serve_asset))
        .layer(DefaultBodyLimit::max(FORM_LIMIT))
        .layer(axum::middleware::from_fn(server_timing))
}

/// Says how long the server took over a page, as a `Server-Timing` header (`app;dur=` in
/// milliseconds, up to the response's head): browsers' developer tools show it, and
/// `scripts/bench-web` reads it.
async fn server_timing(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let start = std::time::Instant::now();
    let mut response = next.run(request).await;
    let took = start.elapsed().as_secs_f64() * 1000.0;
    if let Ok(v) = HeaderValue::from_str(&format!("app;dur={took:.3}")) {
        response.headers_mut().insert("server-timing", v);
    }
    response
}

/// The assets embedded in the binary: (name, media type, bytes).
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "berth.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/berth.css"),
    ),
    (
        "berth.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/berth.js"),
    ),
    (
        "terminal.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/terminal.js"),
    ),
    (
        "xterm.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/vendor/xterm-5.5.0.js"),
    ),
    (
        "xterm.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/vendor/xterm-5.5.0.css"),
    ),
    (
        "addon-fit.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/vendor/addon-fit-0.11.0.js"),
    ),
    (
        "secrets.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/secrets.js"),
    ),
    (
        "libsodium.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/vendor/libsodium-0.7.15.js"),
    ),
    (
        "libsodium-wrappers.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/vendor/libsodium-wrappers-0.7.15.js"),
    ),
];

/// Each asset's path, `/assets/<stem>-<hash>.<ext>`, named by a hash of its bytes so that it can
/// be cached for good.
fn asset_paths() -> &'static [(String, &'static str, &'static str)] {
    static PATHS: std::sync::OnceLock<Vec<(String, &'static str, &'static str)>> =
        std::sync::OnceLock::new();
    PATHS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|(name, kind, body)| {
                // FNV-1a: enough to tell one version of a file from the next.
                let hash = body.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                    (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
                });
                let (stem, ext) = name.rsplit_once('.').expect("a name with an extension");
                (format!("/assets/{stem}-{hash:016x}.{ext}"), *kind, *body)
            })
            .collect()
    })
}

/// The path asset `name` is served at.
fn asset(name: &str) -> &'static str {
    let at = ASSETS
        .iter()
        .position(|(n, _, _)| *n == name)
        .expect("an embedded asset");
    &asset_paths()[at].0
}

fn css_path() -> &'static str {
    asset("berth.css")
}

fn js_path() -> &'static str {
    asset("berth.js")
}

/// What every page's frame shows.
struct Page {
    css: &'static str,
    user: Option<String>,
    /// Whether to offer the site administration page.
    site_admin: bool,
    csrf: String,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    page: Page,
    error: Option<&'a str>,
    next: &'a str,
    login: &'a str,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    page: Page,
    environments: Vec<EnvironmentRow>,
    /// Why the last creation was refused, and (below) the repository it asked for.
    notice: Notice,
    repository: String,
}

struct EnvironmentRow {
    name: String,
    state: &'static str,
    repository: String,
    branch: String,
    machine: String,
    last_used: String,
}

fn html(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => (
            status,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page did not render");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// The value of cookie `name` in the request.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// A `Set-Cookie` value: `max_age` seconds (0 removes it); `Secure` when the server is reached
/// over TLS.
fn set_cookie(s: &AppState, name: &str, value: &str, max_age: i64) -> HeaderValue {
    let secure = if s.base_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .expect("cookie values are printable ASCII")
}

fn random_token() -> String {
    use rand::Rng as _;
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

/// Whether two form tokens are the same, in time that does not depend on where they differ.
fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// A form posted by a signed-in browser, carrying its session's form token: what every change
/// takes. Signed out, the browser is sent to sign in; without the token, nothing is done (403).
struct Posted {
    signed_in: SignedIn,
    fields: Vec<(String, String)>,
}

impl Posted {
    /// A field's value (the first, when repeated); empty when absent.
    fn field(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Every value of a repeated field.
    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn principal(&self) -> &berth_service::Principal {
        &self.signed_in.principal
    }
}

impl FromRequest<AppState> for Posted {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, s: &AppState) -> Result<Self, Response> {
        let headers = req.headers().clone();
        let Some(signed_in) = session(s, &headers).await else {
            return Err(to_sign_in("/"));
        };
        let Form(fields) = Form::<Vec<(String, String)>>::from_request(req, s)
            .await
            .map_err(IntoResponse::into_response)?;
        let posted = Posted { signed_in, fields };
        if !same_token(&posted.signed_in.session.csrf, posted.field("csrf")) {
            return Err(expired());
        }
        Ok(posted)
    }
}

/// The answer to a form without its session's form token.
fn expired() -> Response {
    (
        StatusCode::FORBIDDEN,
        "This form expired: reload the page and try again.",
    )
        .into_response()
}

/// The session the request's cookie names, when it is live.
async fn session(s: &AppState, headers: &HeaderMap) -> Option<SignedIn> {
    let value = cookie(headers, SESSION_COOKIE)?;
    s.accounts().session(&SecretString::from(value)).await.ok()
}

/// The caller a session cookie names, if it names a live session.
pub(crate) async fn signed_in(
    s: &AppState,
    headers: &HeaderMap,
) -> Option<berth_service::Principal> {
    session(s, headers)
        .await
        .map(|signed_in| signed_in.principal)
}

/// Where a page may send the browser after signing in: a path of this site, nothing else.
fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') => p,
        _ => "/",
    }
}

/// A signed-in browser asking for a page, and the platform: what every page starts from (as
/// [`Call`](crate::auth::Call) is for the API). Signed out, it is sent to sign in, and back to
/// the page it asked for.
struct Viewer(AppState, SignedIn);

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Response> {
        match session(s, &parts.headers).await {
            Some(signed_in) => Ok(Viewer(s.clone(), signed_in)),
            None => Err(to_sign_in(
                parts.uri.path_and_query().map_or("/", |p| p.as_str()),
            )),
        }
    }
}

/// What a page is about, as its path names it (an organization, a package, whose secrets):
/// pages and their forms take it as [`Subject`], and a path that names nothing that can exist
/// gets the page's missing answer (for a form, before its session is checked: nothing is done).
trait FromPath: Sized {
    /// From the path's parameters, by name.
    fn from_path(params: &HashMap<String, String>) -> Option<Self>;

    /// The page's answer for a path that names nothing.
    fn missing() -> Response;
}

/// The subject of a page, from its path (see [`FromPath`]).
struct Subject<T>(T);

impl<T: FromPath + Send> FromRequestParts<AppState> for Subject<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Response> {
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, s)
            .await
            .map_err(IntoResponse::into_response)?;
        T::from_path(&params).map(Subject).ok_or_else(T::missing)
    }
}

/// What a page says above its content and the status it is sent with: as asked for (saying what
/// the change that led back to it did), or again after a change was refused (saying why).
struct Notice {
    status: StatusCode,
    done: Option<&'static str>,
    error: Option<String>,
}

impl Notice {
    /// The page as asked for, saying `done` (a page's `said` of `?done=`).
    fn shown(done: Option<&'static str>) -> Self {
        Notice {
            status: StatusCode::OK,
            done,
            error: None,
        }
    }

    fn refused(status: StatusCode, error: impl Into<String>) -> Self {
        Notice {
            status,
            done: None,
            error: Some(error.into()),
        }
    }
}

/// The page again (`page`) saying why a change was refused, when the service's words say what
/// the user can fix (invalid input, forbidden, conflicting); otherwise the page's `missing`
/// answer, or a failure.
async fn again<F>(
    e: ServiceError,
    missing: fn() -> Response,
    page: impl FnOnce(Notice) -> F,
) -> Response
where
    F: Future<Output = Response>,
{
    let notice = match e {
        ServiceError::Invalid(i) => Notice::refused(StatusCode::UNPROCESSABLE_ENTITY, i.message),
        ServiceError::Forbidden(m) => Notice::refused(StatusCode::FORBIDDEN, m),
        ServiceError::Conflict(m) => Notice::refused(StatusCode::CONFLICT, m),
        ServiceError::NotFound => return missing(),
        e => return failed(&e),
    };
    page(notice).await
}

fn to_sign_in(next: &str) -> Response {
    let next: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
    Redirect::to(&format!("/login?next={next}")).into_response()
}

/// The client's address, for the sign-in limits (`None` when the server does not know it).
struct ClientIp(Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

/// `GET /`: your environments; signed out, the sign-in page first.
async fn home(Viewer(s, signed_in): Viewer) -> Response {
    home_page(&s, &signed_in, Notice::shown(None), String::new()).await
}

/// Your environments, with the creation form (and why the last creation was refused).
async fn home_page(
    s: &AppState,
    signed_in: &SignedIn,
    notice: Notice,
    repository: String,
) -> Response {
    let all = berth_store::Window {
        limit: 1000,
        offset: 0,
    };
    let listing = match s
        .environments()
        .list_codespaces(&signed_in.principal, all)
        .await
    {
        Ok(l) => l,
        Err(e) => return failed(&e),
    };
    let environments = listing
        .items
        .iter()
        .map(|v| EnvironmentRow {
            name: v.record.name.clone(),
            state: v.record.state.as_str(),
            repository: v.repo.full_name(),
            branch: v
                .record
                .git_ref
                .clone()
                .unwrap_or_else(|| "(default)".into()),
            machine: v.record.machine.clone(),
            last_used: crate::render::timestamp(v.record.last_used_at),
        })
        .collect();
    html(
        notice.status,
        &HomePage {
            page: page_of(signed_in),
            environments,
            notice,
            repository,
        },
    )
}

fn page_of(signed_in: &SignedIn) -> Page {
    let login = match &signed_in.principal {
        berth_service::Principal::User { account, .. } => Some(account.login.to_string()),
        _ => None,
    };
    Page {
        css: css_path(),
        user: login,
        site_admin: signed_in.principal.user().is_some_and(|a| a.site_admin),
        csrf: signed_in.session.csrf.clone(),
    }
}

fn failed(e: &ServiceError) -> Response {
    tracing::error!(error = %e, "a page failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something failed on the server; its log has the details. Reload the page to try again.",
    )
        .into_response()
}

/// `?done=WORD`: what a page says after a change led back to it (each page maps the word to
/// fixed words; nothing the request says is shown).
#[derive(Deserialize)]
struct Done {
    done: Option<String>,
}

#[derive(Deserialize)]
struct Next {
    next: Option<String>,
}

/// `GET /login`: the sign-in form, with a fresh form token in a cookie.
async fn login_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<Next>,
) -> Response {
    let next = local_path(q.next.as_deref());
    if session(&s, &headers).await.is_some() {
        return Redirect::to(next).into_response();
    }
    sign_in_form(&s, &headers, StatusCode::OK, None, next, "")
}

fn sign_in_form(
    s: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    error: Option<&str>,
    next: &str,
    login: &str,
) -> Response {
    let token = cookie(headers, FORM_COOKIE)
        .filter(|t| t.len() == 32)
        .unwrap_or_else(random_token);
    let page = Page {
        css: css_path(),
        user: None,
        site_admin: false,
        csrf: token.clone(),
    };
    let mut response = html(
        status,
        &LoginPage {
            page,
            error,
            next,
            login,
        },
    );
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(s, FORM_COOKIE, &token, 3600));
    response
}

#[derive(Deserialize)]
struct SignInForm {
    csrf: String,
    login: String,
    password: String,
    next: Option<String>,
}

/// `POST /login`: signs in and sends the browser where it was going.
async fn login(
    State(s): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    let next = local_path(form.next.as_deref());
    let expected = cookie(&headers, FORM_COOKIE).unwrap_or_default();
    if expected.is_empty() || !same_token(&expected, &form.csrf) {
        return sign_in_form(
            &s,
            &headers,
            StatusCode::FORBIDDEN,
            Some("This form expired. Sign in again from this page."),
            next,
            &form.login,
        );
    }
    let password = SecretString::from(form.password);
    let signed = match Login::parse(form.login.trim()) {
        Ok(login) => s.accounts().sign_in(&login, password, client).await,
        Err(_) => Err(ServiceError::BadCredentials),
    };
    match signed {
        Ok(new) => {
            let mut response = Redirect::to(next).into_response();
            let value = set_cookie(
                &s,
                SESSION_COOKIE,
                new.cookie.expose_secret(),
                IDLE_LIFETIME,
            );
            response.headers_mut().append(header::SET_COOKIE, value);
            response
        }
        Err(ServiceError::BadCredentials) => sign_in_form(
            &s,
            &headers,
            StatusCode::UNAUTHORIZED,
            Some("Incorrect username or password."),
            next,
            &form.login,
        ),
        Err(e @ ServiceError::TooManyAttempts { .. }) => sign_in_form(
            &s,
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            Some(&format!("Too many failed sign-ins: {e}.")),
            next,
            &form.login,
        ),
        Err(e) => failed(&e),
    }
}

/// `POST /logout`: ends the session on the server and forgets the cookie.
async fn logout(State(s): State<AppState>, posted: Posted) -> Response {
    if let Err(e) = s.accounts().sign_out(&posted.signed_in).await {
        return failed(&e);
    }
    let mut response = Redirect::to("/login").into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(&s, SESSION_COOKIE, "", 0));
    response
}

/// `GET /assets/{file}`: the embedded assets, cached for good (their names change with them).
async fn serve_asset(Path(file): Path<String>) -> Response {
    let path = format!("/assets/{file}");
    let Some((_, kind, body)) = asset_paths().iter().find(|(p, _, _)| *p == path) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    (
        [
            (header::CONTENT_TYPE, *kind),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        *body,
    )
        .into_response()
}
