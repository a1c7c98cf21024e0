//! A panic in the middle of each service's apply changes nothing: the
//! collector's state goes back to before the collection, the state file is
//! untouched, and the next collection counts exactly what a collector that
//! never panicked counts.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use aws_flow_simulator::scenario::Scenario;
use aws_flow_simulator::Simulator;

use crate::app::plan;
use crate::aws::Overrides;
use crate::config::Config;
use crate::scheduler::{install_panic_hook, Unit};
use crate::services::SERVICES;
use crate::state::Storage;
use crate::store::Store;

const HOUR: f64 = 3600.0;

fn unix_now() -> f64 {
    crate::collector::unix_seconds(std::time::SystemTime::now())
}

/// One target with only `service` enabled.
fn config(service: &str) -> Config {
    let mut yaml = String::from(
        "collection:\n  interval: 60s\n  requests_per_second: 1000\ntargets:\n  - region: us-east-1\n    services:\n",
    );
    for s in SERVICES {
        yaml.push_str(&format!(
            "      {}: {{ enabled: {} }}\n",
            s.name,
            s.name == service
        ));
    }
    Config::parse(&yaml).expect("a valid configuration")
}

/// The unit collecting `service` from `sim`, saving its state under `dir`.
async fn unit(sim: &Simulator, service: &str, dir: &Path) -> (Unit, Arc<Store>) {
    let overrides = Overrides {
        endpoint_url: Some(sim.url()),
        static_credentials: true,
        ..Overrides::default()
    };
    let storage = Arc::new(Storage::open(dir, None).expect("a storage directory"));
    let mut plan = plan(&config(service), &overrides, Some(&storage))
        .await
        .expect("a plan");
    assert_eq!(plan.units.len(), 1);
    (plan.units.remove(0).unit, plan.store)
}

/// The counters (and histograms) of the published exposition.
fn counters(store: &Store) -> Vec<String> {
    let text = store.current().plain(Vec::new(), None).collect().unwrap();
    String::from_utf8(text)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            let name = l.split(['{', ' ']).next().unwrap_or_default();
            ["_total", "_bucket", "_sum", "_count"]
                .iter()
                .any(|s| name.ends_with(s))
        })
        .map(str::to_string)
        .collect()
}

/// Every file under `dir` and its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut found = BTreeMap::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                found.insert(path.display().to_string(), std::fs::read(&path).unwrap());
            }
        }
    }
    found
}

#[tokio::test]
async fn a_panic_in_the_middle_of_each_services_apply_changes_nothing() {
    install_panic_hook();
    for service in SERVICES {
        let name = service.name;
        let sim = Simulator::start("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let mut scenario = Scenario::new(7);
        let start = unix_now() - 6.0 * HOUR;
        sim.with(|world| scenario.populate(world, start));
        let (panicking_dir, steady_dir) =
            (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (mut panicking, panicking_store) = unit(&sim, name, panicking_dir.path()).await;
        let (mut steady, steady_store) = unit(&sim, name, steady_dir.path()).await;
        assert!(
            panicking.collect_once(&panicking_store).await,
            "{name}: baseline"
        );
        assert!(steady.collect_once(&steady_store).await, "{name}: baseline");
        // Hours of runs: the next collection has executions to count.
        sim.with(|world| {
            for step in 1..=12 {
                scenario.step(world, start + f64::from(step) * 0.5 * HOUR);
            }
        });
        let saved = files(panicking_dir.path());
        let before = counters(&panicking_store);
        crate::fault::arm(name);
        assert!(
            !panicking.collect_once(&panicking_store).await,
            "{name}: the panic is a failed collection"
        );
        assert!(
            std::panic::catch_unwind(|| crate::fault::point(name)).is_ok(),
            "{name}: the panic came from the middle of the apply"
        );
        assert_eq!(
            files(panicking_dir.path()),
            saved,
            "{name}: state file untouched"
        );
        assert_eq!(
            counters(&panicking_store),
            before,
            "{name}: nothing published"
        );
        // The next collection counts what one that never panicked counts: nothing twice.
        assert!(panicking.collect_once(&panicking_store).await, "{name}");
        assert!(steady.collect_once(&steady_store).await, "{name}");
        let (after, expected) = (counters(&panicking_store), counters(&steady_store));
        assert_ne!(after, before, "{name}: the scenario ran nothing to count");
        assert_eq!(after, expected, "{name}: counters after the panic");
    }
}
