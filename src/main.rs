//! `automations`: the local deployment of the automation engine.

mod delivery;
mod mlflow;
mod replay;
mod serve;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "automations", version, about = "Self-hostable automations for ML experiment tracking")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The format of an automations file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A JSON array of this product's automation documents (API create bodies).
    Native,
    /// A JSON array of W&B imports: {"scope", "integrations", "input"} (SPEC section 10).
    Wandb,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate events against automations offline and print one JSON line per fire.
    ///
    /// Exit status: 0 when every envelope was valid, 2 when some were skipped (each reported on
    /// standard error), 1 when an automation is invalid, a file cannot be read, or the command
    /// line is wrong.
    Replay {
        /// The automations: a JSON array of documents (or of W&B imports with --format wandb).
        #[arg(long)]
        automations: PathBuf,
        /// The events: a JSON array of CloudEvents envelopes, or JSON Lines; `-` reads standard
        /// input (`zcat events.jsonl.gz | automations replay --events - ...`). Read as a
        /// stream: memory depends on the live runs, not on the size of the input.
        #[arg(long)]
        events: PathBuf,
        #[arg(long, value_enum, default_value = "native")]
        format: Format,
    },
    /// Convert W&B automations (imports as in SPEC section 10) to native automation documents.
    ImportWandb {
        /// A JSON array of imports, or one import.
        file: PathBuf,
        /// Require every W&B integration id to be mapped by the import's `integrations`.
        #[arg(long)]
        strict: bool,
    },
    /// Run the local deployment: the API, event intake and evaluation on one SQLite file.
    Serve {
        /// The address to listen on (port 0 picks a free one; the chosen one is printed).
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: std::net::SocketAddr,
        /// The database file (created if absent).
        #[arg(long, default_value = "./automations.db")]
        db: PathBuf,
        #[command(flatten)]
        delivery: delivery::DeliveryArgs,
        #[command(flatten)]
        tracking: mlflow::TrackingArgs,
    },
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Make a key granting one entity; prints it once (only its hash is stored).
    Create {
        /// The entity the key grants.
        #[arg(long)]
        entity: String,
        /// The database file (created if absent).
        #[arg(long, default_value = "./automations.db")]
        db: PathBuf,
    },
}

/// A wrong command line exits 1, never 2: replay's 2 means "some envelopes were skipped", and a
/// script that tests for it must not mistake a typo in a flag for that.
const USAGE_ERROR: u8 = 1;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { ExitCode::from(USAGE_ERROR) } else { ExitCode::SUCCESS };
            if let Err(print) = e.print() {
                eprintln!("error: {e} ({print})");
            }
            return code;
        }
    };
    let result: Result<ExitCode> = match cli.command {
        Command::Replay { automations, events, format } => replay::run(&automations, &events, format),
        Command::ImportWandb { file, strict } => replay::import_wandb(&file, strict).map(|()| ExitCode::SUCCESS),
        Command::Serve { addr, db, delivery, tracking } => {
            serve::serve(addr, &db, &delivery, &tracking).map(|()| ExitCode::SUCCESS)
        }
        Command::Keys { command: KeysCommand::Create { entity, db } } => {
            serve::create_key(&entity, &db).map(|()| ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
