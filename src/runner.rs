//! What runs: one task per (target, service), and the reload that changes
//! them without restarting the process (SIGHUP, `POST /-/reload`).
//!
//! A reload reads the file again. One that does not validate changes
//! nothing. A valid one takes effect at once: a (target, service) built from
//! the same settings keeps running untouched (its state and counters stay);
//! one that is gone stops and its series leave `/metrics`; a new one starts
//! with its baseline; one whose settings changed is built again. The reload
//! answers without waiting for collections in progress: a rebuilt unit takes
//! its predecessor's state over in a task of its own, in parallel with the
//! others, and starts collecting once that predecessor has stopped.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;

use crate::app::{build_target, Built};
use crate::aws::Overrides;
use crate::collector::unix_seconds;
use crate::config::{Config, Shard};
use crate::discovery::Discovery;
use crate::scheduler::Unit;
use crate::self_metrics::{ExporterMetrics, ServiceMetrics};
use crate::state::Storage;
use crate::store::{Key, Store};

/// Where the configuration comes from, as the flags say.
#[derive(Clone, Debug, Default)]
pub struct Source {
    /// `--config.file`; without it the default configuration, which never changes.
    pub path: Option<PathBuf>,
    pub shard: Option<Shard>,
}

impl Source {
    /// The configuration and the hex SHA-256 of its file ("" without one).
    pub fn load(&self) -> anyhow::Result<(Config, String)> {
        let (mut config, hash) = match &self.path {
            None => (Config::default(), String::new()),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let config = Config::parse(&text)
                    .with_context(|| format!("invalid configuration {}", path.display()))?;
                (config, sha256_hex(text.as_bytes()))
            }
        };
        if let Some(shard) = self.shard {
            config.apply_shard(shard);
        }
        Ok((config, hash))
    }
}

/// The hex SHA-256 of a configuration file, for `config_hash`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

struct Running {
    settings: String,
    metrics: ServiceMetrics,
    task: JoinHandle<Unit>,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl Running {
    /// Stops the loop between two collections and takes the unit back
    /// (waiting at most [`HANDOVER`] for a collection in progress).
    async fn stop(self) -> Option<Unit> {
        let _ = self.stop.send(());
        let mut task = self.task;
        match tokio::time::timeout(HANDOVER, &mut task).await {
            Ok(Ok(unit)) => Some(unit),
            _ => {
                task.abort();
                None
            }
        }
    }
}

/// How long a reload waits for a collection in progress to end before it
/// stops that unit without its state.
const HANDOVER: Duration = Duration::from_secs(60);

/// The running collectors, and how to change them.
pub struct Runner {
    source: Source,
    overrides: Overrides,
    store: Arc<Store>,
    exporter: Arc<ExporterMetrics>,
    /// `--storage.path`: units built by a reload resume from and save there too.
    storage: Option<Arc<Storage>>,
    /// Also keeps two reloads from interleaving.
    running: tokio::sync::Mutex<(Duration, BTreeMap<Key, Running>)>,
    /// (v4) Organizations discovery, and the configuration in force it applies with.
    discovery: std::sync::OnceLock<Arc<Discovery>>,
    in_force: std::sync::Mutex<Option<(Config, String)>>,
}

impl crate::http::Lifecycle for Runner {
    fn reload(&self) -> futures::future::BoxFuture<'_, Result<(), String>> {
        Box::pin(Runner::reload(self))
    }
}

impl Runner {
    /// Starts every unit of `units`, collected every `interval`.
    pub fn start(
        source: Source,
        overrides: Overrides,
        store: Arc<Store>,
        exporter: Arc<ExporterMetrics>,
        storage: Option<Arc<Storage>>,
        interval: Duration,
        units: Vec<Built>,
    ) -> Arc<Runner> {
        let targets = targets(&units);
        let running = units
            .into_iter()
            .map(|built| spawn(&store, interval, targets, built))
            .collect();
        Arc::new(Runner {
            source,
            overrides,
            store,
            exporter,
            storage,
            running: tokio::sync::Mutex::new((interval, running)),
            discovery: Default::default(),
            in_force: Default::default(),
        })
    }

    /// (v4) Discovered targets follow `discovery`'s refreshes (see
    /// [`Runner::rediscovered`]) and reloads; `config` is the one in force.
    pub fn attach_discovery(&self, discovery: Arc<Discovery>, config: Config, hash: String) {
        *crate::sync::lock(&self.in_force) = Some((config, hash));
        let _ = self.discovery.set(discovery);
    }

    /// (v4) The `discovery` block in force.
    pub fn discovery_settings(&self) -> Option<crate::config::Discovery> {
        crate::sync::lock(&self.in_force)
            .as_ref()
            .and_then(|(config, _)| config.discovery.clone())
    }

    /// (v4) Applies the configuration in force again with the targets the
    /// last refresh found: added ones start, removed ones go, the others are
    /// not touched.
    pub async fn rediscovered(&self) {
        if let Err(error) = self.try_reload(true).await {
            tracing::error!(error = %format!("{error:#}"), "discovery: the targets found cannot be applied");
        }
        if let Some(discovery) = self.discovery.get() {
            discovery.applied().await;
        }
    }

    /// Reads the configuration again and applies it; on error nothing
    /// changes and the reason is returned (and logged once, at ERROR).
    pub async fn reload(&self) -> Result<(), String> {
        match self.try_reload(false).await {
            Ok(hash) => {
                self.exporter
                    .config_loaded(&hash, unix_seconds(SystemTime::now()));
                // Answered once the scrapes show it.
                self.exporter.shown().await;
                tracing::info!(sha256 = %hash, "configuration reloaded");
                Ok(())
            }
            Err(error) => {
                let reason = format!("{error:#}");
                self.exporter.config_reload_failed();
                self.exporter.shown().await;
                tracing::error!(error = %reason, "configuration not reloaded; the one in force stays");
                Err(reason)
            }
        }
    }

    /// `again`: the configuration in force (a discovery refresh), not the file.
    async fn try_reload(&self, again: bool) -> anyhow::Result<String> {
        let mut running = self.running.lock().await;
        let (config, hash) = if again {
            crate::sync::lock(&self.in_force)
                .clone()
                .context("no configuration in force")?
        } else {
            // Read off the async workers (a slow disk holds up no scrape); under
            // the lock, so that reloads apply the files in the order they read them.
            let source = self.source.clone();
            tokio::task::spawn_blocking(move || source.load())
                .await
                .context("reading the configuration failed")??
        };
        for (index, target) in config.targets.iter().enumerate() {
            if !self.exporter.fits_labels(target.labels.keys()) {
                bail!(
                    "targets[{index}].labels: a label name no target had at start; \
                     the exporter's own series keep the label names they started with, \
                     so this change needs a restart"
                );
            }
        }
        // Everything is built before anything changes: a target that cannot
        // be built refuses the whole reload.
        let mut wanted = Vec::new();
        for (index, target) in config.targets.iter().enumerate() {
            let (_, built) = build_target(
                index,
                target,
                &config.collection,
                &self.overrides,
                &self.exporter,
            )
            .await?;
            wanted.extend(built);
        }
        wanted.extend(self.discovered(&config)?);
        let interval = config.collection.interval;
        let targets = targets(&wanted);
        let (old_interval, units) = &mut *running;
        let mut kept = BTreeMap::new();
        for built in wanted {
            let key = built.unit.key.clone();
            match units.remove(&key) {
                Some(unit) if unit.settings == built.settings && *old_interval == interval => {
                    kept.insert(key, unit);
                }
                old => {
                    let built = built.with_storage(self.storage.as_ref());
                    let (key, unit) = spawn_after(Some(old), &self.store, interval, targets, built);
                    kept.insert(key, unit);
                }
            }
        }
        for (key, gone) in std::mem::take(units) {
            gone.task.abort();
            // Ended before its series are removed: a collection running on
            // another thread must not publish them again afterwards.
            let _ = gone.task.await;
            gone.metrics.remove();
            self.store.remove(&key).await;
            tracing::info!(target = %key.0, aws_service = key.1, "collector removed by the reload");
        }
        *units = kept;
        *old_interval = interval;
        let config_discovery = config.discovery.is_some();
        *crate::sync::lock(&self.in_force) = Some((config, hash.clone()));
        if let Some(discovery) = self.discovery.get().filter(|_| !again) {
            match config_discovery {
                // A reload lists the accounts again too.
                true => {
                    discovery.applied().await;
                    discovery.wake();
                }
                false => discovery.withdraw().await,
            }
        }
        Ok(hash)
    }

    /// (v4) The collectors of the discovered targets `config` selects.
    fn discovered(&self, config: &Config) -> anyhow::Result<Vec<Built>> {
        let Some(settings) = &config.discovery else {
            return Ok(Vec::new());
        };
        let Some(discovery) = self.discovery.get() else {
            bail!("discovery: a block added by a reload needs a restart");
        };
        let account_id = "account_id".to_string();
        if !self
            .exporter
            .fits_labels(settings.labels.keys().chain([&account_id]))
        {
            bail!(
                "discovery.organizations.labels: a label name no target had at start; \
                 the exporter's own series keep the label names they started with, \
                 so this change needs a restart"
            );
        }
        discovery.units(settings, &config.collection, &self.exporter)
    }
}

/// How many targets the units collect (those with a service enabled).
fn targets(units: &[Built]) -> usize {
    let identities: std::collections::BTreeSet<&Arc<str>> =
        units.iter().map(|built| &built.unit.key.0).collect();
    identities.len()
}

/// Starts a unit; `targets` is how many the configuration collects (see [`crate::scheduler::phase`]).
fn spawn(store: &Arc<Store>, interval: Duration, targets: usize, built: Built) -> (Key, Running) {
    spawn_after(None, store, interval, targets, built)
}

/// [`spawn`], once `old`, the unit it replaces, has stopped (a collection in
/// progress ends first) and handed its state over. The hand-over runs in the
/// unit's own task: the reload does not wait for it. Stopped meanwhile (by
/// the next reload), the unit takes the state over and hands it on at once.
/// `old` is `None` at start, `Some(None)` for a unit a reload adds.
fn spawn_after(
    old: Option<Option<Running>>,
    store: &Arc<Store>,
    interval: Duration,
    targets: usize,
    built: Built,
) -> (Key, Running) {
    let key = built.unit.key.clone();
    let metrics = built.unit.metrics.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let phase = crate::scheduler::phase(&key, interval, targets);
    let store = store.clone();
    let mut unit = built.unit;
    let task = tokio::spawn(async move {
        if let Some(old) = old {
            let (target, service) = (unit.key.0.clone(), unit.key.1);
            let handed = match old {
                Some(old) => old.stop().await.and_then(|mut u| u.hand_over()),
                None => None,
            };
            match handed {
                Some((state, saved_at)) => {
                    unit.take_over(&state, saved_at);
                    tracing::info!(target = %target, aws_service = service, "collector rebuilt by the reload; its state carried over");
                }
                None => {
                    tracing::info!(target = %target, aws_service = service, "collector started by the reload with a baseline");
                }
            }
        }
        unit.run(store, interval, phase, stopped).await
    });
    (
        key,
        Running {
            settings: built.settings,
            metrics,
            task,
            stop,
        },
    )
}
