//! A recording [`Runtime`] for tests of what drives runtimes (the service's environment
//! lifecycle): it runs nothing, records every call in order, keeps which environments "run",
//! and can be told to fail a call or to hold it until released — so a state-machine bug shows
//! without runc, a kernel or an image.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use crate::{
    ExecSpec, ImageInfo, ImageSource, Narrator, Output, RunSpec, Runtime, RuntimeError, UserIds,
};

/// What a [`RecordingRuntime`] was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Call {
    Prepare,
    Start,
    ListenInside,
    Ports,
    ConnectInside,
    Exec,
    Running,
    Stop,
    Remove,
}

/// One recorded call: what, and for which environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub call: Call,
    pub name: String,
    /// For [`Call::Exec`], the command; for [`Call::Prepare`], the image reference.
    pub detail: String,
}

#[derive(Debug, Default)]
struct State {
    records: Vec<Record>,
    running: HashSet<String>,
    /// Calls that fail, once each, with this message.
    failures: HashMap<Call, String>,
    /// Calls that wait for a release before they go on.
    held: HashMap<Call, Arc<tokio::sync::Semaphore>>,
}

/// The recording runtime. Cheap to clone: clones share one record.
#[derive(Debug, Clone, Default)]
pub struct RecordingRuntime {
    state: Arc<Mutex<State>>,
}

impl RecordingRuntime {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("recording runtime poisoned")
    }

    /// Every call so far, in order.
    pub fn records(&self) -> Vec<Record> {
        self.state().records.clone()
    }

    /// The calls made for `name`, in order.
    pub fn calls_for(&self, name: &str) -> Vec<Call> {
        self.state()
            .records
            .iter()
            .filter(|r| r.name == name)
            .map(|r| r.call)
            .collect()
    }

    /// Whether `name` "runs" (started and not stopped or removed since).
    pub fn is_running(&self, name: &str) -> bool {
        self.state().running.contains(name)
    }

    /// Forgets that `name` runs, as a crash of its process (or of the host) would.
    pub fn crash(&self, name: &str) {
        self.state().running.remove(name);
    }

    /// The next `call` fails with `message` (an engine error).
    pub fn fail_next(&self, call: Call, message: &str) {
        self.state().failures.insert(call, message.to_owned());
    }

    /// Every `call` from now on waits until [`Hold::release`] (or the hold is dropped).
    pub fn hold(&self, call: Call) -> Hold {
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        self.state().held.insert(call, gate.clone());
        Hold {
            gate,
            runtime: self.clone(),
            call,
        }
    }

    /// Records `call` and answers whether it should fail; waits first if it is held.
    async fn enter(&self, call: Call, name: &str, detail: String) -> Result<(), RuntimeError> {
        let gate = {
            let mut s = self.state();
            s.records.push(Record {
                call,
                name: name.to_owned(),
                detail,
            });
            s.held.get(&call).cloned()
        };
        if let Some(gate) = gate {
            // A closed gate (the hold dropped) lets everything through.
            if let Ok(permit) = gate.acquire().await {
                permit.forget();
            }
        }
        match self.state().failures.remove(&call) {
            Some(message) => Err(RuntimeError::Engine(message)),
            None => Ok(()),
        }
    }
}

/// A held call: each [`Hold::release`] lets one waiting (or future) call through.
#[derive(Debug)]
pub struct Hold {
    gate: Arc<tokio::sync::Semaphore>,
    runtime: RecordingRuntime,
    call: Call,
}

impl Hold {
    pub fn release(&self) {
        self.gate.add_permits(1);
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.runtime.state().held.remove(&self.call);
        self.gate.close();
    }
}

#[async_trait::async_trait]
impl Runtime for RecordingRuntime {
    fn kind(&self) -> &'static str {
        "recording"
    }

    async fn prepare(
        &self,
        spec: &RunSpec,
        image: &ImageSource,
        narrator: &dyn Narrator,
    ) -> Result<ImageInfo, RuntimeError> {
        let reference = image.reference.to_string();
        self.enter(Call::Prepare, &spec.name, reference.clone())
            .await?;
        narrator.line(format!("prepared {reference} (recording runtime)"));
        Ok(ImageInfo {
            env: vec![("PATH".into(), "/usr/bin:/bin".into())],
            user: None,
        })
    }

    async fn start(&self, spec: &RunSpec) -> Result<UserIds, RuntimeError> {
        self.enter(Call::Start, &spec.name, String::new()).await?;
        self.state().running.insert(spec.name.clone());
        Ok(UserIds {
            uid: 0,
            gid: 0,
            home: "/root".into(),
            host_uid: spec.isolation.ids.base,
            host_gid: spec.isolation.ids.base,
        })
    }

    async fn listen_inside(
        &self,
        spec: &RunSpec,
        _addr: std::net::SocketAddr,
    ) -> Result<std::net::TcpListener, RuntimeError> {
        self.enter(Call::ListenInside, &spec.name, String::new())
            .await?;
        std::net::TcpListener::bind("127.0.0.1:0").map_err(RuntimeError::io("cannot listen"))
    }

    async fn exec(
        &self,
        spec: &RunSpec,
        exec: ExecSpec,
        output: tokio::sync::mpsc::Sender<Output>,
    ) -> Result<i32, RuntimeError> {
        self.enter(Call::Exec, &spec.name, exec.argv.join(" "))
            .await?;
        if !self.is_running(&spec.name) {
            return Err(RuntimeError::Engine(format!(
                "{} is not running",
                spec.name
            )));
        }
        let _ = output
            .send(Output::Stdout(
                format!("ran {}\n", exec.argv.join(" ")).into_bytes(),
            ))
            .await;
        Ok(0)
    }

    async fn listening_ports(&self, spec: &RunSpec) -> Result<Vec<u16>, RuntimeError> {
        self.enter(Call::Ports, &spec.name, String::new()).await?;
        Ok(Vec::new())
    }

    async fn connect_inside(
        &self,
        spec: &RunSpec,
        port: u16,
    ) -> Result<std::net::TcpStream, RuntimeError> {
        self.enter(Call::ConnectInside, &spec.name, port.to_string())
            .await?;
        Err(RuntimeError::Engine(
            "a recording runtime has no network to connect in".into(),
        ))
    }

    async fn listen_agent(
        &self,
        spec: &RunSpec,
        _dir_name: &str,
    ) -> Result<crate::network::AgentSocket, RuntimeError> {
        self.enter(Call::ConnectInside, &spec.name, "agent".into())
            .await?;
        Err(RuntimeError::Engine(
            "a recording runtime has no file system to listen in".into(),
        ))
    }

    async fn running(&self, spec: &RunSpec) -> Result<bool, RuntimeError> {
        self.enter(Call::Running, &spec.name, String::new()).await?;
        Ok(self.is_running(&spec.name))
    }

    async fn stop(&self, spec: &RunSpec) -> Result<(), RuntimeError> {
        self.enter(Call::Stop, &spec.name, String::new()).await?;
        self.state().running.remove(&spec.name);
        Ok(())
    }

    async fn remove(&self, spec: &RunSpec) -> Result<(), RuntimeError> {
        self.enter(Call::Remove, &spec.name, String::new()).await?;
        self.state().running.remove(&spec.name);
        Ok(())
    }
}
