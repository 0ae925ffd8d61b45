//! `skald`: one binary for every role. `skald server` runs the Loki-compatible server
//! (all roles in one process, `-target=all`); `skald bench` is the end-to-end load tool.
//! This crate is glue: it reads configuration and wires the library crates together.

mod bench;
mod cluster;
mod config;
mod grpc_security;
mod ring_adapters;
mod roles;
mod server;
mod storage_wiring;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "skald", version, about = "A Loki-compatible log aggregation system")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the server (all roles in one process by default).
    Server(ServerArgs),
    /// Push a corpus to a running server and measure ingest and query speed.
    Bench(bench::BenchArgs),
    /// Tail log files, pod logs and syslog and push them (Promtail-compatible config).
    Agent(skald_agent::AgentArgs),
    #[command(flatten)]
    Client(skald_cli::Command),
}

#[derive(clap::Args, Clone)]
pub struct ServerArgs {
    /// HTTP listen address (overrides server.http_listen_address/port).
    #[arg(long, alias = "server.http-listen-address")]
    http_addr: Option<String>,
    /// Data directory: WAL, chunks and index (overrides common.path_prefix).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// YAML configuration file with Loki's key names.
    #[arg(long, alias = "config.file")]
    config: Option<PathBuf>,
    /// Roles to run: all (default), write, read, backend, or a comma-separated list of
    /// distributor, ingester, querier, query-frontend, query-scheduler, compactor.
    #[arg(long, alias = "target")]
    target: Option<String>,
    /// Check the configuration (keys, roles, credentials, TLS files) and exit.
    #[arg(long, alias = "verify-config")]
    verify_config: bool,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Server(args) => server::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Agent(args) => {
            server::limit_malloc_arenas();
            Ok(skald_agent::run(args)?)
        }
        Command::Client(command) => Ok(skald_cli::run(command)?),
    }
}
