//! The environment lifecycle as a state machine, driven through the API with a recording
//! runtime (no runc, no kernel, no image): every verb in every state, failures at each step,
//! verbs that meet a start under way, and what a restart of the server settles.

mod support;

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use berth_domain::codespace::CodespaceState::{self, *};
use berth_runtime::testing::{Call, RecordingRuntime};
use berth_service::environments::{Git, Sources, Upstream, WorkspaceError};
use serde_json::{Value, json};
use support::{Reply, TestApp};

const IMAGE: &str = "berth.test/alice/img:1";

struct Lab {
    app: TestApp,
    runtime: RecordingRuntime,
    alice: String,
}

/// Repositories' code that never arrives: every clone fails as git's would.
#[derive(Debug)]
struct Unreachable;

#[async_trait::async_trait]
impl Sources for Unreachable {
    async fn clone_repo(
        &self,
        from: &Upstream<'_>,
        _into: &std::path::Path,
    ) -> Result<(), WorkspaceError> {
        Err(WorkspaceError::Git {
            action: "clone",
            url: from.url.to_owned(),
            branch: from.branch.map(str::to_owned),
            stderr: "fatal: unable to access: Could not resolve host".to_owned(),
        })
    }

    async fn config_paths(&self, _from: &Upstream<'_>) -> Result<Vec<String>, WorkspaceError> {
        Ok(Vec::new())
    }
}

impl Lab {
    async fn new() -> Self {
        Self::with_sources(Arc::new(Git)).await
    }

    async fn with_sources(sources: Arc<dyn Sources>) -> Self {
        let runtime = RecordingRuntime::new();
        let app = TestApp::with_environments(Arc::new(runtime.clone()), sources).await;
        let alice = app.user("alice", &["repo", "codespace"]).await;
        app.repo(&alice, "web", "public").await;
        Self {
            app,
            runtime,
            alice,
        }
    }

    /// `method path` with alice's token.
    async fn as_alice(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.app.call(method, path, Some(&self.alice), body).await
    }

    /// Creates an environment (with `body`'s fields) and returns its name without waiting.
    async fn create_with(&self, body: Value) -> String {
        let path = "/api/v3/repos/alice/web/codespaces";
        let r = self.as_alice(Method::POST, path, Some(body)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body["name"].as_str().unwrap().to_owned()
    }

    /// Creates an environment of the test image and waits until it settles.
    async fn created(&self) -> String {
        let name = self.create_with(json!({"image": IMAGE})).await;
        self.settle(&name).await;
        name
    }

    /// The creation log, followed until the environment settles (the service ends the stream).
    async fn settle(&self, name: &str) -> String {
        let path = format!("/api/v3/user/codespaces/{name}/logs?follow=true");
        let r = self.as_alice(Method::GET, &path, None).await;
        assert_eq!(r.status, StatusCode::OK);
        String::from_utf8(r.raw).unwrap()
    }

    async fn state(&self, name: &str) -> Option<(CodespaceState, Value)> {
        let path = format!("/api/v3/user/codespaces/{name}");
        let r = self.as_alice(Method::GET, &path, None).await;
        if r.status == StatusCode::NOT_FOUND {
            return None;
        }
        let state = CodespaceState::parse(r.body["state"].as_str().unwrap()).unwrap();
        Some((state, r.body["state_reason"].clone()))
    }

    async fn verb(&self, name: &str, verb: Verb) -> (StatusCode, Value) {
        let (method, to, body) = match verb {
            Verb::Start => (Method::POST, "/start", Some(json!({}))),
            Verb::Stop => (Method::POST, "/stop", Some(json!({}))),
            Verb::Delete => (Method::DELETE, "", None),
            Verb::Exec => (Method::POST, "/exec", Some(json!({"command": ["true"]}))),
        };
        let path = format!("/api/v3/user/codespaces/{name}{to}");
        let r = self.as_alice(method, &path, body).await;
        // exec answers NDJSON frames: its outcome is the last one.
        let body = match verb {
            Verb::Exec if r.status == StatusCode::OK => {
                let text = String::from_utf8(r.raw).unwrap();
                serde_json::from_str(text.lines().last().unwrap()).unwrap()
            }
            _ => r.body,
        };
        (r.status, body)
    }

    /// The plaintext-secret directory of `name` (on the tmpfs under `berth serve`).
    fn secret_dir(&self, name: &str) -> std::path::PathBuf {
        self.app.dir().join("run").join(name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Start,
    Stop,
    Delete,
    Exec,
}

/// What a verb leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Answered with this status; the environment is then in this state.
    Then(StatusCode, CodespaceState),
    /// Answered 200; the state unchanged.
    Stays,
    /// A start was queued and ran to the end: `Available`.
    Started,
    /// Gone.
    Deleted,
    /// Refused: 409 and the state unchanged.
    Refused,
    /// exec ran the command (exit code 0).
    Ran,
    /// exec was refused inside its stream (the state unchanged).
    NotRunning,
}

#[tokio::test]
async fn every_verb_in_every_state_does_what_the_table_says() {
    use Outcome::*;
    use Verb::*;
    let ok = StatusCode::OK;
    // The two states an environment rests in when not running answer every verb alike,
    let stopped = [
        (Start, Started),
        (Stop, Then(ok, Shutdown)),
        (Delete, Deleted),
        (Exec, NotRunning),
    ];
    // and so do the four in which a start or a stop is under way.
    let busy = [
        (Start, Stays),
        (Stop, Refused),
        (Delete, Refused),
        (Exec, NotRunning),
    ];
    let table: &[(CodespaceState, [(Verb, Outcome); 4])] = &[
        (
            Available,
            [
                (Start, Stays),
                (Stop, Then(ok, Shutdown)),
                (Delete, Deleted),
                (Exec, Ran),
            ],
        ),
        (Shutdown, stopped),
        (Failed, stopped),
        (Queued, busy),
        (Provisioning, busy),
        (Starting, busy),
        (ShuttingDown, busy),
    ];
    let lab = Lab::new().await;
    for (state, row) in table {
        for (verb, outcome) in row {
            let name = lab.created().await;
            if *state != Available {
                lab.app.force_codespace_state(&name, *state).await;
            }
            let (status, body) = lab.verb(&name, *verb).await;
            let case = format!("{verb:?} in {state:?}: {status} {body}");
            match outcome {
                Then(want, then) => {
                    assert_eq!(status, *want, "{case}");
                    assert_eq!(lab.state(&name).await.unwrap().0, *then, "{case}");
                }
                Stays => {
                    assert_eq!(status, StatusCode::OK, "{case}");
                    assert_eq!(lab.state(&name).await.unwrap().0, *state, "{case}");
                }
                Started => {
                    assert_eq!(status, StatusCode::OK, "{case}");
                    lab.settle(&name).await;
                    assert_eq!(lab.state(&name).await.unwrap().0, Available, "{case}");
                }
                Deleted => {
                    assert_eq!(status, StatusCode::ACCEPTED, "{case}");
                    assert!(lab.state(&name).await.is_none(), "{case}");
                    assert!(!lab.secret_dir(&name).exists(), "{case}");
                    assert_eq!(
                        lab.runtime.calls_for(&name).last(),
                        Some(&Call::Remove),
                        "{case}"
                    );
                }
                Refused => {
                    assert_eq!(status, StatusCode::CONFLICT, "{case}");
                    assert_eq!(lab.state(&name).await.unwrap().0, *state, "{case}");
                }
                Ran => {
                    assert_eq!(body["exit_code"], 0, "{case}");
                }
                NotRunning => {
                    assert!(
                        body["error"]
                            .as_str()
                            .is_some_and(|e| e.contains("not Available")),
                        "{case}"
                    );
                    assert_eq!(lab.state(&name).await.unwrap().0, *state, "{case}");
                }
            }
        }
    }
}

/// Both ways to create take the body gh and GitHub's docs send, fields that mean nothing here
/// included; what cannot be honoured is refused by name.
#[tokio::test]
async fn both_ways_to_create_take_githubs_body_and_refuse_what_they_cannot_honour() {
    let lab = Lab::new().await;
    let ignored = json!({
        "image": IMAGE, "location": "WestEurope", "geo": "EuropeWest", "client_ip": "10.0.0.1",
        "idle_timeout_minutes": 30, "retention_period_minutes": 60,
        "multi_repo_permissions_opt_out": true, "working_directory": "/w",
    });
    lab.create_with(ignored.clone()).await;
    let repo = lab
        .app
        .get("/api/v3/repos/alice/web", Some(&lab.alice))
        .await;
    let mut by_id = ignored.clone();
    by_id["repository_id"] = repo.body["id"].clone();
    let (alice, app) = (Some(lab.alice.as_str()), &lab.app);
    let r = app
        .post("/api/v3/user/codespaces", alice, by_id.clone())
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    let on_repo = "/api/v3/repos/alice/web/codespaces";
    let refused = [
        (on_repo, by_id.clone(), "repository_id"),
        (
            on_repo,
            json!({ "pull_request": { "number": 1 } }),
            "pull_request",
        ),
        (
            "/api/v3/user/codespaces",
            json!({ "image": IMAGE }),
            "repository_id",
        ),
        (
            "/api/v3/user/codespaces",
            json!({ "pull_request": {} }),
            "pull_request",
        ),
        (on_repo, json!({ "colour": "blue" }), "colour"),
    ];
    for (path, body, field) in refused {
        let r = app.post(path, alice, body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.body
        );
        assert!(r.mentions(field), "{body}: {}", r.body);
    }
}

#[tokio::test]
async fn a_start_runs_its_steps_in_order_and_a_stop_leaves_no_secret_on_disk() {
    let lab = Lab::new().await;
    let name = lab.created().await;
    let log = lab.settle(&name).await;
    let steps = [
        "creating codespace",
        "secrets: none",
        "issued a fresh environment token",
        "has no clone_url; the workspace starts empty",
        "image berth.test/alice/img:1 (asked for at creation)",
        "pulling berth.test/alice/img:1 from Berth's registry with the environment token",
        "prepared berth.test/alice/img:1 (recording runtime)",
        "logged in inside the environment",
        "running as uid 0",
        "codespace is Available",
    ];
    let mut at = 0;
    for step in steps {
        let found = log[at..]
            .find(step)
            .unwrap_or_else(|| panic!("{step:?} after {at} in:\n{log}"));
        at += found;
    }
    assert_eq!(lab.runtime.calls_for(&name), [Call::Prepare, Call::Start]);
    assert!(
        lab.secret_dir(&name)
            .join("home/docker/config.json")
            .exists()
    );
    lab.verb(&name, Verb::Stop).await;
    assert!(
        !lab.secret_dir(&name).exists(),
        "the plaintext is gone at stop"
    );
    assert!(!lab.runtime.is_running(&name));
}

#[tokio::test]
async fn a_failure_at_each_step_leaves_the_environment_failed_and_no_secret_on_disk() {
    let lab = Lab::new().await;
    // The runtime's steps.
    for (call, message) in [
        (Call::Prepare, "no such image"),
        (Call::Start, "runc exploded"),
    ] {
        lab.runtime.fail_next(call, message);
        let name = lab.create_with(json!({"image": IMAGE})).await;
        let log = lab.settle(&name).await;
        let (state, reason) = lab.state(&name).await.unwrap();
        assert_eq!(state, Failed, "{call:?}: {log}");
        assert!(
            reason.as_str().unwrap().contains(message),
            "{call:?}: {reason}"
        );
        assert!(log.contains(&format!("failed: {message}")), "{log}");
        assert!(
            !lab.secret_dir(&name).exists(),
            "{call:?}: no plaintext left"
        );
        assert!(
            !lab.runtime.is_running(&name),
            "{call:?}: stopped after the failure"
        );
        assert_eq!(lab.runtime.calls_for(&name).last(), Some(&Call::Stop));
    }
    // The service's own steps: no image anywhere.
    let name = lab.create_with(json!({})).await;
    lab.settle(&name).await;
    let (state, reason) = lab.state(&name).await.unwrap();
    assert_eq!(state, Failed);
    assert!(
        reason.as_str().unwrap().starts_with("no image: give one"),
        "{reason}"
    );
    assert!(
        lab.runtime
            .calls_for(&name)
            .iter()
            .all(|c| *c == Call::Stop)
    );
    // A failed environment starts again.
    let (status, _) = lab.verb(&name, Verb::Start).await;
    assert_eq!(status, StatusCode::OK);
    lab.settle(&name).await;
    assert_eq!(lab.state(&name).await.unwrap().0, Failed, "still no image");
}

#[tokio::test]
async fn a_clone_that_fails_leaves_the_environment_failed_before_any_image_is_pulled() {
    let lab = Lab::with_sources(Arc::new(Unreachable)).await;
    let r = lab
        .app
        .patch(
            "/api/v3/repos/alice/web",
            Some(&lab.alice),
            json!({"clone_url": "https://git.example/alice/web.git"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let name = lab.create_with(json!({"image": IMAGE})).await;
    let log = lab.settle(&name).await;
    let (state, reason) = lab.state(&name).await.unwrap();
    assert_eq!(state, Failed, "{log}");
    assert!(
        reason
            .as_str()
            .unwrap()
            .contains("cannot clone https://git.example/alice/web.git: fatal: unable to access"),
        "{reason}"
    );
    assert!(!lab.secret_dir(&name).exists(), "no plaintext left");
    assert!(
        !lab.runtime.calls_for(&name).contains(&Call::Prepare),
        "no image pulled: {:?}",
        lab.runtime.calls_for(&name)
    );
}

#[tokio::test]
async fn verbs_that_meet_a_start_under_way_wait_or_are_refused() {
    let lab = Lab::new().await;
    let hold = lab.runtime.hold(Call::Prepare);
    let name = lab.create_with(json!({"image": IMAGE})).await;
    // Wait until the start is inside the runtime's prepare.
    while !lab.runtime.calls_for(&name).contains(&Call::Prepare) {
        tokio::task::yield_now().await;
    }
    assert_eq!(lab.state(&name).await.unwrap().0, Provisioning);
    assert_eq!(lab.verb(&name, Verb::Stop).await.0, StatusCode::CONFLICT);
    assert_eq!(lab.verb(&name, Verb::Delete).await.0, StatusCode::CONFLICT);
    assert_eq!(
        lab.verb(&name, Verb::Start).await.0,
        StatusCode::OK,
        "a no-op"
    );
    hold.release();
    lab.settle(&name).await;
    assert_eq!(lab.state(&name).await.unwrap().0, Available);
    assert_eq!(
        lab.runtime.calls_for(&name),
        [Call::Prepare, Call::Start],
        "the second start asked for did not run"
    );
}

#[tokio::test]
async fn a_restart_of_the_server_settles_what_it_interrupted() {
    let lab = Lab::new().await;
    let running = lab.created().await;
    let crashed = lab.created().await;
    let interrupted = lab.created().await;
    lab.runtime.crash(&crashed);
    lab.app
        .force_codespace_state(&interrupted, Provisioning)
        .await;
    lab.app
        .berth
        .environments()
        .recover_codespaces()
        .await
        .unwrap();
    assert_eq!(lab.state(&running).await.unwrap().0, Available);
    assert_eq!(lab.state(&crashed).await.unwrap().0, Shutdown);
    let (state, reason) = lab.state(&interrupted).await.unwrap();
    assert_eq!(state, Failed);
    assert!(
        reason
            .as_str()
            .unwrap()
            .contains("interrupted by a restart"),
        "{reason}"
    );
}
