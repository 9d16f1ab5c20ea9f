//! `berth-load URL_TEMPLATE COUNT CLIENTS SECONDS [TOKEN] [ACCEPT]`: `CLIENTS` concurrent clients
//! `GET` `URL_TEMPLATE` with `{}` replaced by 0..COUNT in turn, for `SECONDS`; prints one JSON
//! object: requests, errors, requests per second, and the median and p99 latency in ms. The same
//! client measures every server (scripts/bench-npm), so ratios compare servers.
#![allow(clippy::print_stdout, reason = "the results are the output")]

use std::time::{Duration, Instant};

use anyhow::{Context, bail};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        bail!("usage: berth-load URL_TEMPLATE COUNT CLIENTS SECONDS [TOKEN] [ACCEPT]");
    }
    let template = args[1].clone();
    let count: usize = args[2].parse().context("COUNT")?;
    let clients: usize = args[3].parse().context("CLIENTS")?;
    let seconds: u64 = args[4].parse().context("SECONDS")?;
    let token = args.get(5).filter(|t| !t.is_empty()).cloned();
    let accept = args
        .get(6)
        .cloned()
        .unwrap_or_else(|| "application/json".into());
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (http, template, token, accept) = (
            http.clone(),
            template.clone(),
            token.clone(),
            accept.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut n = c;
            while Instant::now() < deadline {
                let url = template.replace("{}", &(n % count).to_string());
                n += clients;
                let mut req = http.get(&url).header("accept", &accept);
                if let Some(t) = &token {
                    req = req.bearer_auth(t);
                }
                let start = Instant::now();
                let ok = match req.send().await {
                    Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                    _ => false,
                };
                if ok {
                    latencies.push(start.elapsed());
                } else {
                    errors += 1;
                }
            }
            (latencies, errors)
        }));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await?;
        all.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let at = |q: f64| {
        all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "{}",
        serde_json::json!({
            "requests": all.len(),
            "errors": errors,
            "rps": all.len() as f64 / elapsed,
            "p50_ms": at(0.5),
            "p99_ms": at(0.99),
        })
    );
    Ok(())
}
