//! The command line: flags, logging, wiring and exit codes; `main.rs` only calls [`main`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use crate::aws::Overrides;
use crate::collector::unix_seconds;
use crate::config::{Config, Shard};
use crate::runner::{self, Runner};
use crate::state::Storage;
use crate::web_config::LiveWebConfig;
use crate::{app, http, scheduler};
use anyhow::Context;
use clap::{Parser, ValueEnum};

/// Exit status for a bad configuration or bad flags, as `--check-config` documents.
const EXIT_CONFIG: u8 = 2;

/// `--version`: the crate's version and the git revision it was built from (build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (revision ",
    env!("GIT_REVISION"),
    ")"
);

#[derive(Parser, Debug)]
#[command(
    version = VERSION,
    about = "Prometheus exporter for AWS AppFlow, Transfer Family workflows, Supply Chain and Customer Profiles runs"
)]
struct Flags {
    /// YAML configuration file; without it one target from the standard AWS chain, every service on.
    #[arg(long = "config.file", value_name = "PATH")]
    config_file: Option<PathBuf>,
    /// Address to serve on: host:port, :port or [::1]:port.
    #[arg(
        long = "web.listen-address",
        value_name = "ADDR",
        default_value = ":9816"
    )]
    listen_address: String,
    /// Path of the metrics.
    #[arg(
        long = "web.telemetry-path",
        value_name = "PATH",
        default_value = "/metrics"
    )]
    telemetry_path: String,
    /// TLS and basic auth, in the Prometheus exporter-toolkit web configuration format.
    #[arg(long = "web.config.file", value_name = "PATH")]
    web_config_file: Option<PathBuf>,
    /// Log level.
    #[arg(long = "log.level", value_enum, default_value = "info")]
    log_level: Level,
    /// Log format.
    #[arg(long = "log.format", value_enum, default_value = "logfmt")]
    log_format: LogFormat,
    /// Collect every target once, print the exposition, exit 0 if every collector was up, else 1.
    #[arg(long)]
    once: bool,
    /// Validate the configuration and exit: 0 when valid, 2 when not.
    #[arg(long = "check-config")]
    check_config: bool,
    /// Start a simulated AWS on loopback with an evolving scenario and collect from it.
    /// Only in builds with the `demo` feature: elsewhere the flag is unknown (exit 2).
    #[cfg(feature = "demo")]
    #[arg(long)]
    demo: bool,
    /// Collect only shard I of N (0-based): N replicas split the flows and workflows by a stable hash of their names.
    #[arg(long, value_name = "I/N")]
    shard: Option<Shard>,
    /// Accept POST /-/reload (as Prometheus does); SIGHUP reloads either way.
    #[arg(long = "web.enable-lifecycle")]
    enable_lifecycle: bool,
    /// Keep the collectors' state in DIR (created if needed, locked): a restart loses no run and counts none twice.
    #[arg(long = "storage.path", value_name = "DIR")]
    storage_path: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Level {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Logfmt,
    Json,
}

/// The exporter's `main`.
pub fn main() -> ExitCode {
    let flags = Flags::parse();
    let (mut config, config_hash) = match &flags.config_file {
        Some(path) => match Config::load_with_text(path) {
            Ok((config, text)) => (config, runner::sha256_hex(text.as_bytes())),
            Err(error) => {
                eprintln!("aws-flow-exporter: invalid configuration: {error}");
                return ExitCode::from(EXIT_CONFIG);
            }
        },
        None => (Config::default(), String::new()),
    };
    if let Some(shard) = flags.shard {
        config.apply_shard(shard);
    }
    let web = match &flags.web_config_file {
        Some(path) => match LiveWebConfig::load(path) {
            Ok(web) => Some(Arc::new(web)),
            Err(error) => {
                eprintln!("aws-flow-exporter: invalid web configuration: {error:#}");
                return ExitCode::from(EXIT_CONFIG);
            }
        },
        None => None,
    };
    if flags.check_config {
        println!("configuration is valid");
        return ExitCode::SUCCESS;
    }
    let Some(listen) = parse_listen_address(&flags.listen_address) else {
        eprintln!(
            "aws-flow-exporter: --web.listen-address {:?}: expected host:port, :port or [::1]:port",
            flags.listen_address
        );
        return ExitCode::from(EXIT_CONFIG);
    };
    if !flags.telemetry_path.starts_with('/') {
        eprintln!("aws-flow-exporter: --web.telemetry-path must start with '/'");
        return ExitCode::from(EXIT_CONFIG);
    }
    init_logging(flags.log_level, flags.log_format);
    scheduler::install_panic_hook();
    crate::malloc::configure();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("aws-flow-exporter: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(flags, config, config_hash, listen, web)) {
        Ok(code) => code,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg_attr(not(feature = "demo"), allow(unused_mut))]
async fn run(
    flags: Flags,
    mut config: Config,
    config_hash: String,
    listen: SocketAddr,
    web: Option<Arc<LiveWebConfig>>,
) -> anyhow::Result<ExitCode> {
    let mut overrides = Overrides::default();
    // Kept alive for the whole run: dropping it stops the simulated AWS.
    #[cfg(feature = "demo")]
    let _demo = if flags.demo {
        let demo = start_demo(&mut config, flags.config_file.is_none()).await?;
        overrides.endpoint_url = Some(demo.url());
        overrides.static_credentials = true;
        Some(demo)
    } else {
        None
    };
    // Before any port is opened: a directory that cannot be used is a configuration error.
    let storage = match &flags.storage_path {
        Some(dir) => match Storage::open(dir, flags.shard.map(|s| s.to_string())) {
            Ok(storage) => {
                tracing::info!(dir = %dir.display(), "keeping the collectors' state");
                Some(Arc::new(storage))
            }
            Err(error) => {
                tracing::error!("{error}");
                return Ok(ExitCode::from(EXIT_CONFIG));
            }
        },
        None => None,
    };
    let mut plan = match app::plan(&config, &overrides, storage.as_ref()).await {
        Ok(plan) => plan,
        Err(error) => {
            tracing::error!("{error:#}");
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    };
    plan.exporter
        .config_loaded(&config_hash, unix_seconds(std::time::SystemTime::now()));
    if let Some(shard) = flags.shard {
        plan.exporter
            .set_shard(shard.index(), shard.total())
            .context("cannot register the shard metrics")?;
    }
    let discovery = match &config.discovery {
        Some(settings) => {
            Some(start_discovery(settings, &config, &overrides, &mut plan, storage.as_ref()).await?)
        }
        None => None,
    };
    plan.exporter.render_now();
    if flags.once {
        let mut stdout = std::io::stdout().lock();
        let units = plan.units.into_iter().map(|built| built.unit).collect();
        let all_up =
            scheduler::collect_all_once(units, &plan.store, &plan.exporter, &mut stdout).await?;
        // A failed listing of the organization is a failure too.
        let listed = discovery.as_ref().is_none_or(|d| d.up());
        return Ok(if all_up && listed {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!(address = %listener.local_addr()?, version = env!("CARGO_PKG_VERSION"), revision = env!("GIT_REVISION"), "listening");
    let source = runner::Source {
        path: flags.config_file.clone(),
        shard: flags.shard,
    };
    // Before the collectors start: their first ends wait for the renderer.
    plan.exporter.expect_renderer();
    let exporter = plan.exporter.clone();
    scheduler::supervise("renderer", move || exporter.clone().keep_rendered());
    let runner = Runner::start(
        source,
        overrides,
        plan.store.clone(),
        plan.exporter.clone(),
        storage,
        config.collection.interval,
        plan.units,
    );
    if let Some(discovery) = discovery {
        runner.attach_discovery(discovery.clone(), config.clone(), config_hash.clone());
        let refreshes = runner.clone();
        scheduler::supervise("discovery", move || {
            let (settings, apply) = (refreshes.clone(), refreshes.clone());
            discovery.clone().run(
                move || settings.discovery_settings(),
                move || {
                    let runner = apply.clone();
                    async move { runner.rediscovered().await }
                },
            )
        });
    }
    // Supervised: a panic is logged once and the task starts over.
    let reloads = runner.clone();
    scheduler::supervise("sighup", move || reload_on_sighup(reloads.clone()));
    if let Some(web) = &web {
        let web = web.clone();
        scheduler::supervise("web-config", move || web.clone().watch());
    }
    let site = Arc::new(http::Site {
        index_html: http::index_html(&flags.telemetry_path, &plan.targets),
        telemetry_path: flags.telemetry_path,
        store: plan.store,
        exporter: plan.exporter,
        turns: Default::default(),
        lifecycle: flags
            .enable_lifecycle
            .then(|| runner.clone() as Arc<dyn http::Lifecycle>),
        web,
    });
    http::serve(listener, site, shutdown_signal()).await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// (v4) The first listing of the organization's accounts, before anything
/// is collected: its targets start with the static ones (a failure leaves
/// none, and the refreshes go on).
async fn start_discovery(
    settings: &crate::config::Discovery,
    config: &Config,
    overrides: &Overrides,
    plan: &mut app::Plan,
    storage: Option<&Arc<Storage>>,
) -> anyhow::Result<Arc<crate::discovery::Discovery>> {
    let discovery = crate::discovery::Discovery::new(
        settings,
        &config.collection,
        overrides,
        &plan.exporter,
        plan.store.clone(),
    )
    .await;
    discovery.refresh(settings).await;
    let units = discovery.units(settings, &config.collection, &plan.exporter)?;
    for built in units {
        plan.store.expect(built.unit.key.clone());
        plan.units.push(built.with_storage(storage));
    }
    discovery.applied().await;
    Ok(discovery)
}

#[cfg(feature = "demo")]
/// The simulated AWS of `--demo`, with a scenario that keeps evolving.
async fn start_demo(
    config: &mut Config,
    default_config: bool,
) -> anyhow::Result<aws_flow_simulator::Simulator> {
    use aws_flow_simulator::scenario::{spawn_stepping, Scenario};
    let simulator = aws_flow_simulator::Simulator::start(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .context("cannot start the demo simulator")?;
    let mut scenario = Scenario::new(42);
    let now = unix_now();
    let organization = config.discovery.is_some();
    simulator.with(|world| {
        scenario.populate(world, now);
        if organization {
            aws_flow_simulator::organizations::populate_demo(world, now);
        }
    });
    let step = std::time::Duration::from_secs(5);
    spawn_stepping(&simulator, scenario, step);
    for target in &mut config.targets {
        target.region.get_or_insert_with(|| "us-east-1".to_string());
    }
    if default_config {
        config.collection.interval = step;
        // The demo world's Transfer server writes its workflow logs: read them.
        for target in &mut config.targets {
            for settings in &mut target.services {
                if settings.name == "transfer" {
                    settings.log_groups = Some(crate::config::LogGroups::Auto);
                }
            }
        }
    }
    tracing::info!(endpoint = %simulator.url(), "demo: collecting from the simulated AWS");
    Ok(simulator)
}

#[cfg(feature = "demo")]
fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// `:9816` listens on every interface, like node_exporter's default.
fn parse_listen_address(address: &str) -> Option<SocketAddr> {
    if let Some(port) = address.strip_prefix(':') {
        return port
            .parse::<u16>()
            .ok()
            .map(|p| SocketAddr::from(([0, 0, 0, 0], p)));
    }
    if let Ok(addr) = address.parse() {
        return Some(addr);
    }
    let (host, port) = address.rsplit_once(':')?;
    let port = port.parse::<u16>().ok()?;
    if host == "localhost" {
        return Some(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    None
}

/// SIGHUP reloads the configuration file (the web configuration watches
/// for it on its own).
async fn reload_on_sighup(runner: Arc<Runner>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hangup = match signal(SignalKind::hangup()) {
            Ok(signal) => signal,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGHUP");
                return;
            }
        };
        while hangup.recv().await.is_some() {
            crate::fault::trip("sighup");
            tracing::info!("SIGHUP: reloading the configuration");
            let _ = runner.reload().await;
        }
    }
    #[cfg(not(unix))]
    let _ = runner;
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

fn init_logging(level: Level, format: LogFormat) {
    use tracing_subscriber::prelude::*;
    let level = match level {
        Level::Error => tracing::Level::ERROR,
        Level::Warn => tracing::Level::WARN,
        Level::Info => tracing::Level::INFO,
        Level::Debug => tracing::Level::DEBUG,
        Level::Trace => tracing::Level::TRACE,
    };
    // Other crates (the SDK's above all) log only warnings and errors: their debug is not ours.
    let filter = tracing_subscriber::filter::Targets::new()
        .with_default(tracing::Level::WARN.min(level))
        .with_target("aws_flow_exporter", level);
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Logfmt => registry
            .with(
                tracing_logfmt::builder()
                    .with_target(false)
                    .with_span_name(false)
                    .with_span_path(false)
                    .layer()
                    .with_writer(std::io::stderr),
            )
            .init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_target(false)
                    .with_current_span(true)
                    .with_span_list(false)
                    .flatten_event(true)
                    .with_writer(std::io::stderr),
            )
            .init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--help` offers `--demo` only in a build that has it.
    #[test]
    fn demo_flag_only_with_the_demo_feature() {
        use clap::CommandFactory;
        let command = Flags::command();
        let demo = command
            .get_arguments()
            .any(|a| a.get_long() == Some("demo"));
        assert_eq!(demo, cfg!(feature = "demo"));
        assert!(VERSION.contains(env!("GIT_REVISION")));
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(
            parse_listen_address(":9816"),
            Some(SocketAddr::from(([0, 0, 0, 0], 9816)))
        );
        assert_eq!(
            parse_listen_address("127.0.0.1:1"),
            Some(SocketAddr::from(([127, 0, 0, 1], 1)))
        );
        assert!(parse_listen_address("[::1]:9816").is_some());
        assert_eq!(
            parse_listen_address("localhost:80"),
            Some(SocketAddr::from(([127, 0, 0, 1], 80)))
        );
        assert_eq!(parse_listen_address("nonsense"), None);
        assert_eq!(parse_listen_address(":99999"), None);
    }
}
