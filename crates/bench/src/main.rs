//! `berth-bench URL REPO PID [TOKEN]`: runs the registry workloads of `scripts/bench-registry`
//! against one registry and prints one JSON object of results. The same client measures every
//! registry, so the ratios compare servers, not clients.
//!
//! Workloads: one 1 GiB layer pushed then pulled; 200 × 1 MiB layers pushed then pulled with 8
//! requests in flight; 16 clients pulling the same 100 MiB layer at once. Blob content is
//! generated, distinct per blob, and hashed before the clock starts.
//!
//! `berth-bench --clients N URL REPO TOKEN`: N clients at once, each pushing 8 blobs of 1 MiB and
//! pulling them back, every pull checked against its digest; failures are counted, not fatal
//! (for replicas behind a load balancer: zero is the target).
#![allow(clippy::print_stdout, reason = "the results are the output")]

use std::time::Instant;

use anyhow::{Context, bail};
use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::Method;
use sha2::{Digest as _, Sha256};

const MIB: usize = 1024 * 1024;

/// A pseudo-random 1 MiB pattern; blob `id`, chunk `n` is the pattern with (id, n) stamped on it.
fn pattern() -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..MIB)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn chunk(pattern: &[u8], id: u64, n: u64) -> Bytes {
    let mut c = pattern.to_vec();
    c[..8].copy_from_slice(&id.to_le_bytes());
    c[8..16].copy_from_slice(&n.to_le_bytes());
    Bytes::from(c)
}

struct Blob {
    id: u64,
    mib: u64,
    digest: String,
}

fn blob(pattern: &[u8], id: u64, mib: u64) -> Blob {
    let mut h = Sha256::new();
    for n in 0..mib {
        h.update(chunk(pattern, id, n));
    }
    let digest = format!(
        "sha256:{}",
        h.finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    Blob { id, mib, digest }
}

struct Target {
    http: reqwest::Client,
    base: String,
    repo: String,
    token: Option<String>,
}

impl Target {
    /// The URL of `rest` under the repository's `/v2/` path.
    fn v2(&self, rest: &str) -> String {
        format!("{}/v2/{}/{rest}", self.base, self.repo)
    }

    fn req(&self, method: Method, url: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, url);
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    async fn push(&self, pattern: &'static [u8], b: &Blob) -> anyhow::Result<()> {
        let r = self
            .req(Method::POST, &self.v2("blobs/uploads/"))
            .send()
            .await?;
        if r.status() != reqwest::StatusCode::ACCEPTED {
            bail!("POST upload: {}", r.status());
        }
        let loc = r
            .headers()
            .get("location")
            .context("no Location")?
            .to_str()?
            .to_owned();
        let loc = if loc.starts_with("http") {
            loc
        } else {
            format!("{}{loc}", self.base)
        };
        let sep = if loc.contains('?') { '&' } else { '?' };
        let (id, mib) = (b.id, b.mib);
        let body = futures_util::stream::iter(0..mib)
            .map(move |n| Ok::<_, std::io::Error>(chunk(pattern, id, n)));
        let r = self
            .req(Method::PUT, &format!("{loc}{sep}digest={}", b.digest))
            .header("content-type", "application/octet-stream")
            .header("content-length", (mib as usize * MIB).to_string())
            .body(reqwest::Body::wrap_stream(body))
            .send()
            .await?;
        if r.status() != reqwest::StatusCode::CREATED {
            bail!(
                "PUT upload: {} {}",
                r.status(),
                r.text().await.unwrap_or_default()
            );
        }
        Ok(())
    }

    /// Pulls a blob; its size.
    async fn pull(&self, digest: &str) -> anyhow::Result<u64> {
        self.pull_checked(digest, false).await
    }

    /// Pulls a blob, checked against its digest when `verify` (not in the timed workloads of
    /// one client, which measure the server).
    async fn pull_checked(&self, digest: &str, verify: bool) -> anyhow::Result<u64> {
        let url = self.v2(&format!("blobs/{digest}"));
        let r = self.req(Method::GET, &url).send().await?;
        if !r.status().is_success() {
            bail!("GET blob: {}", r.status());
        }
        let mut s = r.bytes_stream();
        let (mut n, mut h) = (0u64, Sha256::new());
        while let Some(c) = s.next().await {
            let c = c?;
            n += c.len() as u64;
            if verify {
                h.update(&c);
            }
        }
        let got: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        if verify && format!("sha256:{got}") != digest {
            bail!("GET blob {digest}: other bytes came back");
        }
        Ok(n)
    }
}

/// (VmHWM, VmRSS) of a process in MB.
fn rss(pid: &str) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn mbps(bytes: u64, started: Instant) -> f64 {
    bytes as f64 / 1e6 / started.elapsed().as_secs_f64()
}

async fn concurrently<F, Fut>(items: usize, width: usize, f: F) -> anyhow::Result<()>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let results: Vec<anyhow::Result<()>> = futures_util::stream::iter(0..items)
        .map(f)
        .buffer_unordered(width)
        .collect()
        .await;
    results.into_iter().collect()
}

/// Blobs each client of `--clients` pushes and pulls.
const PER_CLIENT: u64 = 8;

/// `--clients N`: every client pushes its blobs, then pulls them back; results as JSON.
async fn clients(target: &Target, n: u64) -> anyhow::Result<()> {
    let pattern: &'static [u8] = Box::leak(pattern().into_boxed_slice());
    let blobs: Vec<Blob> = (0..n * PER_CLIENT)
        .map(|i| blob(pattern, 1_000_000 + i, 1))
        .collect();
    let width = usize::try_from(n)?;
    let failed = std::sync::atomic::AtomicU64::new(0);
    let count = |r: anyhow::Result<()>| {
        if let Err(e) = r {
            eprintln!("failed: {e:#}");
            failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    };
    let (tg, bl, count) = (target, &blobs, &count);
    let t = Instant::now();
    futures_util::stream::iter(0..blobs.len())
        .for_each_concurrent(
            width,
            |i| async move { count(tg.push(pattern, &bl[i]).await) },
        )
        .await;
    let push = mbps(blobs.len() as u64 * MIB as u64, t);
    let t = Instant::now();
    futures_util::stream::iter(0..blobs.len())
        .for_each_concurrent(width, |i| async move {
            count(tg.pull_checked(&bl[i].digest, true).await.map(|_| ()))
        })
        .await;
    let pull = mbps(blobs.len() as u64 * MIB as u64, t);
    let out = serde_json::json!({
        "clients": n, "pushes": blobs.len(), "pulls": blobs.len(),
        "failed": failed.load(std::sync::atomic::Ordering::Relaxed),
        "push_mbps": push, "pull_mbps": pull,
    });
    println!("{out}");
    Ok(())
}

/// Pulls the 1 GiB layer the main workload pushed from two servers in turn, `n` times each
/// (a, b, a, b, …), so that what the machine and a shared store do over time weighs on both
/// alike; prints each one's median MB/s.
async fn alternate(n: usize, servers: [(&String, &String, &String); 2]) -> anyhow::Result<()> {
    let pattern: &'static [u8] = Box::leak(pattern().into_boxed_slice());
    let big = blob(pattern, 1, 1024);
    let http = reqwest::Client::new();
    let targets = servers.map(|(url, repo, token)| Target {
        http: http.clone(),
        base: url.trim_end_matches('/').to_owned(),
        repo: repo.clone(),
        token: (token != "-").then(|| token.clone()),
    });
    let mut figures = [Vec::new(), Vec::new()];
    for _ in 0..n {
        for (target, figures) in targets.iter().zip(figures.iter_mut()) {
            let t = Instant::now();
            let got = target.pull(&big.digest).await?;
            figures.push(mbps(got, t));
        }
    }
    let [a, b] = figures.map(|mut f| {
        f.sort_by(f64::total_cmp);
        f[f.len() / 2]
    });
    println!("{}", serde_json::json!({ "a_mbps": a, "b_mbps": b }));
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--clients") {
        let [_, _, n, url, repo, token] = args.as_slice() else {
            bail!("usage: berth-bench --clients N URL REPO TOKEN");
        };
        let target = Target {
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(128)
                .build()?,
            base: url.trim_end_matches('/').to_owned(),
            repo: repo.clone(),
            token: Some(token.clone()),
        };
        return clients(&target, n.parse()?).await;
    }
    if args.get(1).map(String::as_str) == Some("--alternate") {
        let [_, _, n, a_url, a_repo, a_token, b_url, b_repo, b_token] = args.as_slice() else {
            bail!(
                "usage: berth-bench --alternate N URL REPO TOKEN URL REPO TOKEN (TOKEN - for none)"
            );
        };
        return alternate(
            n.parse()?,
            [(a_url, a_repo, a_token), (b_url, b_repo, b_token)],
        )
        .await;
    }
    if args.len() < 4 {
        bail!("usage: berth-bench URL REPO SERVER_PID [TOKEN]");
    }
    let target = Target {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(32)
            .build()?,
        base: args[1].trim_end_matches('/').to_owned(),
        repo: args[2].clone(),
        token: args.get(4).cloned(),
    };
    let pid = args[3].as_str();
    let pattern: &'static [u8] = Box::leak(pattern().into_boxed_slice());

    let big = blob(pattern, 1, 1024);
    let small: Vec<Blob> = (0..200).map(|i| blob(pattern, 100 + i, 1)).collect();
    let shared = blob(pattern, 2, 100);

    let t = Instant::now();
    target.push(pattern, &big).await?;
    let push_1g = mbps(1024 * MIB as u64, t);
    let (rss_after_big_push, _) = rss(pid);
    // The median of three pulls: the first comes while the store may still be writing the
    // push back to disk.
    let mut pulls = Vec::with_capacity(3);
    for _ in 0..3 {
        let t = Instant::now();
        let n = target.pull(&big.digest).await?;
        pulls.push(mbps(n, t));
    }
    pulls.sort_by(f64::total_cmp);
    let pull_1g = pulls[1];

    let t = Instant::now();
    concurrently(small.len(), 8, |i| target.push(pattern, &small[i])).await?;
    let push_small = mbps(200 * MIB as u64, t);
    let t = Instant::now();
    let (tg, sm) = (&target, &small);
    concurrently(small.len(), 8, |i| async move {
        tg.pull(&sm[i].digest).await.map(|_| ())
    })
    .await?;
    let pull_small = mbps(200 * MIB as u64, t);

    target.push(pattern, &shared).await?;
    let t = Instant::now();
    let sh = &shared;
    concurrently(
        16,
        16,
        |_| async move { tg.pull(&sh.digest).await.map(|_| ()) },
    )
    .await?;
    let pull_16 = mbps(16 * 100 * MIB as u64, t);
    let (peak, now) = rss(pid);

    let out = serde_json::json!({
        "push_1g_mbps": push_1g, "pull_1g_mbps": pull_1g,
        "push_200x1m_mbps": push_small, "pull_200x1m_mbps": pull_small,
        "pull_16x100m_mbps": pull_16,
        "peak_rss_after_1g_push_mb": rss_after_big_push, "peak_rss_mb": peak, "rss_end_mb": now,
    });
    println!("{out}");
    Ok(())
}
