//! From the command line to a running server: Loki's flags and Skald's own
//! (`skald_config::flags`), the configuration read and checked, the one-shot modes
//! (`-version`, `-help`, `-list-targets`, `-health`, `-verify-config`), logging, then
//! the single-binary server or a cluster node.

use crate::roles::Roles;
use anyhow::Context;
use skald_config::flags::{self, CommandLine};
use skald_config::overrides::TenantLimits;
use skald_config::print::{Mode, render};
use skald_config::schema::KeySchema;
use skald_config::{Config, LoadOptions, Loaded};
use std::io::IsTerminal;
use std::sync::Arc;

/// Everything the server roles are started with.
pub struct Startup {
    pub line: CommandLine,
    pub loaded: Loaded,
    /// Each tenant's limits (`limits_config` and the runtime overrides).
    pub tenants: Arc<TenantLimits>,
}

impl Startup {
    pub fn config(&self) -> &Config {
        &self.loaded.config
    }
}

/// Runs `skald server ARGS` (or `skald ARGS` when the first argument is a flag).
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let line = flags::parse(args, KeySchema::get())?;
    if line.help {
        print!("{}", flags::usage());
        return Ok(());
    }
    if line.version {
        println!("{}", version_text());
        return Ok(());
    }
    if line.list_targets {
        println!("{}", crate::roles::TARGETS.join("\n"));
        return Ok(());
    }
    if line.health {
        return crate::health::check(line.health_url.as_deref().unwrap_or("http://localhost:3100/ready"));
    }
    let loaded = load(&line)?;
    let config = &loaded.config;
    let target = config.target.clone().unwrap_or_else(|| "all".into());
    let roles = Roles::parse(&target).map_err(|e| anyhow::anyhow!("-target: {e}"))?;
    crate::credentials::credentials(config)?;
    crate::server::serve_options(config)?;
    skald_compactor::Retention::from_limits(&config.limits_config)?;
    let overrides = crate::runtime_overrides::load_now(config, &loaded.tree).context("runtime_config")?;
    if line.print_config_stderr {
        eprint!("{}", render(config, &Config::default(), Mode::Full));
    }
    if line.verify_config {
        for note in loaded.notes.iter().chain(roles.notes()) {
            println!("note: {note}");
        }
        if !loaded.ignored.is_empty() {
            println!("ignored (Loki settings Skald does not use): {}", loaded.ignored.join(", "));
        }
        println!("config is valid (target {roles})");
        return Ok(());
    }
    init_logging(config);
    if !loaded.ignored.is_empty() {
        tracing::warn!(keys = %loaded.ignored.join(", "), "ignored: Loki settings Skald does not use");
    }
    for note in loaded.notes.iter().chain(roles.notes()) {
        tracing::info!("{note}");
    }
    if line.log_config_reverse_order {
        let text = render(config, &Config::default(), Mode::Full);
        for row in text.lines().rev() {
            tracing::info!("{row}");
        }
    }
    let tenants = Arc::new(TenantLimits::new(config.limits_config.clone()));
    tenants.replace(overrides);
    let startup = Startup { line, loaded, tenants };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        crate::runtime_overrides::spawn_reload(&startup);
        // Every role in one process, unless the node is told to join a cluster.
        if roles.all && startup.config().memberlist.join_members.is_empty() {
            crate::server::serve(startup).await
        } else {
            crate::cluster::serve(startup, roles).await
        }
    })
}

/// Reads the configuration the command line names (or every default).
fn load(line: &CommandLine) -> anyhow::Result<Loaded> {
    let env = |name: &str| std::env::var(name).ok();
    let options = LoadOptions { expand_env: line.expand_env, env: &env, settings: &line.settings };
    let loaded = if line.config_files.is_empty() {
        skald_config::load_text("", &options)?
    } else {
        let path = skald_config::load::pick_file(&line.config_files)?;
        skald_config::load_file(path, &options)?
    };
    Ok(loaded)
}

/// Logs to stderr at `server.log_level` (`RUST_LOG` wins when set), as text (colours
/// only on a terminal, never with `NO_COLOR`) or, with `server.log_format: json`, one
/// JSON object per line.
fn init_logging(config: &Config) {
    let level = std::env::var("RUST_LOG").unwrap_or_else(|_| config.server.log_level.clone());
    let filter = tracing_subscriber::EnvFilter::try_new(&level).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if config.server.log_format == "json" {
        builder.json().with_current_span(false).init();
    } else {
        let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        builder.with_ansi(colour).init();
    }
}

/// `-version`, in the shape of Loki's.
fn version_text() -> String {
    format!(
        "skald, version {} (branch: main, revision: unknown)\n  build user:       skald\n  rust:             {}\n  platform:         {}/{}\n  loki api:         {}",
        env!("CARGO_PKG_VERSION"),
        option_env!("RUSTC_VERSION").unwrap_or("stable"),
        std::env::consts::OS,
        std::env::consts::ARCH,
        skald_api::LOKI_API_VERSION,
    )
}
