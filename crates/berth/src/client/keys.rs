//! `berth key`: the caller's SSH public keys.

use std::io::Read;

use anyhow::Context;
use serde_json::{Value, json};

use super::http::Client;
use super::output;
use crate::cli::KeyCommand;

pub async fn run(c: &Client, as_json: bool, command: KeyCommand) -> anyhow::Result<()> {
    match command {
        KeyCommand::Add { file, title } => {
            let key = read_public_key(&file)?;
            let v = c
                .post("/user/keys", Some(json!({ "key": key, "title": title })))
                .await?;
            if as_json {
                output::json(&v);
            } else {
                println!(
                    "added key {} ({}) as {}",
                    output::field(&v, &["id"]),
                    output::field(&v, &["fingerprint"]),
                    output::field(&v, &["title"])
                );
            }
        }
        KeyCommand::List => {
            let keys = c.all_pages("/user/keys").await?;
            output::many(
                as_json,
                &keys,
                &["ID", "TITLE", "FINGERPRINT", "ADDED"],
                key_row,
            );
        }
        KeyCommand::Delete { id } => {
            c.delete(&format!("/user/keys/{id}")).await?;
            output::done(as_json, &format!("deleted key {id}"));
        }
    }
    Ok(())
}

fn key_row(v: &Value) -> Vec<String> {
    output::fields(v, &["id", "title", "fingerprint", "created_at"])
}

/// The public key in `file` (`-`: standard input). A private key is refused here, so that it
/// never leaves the machine.
fn read_public_key(file: &std::path::Path) -> anyhow::Result<String> {
    let text = if file.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("cannot read the key from standard input")?;
        s
    } else {
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?
    };
    if text.contains("PRIVATE KEY") {
        anyhow::bail!(
            "{} is a private key, which never leaves your machine; give its .pub file instead ({}.pub)",
            file.display(),
            file.display()
        );
    }
    Ok(text.trim().to_owned())
}
