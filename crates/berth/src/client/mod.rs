//! The command-line client: each command is one or two API calls and a table (or `--json`).
#![allow(
    clippy::print_stdout,
    reason = "printing results is what the client is for"
)]

mod codespaces;
mod commands;
mod config;
mod http;
mod keys;
mod output;
mod ports;
mod registry;
mod secrets;
mod ssh;
mod terminal;

use crate::cli::{Command, Global};

pub async fn run(global: Global, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Login { server } => commands::login(&server).await,
        Command::Logout => {
            match config::forget()? {
                Some(path) => println!("logged out (removed {})", path.display()),
                None => println!("not logged in: nothing was saved"),
            }
            Ok(())
        }
        Command::Registry(crate::cli::RegistryCommand::Check(args)) => {
            registry::check(global.server.as_deref(), global.json, args).await
        }
        Command::Codespace(command) => {
            let client = http::Client::from_env(global.server.as_deref())?;
            codespaces::run(&client, global.json, command).await
        }
        Command::Secret(command) => {
            let client = http::Client::from_env(global.server.as_deref())?;
            secrets::run(&client, global.json, command).await
        }
        Command::Key(command) => {
            let client = http::Client::from_env(global.server.as_deref())?;
            keys::run(&client, global.json, command).await
        }
        command => {
            let client = http::Client::from_env(global.server.as_deref())?;
            commands::run(&client, global.json, command).await
        }
    }
}

/// A usage error found after parsing: says what was wrong and ends with exit code 2, as clap's
/// own usage errors do.
pub fn usage(message: &str) -> anyhow::Error {
    eprintln!("error: {message}");
    Exit(2).into()
}

/// A command that has already said what went wrong, and ends with this exit code.
#[derive(Debug)]
pub struct Exit(pub u8);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}", self.0)
    }
}

impl std::error::Error for Exit {}
