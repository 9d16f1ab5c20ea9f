//! The command-line client: each command is one or two API calls and a table (or `--json`).
#![allow(
    clippy::print_stdout,
    reason = "printing results is what the client is for"
)]

mod commands;
mod config;
mod http;
mod output;
mod secrets;

use crate::cli::{Command, Global};

pub async fn run(global: Global, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Login { server } => commands::login(&server).await,
        Command::Logout => config::forget(),
        Command::Secret(command) => {
            let client = http::Client::from_env(global.server.as_deref())?;
            secrets::run(&client, global.json, command).await
        }
        command => {
            let client = http::Client::from_env(global.server.as_deref())?;
            commands::run(&client, global.json, command).await
        }
    }
}
