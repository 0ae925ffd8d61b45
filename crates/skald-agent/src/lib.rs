//! The Skald agent (`skald agent --config agent.yaml`): finds log files, Kubernetes pod
//! logs, syslog messages and OTLP logs, turns lines into labelled streams through Promtail-compatible
//! pipeline stages, and pushes them to Skald (or any Loki).
//!
//! Data flow: targets (`files.rs` threads tailing with `tailer.rs`; `syslog_target.rs`
//! and the receivers `push_api.rs` and `otlp_target.rs` feeding `source.rs` pipeline threads) send entries and position
//! acknowledgements through one bounded channel per client (`outlet.rs`); each client
//! (`client.rs`) batches, pushes, and acknowledges positions (`positions.rs`) only for
//! what the server accepted.
//!
//! Invariants:
//! - at least once: a saved position never runs ahead of what every client had
//!   acknowledged (or deliberately dropped), so a crash or an outage loses nothing;
//! - bounded memory: channels are bounded and readers block on them, so a backlog
//!   stays on disk, not in memory;
//! - configuration errors stop the agent before it starts, naming the key.

mod client;
mod config;
mod config_client;
mod file_id;
mod files;
mod glob;
mod http_client;
mod kubernetes;
mod kubernetes_pods;
mod metrics;
mod otlp_target;
mod outlet;
mod positions;
mod push_api;
mod relabel;
mod source;
mod syslog;
mod syslog_target;
mod tailer;
mod targets;
mod watch;

pub use config::Config;
pub use positions::parse as parse_positions;
#[doc(hidden)]
pub use syslog_target::parse_stream_for_fuzzing as parse_syslog_stream_for_fuzzing;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Command-line arguments of `skald agent`.
#[derive(clap::Args, Clone, Debug)]
pub struct AgentArgs {
    /// Promtail-compatible YAML configuration file.
    #[arg(long, alias = "config.file")]
    pub config: PathBuf,
    /// Check the configuration (stages, relabel rules, globs) and exit.
    #[arg(long)]
    pub check_config: bool,
}

/// Errors that stop the agent.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(#[from] config::ConfigError),
    #[error("scrape_configs[{index}] ({job}): {message}")]
    Scrape { index: usize, job: String, message: String },
    #[error(transparent)]
    Positions(#[from] positions::PositionsError),
    #[error(transparent)]
    Client(#[from] client::ClientError),
    #[error("listening on {address}: {source}")]
    Listen { address: String, source: std::io::Error },
    #[error("starting the runtime: {0}")]
    Runtime(std::io::Error),
}

/// Longest wait at shutdown for the clients to send what they hold.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How often a progress line is logged.
const PROGRESS_PERIOD: Duration = Duration::from_secs(30);

/// Runs the agent until SIGTERM/SIGINT.
pub fn run(args: AgentArgs) -> Result<(), Error> {
    let config = Config::load(&args.config)?;
    init_tracing(config.server.log_level.as_deref(), config.server.log_format);
    if config.tracing.enabled {
        tracing::info!("tracing.enabled is set, but the agent exports no spans (no tracing backend is built in)");
    }
    let plan = Plan::compile(&config)?;
    if args.check_config {
        println!("configuration OK: {} client(s), {} scrape config(s)", config.clients.len(), config.scrape_configs.len());
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(Error::Runtime)?;
    runtime.block_on(run_async(config, plan))
}

/// Logs to stderr: text lines (`logfmt`, the default) or one JSON object per line.
fn init_tracing(level: Option<&str>, format: config::LogFormat) {
    let filter = std::env::var("RUST_LOG").ok().or_else(|| level.map(str::to_string)).unwrap_or_else(|| "info".to_string());
    let builder = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::new(filter)).with_target(false);
    let _ = match format {
        config::LogFormat::Json => builder.json().with_current_span(false).try_init(),
        config::LogFormat::Logfmt => builder.try_init(),
    };
}

/// The scrape configs, checked and compiled before anything starts.
struct Plan {
    jobs: Vec<JobPlan>,
}

struct JobPlan {
    index: usize,
    relabel: Vec<relabel::Rule>,
    kind: JobKind,
    /// The pod watcher feeding a `Discovery::Dynamic`.
    pods: Option<kubernetes::PodDiscovery>,
}

enum JobKind {
    Files(files::Discovery),
    Syslog(config::SyslogConfig),
    Push(config::PushApiConfig),
    Otlp(config::OtlpReceiverConfig),
}

impl Plan {
    fn compile(config: &Config) -> Result<Plan, Error> {
        let mut jobs = Vec::new();
        for (index, scrape) in config.scrape_configs.iter().enumerate() {
            let fail = |message: String| Error::Scrape { index, job: scrape.job_name.clone(), message };
            skald_agent_stages::Pipeline::from_yaml(&scrape.pipeline_stages).map_err(|e| fail(e.to_string()))?;
            let relabel = relabel::compile(&scrape.relabel_configs).map_err(|e| fail(e.to_string()))?;
            let mut pods = None;
            let kind = if !scrape.kubernetes_sd_configs.is_empty() {
                let targets = Arc::new(files::DynamicTargets::default());
                pods = Some(kubernetes::PodDiscovery {
                    job_name: scrape.job_name.clone(),
                    configs: scrape.kubernetes_sd_configs.clone(),
                    relabel: relabel.clone(),
                    hostname: kubernetes::hostname(),
                    targets: targets.clone(),
                });
                JobKind::Files(files::Discovery::Dynamic(targets))
            } else if !scrape.static_configs.is_empty() {
                let targets = files::static_targets(&scrape.static_configs, &relabel).map_err(|e| fail(e.to_string()))?;
                JobKind::Files(files::Discovery::Static(targets))
            } else if let Some(pods) = &scrape.kubernetes_pod_logs {
                JobKind::Files(files::pod_discovery(pods).map_err(|e| fail(e.to_string()))?)
            } else if let Some(syslog) = &scrape.syslog {
                JobKind::Syslog(syslog.clone())
            } else if let Some(push) = &scrape.loki_push_api {
                JobKind::Push(push.clone())
            } else if let Some(otlp) = &scrape.otlp {
                otlp_target::OtlpTarget::check(otlp).map_err(fail)?;
                JobKind::Otlp(otlp.clone())
            } else {
                return Err(fail("no target".into()));
            };
            jobs.push(JobPlan { index, relabel, kind, pods });
        }
        Ok(Plan { jobs })
    }
}

async fn bind(address: String) -> Result<tokio::net::TcpListener, Error> {
    tokio::net::TcpListener::bind(&address).await.map_err(|source| Error::Listen { address, source })
}

async fn run_async(config: Config, plan: Plan) -> Result<(), Error> {
    let metrics = Arc::new(metrics::Metrics::default());
    let positions =
        Arc::new(positions::Positions::load(&config.positions.filename, config.positions.ignore_invalid_yaml, config.clients.len())?);
    let ready = Arc::new(AtomicBool::new(false));
    let shutdown = Arc::new(AtomicBool::new(false));
    let (deadline_tx, deadline_rx) = tokio::sync::watch::channel(None::<Instant>);

    // Clients.
    let (outlet, receivers) = outlet::Outlet::new(outlet::CHANNEL_CAPACITY, config.clients.len());
    let outlet = outlet.with_limiter(outlet::RateLimiter::from_limits(&config.limits_config, &metrics));
    let mut client_tasks = Vec::new();
    for (index, (client_config, rx)) in config.clients.iter().zip(receivers).enumerate() {
        let client = client::Client::new(index, client_config.clone(), positions.clone(), metrics.clone(), deadline_rx.clone())?;
        client_tasks.push(tokio::spawn(client.run(rx)));
    }

    // Own HTTP endpoint.
    let mut servers = Vec::new();
    if !config.server.disable {
        let listener = bind(format!("{}:{}", config.server.http_listen_address, config.server.http_listen_port)).await?;
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(address = %addr, prefix = %config.server.path_prefix(), "agent HTTP endpoint listening (/ready, /metrics)");
        }
        let router = push_api::admin_router(metrics.clone(), ready.clone());
        let prefix = config.server.path_prefix();
        let router = if prefix.is_empty() { router } else { axum::Router::new().nest(&prefix, router) };
        servers.push(tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        }));
    }

    // Targets.
    let runtime = tokio::runtime::Handle::current();
    let mut file_threads = Vec::new();
    let mut pipeline_threads = Vec::new();
    let sync_period = Duration::from_nanos(config.target_config.sync_period as u64);
    for job in plan.jobs {
        let scrape = &config.scrape_configs[job.index];
        // The pipeline thread of a network target; entries sent to the channel reach the clients.
        let pipeline = |threads: &mut Vec<std::thread::JoinHandle<()>>| {
            let (entries, thread) = source::spawn_pipeline_thread(
                scrape.job_name.clone(),
                scrape.pipeline_stages.clone(),
                outlet.clone(),
                metrics.clone(),
                &runtime,
            );
            threads.push(thread);
            entries
        };
        if let Some(pods) = job.pods {
            let specs =
                pods.prepare().await.map_err(|message| Error::Scrape { index: job.index, job: scrape.job_name.clone(), message })?;
            tracing::info!(job = %scrape.job_name, node = %pods.hostname, watches = specs.len(), "watching this node's pods");
            servers.push(tokio::spawn(pods.watch(specs)));
        }
        match job.kind {
            JobKind::Files(discovery) => {
                let file_job = files::FileJob {
                    job_name: scrape.job_name.clone(),
                    discovery,
                    relabel: job.relabel,
                    pipeline_stages: scrape.pipeline_stages.clone(),
                    sync_period,
                    file_watch: config.file_watch_config.clone(),
                    limits: config.limits_config.clone(),
                    positions: positions.clone(),
                    metrics: metrics.clone(),
                    outlet: outlet.clone(),
                    shutdown: shutdown.clone(),
                };
                let handle = std::thread::Builder::new()
                    .name(format!("files-{}", scrape.job_name))
                    .spawn(move || file_job.run())
                    .map_err(Error::Runtime)?;
                file_threads.push(handle);
            }
            JobKind::Syslog(syslog_config) => {
                let entries = pipeline(&mut pipeline_threads);
                let address = syslog_config.listen_address.clone();
                let target = syslog_target::SyslogTarget { config: syslog_config, relabel: job.relabel, metrics: metrics.clone(), entries };
                let (addr, handle) = target.bind().await.map_err(|source| Error::Listen { address, source })?;
                tracing::info!(job = %scrape.job_name, address = %addr, "syslog listener started");
                servers.push(handle);
            }
            JobKind::Push(push_config) => {
                let entries = pipeline(&mut pipeline_threads);
                let address = format!("{}:{}", push_config.server.http_listen_address, push_config.server.http_listen_port);
                let listener = bind(address).await?;
                if let Ok(addr) = listener.local_addr() {
                    tracing::info!(job = %scrape.job_name, address = %addr, "loki_push_api listening");
                }
                let target = push_api::PushTarget {
                    labels: push_config.labels.clone(),
                    use_incoming_timestamp: push_config.use_incoming_timestamp,
                    relabel: job.relabel,
                    metrics: metrics.clone(),
                    entries,
                };
                let router = push_api::push_router(target);
                servers.push(tokio::spawn(async move {
                    let _ = axum::serve(listener, router).await;
                }));
            }
            JobKind::Otlp(otlp_config) => {
                let entries = pipeline(&mut pipeline_threads);
                let server = otlp_config.server.clone();
                let http = bind(format!("{}:{}", server.http_listen_address, server.http_listen_port)).await?;
                let grpc = match server.grpc_listen_port {
                    Some(port) => Some(bind(format!("{}:{port}", server.grpc_listen_address)).await?),
                    None => None,
                };
                let target = Arc::new(otlp_target::OtlpTarget::new(otlp_config, job.relabel, metrics.clone(), entries));
                if let Ok(addr) = http.local_addr() {
                    tracing::info!(job = %scrape.job_name, address = %addr, "otlp http receiver listening");
                }
                let router = otlp_target::http_router(target.clone());
                servers.push(tokio::spawn(async move {
                    let _ = axum::serve(http, router).await;
                }));
                if let Some(grpc) = grpc {
                    if let Ok(addr) = grpc.local_addr() {
                        tracing::info!(job = %scrape.job_name, address = %addr, "otlp grpc receiver listening");
                    }
                    servers.push(tokio::spawn(otlp_target::serve_grpc(grpc, target)));
                }
            }
        }
    }

    // Background: positions sync and progress lines.
    let sync = Duration::from_nanos(config.positions.sync_period as u64);
    let positions_task = {
        let positions = positions.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(sync).await;
                if let Err(e) = positions.save() {
                    tracing::error!(error = %e, "saving positions");
                }
            }
        })
    };
    let progress_task = {
        let metrics = metrics.clone();
        let outlet = outlet.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PROGRESS_PERIOD).await;
                tracing::info!(
                    files = metrics.files_active.load(Ordering::Relaxed),
                    lines_read = metrics.total(metrics::READ_LINES),
                    entries_sent = metrics.total(metrics::SENT_ENTRIES),
                    dropped = metrics.total(metrics::DROPPED_ENTRIES),
                    backlog_messages = outlet.backlog(),
                    "progress"
                );
            }
        })
    };
    drop(outlet);
    ready.store(true, Ordering::Relaxed);
    tracing::info!(clients = config.clients.len(), scrape_configs = config.scrape_configs.len(), "agent running");

    wait_for_signal().await;
    tracing::info!("stopping: draining pipelines and batches");
    ready.store(false, Ordering::Relaxed);
    let _ = deadline_tx.send(Some(Instant::now() + SHUTDOWN_GRACE));
    shutdown.store(true, Ordering::Relaxed);
    // Listeners first (their senders feed the pipeline threads), then the threads.
    for server in &servers {
        server.abort();
    }
    for server in servers {
        let _ = server.await;
    }
    let threads: Vec<std::thread::JoinHandle<()>> = file_threads.into_iter().chain(pipeline_threads).collect();
    let joined = tokio::task::spawn_blocking(move || {
        for thread in threads {
            let _ = thread.join();
        }
    });
    let all_clients = async {
        let _ = joined.await;
        for task in client_tasks {
            let _ = task.await;
        }
    };
    if tokio::time::timeout(SHUTDOWN_GRACE + Duration::from_secs(2), all_clients).await.is_err() {
        tracing::warn!("clients did not finish in time; unsent entries will be read again after the restart");
    }
    positions_task.abort();
    progress_task.abort();
    positions.save()?;
    tracing::info!("agent stopped");
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
