//! Section 11, the allocators side by side: the same many-target run with each exporter binary
//! of SCALE_ALLOCATORS (`name=path,...`; by default glibc, the binary built by this bench, and
//! mimalloc, SCALE_EXPORTER_MIMALLOC when set), taking turns SCALE_ALLOCATOR_ROUNDS (2) times:
//! the time until every unit's first collection ended, the gzip scrapes' p99 while collections
//! run (`wrk --latency` at 1 and 4 connections, SCALE_WRK_SECONDS x SCALE_WRK_ROUNDS each), and
//! the peak VmHWM after SCALE_ALLOCATOR_CYCLES (2) more collections of every unit.

use super::*;

struct Measured {
    first: f64,
    p99: Vec<f64>,
    rps: Vec<f64>,
    hwm: f64,
    rss: f64,
}

pub(super) async fn allocators(s: &Settings) {
    let targets = env_or("SCALE_BUSY_TARGETS", 100);
    let resources = env_or("SCALE_BUSY_RESOURCES", 60);
    let interval = env_or("SCALE_BUSY_INTERVAL_SECONDS", 20);
    let rounds: u32 = env_or("SCALE_ALLOCATOR_ROUNDS", 2);
    let cycles: u32 = env_or("SCALE_ALLOCATOR_CYCLES", 2);
    let connections: Vec<u32> = list("SCALE_BUSY_CONNECTIONS", "1,4");
    let default = match std::env::var("SCALE_EXPORTER_MIMALLOC") {
        Ok(path) => format!("glibc={},mimalloc={path}", s.exporter),
        Err(_) => format!("glibc={}", s.exporter),
    };
    let binaries: Vec<(String, String)> = std::env::var("SCALE_ALLOCATORS")
        .unwrap_or(default)
        .split(',')
        .filter_map(|pair| {
            let (name, path) = pair.split_once('=')?;
            Some((name.trim().to_string(), path.trim().to_string()))
        })
        .collect();
    println!(
        "\n== Allocators: {targets} targets x 4 services, {resources} resources each, a collection \
         every {interval} s; {rounds} rounds, the binaries taking turns =="
    );
    let Some(wrk) = which("wrk") else {
        println!("SKIPPED: wrk is needed (Debian: apt-get install -y wrk)");
        return;
    };
    if binaries.len() < 2 {
        println!(
            "(one binary only: build the other with `cargo build --release --features mimalloc`, \
             copy target/release/aws-flow-exporter aside, and pass it as SCALE_EXPORTER_MIMALLOC)"
        );
    }
    let mut results: Vec<Vec<Measured>> = binaries.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for (i, (name, path)) in binaries.iter().enumerate() {
            let settings = Settings {
                exporter: path.clone(),
                ..Settings::from_env()
            };
            let fleet = Fleet::start(&settings, targets, resources, interval, true).await;
            let started = Instant::now();
            let deadline = started + Duration::from_secs(3600);
            while get(fleet.addr, "/readyz", false).await.map(|r| r.status) != Some(200) {
                assert!(Instant::now() < deadline, "never ready: {}", fleet.logs());
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            let first = fleet.wait_collections(1.0).await;
            let first_seconds = started.elapsed().as_secs_f64();
            drop(first);
            let url = format!("http://{}/metrics", fleet.addr);
            let (mut p99, mut rps) = (Vec::new(), Vec::new());
            for &c in &connections {
                let runs: Vec<Latency> = (0..s.wrk_rounds)
                    .map(|_| wrk_latency(&wrk, s, c, &url))
                    .collect();
                p99.push(median(&runs.iter().map(|l| l.p99).collect::<Vec<_>>()));
                rps.push(median(&runs.iter().map(|l| l.rps).collect::<Vec<_>>()));
            }
            let last = fleet.wait_collections(1.0 + cycles as f64).await;
            println!(
                "round {} {name}: first collection {first_seconds:.1} s, p99 {} ms, VmHWM {:.1} MiB",
                round + 1,
                p99.iter()
                    .map(|v| format!("{v:.2}"))
                    .collect::<Vec<_>>()
                    .join(" / "),
                last.memory.hwm
            );
            results[i].push(Measured {
                first: first_seconds,
                p99,
                rps,
                hwm: last.memory.hwm,
                rss: last.memory.rss,
            });
        }
    }
    println!(
        "{:<10} {:>10} {:>10} {:>10} {}",
        "allocator",
        "first s",
        "VmHWM MiB",
        "VmRSS MiB",
        connections
            .iter()
            .map(|c| format!("{:>10} {:>10}", format!("p99 c{c}"), format!("req/s c{c}")))
            .collect::<Vec<_>>()
            .join(" ")
    );
    for ((name, _), runs) in binaries.iter().zip(&results) {
        let m = |f: &dyn Fn(&Measured) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
        println!(
            "{:<10} {:>10.1} {:>10.1} {:>10.1} {}",
            name,
            m(&|r| r.first),
            m(&|r| r.hwm),
            m(&|r| r.rss),
            (0..connections.len())
                .map(|c| format!(
                    "{:>8.2}ms {:>10.1}",
                    m(&|r: &Measured| r.p99[c]),
                    m(&|r: &Measured| r.rps[c])
                ))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    println!("(medians of the rounds)");
}
