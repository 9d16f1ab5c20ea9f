//! Debian's nginx as the load balancer in front of Berth replicas: round robin, request and
//! response bodies streamed both ways (no buffering, no size limit), and each request's upstream
//! in its access log.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::servers::{free_port, wait_for_port};
use super::{run_ok, sigterm};

pub struct Nginx {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    dir: PathBuf,
}

impl Nginx {
    /// Picks a free loopback port for it; start it with [`Nginx::start`] once the upstreams run
    /// (they are told this address as their external URL first).
    pub fn port() -> u16 {
        free_port()
    }

    /// nginx on `port`, balancing over `upstreams` (`host:port` each), its files in `dir`.
    pub fn start(dir: &Path, port: u16, upstreams: &[String]) -> Nginx {
        std::fs::create_dir_all(dir).unwrap();
        let servers: String = upstreams
            .iter()
            .map(|u| format!("        server {u} max_fails=1 fail_timeout=5s;\n"))
            .collect();
        // As root, the workers stay root: they write to the test's own directory.
        let root = run_ok(Command::new("id").arg("-u"), None).trim() == "0";
        let d = dir.display();
        let config = format!(
            "daemon off;\n\
             {user}\
             worker_processes 1;\n\
             pid {d}/nginx.pid;\n\
             error_log {d}/error.log info;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n\
                 log_format upstream '$request_method $uri $status $upstream_addr';\n\
                 access_log {d}/access.log upstream;\n\
                 client_body_temp_path {d}/body;\n\
                 proxy_temp_path {d}/proxy;\n\
                 fastcgi_temp_path {d}/fastcgi;\n\
                 uwsgi_temp_path {d}/uwsgi;\n\
                 scgi_temp_path {d}/scgi;\n\
                 client_max_body_size 0;\n\
                 upstream berth {{\n{servers}        keepalive 16;\n    }}\n\
                 server {{\n\
                     listen 127.0.0.1:{port};\n\
                     location / {{\n\
                         proxy_pass http://berth;\n\
                         proxy_http_version 1.1;\n\
                         proxy_set_header Connection \"\";\n\
                         proxy_set_header Host $http_host;\n\
                         proxy_set_header X-Forwarded-For $remote_addr;\n\
                         proxy_request_buffering off;\n\
                         proxy_buffering off;\n\
                         proxy_read_timeout 300s;\n\
                         proxy_send_timeout 300s;\n\
                     }}\n\
                 }}\n\
             }}\n",
            user = if root { "user root;\n" } else { "" },
        );
        let file = dir.join("nginx.conf");
        std::fs::write(&file, config).unwrap();
        let mut child = Command::new("nginx")
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&file)
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx (scripts/test installs it)");
        wait_for_port(port, "nginx", &mut child);
        Nginx {
            child,
            url: format!("http://127.0.0.1:{port}"),
            dir: dir.to_owned(),
        }
    }

    /// Its access log: `METHOD PATH STATUS UPSTREAM(S)` a line.
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // TERM: the master stops its workers too (a killed master would leave them behind).
        sigterm(&self.child);
        let _ = self.child.wait();
    }
}
