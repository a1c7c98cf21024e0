//! `--storage.path`: durable state. The exporter is killed with SIGKILL
//! (dropping an [`Exporter`] kills it) between collections, in the middle of
//! one and at random instants while the demo world evolves; after each
//! restart its counters must equal the simulator's truth, as if it had never
//! stopped, and no counter may go down between scrapes. Bad state files, the
//! lock, an unwritable directory, failing saves, `--once` and resources that
//! appear while the exporter is down.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use aws_flow_simulator::appflow::{Execution, Flow};
use aws_flow_simulator::logs::WorkflowTruth;
use aws_flow_simulator::scenario::Scenario;
use aws_flow_simulator::{Fault, Simulator, World};

use crate::harness::*;
use crate::soak::{counted, sc_counted, sc_terminal_ids, sc_truth, terminal_ids, truth};

const APPFLOW_ONLY: &str = "targets:\n  - region: us-east-1\n    services:\n      transfer: { enabled: false }\n      supplychain: { enabled: false }\n      customerprofiles: { enabled: false }\n";

/// The four services of the demo world, Transfer counting from the workflow logs.
const ALL: &str = "collection:\n  interval: 100ms\n  timeout: 500ms\n  requests_per_second: 1000\ntargets:\n  - region: us-east-1\n    services:\n      transfer: { log_groups: auto }\n";

const SERVICES: [&str; 4] = ["appflow", "transfer", "supplychain", "customerprofiles"];

async fn start(sim: &Simulator, yaml: &str, dir: &Path, extra: &[&str]) -> Exporter {
    let mut args = vec!["--storage.path", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    Exporter::start_with(sim, yaml, &args).await
}

fn self_series(metric: &str, service: &str, extra: &str) -> String {
    format!("aws_flow_exporter_{metric}{{aws_service=\"{service}\",{extra}region=\"us-east-1\"}}")
}

fn restored(text: &str, service: &str) -> Option<f64> {
    value(text, &self_series("state_restored", service, ""))
}

/// The text of a scrape after a successful collection of every service in `services`
/// that started after this call.
async fn good(exporter: &Exporter, services: &[&str]) -> String {
    let mut text = String::new();
    for service in services {
        text = exporter.settle(service).await;
        for _ in 0..20 {
            if up(&text, service) == Some(1.0) {
                break;
            }
            text = exporter.collections(service, 1).await;
        }
        assert_eq!(
            up(&text, service),
            Some(1.0),
            "{service}: {}",
            exporter.logs()
        );
    }
    text
}

/// Every sample of `metric` in `text`: its labels but `region`, and its value.
fn samples(text: &str, metric: &str) -> Vec<(BTreeMap<String, String>, f64)> {
    let prefix = format!("{metric}{{");
    text.lines()
        .filter_map(|line| {
            let (labels, value) = line.strip_prefix(&prefix)?.split_once("} ")?;
            let labels = labels
                .split("\",")
                .filter_map(|pair| {
                    let (name, value) = pair.split_once("=\"")?;
                    Some((name.to_string(), value.trim_end_matches('"').to_string()))
                })
                .filter(|(name, _)| name != "region")
                .collect();
            Some((labels, value.trim().parse().ok()?))
        })
        .collect()
}

/// Every counter of the four services (`*_total`), by series.
fn all_counters(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| l.starts_with("aws_") && !l.starts_with("aws_flow_exporter_"))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let name = series.split('{').next()?;
            name.ends_with("_total")
                .then(|| Some((series.to_string(), value.parse().ok()?)))?
        })
        .collect()
}

/// Transfer's counters of the workflows whose events are in the logs:
/// outcomes by (workflow, outcome) and step errors by (workflow, phase, step
/// type, error type), none at 0.
type TransferCounts = (
    BTreeMap<(String, String), f64>,
    BTreeMap<(String, String, String, String), f64>,
);

fn transfer_counted(text: &str, logged: &BTreeSet<String>) -> TransferCounts {
    let label = |l: &BTreeMap<String, String>, name: &str| l[name].clone();
    let finished = samples(text, "aws_transfer_workflow_executions_finished_total")
        .into_iter()
        .filter(|(l, v)| logged.contains(&l["workflow_id"]) && *v > 0.0)
        .map(|(l, v)| ((label(&l, "workflow_id"), label(&l, "outcome")), v))
        .collect();
    let errors = samples(text, "aws_transfer_workflow_step_errors_total")
        .into_iter()
        .filter(|(l, v)| logged.contains(&l["workflow_id"]) && *v > 0.0)
        .map(|(l, v)| {
            let key = ["workflow_id", "phase", "step_type", "error_type"].map(|n| label(&l, n));
            (key.into(), v)
        })
        .collect();
    (finished, errors)
}

/// What the logs hold beyond `base`, as [`transfer_counted`] shows it.
fn transfer_truth(now: &WorkflowTruth, base: &WorkflowTruth) -> TransferCounts {
    let finished = now
        .finished
        .iter()
        .map(|((wf, outcome), n)| {
            let n = n - base.finished(wf, outcome);
            ((wf.clone(), outcome.clone()), n as f64)
        })
        .filter(|(_, n)| *n > 0.0)
        .collect();
    let errors = now
        .step_errors
        .iter()
        .map(|((wf, phase, step, error), n)| {
            let n = n - base.step_errors(wf, phase, step, error);
            let key = (wf.clone(), phase.clone(), step.clone(), error.clone());
            (key, n as f64)
        })
        .filter(|(_, n)| *n > 0.0)
        .collect();
    (finished, errors)
}

/// Customer Profiles workflows in a terminal status: (domain, workflow, status).
fn cp_terminal(world: &World) -> HashSet<(String, String, String)> {
    let terminal = ["COMPLETE", "FAILED", "CANCELLED"];
    world
        .customerprofiles
        .domains
        .iter()
        .flat_map(|(domain, d)| {
            d.workflows
                .values()
                .filter(|w| terminal.contains(&w.status.as_str()))
                .map(|w| (domain.clone(), w.id.clone(), w.status.clone()))
        })
        .collect()
}

/// `aws_customerprofiles_workflows_finished_total` by (domain, status), none at 0.
fn cp_counted(text: &str) -> BTreeMap<(String, String), f64> {
    samples(text, "aws_customerprofiles_workflows_finished_total")
        .into_iter()
        .filter(|(_, v)| *v > 0.0)
        .map(|(l, v)| ((l["domain_name"].clone(), l["status"].clone()), v))
        .collect()
}

/// The counters of every service against the simulator's truth, and every
/// scrape against the one before. Transfer's truth is what its workflow logs
/// hold (the demo's workflow of executions shorter than a collection
/// interval); its workflows without logs are counted from the listing, which
/// sees only what was in progress at a collection: those are checked for
/// monotonicity alone.
struct Checker {
    baseline: HashSet<(String, String)>,
    sc_baseline: HashSet<(String, String)>,
    transfer_baseline: WorkflowTruth,
    cp_baseline: HashSet<(String, String, String)>,
    /// Every terminal (domain, workflow, status) seen in the world so far.
    cp_finished: HashSet<(String, String, String)>,
    last: BTreeMap<String, f64>,
    scrapes: usize,
}

impl Checker {
    fn new(sim: &Simulator) -> Checker {
        Checker {
            baseline: sim.with(|w| terminal_ids(w)),
            sc_baseline: sim.with(|w| sc_terminal_ids(w)),
            transfer_baseline: sim.with(|w| w.logs.workflow_truth(..)),
            cp_baseline: sim.with(|w| cp_terminal(w)),
            cp_finished: HashSet::new(),
            last: BTreeMap::new(),
            scrapes: 0,
        }
    }

    /// No counter went down since the previous scrape (a series may be absent:
    /// nothing is served for a service before its first collection).
    fn monotonic(&mut self, text: &str, when: &str) {
        let now = all_counters(text);
        for (series, value) in &now {
            if let Some(before) = self.last.get(series) {
                assert!(
                    value >= before,
                    "{when}: {series} went down from {before} to {value}"
                );
            }
        }
        self.last.extend(now);
        self.scrapes += 1;
    }

    /// The counters equal the truth: every run that ended since the baseline, once.
    fn exact(&mut self, sim: &Simulator, text: &str, when: &str) {
        self.monotonic(text, when);
        let expected = sim.with(|w| truth(w, &self.baseline));
        assert_eq!(counted(text), expected, "{when}: AppFlow counters");
        let expected = sim.with(|w| sc_truth(w, &self.sc_baseline));
        assert_eq!(sc_counted(text), expected, "{when}: Supply Chain counters");

        let logs = sim.with(|w| w.logs.workflow_truth(..));
        let logged: BTreeSet<String> = logs.finished.keys().map(|(wf, _)| wf.clone()).collect();
        assert!(!logged.is_empty(), "{when}: the demo logs workflow events");
        assert_eq!(
            transfer_counted(text, &logged),
            transfer_truth(&logs, &self.transfer_baseline),
            "{when}: Transfer counters of the workflows with logs"
        );

        self.cp_finished.extend(sim.with(|w| cp_terminal(w)));
        let mut expected = BTreeMap::new();
        for (domain, _, status) in self.cp_finished.difference(&self.cp_baseline) {
            *expected
                .entry((domain.clone(), status.clone()))
                .or_insert(0.0) += 1.0;
        }
        assert_eq!(
            cp_counted(text),
            expected,
            "{when}: Customer Profiles counters"
        );
    }
}

/// Restarts on `dir`, scraping every 20 ms until every service has
/// collected, each scrape checked for monotonicity; then checks the truth.
async fn restart(sim: &Simulator, dir: &Path, checker: &mut Checker, when: &str) -> Exporter {
    let exporter = start(sim, ALL, dir, &[]).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = exporter.metrics().await;
        checker.monotonic(&text, when);
        if SERVICES.iter().all(|s| up(&text, s) == Some(1.0)) {
            for service in SERVICES {
                assert_eq!(restored(&text, service), Some(1.0), "{when}: {service}");
            }
            break;
        }
        assert!(Instant::now() < deadline, "{when}: {}", exporter.logs());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let text = good(&exporter, &SERVICES).await;
    checker.exact(sim, &text, when);
    exporter
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_at_any_instant_loses_no_run_and_counts_none_twice() {
    let started = Instant::now();
    let sim = simulator().await;
    let mut scenario = Scenario::new(21);
    let mut clock = now();
    sim.with(|w| scenario.populate(w, clock));
    let dir = tempfile::tempdir().unwrap();
    let exporter = start(&sim, ALL, dir.path(), &[]).await;
    let text = good(&exporter, &SERVICES).await;
    for service in SERVICES {
        assert_eq!(restored(&text, service), Some(0.0), "no state yet");
        let saves = self_series("state_saves_total", service, "outcome=\"success\",");
        assert!(value(&text, &saves).unwrap() >= 1.0, "{text}");
        let bytes = value(&text, &self_series("state_bytes", service, "")).unwrap();
        assert!(bytes > 100.0, "{service}: {bytes} bytes");
    }
    let mut checker = Checker::new(&sim);
    checker.exact(&sim, &text, "baseline");
    let mut step = |sim: &Simulator| {
        clock += 600.0;
        sim.with(|w| scenario.step(w, clock));
    };

    // Between collections: runs end while the exporter is down.
    step(&sim);
    let text = good(&exporter, &SERVICES).await;
    checker.exact(&sim, &text, "before the first kill");
    drop(exporter);
    step(&sim);
    let exporter = restart(
        &sim,
        dir.path(),
        &mut checker,
        "after a kill between collections",
    )
    .await;

    // In the middle of a collection: AWS hangs on the execution records.
    step(&sim);
    sim.with(|w| {
        w.faults.always(
            "appflow:DescribeFlowExecutionRecords",
            Fault::Hang(Duration::from_secs(10)),
        );
        w.faults.always(
            "supplychain:ListDataIntegrationFlowExecutions",
            Fault::Hang(Duration::from_secs(10)),
        );
        w.faults
            .always("logs:FilterLogEvents", Fault::Hang(Duration::from_secs(10)));
        w.faults.always(
            "customerprofiles:ListWorkflows",
            Fault::Hang(Duration::from_secs(10)),
        );
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    checker.monotonic(&exporter.metrics().await, "during a hung collection");
    drop(exporter);
    sim.with(|w| w.faults.clear());
    step(&sim);
    let mut exporter = restart(
        &sim,
        dir.path(),
        &mut checker,
        "after a kill mid-collection",
    )
    .await;

    // Random instants while the world evolves: three, and up to six while
    // this part has run for less than 20 s (a restart of the four services
    // takes a few seconds, more on a busy machine).
    let mut rng = fastrand::Rng::with_seed(12);
    let mut kills = 0;
    let random = Instant::now();
    while kills < 3 || (kills < 6 && random.elapsed() < Duration::from_secs(20)) {
        step(&sim);
        let until = Instant::now() + Duration::from_millis(rng.u64(0..500));
        while Instant::now() < until {
            checker.monotonic(&exporter.metrics().await, "before a random kill");
            tokio::time::sleep(Duration::from_millis(rng.u64(5..60))).await;
        }
        drop(exporter);
        kills += 1;
        if rng.bool() {
            step(&sim);
        }
        exporter = restart(
            &sim,
            dir.path(),
            &mut checker,
            &format!("random kill {kills}"),
        )
        .await;
    }
    // Not vacuous: runs of every service that ended during the test were counted.
    let mut runs = Vec::new();
    for prefix in [
        "aws_appflow_executions_total",
        "aws_transfer_workflow_executions_finished_total",
        "aws_supplychain_flow_executions_total",
        "aws_customerprofiles_workflows_finished_total",
    ] {
        let total: f64 = checker
            .last
            .iter()
            .filter(|(series, _)| series.starts_with(prefix))
            .map(|(_, v)| v)
            .sum();
        assert!(total > 0.0, "nothing counted in {prefix}");
        runs.push(total);
    }
    eprintln!(
        "state: {kills} random kills, {} scrapes checked, runs counted {runs:?} \
         (AppFlow, Transfer, Supply Chain, Customer Profiles), {:?}",
        checker.scrapes,
        started.elapsed()
    );
    assert!(
        !exporter.logs().contains("level=error"),
        "{}",
        exporter.logs()
    );
}

/// `--once` with this config and state directory.
fn once(sim: &Simulator, config: &Path, dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "--once",
        "--config.file",
        config.to_str().unwrap(),
        "--storage.path",
        dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run(&sim.url(), &args)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn successes(text: &str, flow: &str) -> Option<f64> {
    value(
        text,
        &flow_series("executions_total", flow, "status=\"Successful\","),
    )
}

/// Adds a finished Successful run to `flow`.
fn add_success(sim: &Simulator, flow: &str, id: &str) {
    let t = now();
    sim.with(|w| {
        let run = Execution::finished(id, "Successful", t - 20.0, t - 10.0);
        w.appflow.upsert_execution(flow, run);
    });
}

/// The state files in `dir`, by suffix.
fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread")]
async fn once_with_a_state_directory_counts_every_run_exactly_once() {
    let sim = simulator().await;
    add_flow_with_one_success(&sim, "f", now());
    let config = config_file(APPFLOW_ONLY);
    let dir = tempfile::tempdir().unwrap();
    let first = once(&sim, config.path(), dir.path(), &[]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let text = stdout(&first);
    assert_eq!(
        successes(&text, "f"),
        Some(0.0),
        "the first run is the baseline"
    );
    assert_eq!(restored(&text, "appflow"), Some(0.0));
    assert_eq!(files(dir.path(), ".json").len(), 1);

    add_success(&sim, "f", "b");
    let second = once(&sim, config.path(), dir.path(), &[]);
    let text = stdout(&second);
    assert_eq!(restored(&text, "appflow"), Some(1.0), "{}", stderr(&second));
    assert_eq!(successes(&text, "f"), Some(1.0), "b, once");
    let third = once(&sim, config.path(), dir.path(), &[]);
    assert_eq!(successes(&stdout(&third), "f"), Some(1.0), "nothing twice");
    add_success(&sim, "f", "c");
    add_success(&sim, "f", "d");
    let fourth = once(&sim, config.path(), dir.path(), &[]);
    assert_eq!(successes(&stdout(&fourth), "f"), Some(3.0));
    let saves = self_series("state_saves_total", "appflow", "outcome=\"success\",");
    assert_eq!(
        value(&stdout(&fourth), &saves),
        Some(1.0),
        "one save per run"
    );

    // Without the flag --once stays a baseline, and has no state series.
    let plain = run(
        &sim.url(),
        &["--once", "--config.file", config.path().to_str().unwrap()],
    );
    assert_eq!(successes(&stdout(&plain), "f"), Some(0.0));
    assert!(!stdout(&plain).contains("aws_flow_exporter_state_"));
}

/// `file` (a state file) with `from` replaced by `to` in its header line.
fn edit_header(file: &[u8], from: &str, to: &str) -> Vec<u8> {
    let line = file.iter().position(|b| *b == b'\n').unwrap();
    let head = std::str::from_utf8(&file[..line]).unwrap();
    assert!(head.contains(from), "{head}");
    let mut edited = head.replacen(from, to, 1).into_bytes();
    edited.extend_from_slice(&file[line..]);
    edited
}

#[tokio::test(flavor = "multi_thread")]
async fn unusable_state_files_are_set_aside_and_the_service_starts_with_a_baseline() {
    let sim = simulator().await;
    add_flow_with_one_success(&sim, "f", now());
    let config = config_file(APPFLOW_ONLY);
    type Spoil = fn(&[u8]) -> Vec<u8>;
    let cases: [(&str, Spoil, &[&str], &str); 7] = [
        (
            "corrupt header",
            |_| b"{\"format_version\":2,garbage".to_vec(),
            &[],
            "not a state file",
        ),
        (
            "corrupt state",
            |s| {
                let mut s = s.to_vec();
                let last = s.len() - 1;
                s[last] ^= 0x40;
                s
            },
            &[],
            "CRC-32",
        ),
        ("truncated", |s| s[..s.len() / 2].to_vec(), &[], "truncated"),
        ("empty", |_| Vec::new(), &[], "empty"),
        (
            "newer",
            |s| edit_header(s, "\"format_version\":2", "\"format_version\":3"),
            &[],
            "format_version 3",
        ),
        (
            "another target",
            |s| edit_header(s, "us-east-1", "eu-west-1"),
            &[],
            "another target",
        ),
        (
            "another shard",
            |s| s.to_vec(),
            &["--shard", "0/1"],
            "--shard",
        ),
    ];
    for (i, (case, spoil, extra, why)) in cases.into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let first = once(&sim, config.path(), dir.path(), &[]);
        assert_eq!(first.status.code(), Some(0), "{case}: {}", stderr(&first));
        let [file] = files(dir.path(), ".json").try_into().unwrap();
        let good = std::fs::read(&file).unwrap();
        std::fs::write(&file, spoil(&good)).unwrap();
        add_success(&sim, "f", &format!("run-{i}"));

        let out = once(&sim, config.path(), dir.path(), extra);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{case}: never fatal: {}",
            stderr(&out)
        );
        let err = stderr(&out);
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let errors: Vec<&str> = err.lines().filter(|l| l.contains("level=error")).collect();
        assert_eq!(errors.len(), 1, "{case}: one ERROR: {err}");
        assert!(
            errors[0].contains(&name) && errors[0].contains(why),
            "{case}: {err}"
        );
        let bad = dir.path().join(format!("{name}.bad"));
        assert_eq!(
            std::fs::read(&bad).unwrap(),
            spoil(&good),
            "{case}: kept aside as it was"
        );
        let text = stdout(&out);
        assert_eq!(restored(&text, "appflow"), Some(0.0), "{case}");
        assert_eq!(successes(&text, "f"), Some(0.0), "{case}: a baseline");
        // And a good state is saved again.
        let Ok([_]) = <[PathBuf; 1]>::try_from(files(dir.path(), ".json")) else {
            panic!("{case}: no new state")
        };
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_exporters_cannot_share_a_directory_and_an_unusable_one_is_exit_2() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let first = start(&sim, FAST_APPFLOW, dir.path(), &[]).await;
    let config = config_file(APPFLOW_ONLY);
    let second = once(&sim, config.path(), dir.path(), &[]);
    assert_eq!(second.status.code(), Some(2), "{}", stderr(&second));
    let err = stderr(&second);
    assert!(
        err.contains(dir.path().to_str().unwrap()) && err.contains("locked by another exporter"),
        "{err}"
    );
    assert_eq!(second.stdout.len(), 0, "nothing collected");
    // The first goes on.
    first.settle("appflow").await;

    // A directory that cannot be created (tests run as root: a path under a regular file).
    let file = dir.path().join("file");
    std::fs::write(&file, "").unwrap();
    let bad = file.join("sub");
    let port = free_port().to_string();
    let out = run(
        &sim.url(),
        &[
            "--config.file",
            config.path().to_str().unwrap(),
            "--storage.path",
            bad.to_str().unwrap(),
            "--web.listen-address",
            &format!("127.0.0.1:{port}"),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(bad.to_str().unwrap()),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("listening"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_save_is_logged_once_and_collection_goes_on() {
    let sim = simulator().await;
    add_flow_with_one_success(&sim, "f", now());
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("state");
    let exporter = start(&sim, FAST_APPFLOW, &dir, &[]).await;
    exporter.settle("appflow").await;
    // The directory vanishes: every save fails.
    std::fs::remove_dir_all(&dir).unwrap();
    add_success(&sim, "f", "b");
    let failures = self_series("state_saves_total", "appflow", "outcome=\"failure\",");
    let text = exporter.collections("appflow", 4).await;
    assert!(value(&text, &failures).unwrap() >= 3.0, "{text}");
    assert_eq!(up(&text, "appflow"), Some(1.0));
    assert_eq!(successes(&text, "f"), Some(1.0), "collecting goes on");
    let warnings = exporter
        .logs()
        .lines()
        .filter(|l| l.contains("cannot save the state"))
        .count();
    assert_eq!(warnings, 1, "once per streak: {}", exporter.logs());
    // It comes back.
    std::fs::create_dir(&dir).unwrap();
    let text = exporter.collections("appflow", 2).await;
    let at = value(
        &text,
        &self_series("state_last_save_timestamp_seconds", "appflow", ""),
    );
    assert!(at.unwrap() > now() - 5.0, "{text}");
    assert_eq!(files(&dir, ".json").len(), 1);
    assert!(exporter.logs().contains("state saved again"));
}

const FAST_APPFLOW: &str = "collection:\n  interval: 200ms\n  timeout: 2s\n  requests_per_second: 1000\ntargets:\n  - region: us-east-1\n    services:\n      transfer: { enabled: false }\n      supplychain: { enabled: false }\n      customerprofiles: { enabled: false }\n";

#[tokio::test(flavor = "multi_thread")]
async fn flows_that_appear_while_the_exporter_is_down() {
    let sim = simulator().await;
    let t = now();
    add_flow_with_one_success(&sim, "a1", t);
    add_flow_with_one_success(&sim, "b1", t);
    let dir = tempfile::tempdir().unwrap();
    let only_a = FAST_APPFLOW.replace(
        "    services:\n",
        "    services:\n      appflow: { include: [\"^a\"] }\n",
    );
    let exporter = start(&sim, &only_a, dir.path(), &[]).await;
    let text = exporter.settle("appflow").await;
    assert_eq!(successes(&text, "a1"), Some(0.0));
    assert_eq!(successes(&text, "b1"), None, "not selected");
    drop(exporter);

    // While down: a1 and b1 run, a2 is created and runs; b1 becomes selected.
    add_success(&sim, "a1", "a1-b");
    add_success(&sim, "b1", "b1-b");
    let t = now();
    sim.with(|w| {
        let mut flow = Flow::new("a2", t);
        flow.executions
            .push(Execution::finished("x", "Successful", t + 1.0, t + 2.0));
        w.appflow.add_flow(flow);
    });
    let exporter = start(&sim, FAST_APPFLOW, dir.path(), &[]).await;
    let text = exporter.settle("appflow").await;
    assert_eq!(restored(&text, "appflow"), Some(1.0));
    assert_eq!(successes(&text, "a1"), Some(1.0), "ended while down");
    assert_eq!(successes(&text, "a2"), Some(1.0), "created while down: new");
    assert_eq!(
        successes(&text, "b1"),
        Some(0.0),
        "newly selected, created before the save: its own baseline"
    );
    add_success(&sim, "b1", "b1-c");
    let text = exporter.settle("appflow").await;
    assert_eq!(successes(&text, "b1"), Some(1.0));
    assert_eq!(successes(&text, "a1"), Some(1.0));
}
