//! `automations`: the local deployment of the automation engine.

mod delivery;
mod doctor;
mod listen;
mod mlflow;
mod rejects;
mod replay;
mod serve;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
        /// The most automations one entity may have (a create beyond answers 409).
        #[arg(long, default_value_t = automations_api::DEFAULT_MAX_AUTOMATIONS)]
        max_automations_per_entity: usize,
        #[command(flatten)]
        delivery: delivery::DeliveryArgs,
        #[command(flatten)]
        ops: serve::OpsArgs,
        #[command(flatten)]
        tracking: mlflow::TrackingArgs,
    },
    /// Receive webhooks for trying the product out: print each delivery and whether its
    /// signatures (Standard Webhooks and X-Wandb-Signature) hold for --secret.
    Listen {
        /// The address to listen on (port 0 picks a free one; the chosen one is printed).
        #[arg(long, default_value = "127.0.0.1:9000")]
        addr: std::net::SocketAddr,
        /// The integration's secret, to verify signatures with (without it they are not checked).
        #[arg(long, env = "AUTOMATIONS_LISTEN_SECRET", hide_env_values = true)]
        secret: Option<String>,
        /// The status to answer every delivery with (e.g. 500 to watch retries, 410 to see the
        /// integration disabled).
        #[arg(long, default_value_t = 200)]
        status: u16,
    },
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Check the database, an API key, the integrations' reachability (no delivery is sent) and
    /// the clock; say what to fix. Exit status 0 when every check passed, 1 otherwise.
    Doctor {
        /// The database file.
        #[arg(long, default_value = "./automations.db")]
        db: PathBuf,
        /// The API key to check (else AUTOMATIONS_API_KEY, better: a flag shows in `ps`); its
        /// entity's integrations are checked too.
        #[arg(long)]
        key: Option<String>,
    },
    /// The envelopes intake refused (kept 30 days).
    Rejects {
        #[command(subcommand)]
        command: RejectsCommand,
    },
}

#[derive(Subcommand)]
enum RejectsCommand {
    /// One JSON line per reject, newest first, with the id `show` takes.
    List {
        /// How many at most.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// The database file.
        #[arg(long, default_value = "./automations.db")]
        db: PathBuf,
    },
    /// One reject, with the envelope's text as it arrived.
    Show {
        /// Its id, from `list`.
        id: i64,
        /// The database file.
        #[arg(long, default_value = "./automations.db")]
        db: PathBuf,
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
        Command::Serve { addr, db, max_automations_per_entity, delivery, ops, tracking } => {
            serve::serve(addr, &db, max_automations_per_entity, &delivery, &ops, &tracking).map(|()| ExitCode::SUCCESS)
        }
        Command::Listen { addr, secret, status } => {
            listen::listen(addr, secret.as_deref(), status).map(|()| ExitCode::SUCCESS)
        }
        Command::Keys { command: KeysCommand::Create { entity, db } } => {
            serve::create_key(&entity, &db).map(|()| ExitCode::SUCCESS)
        }
        Command::Doctor { db, key } => {
            let key = key.or_else(|| std::env::var("AUTOMATIONS_API_KEY").ok());
            doctor::run(&db, key.as_deref())
        }
        Command::Rejects { command: RejectsCommand::List { limit, db } } => {
            rejects::list(&db, limit).map(|()| ExitCode::SUCCESS)
        }
        Command::Rejects { command: RejectsCommand::Show { id, db } } => {
            rejects::show(&db, id).map(|()| ExitCode::SUCCESS)
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
