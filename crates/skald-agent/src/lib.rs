//! The Skald agent (`skald agent --config agent.yaml`): finds log files, Kubernetes pod
//! logs and syslog messages, turns lines into labelled streams through Promtail-compatible
//! pipeline stages, and pushes them to Skald (or any Loki).

use std::path::PathBuf;

/// Command-line arguments of `skald agent`.
#[derive(clap::Args, Clone, Debug)]
pub struct AgentArgs {
    /// Promtail-compatible YAML configuration file.
    #[arg(long, alias = "config.file")]
    pub config: PathBuf,
}

/// Errors that stop the agent.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the agent is not implemented yet")]
    NotImplemented,
}

/// Runs the agent until SIGTERM/SIGINT.
pub fn run(_args: AgentArgs) -> Result<(), Error> {
    Err(Error::NotImplemented)
}
