//! Environments in the web UI: created from `/` (repository, branch, machine type, image), a page
//! each with its state, its actions (start, stop, delete) and its creation log, followed live while
//! it is busy (`berth.js` reads `/environments/{name}/log?follow=true`, which the service streams).

use std::convert::Infallible;

use askama::Template;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use berth_domain::{Login, RepoName};
use berth_service::ServiceError;
use berth_service::accounts::sessions::SignedIn;
use berth_service::environments::NewEnvironment;
use futures_util::StreamExt as _;
use serde::Deserialize;

use super::{
    Notice, Page, Posted, Viewer, again, asset, failed, home_page, html, js_path, page_of, session,
};
use crate::AppState;

#[derive(Template)]
#[template(path = "environment.html")]
struct EnvironmentPage {
    page: Page,
    js: &'static str,
    name: String,
    state: &'static str,
    reason: Option<String>,
    repository: String,
    branch: String,
    machine: String,
    /// How to reach it over SSH, when the gateway runs.
    ssh: Option<String>,
    can_start: bool,
    can_stop: bool,
    busy: bool,
    log: String,
}

/// `GET /environments/{name}`. Another user's environment is missing, as on the API.
pub(super) async fn show(Viewer(s, signed_in): Viewer, Path(name): Path<String>) -> Response {
    let envs = s.environments();
    let p = &signed_in.principal;
    let (view, log) =
        match tokio::try_join!(envs.get_codespace(p, &name), envs.codespace_log(p, &name)) {
            Ok(found) => found,
            Err(ServiceError::NotFound) => return not_found(),
            Err(e) => return failed(&e),
        };
    let state = view.record.state;
    html(
        StatusCode::OK,
        &EnvironmentPage {
            page: page_of(&signed_in),
            js: js_path(),
            name: view.record.name.clone(),
            state: state.as_str(),
            reason: view.record.state_reason.clone(),
            repository: view.repo.full_name(),
            branch: view
                .record
                .git_ref
                .clone()
                .unwrap_or_else(|| "(default)".into()),
            machine: view.record.machine.clone(),
            ssh: s.ssh.as_ref().map(|gateway| {
                let host = &s.registry_service;
                let host = host.rsplit_once(':').map_or(host.as_str(), |(h, _)| h);
                format!("ssh -p {} {name}@{host}", gateway.addr().port())
            }),
            can_start: state.can_start(),
            can_stop: state.can_stop(),
            busy: state.is_busy(),
            log,
        },
    )
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        "No such environment of yours. Your environments are listed at /.",
    )
        .into_response()
}

#[derive(Deserialize)]
pub(super) struct Follow {
    #[serde(default)]
    follow: bool,
}

/// `GET /environments/{name}/log[?follow=true]`: the creation log as text; followed, streamed
/// until the environment settles.
pub(super) async fn log(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(q): Query<Follow>,
) -> Response {
    let Some(signed_in) = session(&s, &headers).await else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let envs = s.environments();
    let text = [
        (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    if !q.follow {
        return match envs.codespace_log(&signed_in.principal, &name).await {
            Ok(log) => (text, log).into_response(),
            Err(ServiceError::NotFound) => not_found(),
            Err(e) => failed(&e),
        };
    }
    match envs.follow_codespace_log(&signed_in.principal, &name).await {
        Ok(mut pieces) => {
            let stream = futures_util::stream::poll_fn(move |cx| pieces.poll_recv(cx))
                .map(Ok::<_, Infallible>);
            (text, Body::from_stream(stream)).into_response()
        }
        Err(ServiceError::NotFound) => not_found(),
        Err(e) => failed(&e),
    }
}

fn given(field: &str) -> Option<String> {
    Some(field.trim().to_owned()).filter(|f| !f.is_empty())
}

/// `POST /environments`: creates one and shows its page, where its log follows the start.
pub(super) async fn create(State(s): State<AppState>, posted: Posted) -> Response {
    let signed_in = &posted.signed_in;
    let asked = posted.field("repository").trim().to_owned();
    let refuse = |message: String| async {
        let notice = Notice::refused(StatusCode::UNPROCESSABLE_ENTITY, message);
        home_page(&s, signed_in, notice, asked.clone()).await
    };
    let Some((owner, name)) = asked.split_once('/') else {
        return refuse(format!("{asked:?} is not OWNER/NAME")).await;
    };
    let (Ok(owner), Ok(name)) = (Login::parse(owner), RepoName::parse(name)) else {
        return refuse(format!("{asked:?} is not OWNER/NAME")).await;
    };
    let new = NewEnvironment {
        git_ref: given(posted.field("branch")),
        image: given(posted.field("image")),
        machine: given(posted.field("machine")),
        ..NewEnvironment::default()
    };
    match s
        .environments()
        .create_codespace(&signed_in.principal, &owner, &name, new)
        .await
    {
        Ok(view) => Redirect::to(&format!("/environments/{}", view.record.name)).into_response(),
        Err(ServiceError::NotFound) => {
            refuse(format!("you have no repository {asked} that you can read")).await
        }
        Err(ServiceError::Invalid(i)) => refuse(i.message).await,
        Err(ServiceError::Forbidden(m) | ServiceError::Conflict(m)) => refuse(m).await,
        Err(e) => failed(&e),
    }
}

/// `POST /environments/{name}/start|stop|delete`.
pub(super) async fn act(
    State(s): State<AppState>,
    Path((name, verb)): Path<(String, String)>,
    posted: Posted,
) -> Response {
    let signed_in = &posted.signed_in;
    let envs = s.environments();
    let p = &signed_in.principal;
    let done = match verb.as_str() {
        "start" => envs.start_codespace(p, &name).await.map(|_| ()),
        "stop" => envs.stop_codespace(p, &name).await.map(|_| ()),
        "delete" => {
            return match envs.delete_codespace(p, &name).await {
                Ok(()) => Redirect::to("/").into_response(),
                Err(e) => refused(&s, signed_in, e).await,
            };
        }
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    match done {
        Ok(()) => Redirect::to(&format!("/environments/{name}")).into_response(),
        Err(e) => refused(&s, signed_in, e).await,
    }
}

/// The home page again with why a change was refused (a refusal to start one is a conflict with
/// the environment's state).
async fn refused(s: &AppState, signed_in: &SignedIn, e: ServiceError) -> Response {
    let e = match e {
        ServiceError::Forbidden(m) => ServiceError::Conflict(m),
        e => e,
    };
    again(e, not_found, |n| home_page(s, signed_in, n, String::new())).await
}

#[derive(Template)]
#[template(path = "terminal.html")]
struct TerminalPage {
    page: Page,
    name: String,
    xterm_css: &'static str,
    xterm_js: &'static str,
    fit_js: &'static str,
    terminal_js: &'static str,
}

/// `GET /environments/{name}/terminal`: a terminal in the browser (xterm.js), the user's login
/// shell in the environment, resizing with the window.
pub(super) async fn terminal(Viewer(s, signed_in): Viewer, Path(name): Path<String>) -> Response {
    match s
        .environments()
        .get_codespace(&signed_in.principal, &name)
        .await
    {
        Ok(_) => {}
        Err(ServiceError::NotFound) => return not_found(),
        Err(e) => return failed(&e),
    }
    html(
        StatusCode::OK,
        &TerminalPage {
            page: page_of(&signed_in),
            name,
            xterm_css: asset("xterm.css"),
            xterm_js: asset("xterm.js"),
            fit_js: asset("addon-fit.js"),
            terminal_js: asset("terminal.js"),
        },
    )
}

/// Whether a WebSocket handshake comes from a page of this site: browsers send cookies with a
/// handshake another site's page starts, so its `Origin` must name the host it was sent to.
fn same_origin(headers: &HeaderMap) -> bool {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (origin, host) {
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(scheme, rest)| matches!(scheme, "http" | "https") && rest == host),
        _ => false,
    }
}

/// `GET /environments/{name}/terminal/socket`: the terminal WebSocket of the API
/// (`routes/terminal.rs`), signed in by the session cookie and from this site's pages only.
pub(super) async fn terminal_socket(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    upgrade: axum::extract::WebSocketUpgrade,
) -> Response {
    if !same_origin(&headers) {
        return (
            StatusCode::FORBIDDEN,
            "a terminal opens only from this site's pages",
        )
            .into_response();
    }
    let Some(signed_in) = session(&s, &headers).await else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let p = signed_in.principal;
    match s.environments().get_codespace(&p, &name).await {
        Ok(_) => {}
        Err(ServiceError::NotFound) => return not_found(),
        Err(e) => return failed(&e),
    }
    let environments = s.environments().clone();
    upgrade.on_upgrade(move |socket| crate::routes::terminal::run(socket, environments, p, name))
}
