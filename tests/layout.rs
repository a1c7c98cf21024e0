//! A service is its folder: its name (or its `aws_<name>_` series prefix) appears in `src/`
//! and `simulator/src/` only in its own modules and in the registries. The places that still
//! name services from outside are listed in `KNOWN`, each with the item of issue 25 that
//! removes it; the test fails on a new one, and on an entry that no longer applies (delete it;
//! an entry whose file does not exist on this branch is let be, so that branches merge).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use aws_flow_exporter::services::SERVICES;

/// The registries, which name every service by design.
const REGISTRIES: &[&str] = &["src/services/mod.rs"];

/// (file, service) pairs that name a service from outside its modules today.
const KNOWN: &[(&str, &str)] = &[
    // Item 1 (a service owns its config block): the schema's documentation and its tests
    // use the services' blocks and their own keys (`domains`, `log_groups`) as examples.
    ("src/config/mod.rs", "appflow"),
    ("src/config/mod.rs", "transfer"),
    ("src/config/mod.rs", "supplychain"),
    ("src/config/mod.rs", "customerprofiles"),
    ("src/config/error.rs", "appflow"),
    ("src/config/tests.rs", "appflow"),
    ("src/config/tests.rs", "transfer"),
    ("src/config/tests.rs", "supplychain"),
    ("src/config/tests.rs", "customerprofiles"),
    ("src/config/tests/services.rs", "appflow"),
    ("src/config/tests/services.rs", "transfer"),
    ("src/config/tests/services.rs", "supplychain"),
    ("src/config/tests/services.rs", "customerprofiles"),
    ("src/config/tests/shards.rs", "appflow"),
    // Branch `orgs` (merged before this one): the discovery config's tests use service blocks.
    ("src/config/discovery.rs", "appflow"),
    ("src/config/discovery.rs", "transfer"),
    // Item 1 (its demo hints): `--demo` reads Transfer's logs by testing its name.
    ("src/cli.rs", "transfer"),
    // Item 1 (its operations per option) and item 3 (generated IAM docs): the docs tests pick
    // Transfer's `log_groups` to check the per-option policies.
    ("src/docs.rs", "transfer"),
    // Item 1: unit tests of shared code that take a real service's name as their example
    // (state files, scheduling, scrapes, the store, the exporter's own series).
    ("src/state.rs", "appflow"),
    ("src/state.rs", "transfer"),
    ("src/scheduler.rs", "appflow"),
    ("src/http.rs", "appflow"),
    ("src/store.rs", "appflow"),
    ("src/self_metrics.rs", "appflow"),
    ("src/self_metrics/documented.rs", "appflow"),
    // Item 1 (the simulator gets a registry of its own): the simulator's crate root, its
    // server's routes, its faults and its shared scenario code name every service.
    ("simulator/src/lib.rs", "appflow"),
    ("simulator/src/lib.rs", "transfer"),
    ("simulator/src/lib.rs", "supplychain"),
    ("simulator/src/lib.rs", "customerprofiles"),
    ("simulator/src/server.rs", "appflow"),
    ("simulator/src/server.rs", "transfer"),
    ("simulator/src/server.rs", "supplychain"),
    ("simulator/src/server.rs", "customerprofiles"),
    ("simulator/src/faults.rs", "appflow"),
    ("simulator/src/faults.rs", "transfer"),
    ("simulator/src/faults.rs", "customerprofiles"),
    ("simulator/src/scenario/mod.rs", "appflow"),
    ("simulator/src/scenario/mod.rs", "transfer"),
    ("simulator/src/scenario/mod.rs", "supplychain"),
    ("simulator/src/scenario/mod.rs", "customerprofiles"),
    ("simulator/src/scenario/scale.rs", "appflow"),
    ("simulator/src/scenario/scale.rs", "transfer"),
    ("simulator/src/scenario/scale.rs", "supplychain"),
    ("simulator/src/scenario/scale.rs", "customerprofiles"),
    // Item 1: CloudWatch Logs serves Transfer's `/aws/transfer/` groups; the log groups a
    // service writes belong in its simulator module.
    ("simulator/src/logs.rs", "transfer"),
];

/// Every `.rs` file under `dir`, as a path relative to the repository, `/`-separated.
fn sources(root: &Path, dir: &str, out: &mut Vec<String>) {
    let mut stack = vec![root.join(dir)];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(root).expect("under the root");
                let parts: Vec<_> = relative.iter().map(|p| p.to_string_lossy()).collect();
                out.push(parts.join("/"));
            }
        }
    }
}

/// Whether `file` is one of `service`'s own modules: its folder under `src/services/`, its
/// simulator module, and its simulator scenarios.
fn owned_by(file: &str, service: &str) -> bool {
    let stem = |prefix: &str| {
        file.strip_prefix(prefix).is_some_and(|rest| {
            rest == format!("{service}.rs") || rest.starts_with(&format!("{service}/"))
        })
    };
    stem("src/services/")
        || stem("simulator/src/")
        || stem("simulator/src/scenario/")
        || stem("simulator/src/scenario/scale/")
}

#[test]
fn a_service_is_named_only_in_its_own_modules_and_the_registries() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root, "src", &mut files);
    sources(&root, "simulator/src", &mut files);
    files.sort();
    let mut found = BTreeSet::new();
    for service in SERVICES {
        let name = regex::Regex::new(&format!(r"\b{0}\b|aws_{0}_", service.name)).unwrap();
        for file in &files {
            if REGISTRIES.contains(&file.as_str()) || owned_by(file, service.name) {
                continue;
            }
            let text = std::fs::read_to_string(root.join(file)).unwrap();
            if name.is_match(&text) {
                found.insert((file.clone(), service.name));
            }
        }
    }
    let known: BTreeSet<(String, &str)> = KNOWN.iter().map(|(f, s)| (f.to_string(), *s)).collect();
    let new: Vec<_> = found.difference(&known).collect();
    assert!(
        new.is_empty(),
        "a service named outside its own modules and the registries (move it into the \
         service's folder, or derive it from the registry): {new:?}"
    );
    let gone: Vec<_> = known
        .difference(&found)
        .filter(|(file, _)| root.join(file).exists())
        .collect();
    assert!(
        gone.is_empty(),
        "known exceptions that no longer apply: delete them from KNOWN: {gone:?}"
    );
}

#[test]
fn own_modules_are_told_apart() {
    assert!(owned_by("src/services/appflow/collector.rs", "appflow"));
    assert!(owned_by("simulator/src/appflow.rs", "appflow"));
    assert!(owned_by(
        "simulator/src/scenario/scale/transfer.rs",
        "transfer"
    ));
    assert!(!owned_by("src/services/appflow.rs.bak/x.rs", "appflow"));
    assert!(!owned_by("src/services/mod.rs", "appflow"));
    assert!(!owned_by("simulator/src/logs.rs", "transfer"));
}
