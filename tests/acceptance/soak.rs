//! Soak: many short collection cycles against a scenario that keeps evolving,
//! with random faults, and (in the first third, before memory is measured)
//! random SIGKILLs and restarts on the same `--storage.path`. After every cycle every execution counter of AppFlow
//! and Supply Chain must be monotonic and equal to the truth the simulator
//! holds, and memory must stay flat.
//! `SOAK_CYCLES` (default 12) makes the long version: `SOAK_CYCLES=500 cargo
//! test --test acceptance soak -- --nocapture`.

use aws_flow_simulator::scenario::Scenario;
use aws_flow_simulator::Fault;

use crate::harness::*;

pub(crate) const CONFIG: &str = "collection:\n  interval: 100ms\n  timeout: 500ms\n  requests_per_second: 1000\ntargets:\n  - region: us-east-1\n    services:\n      transfer: { enabled: false }\n      customerprofiles: { enabled: false }\n";

pub(crate) const SERVICES: [&str; 2] = ["appflow", "supplychain"];

use aws_flow_simulator::truth::Baseline;
pub(crate) use aws_flow_simulator::truth::Counts;
use aws_flow_simulator::World;

/// AppFlow's truth, keyed (flow, status).
pub(crate) fn truth(world: &World, baseline: &Baseline) -> Counts {
    world.appflow.truth(baseline)
}

/// Supply Chain's truth, keyed ("instance/flow", status): Active instances only.
pub(crate) fn sc_truth(world: &World, baseline: &Baseline) -> Counts {
    world.supplychain.truth(baseline)
}

pub(crate) fn sc_terminal_ids(world: &World) -> Baseline {
    world.supplychain.terminal()
}

pub(crate) fn terminal_ids(world: &World) -> Baseline {
    world.appflow.terminal()
}

/// `aws_supplychain_flow_executions_total` as the exporter shows it.
pub(crate) fn sc_counted(text: &str) -> Counts {
    text.lines()
        .filter_map(|l| l.strip_prefix("aws_supplychain_flow_executions_total{instance_id=\""))
        .filter_map(|rest| {
            let (instance, rest) = rest.split_once('"')?;
            let flow = rest.split("flow_name=\"").nth(1)?.split('"').next()?;
            let status = rest.split("status=\"").nth(1)?.split('"').next()?;
            let value = rest.rsplit(' ').next()?.parse().ok()?;
            Some(((format!("{instance}/{flow}"), status.to_string()), value))
        })
        .collect()
}

/// `aws_appflow_executions_total` as the exporter shows it.
pub(crate) fn counted(text: &str) -> Counts {
    text.lines()
        .filter_map(|l| l.strip_prefix("aws_appflow_executions_total{flow_name=\""))
        .filter_map(|rest| {
            let (flow, rest) = rest.split_once('"')?;
            let status = rest.split("status=\"").nth(1)?.split('"').next()?;
            let value = rest.rsplit(' ').next()?.parse().ok()?;
            Some(((flow.to_string(), status.to_string()), value))
        })
        .collect()
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

const FAULTS: [&str; 7] = [
    "Throttle",
    "ThrottleRetryAfter:1",
    "ServerError",
    "Drop",
    "Malformed",
    "Truncated",
    "Hang:800ms",
];
const OPERATIONS: [&str; 4] = [
    "appflow:ListFlows",
    "appflow:DescribeFlowExecutionRecords",
    "supplychain:ListDataIntegrationFlows",
    "supplychain:ListDataIntegrationFlowExecutions",
];

#[tokio::test(flavor = "multi_thread")]
async fn counters_stay_exact_and_memory_flat_under_random_faults() {
    let cycles: u32 = std::env::var("SOAK_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let sim = simulator().await;
    let mut scenario = Scenario::new(7);
    let mut clock = now();
    sim.with(|w| scenario.populate(w, clock));
    let state = tempfile::tempdir().unwrap();
    let args = ["--storage.path", state.path().to_str().unwrap()];
    let mut exporter = Exporter::start_with(&sim, CONFIG, &args).await;
    let mut restarts = 0;
    let mut text = String::new();
    for service in SERVICES {
        text = exporter.settle(service).await;
        assert_eq!(up(&text, service), Some(1.0), "{service}");
    }
    let baseline = sim.with(|w| terminal_ids(w));
    let sc_baseline = sim.with(|w| sc_terminal_ids(w));
    let mut last = counted(&text);
    last.extend(sc_counted(&text));
    let mut rss_early = 0;
    let mut rng = fastrand::Rng::with_seed(7);
    for cycle in 0..cycles {
        // The world moves on ten minutes, and AWS misbehaves for a while.
        clock += 600.0;
        sim.with(|w| {
            scenario.step(w, clock);
            for _ in 0..rng.usize(0..3) {
                let fault: Fault = FAULTS[rng.usize(..FAULTS.len())].parse().unwrap();
                let op = OPERATIONS[rng.usize(..OPERATIONS.len())];
                w.faults.inject(op, fault, rng.u32(1..5));
            }
        });
        // Killed while AWS misbehaves, and restarted on its saved state: nothing changes.
        if cycle < cycles / 3 && (rng.bool() || (restarts == 0 && cycle + 1 == cycles / 3)) {
            drop(exporter);
            exporter = Exporter::start_with(&sim, CONFIG, &args).await;
            restarts += 1;
        }
        exporter.collections("appflow", 2).await;
        sim.with(|w| w.faults.clear());
        // A good collection of each service of the world as it now stands.
        let mut text = String::new();
        for service in SERVICES {
            text = exporter.settle(service).await;
            for _ in 0..20 {
                if up(&text, service) == Some(1.0) {
                    break;
                }
                text = exporter.collections(service, 1).await;
            }
            assert_eq!(up(&text, service), Some(1.0), "cycle {cycle}: {service}");
        }
        let mut now_counted = counted(&text);
        let expected = sim.with(|w| truth(w, &baseline));
        assert_eq!(
            now_counted, expected,
            "cycle {cycle}: AppFlow counters differ from the truth"
        );
        let sc_now = sc_counted(&text);
        let sc_expected = sim.with(|w| sc_truth(w, &sc_baseline));
        assert_eq!(
            sc_now, sc_expected,
            "cycle {cycle}: Supply Chain counters differ from the truth"
        );
        now_counted.extend(sc_now);
        for (key, value) in &now_counted {
            if let Some(before) = last.get(key) {
                assert!(value >= before, "cycle {cycle}: {key:?} went down");
            }
        }
        last = now_counted;
        if cycle == cycles / 3 {
            rss_early = rss_kib(exporter.pid());
        }
    }
    // Not vacuous: both services counted runs that finished during the soak.
    for prefix in [
        "aws_appflow_executions_total",
        "aws_supplychain_flow_executions_total",
    ] {
        let text = exporter.metrics().await;
        let counted: f64 = text
            .lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        assert!(
            counted > 0.0,
            "{prefix}: nothing counted in {cycles} cycles"
        );
    }
    let rss_end = rss_kib(exporter.pid());
    assert!(restarts > 0 || cycles < 3, "no restart in {cycles} cycles");
    eprintln!("soak: {cycles} cycles, {restarts} restarts, RSS {rss_early} KiB after a third, {rss_end} KiB at the end");
    // Flat, with room for allocator noise; a leak per cycle would show.
    assert!(
        rss_end <= rss_early + rss_early / 2 + 8 * 1024,
        "RSS grew from {rss_early} KiB to {rss_end} KiB"
    );
}
