//! `skald`: one binary for every role. `skald server` runs the Loki-compatible server
//! (all roles in one process, `-target=all`), and so does `skald -config.file=...`, so
//! that a Loki container's command line runs unchanged; `skald bench` is the end-to-end
//! load tool. This crate is glue: it wires the library crates together.

mod cluster;
mod credentials;
mod grpc_security;
mod health;
mod ingester_shutdown;
mod ring_adapters;
mod roles;
mod ruler_wiring;
mod runtime_overrides;
mod server;
mod startup;
mod storage_wiring;

use clap::{Parser, Subcommand};

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
    Bench(skald_bench::BenchArgs),
    /// Tail log files, pod logs and syslog and push them (Promtail-compatible config).
    Agent(skald_agent::AgentArgs),
    #[command(flatten)]
    Client(skald_cli::Command),
}

/// The server's arguments, parsed by `skald_config::flags` (Loki's flags and Skald's).
#[derive(clap::Args, Clone)]
pub struct ServerArgs {
    /// `-config.file=FILE`, `-target=ROLES`, `--data-dir DIR`, `--http-addr ADDR`, every
    /// flag of Loki's configuration reference; see `skald server -help`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    flags: Vec<String>,
}

/// The server's arguments: those after `server`, or all of them when the first is a
/// flag (`skald -config.file=/etc/loki/config.yaml`, as Loki's images run it).
fn server_args(argv: &[String]) -> Option<&[String]> {
    match argv.get(1).map(String::as_str) {
        Some("server") => Some(&argv[2..]),
        Some("-h" | "--help" | "-V" | "--version") => None,
        Some(first) if first.starts_with('-') => Some(&argv[1..]),
        _ => None,
    }
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // The whole chain of causes on one line, without a backtrace.
            eprintln!("Error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let argv: Vec<String> = std::env::args().collect();
    if let Some(args) = server_args(&argv) {
        server::limit_malloc_arenas();
        return startup::run(args);
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Server(args) => {
            server::limit_malloc_arenas();
            startup::run(&args.flags)
        }
        Command::Bench(args) => skald_bench::run(args),
        Command::Agent(args) => {
            server::limit_malloc_arenas();
            Ok(skald_agent::run(args)?)
        }
        Command::Client(command) => Ok(skald_cli::run(command)?),
    }
}
