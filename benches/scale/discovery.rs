//! Section 10, an organization (v4 discovery): SCALE_ORG_ACCOUNTS (1,000) accounts, each
//! collected in SCALE_ORG_REGIONS (4) regions, so 4,000 discovered targets with all four
//! services; SCALE_ORG_DATA_TARGETS (100) of them hold SCALE_ORG_FLOWS (10) AppFlow flows with
//! a run each, the others nothing. Every member account is reached through its role (the
//! simulator serves each account its own world). A collection every
//! SCALE_ORG_INTERVAL_SECONDS (60) at SCALE_TARGET_RPS requests per second.
//!
//! Prints: the time to the end of the first collection of every target, peak RSS (VmHWM)
//! against 128 MiB, the series on `/metrics`, the AWS calls of one steady collection of every
//! target (against one listing per enabled service and empty target), and AssumeRole calls
//! (against one per member account and credential lifetime, 3,600 s).

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_flow_simulator::appflow::{Execution, Flow};
use aws_flow_simulator::organizations::Account;
use aws_flow_simulator::{epoch_now, Simulator, World};

use super::{env_or, free_port, get, memory_of, simulated_aws, Settings};

const RSS_GOAL_MIB: f64 = 128.0;
const REGIONS: [&str; 8] = [
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "ap-southeast-1",
    "us-east-2",
    "eu-central-1",
    "us-west-1",
    "ap-northeast-1",
];

pub async fn organization(s: &Settings) {
    let accounts: usize = env_or("SCALE_ORG_ACCOUNTS", 1_000);
    let regions: usize = env_or::<usize>("SCALE_ORG_REGIONS", 4).clamp(1, REGIONS.len());
    let data_targets: usize = env_or("SCALE_ORG_DATA_TARGETS", 100);
    let flows: usize = env_or("SCALE_ORG_FLOWS", 10);
    let interval: u64 = env_or("SCALE_ORG_INTERVAL_SECONDS", 60);
    let targets = accounts * regions;
    println!(
        "\n== Organization: {accounts} accounts x {regions} regions = {targets} discovered \
         targets, all four services, {data_targets} targets with {flows} AppFlow flows, the \
         others empty; {} rps, a collection every {interval} s ==",
        s.target_rps
    );

    // The worlds are per account (every region of an account sees the same one): the data
    // targets are those of the first accounts.
    let data_accounts = data_targets.div_ceil(regions);
    let mut world = World::default();
    let t = epoch_now();
    for i in 0..accounts {
        let id = format!("{:012}", 100_000_000_000_u64 + i as u64);
        world
            .organization
            .add_account(Account::new(&id, &format!("account-{i:04}")));
        if i == 0 {
            // The first is the exporter's own.
            world.sts.set_key_account("AKIDTEST", &id);
            continue;
        }
        world
            .sts
            .allow_role(&format!("arn:aws:iam::{id}:role/flow-exporter"), None);
        if i < data_accounts {
            let member = world.member(&id);
            for f in 0..flows {
                let mut flow = Flow::new(&format!("flow-{f:03}"), t - 3000.0);
                flow.executions.push(Execution::finished(
                    "run-1",
                    "Successful",
                    t - 600.0,
                    t - 500.0,
                ));
                member.appflow.add_flow(flow);
            }
        }
    }
    // The exporter's own account is the management account here.
    world
        .organization
        .delegated_administrators
        .insert("100000000000".into());
    let sim = Simulator::start_with("127.0.0.1:0".parse().unwrap(), world)
        .await
        .expect("simulator starts");

    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config.yaml");
    let region_list = REGIONS[..regions].join(", ");
    std::fs::write(
        &config,
        format!(
            "collection:\n  interval: {interval}s\n  requests_per_second: {}\n  timeout: 20s\n\
             discovery:\n  organizations:\n    role_name: flow-exporter\n    regions: [{region_list}]\n    \
             labels: {{ org: main }}\n",
            s.target_rps
        ),
    )
    .expect("config written");
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut cmd = Command::new(&s.exporter);
    let log = std::fs::File::create(dir.path().join("exporter.log")).expect("log file");
    let started = Instant::now();
    let mut exporter = simulated_aws(&mut cmd, Some(&sim.url()))
        .arg("--config.file")
        .arg(&config)
        .arg("--web.listen-address")
        .arg(addr.to_string())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("the exporter starts");

    let units = targets * 4;
    let first = wait_collections(addr, units, 1.0).await;
    let first_seconds = started.elapsed().as_secs_f64();
    let calls_first = sim.with(|w| w.all_calls());
    let memory = memory_of(exporter.id(), &first);
    println!(
        "first collection of every target ended after {first_seconds:.0} s; calls: {} \
         (AssumeRole {}, ListAccounts {}, ListRegions {})",
        calls_total(&calls_first),
        calls_first.get("AssumeRole").copied().unwrap_or(0),
        calls_first.get("ListAccounts").copied().unwrap_or(0),
        calls_first.get("ListRegions").copied().unwrap_or(0),
    );
    print_memory("after the first collection", &memory);
    println!("series on /metrics: {}", series(&first));

    let second = wait_collections(addr, units, 2.0).await;
    let calls_second = sim.with(|w| w.all_calls());
    let steady = calls_total(&calls_second) - calls_total(&calls_first);
    let empty = targets.saturating_sub(data_targets);
    let bound = empty * 4 + data_targets * 4;
    println!(
        "one steady collection of every target: {steady} calls, against one listing per \
         enabled service and target: {bound} ({empty} empty targets x 4 + {data_targets} \
         with data x 4 listings, their describes aside)"
    );
    let assumed = calls_second.get("AssumeRole").copied().unwrap_or(0);
    println!(
        "AssumeRole: {assumed} calls for {} member accounts in {:.0} s (credentials last \
         3,600 s: at most one per member account per hour)",
        accounts - 1,
        started.elapsed().as_secs_f64()
    );
    let memory = memory_of(exporter.id(), &second);
    print_memory("after a steady collection", &memory);
    println!("series on /metrics: {}", series(&second));
    let _ = exporter.kill();
    let _ = exporter.wait();
}

fn calls_total(calls: &std::collections::BTreeMap<String, u64>) -> u64 {
    // Each call is counted twice: "Op" and "service:Op".
    calls
        .iter()
        .filter(|(k, _)| !k.contains(':'))
        .map(|(_, n)| n)
        .sum()
}

fn series(text: &str) -> usize {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .count()
}

fn print_memory(when: &str, memory: &super::Memory) {
    let verdict = if memory.hwm <= RSS_GOAL_MIB {
        "peak within the goal"
    } else {
        "PEAK ABOVE THE GOAL"
    };
    println!(
        "memory {when}: VmRSS {:.1} MiB, VmHWM {:.1} MiB (goal {RSS_GOAL_MIB} MiB: {verdict})",
        memory.rss, memory.hwm
    );
}

/// Waits until `units` (target, service) pairs have each ended `count` collections; the
/// last scrape.
async fn wait_collections(addr: SocketAddr, units: usize, count: f64) -> String {
    let deadline = Instant::now() + Duration::from_secs(3600);
    loop {
        if let Some(response) = get(addr, "/metrics", true).await {
            let text = String::from_utf8(response.body).unwrap_or_default();
            let done = text
                .lines()
                .filter(|l| l.starts_with("aws_flow_exporter_collector_up{"))
                .count();
            let counted = text
                .lines()
                .filter_map(|l| {
                    l.strip_prefix("aws_flow_exporter_collection_duration_seconds_count{")
                })
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum::<f64>();
            if done >= units && counted >= count * units as f64 {
                return text;
            }
        }
        assert!(Instant::now() < deadline, "the collections never ended");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
