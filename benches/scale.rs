//! Scale benchmark: `cargo bench --bench scale`. Prints figures; asserts nothing.
//!
//! The simulator runs in this process with the `scale` scenario; the release exporter runs as a
//! child process pointed at it through the standard AWS variables, exactly as in production.
//! SCALE_EXPORTER names another exporter binary to measure (an older build, say).
//!
//! 1. First collection: AWS calls, the time the rate budget allows (calls / requests per
//!    second), the measured collection time and their ratio, at SCALE_FLOWS (10,000) and
//!    SCALE_RPS (100) with SCALE_LATENCY_MS (50) of latency per call, and, at the same time, at
//!    SCALE_LITERAL_FLOWS (1,000) and the literal 10 requests per second. 10,000 flows at
//!    10 requests per second take some 19 minutes: by default that row is a projection, and
//!    `SCALE_RPS=10 SCALE_LITERAL_FLOWS=0 SCALE_WRK_SECONDS=0` measures it.
//! 2. Steady state: SCALE_CYCLES times, SCALE_FRACTION (1%) of the flows start or finish a run,
//!    exactly one collection runs, and its AWS calls are compared with the lower bound.
//! 3. Memory: VmRSS and VmHWM (the peak) from /proc and `process_resident_memory_bytes`, against
//!    64 MiB.
//! 4. Scrape throughput: wrk against the exporter and against nginx serving the same bytes as a
//!    static file (sendfile, access log off), gzip and plain, at each of SCALE_WRK_CONNECTIONS
//!    (1,4,32) connections, SCALE_WRK_ROUNDS (7) rounds per row of SCALE_WRK_SECONDS (2) each,
//!    exporter and nginx alternating (and which goes first). Before every round nginx's file is
//!    replaced by what the exporter serves at that moment. wrk runs on the first CPU the bench
//!    may use and each server (the exporter, started there; nginx with a worker per CPU) on the
//!    others, as Prometheus runs on another machine (SCALE_WRK_PIN=0 leaves them unpinned, with
//!    nginx at 2 workers). A row prints each side's median, the median of the rounds' ratios
//!    (the row's ratio) and their range. wrk keeps one request in flight per connection, as
//!    Prometheus does per target. Measured at SCALE_FLOWS flows (an exporter of its own,
//!    collected without latency, its next collection held while measured) and on the `--demo`
//!    world, when wrk and nginx are installed.
//! 5. Steady state, the other services: for Transfer, Supply Chain and Customer Profiles in turn,
//!    an exporter with only that service enabled, SCALE_OTHER_RESOURCES (10,000) workflows or
//!    flows, no latency and the highest `requests_per_second` (only call counts matter), a
//!    collection every SCALE_OTHER_INTERVAL_SECONDS (6); then the steady cycles as in 2.
//! 6. Many targets: one simulator holding SCALE_TARGET_RESOURCES (100) flows or workflows of
//!    each service, and an exporter with each of SCALE_TARGETS (1,10,100) targets, every one
//!    with distinct `labels` and all four services, SCALE_TARGET_RPS (5, the default) requests per second,
//!    a collection every SCALE_TARGET_INTERVAL_SECONDS (60): memory (VmRSS, VmHWM) in all and
//!    per target, after the first collection and after each of SCALE_TARGET_CYCLES (3) steady
//!    collections (SCALE_FRACTION of everything changes before each), and the collection
//!    times per service against the rate bound (calls per target / requests per second).
//!
//! 7. Transfer with and without the workflow logs: SCALE_TRANSFER_WORKFLOWS (10,000) workflows
//!    run by SCALE_TRANSFER_SERVERS (100) servers, each logging to its log group; per cycle,
//!    SCALE_FRACTION of the workflows run an execution, SCALE_TRANSFER_QUICK (90%) of which start
//!    and end between two collections (logged, never listed), the others going through the
//!    listing; as in 5 (no latency, the highest rate, a collection every
//!    SCALE_OTHER_INTERVAL_SECONDS), once without `log_groups` and once with `log_groups: auto`:
//!    the calls of each steady collection by operation against the lower bound, and, after the
//!    cycles, the executions counted against those that ended.
//!
//! 8. Durable state: an exporter with `--storage.path` starts on an empty account, then the
//!    SCALE_FLOWS flows appear with their day of runs, so its next collection counts all of
//!    them (some 120,000) and saves a state as large as a day of running makes it; then the
//!    steady cycles of 2. Prints each save (the exporter's DEBUG line `state saved`: bytes,
//!    time, of which waiting for the disk) against the goals (4 MiB, 50 ms), VmRSS and VmHWM against
//!    64 MiB, with and without the flag (the same run first without it), and a restart after
//!    SIGKILL (its first collection's calls). No latency, the highest rate: the calls do not
//!    matter here.
//!
//! 9. Scrapes while collections run: SCALE_BUSY_TARGETS (100) targets of all four services over
//!    SCALE_BUSY_RESOURCES (60: a 4 MiB gzip body) flows or workflows of each, a collection every
//!    SCALE_BUSY_INTERVAL_SECONDS (20), so that some target is always collecting; once every
//!    target has collected, gzip scrapes with `wrk --latency` at 1 and 4 connections
//!    (SCALE_BUSY_CONNECTIONS), exporter and nginx (serving the same bytes) alternating as in 4:
//!    p50, p99 and requests per second of each side (medians of the rounds), and the ratios
//!    against the goals (p99 at most 2x nginx's, throughput at least 0.9x).
//!
//! 10. An organization (v4 discovery): 4,000 discovered targets, 100 of them with data; see
//!     `scale/discovery.rs`.
//!
//! 11. Soak: SCALE_SOAK_TARGETS (100) targets of all four services over SCALE_SOAK_RESOURCES (60)
//!     resources each, a collection every SCALE_SOAK_INTERVAL_SECONDS (20), `--storage.path`;
//!     once every target has collected, SCALE_SOAK_SECONDS (180) of gzip scrapes by
//!     `wrk --latency` at SCALE_SOAK_CONNECTIONS (4), while every SCALE_SOAK_RELOAD_SECONDS (10)
//!     SCALE_SOAK_FRACTION (10%) of each service's resources start or finish a run and a SIGHUP
//!     reloads a configuration whose timeout changed (every unit rebuilt, its state handed over),
//!     and every SCALE_SOAK_KILL_SECONDS (60) the exporter is SIGKILLed and restarted on its
//!     state. Then, after two more collections of every target, the scrapes' p50/p99 and errors,
//!     the peak VmHWM of the processes, and the sum of |exporter - truth| over every series of
//!     AppFlow's and Supply Chain's execution counters, every target (must be 0).
//!
//! 12. Allocators: glibc as tuned (src/malloc.rs) against mimalloc (`--features mimalloc`), in
//!     turns in one run: see benches/scale/allocators.rs. Not part of the full run.
//!
//! SCALE_ONLY=soak (or `cargo bench --bench scale -- soak`) runs 11 only, SCALE_ONLY=allocators
//! 12 only, SCALE_ONLY=org 10 only.
//! SCALE_ONLY=busy runs 9 only. SCALE_ONLY=appflow runs 1-4 only, SCALE_ONLY=others runs 5 only, SCALE_ONLY=scrape runs 4
//! only (the 10,000 flows collected without latency, at the highest rate, to be ready soon),
//! SCALE_ONLY=targets runs 6 only, SCALE_ONLY=transferlogs runs 7 only, SCALE_ONLY=state runs
//! 8 only.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_flow_simulator::scenario::scale::customerprofiles::{self, CustomerProfilesScale};
use aws_flow_simulator::scenario::scale::supplychain::{self, SupplyChainScale};
use aws_flow_simulator::scenario::scale::transfer::{self, LoggedStep, TransferScale};
use aws_flow_simulator::scenario::scale::{list_pages, pages, Changed, Scale};
use aws_flow_simulator::{epoch_now, Simulator, World};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "scale/allocators.rs"]
mod allocators;
#[path = "scale/discovery.rs"]
mod discovery;
#[path = "scale/soak.rs"]
mod soak;

const MIB: f64 = 1024.0 * 1024.0;
const MEMORY_TARGET_MIB: f64 = 64.0;
const SEED: u64 = 42;
/// The highest `requests_per_second` the exporter accepts (src/config.rs).
const MAX_RPS: f64 = 10_000.0;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A comma-separated list.
fn list<T: std::str::FromStr>(name: &str, default: &str) -> Vec<T> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_string())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect()
}

struct Settings {
    flows: usize,
    rps: f64,
    latency: Duration,
    concurrency: usize,
    literal_flows: usize,
    literal_rps: f64,
    cycles: u32,
    fraction: f64,
    interval_seconds: u64,
    wrk_seconds: u64,
    wrk_connections: Vec<u32>,
    /// Rounds per row, exporter and nginx alternating; the median of the rounds' ratios is
    /// the row's ratio.
    wrk_rounds: u32,
    /// Section 4's CPUs: wrk on some, the server measured on the others.
    pinning: Option<Pinning>,
    /// Whether [`Account::launch`] starts the exporter on the servers' CPUs (section 4).
    pin_exporter: bool,
    only: String,
    other_resources: usize,
    other_interval_seconds: u64,
    exporter: String,
    targets: Vec<usize>,
    target_resources: usize,
    target_rps: f64,
    target_interval_seconds: u64,
    target_cycles: u32,
    transfer_workflows: usize,
    transfer_servers: usize,
    transfer_quick: f64,
}

impl Settings {
    fn from_env() -> Settings {
        Settings {
            flows: env_or("SCALE_FLOWS", 10_000),
            rps: env_or("SCALE_RPS", 100.0),
            latency: Duration::from_millis(env_or("SCALE_LATENCY_MS", 50)),
            concurrency: env_or("SCALE_CONCURRENCY", 16),
            literal_flows: env_or("SCALE_LITERAL_FLOWS", 1_000),
            literal_rps: env_or("SCALE_LITERAL_RPS", 10.0),
            cycles: env_or("SCALE_CYCLES", 4),
            fraction: env_or("SCALE_FRACTION", 0.01),
            interval_seconds: env_or("SCALE_INTERVAL_SECONDS", 20),
            wrk_seconds: env_or("SCALE_WRK_SECONDS", 2),
            wrk_connections: list("SCALE_WRK_CONNECTIONS", "1,4,32"),
            wrk_rounds: env_or("SCALE_WRK_ROUNDS", 7).max(1),
            pinning: Pinning::from_env(),
            pin_exporter: false,
            // SCALE_ONLY, or the first argument that is no flag: `cargo bench --bench scale -- soak`.
            only: std::env::var("SCALE_ONLY").unwrap_or_else(|_| {
                std::env::args()
                    .skip(1)
                    .find(|a| !a.starts_with('-'))
                    .unwrap_or_default()
            }),
            other_resources: env_or("SCALE_OTHER_RESOURCES", 10_000),
            other_interval_seconds: env_or("SCALE_OTHER_INTERVAL_SECONDS", 6),
            exporter: env_or(
                "SCALE_EXPORTER",
                env!("CARGO_BIN_EXE_aws-flow-exporter").to_string(),
            ),
            targets: list("SCALE_TARGETS", "1,10,100"),
            target_resources: env_or("SCALE_TARGET_RESOURCES", 100),
            target_rps: env_or("SCALE_TARGET_RPS", 5.0),
            target_interval_seconds: env_or("SCALE_TARGET_INTERVAL_SECONDS", 60),
            target_cycles: env_or("SCALE_TARGET_CYCLES", 3),
            transfer_workflows: env_or("SCALE_TRANSFER_WORKFLOWS", 10_000),
            transfer_servers: env_or("SCALE_TRANSFER_SERVERS", 100),
            transfer_quick: env_or("SCALE_TRANSFER_QUICK", 0.9),
        }
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(Settings::from_env()));
}

async fn run(s: Settings) {
    println!("exporter: {}", s.exporter);
    match s.only.as_str() {
        "appflow" => appflow(&s).await,
        "others" => others(&s).await,
        "scrape" => scrape(&s).await,
        "targets" => many_targets(&s).await,
        "transferlogs" => transfer_logs(&s).await,
        "state" => durable_state(&s).await,
        "org" => discovery::organization(&s).await,
        "busy" => busy_scrapes(&s).await,
        "soak" => soak::soak(&s).await,
        "allocators" => allocators::allocators(&s).await,
        _ => {
            appflow(&s).await;
            durable_state(&s).await;
            others(&s).await;
            many_targets(&s).await;
            transfer_logs(&s).await;
            busy_scrapes(&s).await;
            discovery::organization(&s).await;
            soak::soak(&s).await;
        }
    }
}

/// An exporter command that reaches only the simulator: the caller's `AWS_*`
/// variables removed, no profile or instance metadata; with `url`, static
/// credentials and every endpoint at the simulator (without, `--demo` brings its own).
fn simulated_aws<'c>(cmd: &'c mut Command, url: Option<&str>) -> &'c mut Command {
    for (key, _) in std::env::vars() {
        if key.starts_with("AWS_") {
            cmd.env_remove(key);
        }
    }
    if let Some(url) = url {
        cmd.env("AWS_ENDPOINT_URL", url)
            .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
            .env("AWS_SECRET_ACCESS_KEY", "test-secret-key")
            .env("AWS_REGION", "us-east-1");
    }
    cmd.env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("NO_PROXY", "127.0.0.1,localhost")
}

/// The goals of `--storage.path` at 10,000 flows (issue 12).
const STATE_TARGET_MIB: f64 = 4.0;
const SAVE_TARGET_MS: f64 = 50.0;

/// Section 7: `--storage.path` at SCALE_FLOWS flows, collected without latency at the highest
/// rate (as for `scrape`: only the state matters). The exporter starts on an empty account (its
/// baseline); then the flows appear with their day of runs, so the next collection counts every
/// one, as an exporter that has run for a day has, and saves the state of every flow, execution
/// and counter. The steady cycles follow, one save each; then a SIGKILL and a restart on the
/// saved state. The same runs once without the flag first, for the memory the state costs.
/// Each save's size and times come from the exporter's DEBUG log line `state saved`: `bytes`,
/// `seconds` (the state encoded and written straight to the file, fsynced, renamed, the
/// directory fsynced) and `sync_seconds` (the part spent waiting for the disk: fsyncs, rename).
async fn durable_state(s: &Settings) {
    println!(
        "\n== Durable state (--storage.path): {} flows, every run of the last day counted, \
         a collection every {} s ==",
        s.flows, s.interval_seconds
    );
    // The same without the flag first: what the state itself costs in memory.
    println!("\n-- without --storage.path --");
    let (plain, plain_counted) = counted_account(s, &[]).await;
    plain.steady(s).await;
    let plain_cycles = plain.memory().await;
    drop(plain);
    println!("\n-- with --storage.path --");
    let extra = ["--storage.path", "{dir}/state", "--log.level", "debug"];
    let (mut account, counted) = counted_account(s, &extra).await;
    account.steady(s).await;
    let cycles = account.memory().await;

    println!("\nsaves (the exporter's DEBUG lines; the first is the baseline of an empty account)");
    println!(
        "{:>4} {:>10} {:>8} {:>9} {:>16} {:>8}",
        "save", "bytes", "MiB", "total ms", "encode+write ms", "sync ms"
    );
    let logs = account.logs();
    let saves: Vec<[f64; 3]> = logs
        .lines()
        .filter(|l| l.contains("state saved"))
        .filter_map(|l| {
            let field = |name: &str| -> Option<f64> {
                let rest = l.split(&format!(" {name}=")).nth(1)?;
                rest.split_whitespace().next()?.parse().ok()
            };
            Some([field("bytes")?, field("seconds")?, field("sync_seconds")?])
        })
        .collect();
    for (i, [bytes, total, sync]) in saves.iter().enumerate() {
        println!(
            "{:>4} {:>10} {:>8.2} {:>9.1} {:>16.1} {:>8.1}",
            i + 1,
            bytes,
            bytes / MIB,
            total * 1000.0,
            (total - sync) * 1000.0,
            sync * 1000.0
        );
    }
    let full: Vec<&[f64; 3]> = saves.iter().skip(1).collect();
    if full.is_empty() {
        println!("no save of the full state logged: {}", account.logs());
        return;
    }
    let mut times: Vec<f64> = full.iter().map(|s| s[1] * 1000.0).collect();
    times.sort_by(f64::total_cmp);
    let bytes = full.last().expect("a save")[0];
    let median = times[times.len() / 2];
    let verdict = |ok: bool| if ok { "within goal" } else { "OVER goal" };
    println!(
        "state: {bytes} bytes = {:.2} MiB (goal {STATE_TARGET_MIB} MiB: {}); one save: median \
         {median:.1} ms, max {:.1} ms (goal {SAVE_TARGET_MS} ms: {})",
        bytes / MIB,
        verdict(bytes / MIB <= STATE_TARGET_MIB),
        times[times.len() - 1],
        verdict(median <= SAVE_TARGET_MS)
    );
    let on_disk: u64 = std::fs::read_dir(account._dir.path().join("state"))
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0);
    println!("state file on disk: {on_disk} bytes");
    println!(
        "{:<28} {:>10} {:>10} {:>24}",
        "memory", "VmRSS MiB", "VmHWM MiB", "process_resident MiB"
    );
    plain_counted.print("no flag, counted every run");
    plain_cycles.print("no flag, after the cycles");
    counted.print("flag, counted every run");
    cycles.print("flag, after the cycles");

    // A SIGKILL, and a restart on the saved state: its first collection is a steady one.
    let before = account.calls();
    account.restart();
    account.ready().await;
    let wall = account.started.elapsed().as_secs_f64();
    let calls = delta(&account.calls(), &before);
    let text = account.metrics().await;
    let restored = account.own(&text, "aws_flow_exporter_state_restored");
    let resumed = account.logs().contains("resumed from the saved state");
    println!(
        "restart after SIGKILL: state_restored {restored:?} (resumed: {resumed}), ready after \
         {wall:.1} s, first collection {} calls {calls:?}",
        total(&calls)
    );
    account.memory().await.print("flag, restarted");
}

/// An exporter with `extra` arguments on an empty account (its baseline), then the flows with
/// their day of runs, and its memory once the next collection has counted every run.
async fn counted_account(s: &Settings, extra: &[&str]) -> (Account, Memory) {
    let quick = Settings {
        latency: Duration::ZERO,
        ..Settings::from_env()
    };
    let load = Load::new(Svc::AppFlow, s.flows);
    let account = Account::launch(
        &quick,
        Svc::AppFlow,
        s.flows,
        MAX_RPS,
        World::default(),
        load,
        extra,
    )
    .await;
    account.ready().await;
    let listed = account.listed();
    account
        .sim
        .with(|w| account.load.lock().expect("load").populate(w));
    account.wait_collections(2.0, listed).await;
    let memory = account.memory().await;
    (account, memory)
}

/// Section 4 alone: the scrape throughput at SCALE_FLOWS flows (collected without latency, at
/// the highest rate, to be ready soon: the body is the same) and on the `--demo` world.
async fn scrape(s: &Settings) {
    let quick = Settings {
        latency: Duration::ZERO,
        pin_exporter: true,
        ..Settings::from_env()
    };
    let main = Account::start(&quick, Svc::AppFlow, s.flows, MAX_RPS).await;
    main.ready().await;
    println!(
        "\n== Scrape throughput, {} flows (wrk -d{}s per row) ==",
        s.flows, s.wrk_seconds
    );
    main.throughput(s).await;
    main.memory().await.print("after the scrape benchmark");
    drop(main);
    demo_throughput(s).await;
}

async fn appflow(s: &Settings) {
    println!(
        "scale benchmark: {} flows, {} rps, {:?} latency, max_concurrency {}, {} cores",
        s.flows,
        s.rps,
        s.latency,
        s.concurrency,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let main = Account::start(s, Svc::AppFlow, s.flows, s.rps).await;
    let literal = if s.literal_flows > 0 {
        Some(Account::start(s, Svc::AppFlow, s.literal_flows, s.literal_rps).await)
    } else {
        None
    };

    println!("\n== First collection (the exporter's own collection_duration_seconds) ==");
    println!(
        "{:>7} {:>6} {:>7} {:>9} {:>10} {:>10} {:>6}",
        "flows", "rps", "calls", "budget s", "measured s", "wall s", "ratio"
    );
    let (first, literal_first) = tokio::join!(main.first_collection(), async {
        match &literal {
            Some(a) => Some(a.first_collection().await),
            None => None,
        }
    });
    first.print();
    println!(
        "  bound: ListFlows pages + one DescribeFlowExecutionRecords page per flow + one \
         DescribeFlow per scheduled or SAP OData flow (every flow here is scheduled)"
    );
    if let Some(l) = &literal_first {
        l.print();
    }
    if literal_first.is_some() {
        // 10,000 flows at the literal rate: the calls are the same, the rate-limited time
        // scales with calls / rps, and the work that is not rate-limited (rendering and
        // compressing the exposition) is what the 10,000-flow run measured beyond its budget.
        let budget = first.calls as f64 / s.literal_rps;
        let projected = budget + (first.measured - first.budget()).max(0.0);
        println!(
            "{:>7} {:>6} {:>7} {:>9.1} {:>10.1} {:>10} {:>6.3}  (projected)",
            s.flows,
            s.literal_rps,
            first.calls,
            budget,
            projected,
            "-",
            projected / budget
        );
    }
    drop(literal);

    let baseline = main.memory().await;
    println!(
        "\n== Steady state: {:.0}% of flows start or finish a run per cycle ==",
        s.fraction * 100.0
    );
    main.steady(s).await;
    let steady = main.memory().await;

    println!("\n== Memory (target {MEMORY_TARGET_MIB} MiB) ==");
    println!(
        "{:<28} {:>10} {:>10} {:>24}",
        "", "VmRSS MiB", "VmHWM MiB", "process_resident MiB"
    );
    baseline.print("after the first collection");
    steady.print("after the steady cycles");
    drop(main);
    // Its own exporter, started on the servers' CPUs and collected without latency.
    scrape(s).await;
}

/// Section 5: the steady state of each other service, one exporter at a time.
async fn others(s: &Settings) {
    println!(
        "\n== Steady state, the other services: {} resources each, {:.0}% change per cycle, \
         no latency, {MAX_RPS} rps, a collection every {} s ==",
        s.other_resources,
        s.fraction * 100.0,
        s.other_interval_seconds
    );
    let began = Instant::now();
    for service in [Svc::Transfer, Svc::SupplyChain, Svc::CustomerProfiles] {
        println!("\n-- {} --", service.label());
        let account = Account::start(s, service, s.other_resources, MAX_RPS).await;
        account.ready().await;
        account.steady(s).await;
    }
    println!("\n(section 5 took {:.0} s)", began.elapsed().as_secs_f64());
}

/// Section 7: Transfer's steady state without and with `log_groups: auto`, on the same account.
async fn transfer_logs(s: &Settings) {
    println!(
        "\n== Transfer with and without the workflow logs: {} workflows over {} servers, \
         {:.0}% run an execution per cycle ({:.0}% of them start and end between two \
         collections), no latency, {MAX_RPS} rps, a collection every {} s ==",
        s.transfer_workflows,
        s.transfer_servers,
        s.fraction * 100.0,
        s.transfer_quick * 100.0,
        s.other_interval_seconds
    );
    let began = Instant::now();
    for log_groups in [false, true] {
        println!(
            "\n-- transfer, {} --",
            if log_groups {
                "log_groups: auto"
            } else {
                "without log_groups"
            }
        );
        let scale = TransferScale::with_logs(SEED, s.transfer_workflows, s.transfer_servers);
        let load = Load::TransferLogs {
            scale,
            quick: s.transfer_quick,
            read: log_groups,
        };
        let account = Account::start_with(s, Svc::Transfer, load, MAX_RPS).await;
        account.ready().await;
        account.steady(s).await;
    }
    println!("\n(section 7 took {:.0} s)", began.elapsed().as_secs_f64());
}

/// The services, as the exporter's configuration, its `aws_service` label and the simulator's
/// call counts name them.
#[derive(Clone, Copy, PartialEq)]
enum Svc {
    AppFlow,
    Transfer,
    SupplyChain,
    CustomerProfiles,
}

impl Svc {
    const ALL: [Svc; 4] = [
        Svc::AppFlow,
        Svc::Transfer,
        Svc::SupplyChain,
        Svc::CustomerProfiles,
    ];

    fn label(self) -> &'static str {
        match self {
            Svc::AppFlow => "appflow",
            Svc::Transfer => "transfer",
            Svc::SupplyChain => "supplychain",
            Svc::CustomerProfiles => "customerprofiles",
        }
    }

    /// The listing each collection starts with.
    fn listing(self) -> &'static str {
        match self {
            Svc::AppFlow => "ListFlows",
            Svc::Transfer => "ListWorkflows",
            Svc::SupplyChain => "ListInstances",
            Svc::CustomerProfiles => "ListDomains",
        }
    }
}

/// A service's scale scenario, stepped the same way whatever the service.
enum Load {
    AppFlow(Scale),
    Transfer(TransferScale),
    /// Transfer with servers that log (section 7); `quick`: the share of executions that start
    /// and end between two collections; `read`: the exporter reads the logs (`log_groups`).
    TransferLogs {
        scale: TransferScale,
        quick: f64,
        read: bool,
    },
    SupplyChain(SupplyChainScale),
    CustomerProfiles(CustomerProfilesScale),
}

/// What a step did, whatever the service.
struct Stepped {
    changed: usize,
    /// Resources with a run in progress before the step.
    running: usize,
    bound: u64,
    /// Transfer: executions that ended in the step (what exact counters count).
    ended: usize,
}

impl Load {
    /// The scenario of `service` with `resources` flows or workflows, populated into `world`.
    fn populated(service: Svc, resources: usize, world: &mut World) -> Load {
        let mut load = Load::new(service, resources);
        load.populate(world);
        load
    }

    /// The scenario of `service` with `resources` flows or workflows, not yet in any world.
    fn new(service: Svc, resources: usize) -> Load {
        match service {
            Svc::AppFlow => Load::AppFlow(Scale::new(SEED, resources)),
            Svc::Transfer => Load::Transfer(TransferScale::new(SEED, resources)),
            Svc::SupplyChain => Load::SupplyChain(SupplyChainScale::new(SEED, resources)),
            Svc::CustomerProfiles => {
                Load::CustomerProfiles(CustomerProfilesScale::new(SEED, resources))
            }
        }
    }

    /// Adds the resources, with their history up to now, to `world`.
    fn populate(&mut self, world: &mut World) {
        let now = epoch_now();
        match self {
            Load::AppFlow(scale) => scale.populate(world, now),
            Load::Transfer(scale) | Load::TransferLogs { scale, .. } => scale.populate(world),
            Load::SupplyChain(scale) => scale.populate(world, now),
            Load::CustomerProfiles(scale) => scale.populate(world, now),
        }
    }

    fn step(&mut self, world: &mut World, fraction: f64) -> Stepped {
        let now = epoch_now();
        match self {
            Load::AppFlow(scale) => {
                let step = scale.step(world, now, fraction);
                Stepped {
                    changed: step.changed(),
                    running: step.was_running.len(),
                    bound: step.lower_bound(scale.flow_names().len()),
                    ended: 0,
                }
            }
            Load::Transfer(scale) => {
                let step = scale.step(world, fraction);
                Stepped {
                    ended: step.changed.finished.len(),
                    ..Stepped::of(&step.changed, step.lower_bound())
                }
            }
            Load::TransferLogs { scale, quick, read } => {
                let now_ms = (now * 1000.0) as i64;
                let step: LoggedStep = scale.step_logged(world, fraction, *quick, now_ms);
                let listing = &step.listing;
                let bound = if *read {
                    step.lower_bound()
                } else {
                    listing.lower_bound()
                };
                Stepped {
                    changed: listing.changed.count() + step.quick,
                    running: listing.changed.was_running.len(),
                    bound,
                    ended: step.ended,
                }
            }
            Load::SupplyChain(scale) => {
                let step = scale.step(world, now, fraction);
                Stepped::of(&step.changed, step.lower_bound())
            }
            Load::CustomerProfiles(scale) => {
                let step = scale.step(world, now, fraction);
                Stepped::of(&step.changed, step.lower_bound())
            }
        }
    }

    /// Calls of the listing each collection starts with, in one collection.
    fn listing_pages(&self) -> u64 {
        (match self {
            Load::AppFlow(scale) => list_pages(scale.flow_names().len()),
            Load::Transfer(scale) | Load::TransferLogs { scale, .. } => {
                pages(scale.workflow_ids().len(), transfer::LIST_PAGE)
            }
            Load::SupplyChain(scale) => pages(scale.instances(), supplychain::LIST_PAGE),
            Load::CustomerProfiles(scale) => {
                pages(scale.domain_names().len(), customerprofiles::LIST_PAGE)
            }
        }) as u64
    }

    fn bound_text(&self) -> &'static str {
        match self {
            Load::AppFlow(_) => {
                "ListFlows pages + flows whose last run changed + flows that had a run in progress \
                 (no DescribeFlow: no flow changes; the first collection makes one per scheduled \
                 or SAP OData flow)"
            }
            Load::Transfer(_) | Load::TransferLogs { read: false, .. } => {
                "ListWorkflows pages + one ListExecutions per workflow + one DescribeExecution \
                 per execution in progress after the step"
            }
            Load::TransferLogs { read: true, .. } => {
                "ListWorkflows pages + one ListExecutions per workflow + ListServers pages + one \
                 FilterLogEvents per server's log group (one page each) + no DescribeExecution"
            }
            Load::SupplyChain(_) => {
                "ListInstances pages + ListDataIntegrationFlows pages per Active instance + one \
                 ListDataIntegrationFlowExecutions page per flow (+ Get per buried run: none)"
            }
            Load::CustomerProfiles(_) => {
                "ListDomains pages + ListWorkflows pages per domain + one GetWorkflow per workflow \
                 the step started, moved on or finished (status or LastUpdatedAt changed)"
            }
        }
    }
}

impl Stepped {
    fn of(changed: &Changed, bound: u64) -> Stepped {
        Stepped {
            changed: changed.count(),
            running: changed.was_running.len(),
            bound,
            ended: 0,
        }
    }
}

/// One simulated account and the exporter collecting it, for one service.
struct Account {
    sim: Simulator,
    service: Svc,
    load: std::sync::Mutex<Load>,
    flows: usize,
    rps: f64,
    exporter: Child,
    addr: SocketAddr,
    started: Instant,
    /// The exporter's program and arguments, to start it again.
    command: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Drop for Account {
    fn drop(&mut self) {
        let _ = self.exporter.kill();
        let _ = self.exporter.wait();
    }
}

struct First {
    flows: usize,
    rps: f64,
    calls: u64,
    measured: f64,
    wall: f64,
}

impl First {
    fn budget(&self) -> f64 {
        self.calls as f64 / self.rps
    }

    fn ratio(&self) -> f64 {
        self.measured / self.budget()
    }

    fn print(&self) {
        println!(
            "{:>7} {:>6} {:>7} {:>9.1} {:>10.1} {:>10.1} {:>6.3}",
            self.flows,
            self.rps,
            self.calls,
            self.budget(),
            self.measured,
            self.wall,
            self.ratio()
        );
    }
}

struct Memory {
    rss: f64,
    hwm: f64,
    resident: Option<f64>,
}

impl Memory {
    fn print(&self, when: &str) {
        // VmHWM is the peak so far, collections and scrapes included: the target holds for it too.
        let verdict = if self.hwm <= MEMORY_TARGET_MIB {
            "peak within target"
        } else if self.rss <= MEMORY_TARGET_MIB {
            "RSS within target, peak OVER"
        } else {
            "RSS OVER target"
        };
        println!(
            "{:<28} {:>10.1} {:>10.1} {:>24}  {verdict}",
            when,
            self.rss,
            self.hwm,
            self.resident
                .map_or("-".to_string(), |r| format!("{:.1}", r / MIB))
        );
    }
}

/// `command` (the exporter and its arguments) pointed at the simulator at `url` through the
/// standard AWS variables alone, its log appended to `dir`/exporter.log.
fn spawn_exporter(command: &[String], url: &str, dir: &Path) -> Child {
    let mut cmd = Command::new(&command[0]);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("exporter.log"))
        .expect("log file");
    simulated_aws(&mut cmd, Some(url))
        .args(&command[1..])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("the exporter starts")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The calls to `service` so far, by operation.
fn service_calls(world: &World, service: Svc) -> BTreeMap<String, u64> {
    prefixed_calls(world, service.label())
}

/// The calls to the simulator's service `name` so far, by operation.
fn prefixed_calls(world: &World, name: &str) -> BTreeMap<String, u64> {
    let prefix = format!("{name}:");
    world
        .all_calls()
        .into_iter()
        .filter_map(|(k, v)| k.strip_prefix(&prefix).map(|op| (op.to_string(), v)))
        .collect()
}

fn total(calls: &BTreeMap<String, u64>) -> u64 {
    calls.values().sum()
}

fn delta(after: &BTreeMap<String, u64>, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

impl Account {
    /// The exporter collecting `service` alone, over `flows` flows or workflows. AppFlow gets
    /// the latency and interval of sections 1-4, the other services those of section 5.
    async fn start(s: &Settings, service: Svc, flows: usize, rps: f64) -> Account {
        let mut world = World::default();
        let load = Load::populated(service, flows, &mut world);
        Account::launch(s, service, flows, rps, world, load, &[]).await
    }

    /// Section 7: the Transfer account of `load` (populated here), the exporter reading its
    /// logs if the load says so.
    async fn start_with(s: &Settings, service: Svc, mut load: Load, rps: f64) -> Account {
        let mut world = World::default();
        let flows = match &mut load {
            Load::TransferLogs { scale, .. } => {
                scale.populate(&mut world);
                scale.workflow_ids().len()
            }
            _ => unreachable!("only section 7 brings its own load"),
        };
        Account::launch(s, service, flows, rps, world, load, &[]).await
    }

    /// [`Account::start`] on `world`, with `load` (populated or not yet) and `extra` arguments
    /// for the exporter; `{dir}` in them is the account's temporary directory.
    async fn launch(
        s: &Settings,
        service: Svc,
        flows: usize,
        rps: f64,
        mut world: World,
        load: Load,
        extra: &[&str],
    ) -> Account {
        let reads_logs = matches!(load, Load::TransferLogs { read: true, .. });
        let (latency, interval) = match service {
            Svc::AppFlow => (s.latency, s.interval_seconds),
            _ => (Duration::ZERO, s.other_interval_seconds),
        };
        world.faults.set_latency("*", latency);
        let sim = Simulator::start_with("127.0.0.1:0".parse().unwrap(), world)
            .await
            .expect("simulator starts");
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("config.yaml");
        let services: String = Svc::ALL
            .iter()
            .map(|&other| {
                let enabled = other == service;
                let logs = if enabled && reads_logs {
                    ", log_groups: auto"
                } else {
                    ""
                };
                format!("      {}: {{ enabled: {enabled}{logs} }}\n", other.label())
            })
            .collect();
        std::fs::write(
            &config,
            format!(
                "collection:\n  interval: {interval}s\n  requests_per_second: {rps}\n  max_concurrency: {}\n  timeout: 20s\n\
                 targets:\n  - region: us-east-1\n    services:\n{services}",
                s.concurrency
            ),
        )
        .expect("config written");
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut command = match (&s.pinning, s.pin_exporter) {
            (Some(pinning), true) => pinning.servers_prefix(),
            _ => Vec::new(),
        };
        command.extend([
            s.exporter.clone(),
            "--config.file".to_string(),
            config.display().to_string(),
            "--web.listen-address".to_string(),
            addr.to_string(),
        ]);
        let here = dir.path().display().to_string();
        command.extend(extra.iter().map(|a| a.replace("{dir}", &here)));
        let exporter = spawn_exporter(&command, &sim.url(), dir.path());
        Account {
            sim,
            service,
            load: std::sync::Mutex::new(load),
            flows,
            rps,
            exporter,
            addr,
            started: Instant::now(),
            command,
            _dir: dir,
        }
    }

    /// Kills the exporter (SIGKILL) and starts it again with the same arguments.
    fn restart(&mut self) {
        let _ = self.exporter.kill();
        let _ = self.exporter.wait();
        self.exporter = spawn_exporter(&self.command, &self.sim.url(), self._dir.path());
        self.started = Instant::now();
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("exporter.log")).unwrap_or_default()
    }

    /// The calls to this account's service so far, by operation (for Transfer, with the
    /// CloudWatch Logs calls it makes).
    fn calls(&self) -> BTreeMap<String, u64> {
        self.sim.with(|w| {
            let mut calls = service_calls(w, self.service);
            if self.service == Svc::Transfer {
                calls.extend(prefixed_calls(w, "logs"));
            }
            calls
        })
    }

    /// Calls of the listing each collection starts with, so far.
    fn listed(&self) -> u64 {
        let listing = self.service.listing();
        self.calls().get(listing).copied().unwrap_or(0)
    }

    /// Waits until the first collection has ended (the exporter is ready).
    async fn ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(3600);
        loop {
            if get(self.addr, "/readyz", false).await.map(|r| r.status) == Some(200) {
                return;
            }
            assert!(Instant::now() < deadline, "never ready: {}", self.logs());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn first_collection(&self) -> First {
        self.ready().await;
        let wall = self.started.elapsed().as_secs_f64();
        // The next collection may already have begun (the first overran the interval); it
        // starts with ListFlows pages, chained one after the other, so any ListFlows call
        // beyond one listing is its own.
        let calls = self.calls();
        let lists = calls.get("ListFlows").copied().unwrap_or(0);
        let calls = total(&calls) - lists.saturating_sub(list_pages(self.flows) as u64);
        let text = self.metrics().await;
        let count = self.own(&text, "aws_flow_exporter_collection_duration_seconds_count");
        let sum = self.own(&text, "aws_flow_exporter_collection_duration_seconds_sum");
        assert_eq!(count, Some(1.0), "{}", self.logs());
        First {
            flows: self.flows,
            rps: self.rps,
            calls,
            measured: sum.unwrap_or(f64::NAN),
            wall,
        }
    }

    /// The exposition, asked for with gzip (as Prometheus does) and inflated here.
    async fn metrics(&self) -> String {
        let response = get(self.addr, "/metrics", true).await.expect("a scrape");
        assert_eq!(response.status, 200);
        String::from_utf8(response.body).expect("UTF-8")
    }

    /// The value of the exporter's own series `name` for this account's service.
    fn own(&self, text: &str, name: &str) -> Option<f64> {
        own(text, name, self.service)
    }

    async fn collections(&self) -> f64 {
        let text = self.metrics().await;
        self.own(&text, "aws_flow_exporter_collection_duration_seconds_count")
            .unwrap_or(0.0)
    }

    async fn collection_seconds(&self) -> f64 {
        let text = self.metrics().await;
        self.own(&text, "aws_flow_exporter_collection_duration_seconds_sum")
            .unwrap_or(0.0)
    }

    /// Waits until `count` collections have ended. Scrapes (which inflate tens of megabytes
    /// here) only once the simulator has seen a call of the service's first listing after
    /// `listed` and calls stopped.
    async fn wait_collections(&self, count: f64, listed: u64) {
        let deadline = Instant::now() + Duration::from_secs(600);
        let mut last = u64::MAX;
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            assert!(Instant::now() < deadline, "no collection: {}", self.logs());
            let calls = self.calls();
            let (lists, all) = (
                calls.get(self.service.listing()).copied().unwrap_or(0),
                total(&calls),
            );
            let quiet = all == last;
            last = all;
            if lists > listed && quiet && self.collections().await >= count {
                return;
            }
        }
    }

    async fn steady(&self, s: &Settings) {
        // For AppFlow the second collection follows the first at once (the first overran the
        // interval).
        self.wait_collections(2.0, self.listed()).await;
        println!(
            "{:>5} {:>7} {:>7} {:>6} {:>7} {:>6} {:>7}  calls by operation",
            "cycle", "changed", "running", "calls", "bound", "excess", "time s"
        );
        let mut count = self.collections().await;
        let mut spent = self.collection_seconds().await;
        let listing = self.service.listing();
        let mut ended = 0;
        for cycle in 1..=s.cycles {
            let before = self.calls();
            let step = self.sim.with(|w| {
                let mut load = self.load.lock().expect("load");
                load.step(w, s.fraction)
            });
            count += 1.0;
            self.wait_collections(count, before.get(listing).copied().unwrap_or(0))
                .await;
            let calls = delta(&self.calls(), &before);
            let seconds = self.collection_seconds().await;
            let took = seconds - spent;
            spent = seconds;
            let measured = total(&calls);
            let bound = step.bound;
            ended += step.ended;
            let pages = calls.get(listing).copied().unwrap_or(0);
            let expected = self.load.lock().expect("load").listing_pages();
            let note = if pages != expected {
                "  (not exactly one collection: timing overlap)"
            } else {
                ""
            };
            println!(
                "{:>5} {:>7} {:>7} {:>6} {:>7} {:>6} {:>7.2}  {:?}{note}",
                cycle,
                step.changed,
                step.running,
                measured,
                bound,
                measured as i64 - bound as i64,
                took,
                calls
            );
        }
        {
            let load = self.load.lock().expect("load");
            println!(
                "bound = {} ({} {listing} pages)",
                load.bound_text(),
                load.listing_pages()
            );
        }
        if self.service == Svc::Transfer {
            let text = self.metrics().await;
            let counted: f64 = text
                .lines()
                .filter(|l| l.starts_with("aws_transfer_workflow_executions_finished_total{"))
                .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
                .sum();
            println!("executions counted as finished: {counted} of the {ended} that ended");
        }
    }

    async fn memory(&self) -> Memory {
        memory_of(self.exporter.id(), &self.metrics().await)
    }

    async fn throughput(&self, s: &Settings) {
        // Hold the next collection at its first call (no CPU used while it waits) so both servers
        // are measured serving the same, unchanging body on a machine otherwise idle.
        self.sim
            .with(|w| w.faults.set_latency("ListFlows", Duration::from_secs(3600)));
        compare(s, self.addr).await;
        self.sim
            .with(|w| w.faults.set_latency("ListFlows", Duration::ZERO));
    }
}

/// Section 4 on the `--demo` world: the exporter's own simulator, a collection every 5 s (the
/// scrapes after each are fresh: the body changes while measured).
async fn demo_throughput(s: &Settings) {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let dir = tempfile::tempdir().expect("temp dir");
    let log = std::fs::File::create(dir.path().join("exporter.log")).expect("log file");
    let mut command = s
        .pinning
        .as_ref()
        .map(Pinning::servers_prefix)
        .unwrap_or_default();
    command.push(s.exporter.clone());
    let mut cmd = Command::new(&command[0]);
    cmd.args(&command[1..]);
    let mut child = simulated_aws(&mut cmd, None)
        .arg("--demo")
        .arg("--web.listen-address")
        .arg(addr.to_string())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("the exporter starts");
    let deadline = Instant::now() + Duration::from_secs(120);
    while get(addr, "/readyz", false).await.map(|r| r.status) != Some(200) {
        if Instant::now() > deadline {
            println!("SKIPPED: the --demo exporter never got ready");
            let _ = child.kill();
            let _ = child.wait();
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "\n== Scrape throughput, the --demo world (wrk -d{}s per row) ==",
        s.wrk_seconds
    );
    compare(s, addr).await;
    let _ = child.kill();
    let _ = child.wait();
}

/// wrk against the exporter at `addr` and against nginx serving the bytes it serves now, gzip
/// and plain, at each number of connections, the two alternating. Before every round nginx's
/// file is replaced by what the exporter serves at that moment (the demo world grows, and the
/// exporter's own series change every second), so both send the same bytes.
async fn compare(s: &Settings, addr: SocketAddr) {
    if s.wrk_seconds == 0 {
        println!("SKIPPED: SCALE_WRK_SECONDS=0");
        return;
    }
    let (Some(wrk), Some(nginx)) = (which("wrk"), which("nginx")) else {
        println!("SKIPPED: wrk and nginx are needed (Debian: apt-get install -y wrk nginx-light)");
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let (Some(gzip), Some(plain)) = (
        refresh(addr, dir.path(), true).await,
        refresh(addr, dir.path(), false).await,
    ) else {
        println!("SKIPPED: the exporter did not answer");
        return;
    };
    println!(
        "body: {:.3} MiB gzip, {:.3} MiB plain",
        gzip as f64 / MIB,
        plain as f64 / MIB
    );
    let Some(server) = Nginx::start(&nginx, dir.path(), s.pinning.as_ref()) else {
        println!("SKIPPED: nginx did not start");
        return;
    };
    match &s.pinning {
        Some(p) => println!(
            "wrk on CPU {}, the exporter and nginx ({} worker{}) on CPU {}; {} rounds per row",
            p.client,
            p.server_cpus,
            if p.server_cpus == 1 { "" } else { "s" },
            p.servers,
            s.wrk_rounds
        ),
        None => println!(
            "not pinned (SCALE_WRK_PIN=0, one CPU, or no taskset); nginx with 2 workers; {} rounds per row",
            s.wrk_rounds
        ),
    }
    println!(
        "{:<6} {:>5} {:>16} {:>14} {:>8} {:>14} {:>15}",
        "", "conns", "exporter req/s", "nginx req/s", "ratio", "exporter ms", "round ratios"
    );
    for (name, gzipped, nginx_path) in [("gzip", true, "/metrics.gz"), ("plain", false, "/metrics")]
    {
        for &connections in &s.wrk_connections {
            let exporter_url = format!("http://{addr}/metrics");
            let nginx_url = format!("http://127.0.0.1:{}{nginx_path}", server.port);
            let (mut exporter, mut reference) = (Vec::new(), Vec::new());
            for round in 0..s.wrk_rounds {
                refresh(addr, dir.path(), gzipped).await;
                // Who goes first alternates too, so that neither always runs on a warmer machine.
                let order = if round % 2 == 0 {
                    [true, false]
                } else {
                    [false, true]
                };
                for ours in order {
                    if ours {
                        exporter.push(wrk_rps(&wrk, s, connections, &exporter_url, gzipped));
                    } else {
                        reference.push(wrk_rps(&wrk, s, connections, &nginx_url, gzipped));
                    }
                }
            }
            // Each round's two runs are seconds apart: their ratio is what a slower or
            // faster spell of the shared machine changes least.
            let ratios: Vec<f64> = exporter
                .iter()
                .zip(&reference)
                .map(|(e, n)| e / n)
                .collect();
            let exporter = median(&exporter);
            let (low, high) = ratios
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), r| {
                    (l.min(*r), h.max(*r))
                });
            // Time per scrape as one connection sees it.
            println!(
                "{:<6} {:>5} {:>16.1} {:>14.1} {:>8.3} {:>14.3} {:>15}",
                name,
                connections,
                exporter,
                median(&reference),
                median(&ratios),
                1000.0 * connections as f64 / exporter,
                format!("{low:.2}-{high:.2}")
            );
        }
    }
    drop(server);
}

/// Replaces nginx's gzip or plain file in `dir` with what the exporter at `addr` serves now
/// (written aside, then renamed: nginx opens the file per request). Its size in bytes.
async fn refresh(addr: SocketAddr, dir: &Path, gzipped: bool) -> Option<usize> {
    let response = get(addr, "/metrics", gzipped).await?;
    let (bytes, name) = if gzipped {
        (response.raw, "metrics.gz")
    } else {
        (response.body, "metrics.txt")
    };
    let aside = dir.join(format!("{name}.new"));
    std::fs::write(&aside, &bytes).ok()?;
    // Workers may run as an unprivileged user: the file must be world-readable.
    std::fs::set_permissions(&aside, std::os::unix::fs::PermissionsExt::from_mode(0o644)).ok()?;
    std::fs::rename(&aside, dir.join(name)).ok()?;
    Some(bytes.len())
}

/// Section 6: one simulator, an exporter with each number of targets in turn.
async fn many_targets(s: &Settings) {
    println!(
        "\n== Many targets: {} flows or workflows of each service, every target with distinct \
         labels and all four services, {} rps, a collection every {} s, {} cores ==",
        s.target_resources,
        s.target_rps,
        s.target_interval_seconds,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for &targets in &s.targets {
        let fleet = Fleet::start(
            s,
            targets,
            s.target_resources,
            s.target_interval_seconds,
            false,
        )
        .await;
        fleet.run(s).await;
    }
}

/// Section 9: gzip scrapes of a many-target exporter while its collections run, beside nginx.
async fn busy_scrapes(s: &Settings) {
    let targets = env_or("SCALE_BUSY_TARGETS", 100);
    let resources = env_or("SCALE_BUSY_RESOURCES", 60);
    let interval = env_or("SCALE_BUSY_INTERVAL_SECONDS", 20);
    let connections: Vec<u32> = list("SCALE_BUSY_CONNECTIONS", "1,4");
    println!(
        "\n== Scrapes while collections run: {targets} targets x 4 services, {resources} resources \
         each, a collection every {interval} s, {} rounds of {} s per row ==",
        s.wrk_rounds, s.wrk_seconds
    );
    if s.wrk_seconds == 0 {
        println!("SKIPPED: SCALE_WRK_SECONDS=0");
        return;
    }
    let (Some(wrk), Some(nginx)) = (which("wrk"), which("nginx")) else {
        println!("SKIPPED: wrk and nginx are needed (Debian: apt-get install -y wrk nginx-light)");
        return;
    };
    let fleet = Fleet::start(s, targets, resources, interval, true).await;
    let deadline = Instant::now() + Duration::from_secs(3600);
    while get(fleet.addr, "/readyz", false).await.map(|r| r.status) != Some(200) {
        assert!(Instant::now() < deadline, "never ready: {}", fleet.logs());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    fleet.wait_collections(1.0).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let Some(size) = refresh(fleet.addr, dir.path(), true).await else {
        println!("SKIPPED: the exporter did not answer");
        return;
    };
    println!("body: {:.3} MiB gzip", size as f64 / MIB);
    let Some(server) = Nginx::start(&nginx, dir.path(), s.pinning.as_ref()) else {
        println!("SKIPPED: nginx did not start");
        return;
    };
    println!(
        "{:<5} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>10}",
        "conns",
        "exp p50",
        "exp p99",
        "exp req/s",
        "ngx p50",
        "ngx p99",
        "ngx req/s",
        "p99 ratio",
        "req ratio"
    );
    let exporter_url = format!("http://{}/metrics", fleet.addr);
    let nginx_url = format!("http://127.0.0.1:{}/metrics.gz", server.port);
    for &c in &connections {
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for round in 0..s.wrk_rounds {
            refresh(fleet.addr, dir.path(), true).await;
            for exporter_first in [round % 2 == 0, round % 2 != 0] {
                if exporter_first {
                    ours.push(wrk_latency(&wrk, s, c, &exporter_url));
                } else {
                    theirs.push(wrk_latency(&wrk, s, c, &nginx_url));
                }
            }
        }
        let m = |runs: &[Latency], f: fn(&Latency) -> f64| {
            median(&runs.iter().map(f).collect::<Vec<_>>())
        };
        let (p50, p99, rps) = (
            |l: &Latency| l.p50,
            |l: &Latency| l.p99,
            |l: &Latency| l.rps,
        );
        println!(
            "{:<5} {:>8.2}ms {:>7.2}ms {:>9.1} {:>7.2}ms {:>7.2}ms {:>9.1} {:>10.2} {:>10.2}",
            c,
            m(&ours, p50),
            m(&ours, p99),
            m(&ours, rps),
            m(&theirs, p50),
            m(&theirs, p99),
            m(&theirs, rps),
            m(&ours, p99) / m(&theirs, p99),
            m(&ours, rps) / m(&theirs, rps),
        );
    }
    let text = fleet.metrics().await;
    let collecting = own_all(
        &text,
        "aws_flow_exporter_collection_duration_seconds_count",
        Svc::AppFlow,
    );
    println!(
        "appflow collections per target by the end: {:.1} on average (goals: p99 ratio <= 2, req ratio >= 0.9)",
        collecting.iter().sum::<f64>() / collecting.len().max(1) as f64
    );
    drop(server);
}

/// What one `wrk --latency` run measured: requests per second, and the 50th and 99th
/// percentiles in milliseconds (NaN when it failed).
struct Latency {
    rps: f64,
    p50: f64,
    p99: f64,
}

fn wrk_latency(wrk: &str, s: &Settings, connections: u32, url: &str) -> Latency {
    let mut cmd = match &s.pinning {
        Some(pinning) => {
            let mut cmd = Command::new("taskset");
            cmd.args(["-c", &pinning.client, wrk]);
            cmd
        }
        None => Command::new(wrk),
    };
    cmd.args([
        "-t1",
        &format!("-c{connections}"),
        &format!("-d{}s", s.wrk_seconds),
    ])
    .args([
        "--latency",
        "--timeout",
        "30s",
        "-H",
        "Accept-Encoding: gzip",
        url,
    ]);
    let text = cmd
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let percentile = |p: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(p))
            .and_then(|v| milliseconds(v.trim()))
            .unwrap_or(f64::NAN)
    };
    Latency {
        rps: text
            .lines()
            .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(f64::NAN),
        p50: percentile("50%"),
        p99: percentile("99%"),
    }
}

/// A duration as wrk prints it (`812.00us`, `1.25ms`, `1.02s`), in milliseconds.
fn milliseconds(text: &str) -> Option<f64> {
    let (number, scale) = if let Some(v) = text.strip_suffix("us") {
        (v, 0.001)
    } else if let Some(v) = text.strip_suffix("ms") {
        (v, 1.0)
    } else if let Some(v) = text.strip_suffix('m') {
        (v, 60_000.0)
    } else {
        (text.strip_suffix('s')?, 1000.0)
    };
    number.parse::<f64>().ok().map(|n| n * scale)
}

/// Section 6: the simulated AWS with every service, and an exporter with `targets` targets.
struct Fleet {
    sim: Simulator,
    loads: std::sync::Mutex<Vec<(Svc, Load)>>,
    targets: usize,
    exporter: Child,
    addr: SocketAddr,
    /// The exporter's program and arguments, to start it again (the soak).
    command: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let _ = self.exporter.kill();
        let _ = self.exporter.wait();
    }
}

/// What one collection of every target cost, per service.
struct Round {
    /// Per service: calls, and for each target its collection count and seconds summed.
    calls: BTreeMap<&'static str, u64>,
    counts: BTreeMap<&'static str, Vec<f64>>,
    sums: BTreeMap<&'static str, Vec<f64>>,
    memory: Memory,
}

impl Fleet {
    /// `pin`: with section 4's pinning, the exporter starts on the servers' CPUs.
    async fn start(
        s: &Settings,
        targets: usize,
        resources: usize,
        interval: u64,
        pin: bool,
    ) -> Fleet {
        Fleet::start_with(s, targets, resources, interval, pin, false).await
    }

    /// [`Fleet::start`]; `storage`: with `--storage.path` in the fleet's directory.
    async fn start_with(
        s: &Settings,
        targets: usize,
        resources: usize,
        interval: u64,
        pin: bool,
        storage: bool,
    ) -> Fleet {
        let mut world = World::default();
        let loads: Vec<(Svc, Load)> = Svc::ALL
            .iter()
            .map(|&svc| (svc, Load::populated(svc, resources, &mut world)))
            .collect();
        let sim = Simulator::start_with("127.0.0.1:0".parse().unwrap(), world)
            .await
            .expect("simulator starts");
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("config.yaml");
        let mut yaml = format!(
            "collection:\n  interval: {}s\n  requests_per_second: {}\n  timeout: 20s\ntargets:\n",
            interval, s.target_rps
        );
        for i in 0..targets {
            yaml.push_str(&format!(
                "  - region: us-east-1\n    labels: {{ account: \"a{i:04}\" }}\n    services:\n"
            ));
            for svc in Svc::ALL {
                yaml.push_str(&format!("      {}: {{ enabled: true }}\n", svc.label()));
            }
        }
        std::fs::write(&config, yaml).expect("config written");
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut command = match (&s.pinning, pin) {
            (Some(pinning), true) => pinning.servers_prefix(),
            _ => Vec::new(),
        };
        command.push(s.exporter.clone());
        command.extend(
            [
                "--config.file".to_string(),
                config.display().to_string(),
                "--web.listen-address".to_string(),
                addr.to_string(),
            ]
            .into_iter()
            .chain(
                storage
                    .then(|| {
                        [
                            "--storage.path".to_string(),
                            dir.path().join("state").display().to_string(),
                        ]
                    })
                    .into_iter()
                    .flatten(),
            ),
        );
        let exporter = spawn_exporter(&command, &sim.url(), dir.path());
        Fleet {
            sim,
            loads: std::sync::Mutex::new(loads),
            targets,
            exporter,
            addr,
            command,
            _dir: dir,
        }
    }

    /// SIGKILL, then the same command again (its log appended to the same file).
    fn restart(&mut self) {
        let _ = self.exporter.kill();
        let _ = self.exporter.wait();
        self.exporter = spawn_exporter(&self.command, &self.sim.url(), self._dir.path());
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("exporter.log")).unwrap_or_default()
    }

    async fn metrics(&self) -> String {
        let response = get(self.addr, "/metrics", true).await.expect("a scrape");
        assert_eq!(response.status, 200);
        String::from_utf8(response.body).expect("UTF-8")
    }

    async fn round(&self) -> Round {
        let text = self.metrics().await;
        let mut round = Round {
            calls: BTreeMap::new(),
            counts: BTreeMap::new(),
            sums: BTreeMap::new(),
            memory: memory_of(self.exporter.id(), &text),
        };
        for svc in Svc::ALL {
            let calls = self.sim.with(|w| total(&service_calls(w, svc)));
            round.calls.insert(svc.label(), calls);
            round.counts.insert(
                svc.label(),
                own_all(
                    &text,
                    "aws_flow_exporter_collection_duration_seconds_count",
                    svc,
                ),
            );
            round.sums.insert(
                svc.label(),
                own_all(
                    &text,
                    "aws_flow_exporter_collection_duration_seconds_sum",
                    svc,
                ),
            );
        }
        round
    }

    /// Waits until every (target, service) has ended `count` collections.
    async fn wait_collections(&self, count: f64) -> Round {
        let deadline = Instant::now() + Duration::from_secs(3600);
        loop {
            let round = self.round().await;
            let done = round
                .counts
                .values()
                .all(|counts| counts.len() == self.targets && counts.iter().all(|c| *c >= count));
            if done {
                return round;
            }
            assert!(Instant::now() < deadline, "no collection: {}", self.logs());
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn run(&self, s: &Settings) {
        let started = Instant::now();
        let deadline = started + Duration::from_secs(3600);
        while get(self.addr, "/readyz", false).await.map(|r| r.status) != Some(200) {
            assert!(Instant::now() < deadline, "never ready: {}", self.logs());
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let wall = started.elapsed().as_secs_f64();
        let first = self.wait_collections(1.0).await;
        let series = self
            .metrics()
            .await
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .count();
        println!(
            "\n-- {} targets: {} series, first collection of all ended after {:.1} s --",
            self.targets, series, wall
        );
        println!(
            "{:<17} {:<16} {:>12} {:>9} {:>9} {:>8} {:>8}",
            "collection", "service", "calls/target", "budget s", "mean s", "max s", "ratio"
        );
        let empty = Round {
            calls: BTreeMap::new(),
            counts: BTreeMap::new(),
            sums: BTreeMap::new(),
            memory: Memory {
                rss: 0.0,
                hwm: 0.0,
                resident: None,
            },
        };
        self.print_round("first", &empty, &first, s);
        let mut rounds = vec![("after the first", first)];
        for cycle in 1..=s.target_cycles {
            self.sim.with(|w| {
                for (_, load) in self.loads.lock().expect("loads").iter_mut() {
                    load.step(w, s.fraction);
                }
            });
            let round = self.wait_collections(1.0 + cycle as f64).await;
            self.print_round(
                &format!("steady {cycle}"),
                &rounds.last().expect("a round").1,
                &round,
                s,
            );
            rounds.push(("after a steady one", round));
        }
        println!(
            "{:<22} {:>10} {:>10} {:>13} {:>13}  (target {MEMORY_TARGET_MIB} MiB at the peak)",
            "memory", "VmRSS MiB", "VmHWM MiB", "RSS/target", "HWM/target"
        );
        for (when, round) in &rounds {
            let m = &round.memory;
            println!(
                "{:<22} {:>10.1} {:>10.1} {:>13.2} {:>13.2}  {}",
                when,
                m.rss,
                m.hwm,
                m.rss / self.targets as f64,
                m.hwm / self.targets as f64,
                if m.hwm <= MEMORY_TARGET_MIB {
                    "peak within target"
                } else {
                    "peak OVER target"
                }
            );
        }
    }

    /// Per service, what the collections between `before` and `after` cost: calls per target
    /// and the rate bound they imply, and the collection times per target.
    fn print_round(&self, name: &str, before: &Round, after: &Round, s: &Settings) {
        for svc in Svc::ALL {
            let label = svc.label();
            let calls = after.calls[label] - before.calls.get(label).copied().unwrap_or(0);
            let per_target = calls as f64 / self.targets as f64;
            let budget = per_target / s.target_rps;
            let (counts, sums) = (&after.counts[label], &after.sums[label]);
            let zero = vec![0.0; counts.len()];
            let before_counts = before.counts.get(label).unwrap_or(&zero);
            let before_sums = before.sums.get(label).unwrap_or(&zero);
            let times: Vec<f64> = (0..counts.len())
                .map(|i| {
                    let n = counts[i] - before_counts.get(i).copied().unwrap_or(0.0);
                    (sums[i] - before_sums.get(i).copied().unwrap_or(0.0)) / n.max(1.0)
                })
                .collect();
            let mean = times.iter().sum::<f64>() / times.len().max(1) as f64;
            let max = times.iter().copied().fold(0.0, f64::max);
            println!(
                "{:<17} {:<16} {:>12.1} {:>9.2} {:>9.2} {:>8.2} {:>8.2}",
                name,
                label,
                per_target,
                budget,
                mean,
                max,
                mean / budget
            );
        }
    }
}

/// VmRSS and VmHWM of `pid`, and `process_resident_memory_bytes` from `text`.
fn memory_of(pid: u32, text: &str) -> Memory {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| -> f64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(f64::NAN, |k| k / 1024.0)
    };
    Memory {
        rss: kib("VmRSS:"),
        hwm: kib("VmHWM:"),
        resident: own(text, "process_resident_memory_bytes", Svc::AppFlow),
    }
}

/// Every value of the exporter's own series `name` for `service`, in the order written (the
/// targets' order, by their labels).
fn own_all(text: &str, name: &str, service: Svc) -> Vec<f64> {
    let label = format!("aws_service=\"{}\"", service.label());
    text.lines()
        .filter_map(|line| {
            let (labels, value) = line
                .strip_prefix(name)?
                .strip_prefix('{')?
                .split_once("} ")?;
            labels.contains(&label).then(|| value.trim().parse().ok())?
        })
        .collect()
}

/// The value of the exporter's own series `name` (first match, for `service`), read from the end.
fn own(text: &str, name: &str, service: Svc) -> Option<f64> {
    let label = format!("aws_service=\"{}\"", service.label());
    text.lines().rev().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        let (labels, value) = match rest.strip_prefix('{') {
            Some(r) => r.split_once("} ")?,
            None => ("", rest.strip_prefix(' ')?),
        };
        if !labels.is_empty() && !labels.contains(&label) {
            return None;
        }
        value.trim().parse().ok()
    })
}

struct Response {
    status: u16,
    /// The body as sent (gzip when asked for and given).
    raw: Vec<u8>,
    /// The body inflated.
    body: Vec<u8>,
}

/// A minimal HTTP/1.1 GET; None when the connection fails.
async fn get(addr: SocketAddr, path: &str, gzip: bool) -> Option<Response> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let accept = if gzip {
        "Accept-Encoding: gzip\r\n"
    } else {
        ""
    };
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: bench\r\n{accept}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.ok()?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]).to_lowercase();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let mut sent = raw.split_off(split + 4);
    if head.contains("transfer-encoding: chunked") {
        sent = dechunk(&sent)?;
    }
    let body = if head.contains("content-encoding: gzip") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&sent[..])
            .read_to_end(&mut out)
            .ok()?;
        out
    } else {
        sent.clone()
    };
    Some(Response {
        status,
        raw: sent,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

fn which(program: &str) -> Option<String> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .map(|dir| Path::new(dir).join(program))
        .find(|p| p.is_file());
    found.map(|p| p.to_string_lossy().into_owned())
}

/// The median of `values` (NaN when empty; NaNs sort last).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Requests per second that wrk measured; NaN when it failed or saw errors. One wrk thread up to
/// 4 connections, two beyond (the machine's cores go to the servers).
fn wrk_rps(wrk: &str, s: &Settings, connections: u32, url: &str, gzip: bool) -> f64 {
    let mut cmd = match &s.pinning {
        Some(pinning) => {
            let mut cmd = Command::new("taskset");
            cmd.args(["-c", &pinning.client, wrk]);
            cmd
        }
        None => Command::new(wrk),
    };
    cmd.arg(format!("-t{}", if connections > 4 { 2 } else { 1 }))
        .arg(format!("-c{connections}"))
        .arg(format!("-d{}s", s.wrk_seconds))
        .arg("--timeout")
        .arg("30s");
    if gzip {
        cmd.arg("-H").arg("Accept-Encoding: gzip");
    }
    let output = match cmd.arg(url).output() {
        Ok(o) => o,
        Err(e) => {
            println!("wrk failed: {e}");
            return f64::NAN;
        }
    };
    let text = String::from_utf8_lossy(&output.stdout);
    for line in text.lines() {
        if line.contains("Non-2xx") || line.contains("Socket errors") {
            println!("wrk {url}: {}", line.trim());
        }
    }
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(f64::NAN)
}

/// Section 4's CPUs: wrk on the first, the server measured (the exporter, or nginx) on the
/// others, each started there so that it sizes itself to them (the exporter's runtime starts
/// a worker per CPU it may use, nginx a worker per CPU). Prometheus runs on another machine:
/// a client sharing the server's cores makes both sides' figures depend on how the scheduler
/// interleaves them, which on 2 cores moved nginx alone by a third between runs.
struct Pinning {
    client: String,
    servers: String,
    server_cpus: usize,
}

impl Pinning {
    /// With at least 2 CPUs and `taskset`, unless SCALE_WRK_PIN=0.
    fn from_env() -> Option<Pinning> {
        if std::env::var("SCALE_WRK_PIN").as_deref() == Ok("0") {
            return None;
        }
        which("taskset")?;
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let allowed = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))?;
        let cpus = cpu_list(allowed.trim())?;
        let (client, servers) = cpus.split_first()?;
        (!servers.is_empty()).then(|| Pinning {
            client: client.to_string(),
            servers: servers
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(","),
            server_cpus: servers.len(),
        })
    }

    /// `taskset -c <servers>`, to put in front of a server's command.
    fn servers_prefix(&self) -> Vec<String> {
        vec!["taskset".into(), "-c".into(), self.servers.clone()]
    }
}

/// The CPUs of a list such as `0-3,8`.
fn cpu_list(text: &str) -> Option<Vec<u32>> {
    let mut cpus = Vec::new();
    for range in text.split(',') {
        match range.split_once('-') {
            Some((first, last)) => cpus.extend(first.parse::<u32>().ok()?..=last.parse().ok()?),
            None => cpus.push(range.parse().ok()?),
        }
    }
    Some(cpus)
}

/// nginx serving `dir`'s metrics.txt at /metrics and metrics.gz (with Content-Encoding: gzip) at
/// /metrics.gz, the same headers the exporter sends.
struct Nginx {
    child: Child,
    port: u16,
}

impl Nginx {
    /// On the servers' CPUs with a worker for each when pinned, else 2 workers.
    fn start(nginx: &str, dir: &Path, pinning: Option<&Pinning>) -> Option<Nginx> {
        let port = free_port();
        let workers = pinning.map_or(2, |p| p.server_cpus);
        let d = dir.display();
        // Workers may run as an unprivileged user: the directory must be world-readable (the
        // files are made so by `refresh`).
        let _ = std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o755));
        let config = format!(
            "daemon off;\nworker_processes {workers};\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  keepalive_requests 1000000;\n\
             \x20 client_body_temp_path {d}/client;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n\
             \x20 uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  types {{ }}\n\
             \x20 default_type \"text/plain; version=0.0.4; charset=utf-8\";\n\
             \x20 server {{\n    listen 127.0.0.1:{port};\n\
             \x20   location = /metrics {{ alias {d}/metrics.txt; add_header Vary Accept-Encoding; }}\n\
             \x20   location = /metrics.gz {{ alias {d}/metrics.gz; add_header Vary Accept-Encoding; add_header Content-Encoding gzip; }}\n\
             \x20 }}\n}}\n"
        );
        let path = dir.join("nginx.conf");
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(config.as_bytes()))
            .ok()?;
        let mut command = pinning.map(Pinning::servers_prefix).unwrap_or_default();
        command.push(nginx.to_string());
        let child = Command::new(&command[0])
            .args(&command[1..])
            .arg("-p")
            .arg(dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let mut server = Nginx { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline || server.child.try_wait().ok().flatten().is_some() {
                println!(
                    "nginx: {}",
                    std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
                );
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(server)
    }
}

impl Drop for Nginx {
    /// SIGTERM, so the master stops its workers too (SIGKILL would orphan them).
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}
