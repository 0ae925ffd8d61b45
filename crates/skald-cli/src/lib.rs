//! `skald query`, `skald labels`, ...: a logcli-compatible client of the Loki HTTP API.

/// The client subcommands, flattened into the `skald` binary's command list.
#[derive(clap::Subcommand, Clone, Debug)]
pub enum Command {
    /// Print the label names (logcli labels).
    Labels,
}

/// Errors that end a client command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not implemented yet")]
    NotImplemented,
}

/// Runs one client command.
pub fn run(_command: Command) -> Result<(), Error> {
    Err(Error::NotImplemented)
}
