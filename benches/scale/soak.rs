//! Section 10, the soak: a many-target exporter on `--storage.path` under gzip scrapes for the
//! whole run, a SIGHUP reload every SCALE_SOAK_RELOAD_SECONDS, a SIGKILL and restart every
//! SCALE_SOAK_KILL_SECONDS, the simulated world moving on meanwhile; then its counters against
//! the simulator's truth.

use std::collections::BTreeMap;

use aws_flow_simulator::truth::Counts;

use super::*;

/// A sample's labels.
type Labels = BTreeMap<String, String>;
/// A counter's key in [`Counts`], from a sample's labels.
type Key = fn(&Labels) -> Option<(String, String)>;

/// The labels and value of a sample line of `name`.
fn sample(line: &str, name: &str) -> Option<(BTreeMap<String, String>, f64)> {
    let rest = line.strip_prefix(name)?.strip_prefix('{')?;
    let (labels, value) = rest.rsplit_once("} ")?;
    let mut map = BTreeMap::new();
    let mut rest = labels;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next()? {
                (_, '\\') => value.push(chars.next()?.1),
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        map.insert(key.to_string(), value);
        rest = after[end + 1..].trim_start_matches(',');
    }
    Some((map, value.trim().parse().ok()?))
}

/// A counter's difference from the truth, summed over every target: series compared, the sum
/// of |exporter - truth| (series the truth lacks count whole), and the truth's total.
fn difference(
    text: &str,
    name: &str,
    key: Key,
    truth: &Counts,
    targets: usize,
) -> (usize, f64, f64) {
    let mut counted: BTreeMap<String, Counts> = BTreeMap::new();
    for (labels, value) in text.lines().filter_map(|l| sample(l, name)) {
        let (Some(account), Some(key)) = (labels.get("account"), key(&labels)) else {
            continue;
        };
        counted
            .entry(account.clone())
            .or_default()
            .insert(key, value);
    }
    let mut off = 0.0;
    for i in 0..targets {
        let empty = Counts::new();
        let ours = counted.get(&format!("a{i:04}")).unwrap_or(&empty);
        for (key, expected) in truth {
            off += (ours.get(key).copied().unwrap_or(0.0) - expected).abs();
        }
        off += ours
            .iter()
            .filter(|(key, _)| !truth.contains_key(*key))
            .map(|(_, v)| v.abs())
            .sum::<f64>();
    }
    let total = truth.values().sum::<f64>() * targets as f64;
    (truth.len() * targets, off, total)
}

/// Whether `pid` has a SIGHUP handler yet (its default action ends the process).
fn catches_sighup(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            let mask = s.lines().find_map(|l| l.strip_prefix("SigCgt:"))?;
            u64::from_str_radix(mask.trim(), 16).ok()
        })
        .is_some_and(|mask| mask & (1 << (libc::SIGHUP - 1)) != 0)
}

/// The collection counts of every (service, target), in the exposition's order.
async fn collection_counts(fleet: &Fleet) -> Vec<Vec<f64>> {
    let text = fleet.metrics().await;
    Svc::ALL
        .iter()
        .map(|&svc| {
            own_all(
                &text,
                "aws_flow_exporter_collection_duration_seconds_count",
                svc,
            )
        })
        .collect()
}

pub(super) async fn soak(s: &Settings) {
    let targets = env_or("SCALE_SOAK_TARGETS", 100);
    let resources = env_or("SCALE_SOAK_RESOURCES", 60);
    let interval = env_or("SCALE_SOAK_INTERVAL_SECONDS", 20);
    let seconds: u64 = env_or("SCALE_SOAK_SECONDS", 180);
    let reload_every: u64 = env_or("SCALE_SOAK_RELOAD_SECONDS", 10).max(1);
    let kill_every: u64 = env_or("SCALE_SOAK_KILL_SECONDS", 60).max(1);
    let connections: u32 = env_or("SCALE_SOAK_CONNECTIONS", 4);
    let fraction: f64 = env_or("SCALE_SOAK_FRACTION", 0.1);
    println!(
        "\n== Soak: {targets} targets x 4 services, {resources} resources each, a collection every \
         {interval} s, --storage.path; {seconds} s of gzip scrapes at {connections} connections, \
         a reload every {reload_every} s, a SIGKILL and restart every {kill_every} s, \
         {:.0}% of the resources changing every {reload_every} s ==",
        fraction * 100.0
    );
    let Some(wrk) = which("wrk") else {
        println!("SKIPPED: wrk is needed (Debian: apt-get install -y wrk)");
        return;
    };
    let mut fleet = Fleet::start_with(s, targets, resources, interval, true, true).await;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(3600);
    while get(fleet.addr, "/readyz", false).await.map(|r| r.status) != Some(200) {
        assert!(Instant::now() < deadline, "never ready: {}", fleet.logs());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    fleet.wait_collections(1.0).await;
    println!(
        "first collection of every target ended after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // The world has not moved yet: what is terminal now is every target's baseline.
    let (appflow_baseline, supplychain_baseline) = fleet
        .sim
        .with(|w| (w.appflow.terminal(), w.supplychain.terminal()));

    let mut cmd = match &s.pinning {
        Some(pinning) => {
            let mut cmd = Command::new("taskset");
            cmd.args(["-c", &pinning.client, &wrk]);
            cmd
        }
        None => Command::new(&wrk),
    };
    let scrapes = cmd
        .args(["-t1", &format!("-c{connections}"), &format!("-d{seconds}s")])
        .args([
            "--latency",
            "--timeout",
            "30s",
            "-H",
            "Accept-Encoding: gzip",
        ])
        .arg(format!("http://{}/metrics", fleet.addr))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("wrk starts");

    let (mut restarts, mut reloads, mut skipped, mut died, mut steps) = (0, 0, 0, 0, 0);
    // VmHWM of each process before its SIGKILL; after each restart, how long until it was ready.
    let mut hwms: Vec<f64> = Vec::new();
    let mut readiness = Vec::new();
    let mut timeout = 20;
    let config = fleet._dir.path().join("config.yaml");
    let begun = tokio::time::Instant::now();
    for second in 1..=seconds {
        tokio::time::sleep_until(begun + Duration::from_secs(second)).await;
        if let Ok(Some(status)) = fleet.exporter.try_wait() {
            println!("the exporter ended by itself at {second} s ({status}); restarted");
            died += 1;
            fleet.restart();
        }
        if second % reload_every == 0 {
            fleet.sim.with(|w| {
                for (_, load) in fleet.loads.lock().expect("loads").iter_mut() {
                    load.step(w, fraction);
                }
            });
            steps += 1;
        }
        if second % kill_every == 0 && second < seconds {
            hwms.push(memory_of(fleet.exporter.id(), "").hwm);
            fleet.restart();
            restarts += 1;
            let addr = fleet.addr;
            readiness.push(tokio::spawn(async move {
                let restarted = Instant::now();
                while get(addr, "/readyz", false).await.map(|r| r.status) != Some(200) {
                    if restarted.elapsed() > Duration::from_secs(120) {
                        return f64::NAN;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                restarted.elapsed().as_secs_f64()
            }));
        } else if second % reload_every == 0 {
            // Every unit's settings change (the timeout), so each is rebuilt and hands its
            // state over; a reload that changes nothing would test nothing.
            let text = std::fs::read_to_string(&config).expect("config");
            let next = if timeout == 20 { 21 } else { 20 };
            let text = text.replace(
                &format!("timeout: {timeout}s"),
                &format!("timeout: {next}s"),
            );
            std::fs::write(&config, text).expect("config written");
            timeout = next;
            let pid = fleet.exporter.id();
            if catches_sighup(pid) {
                // SAFETY: kill(2) on our own child's pid, with a signal it handles.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGHUP) };
                reloads += 1;
            } else {
                skipped += 1;
            }
        }
    }
    let output = scrapes.wait_with_output().expect("wrk ends");
    let wrk_text = String::from_utf8_lossy(&output.stdout).into_owned();
    let end = memory_of(fleet.exporter.id(), "");
    hwms.push(end.hwm);
    let peak_hwm = hwms.iter().copied().fold(0.0, f64::max);
    let mut ready = Vec::new();
    for task in readiness {
        ready.push(task.await.unwrap_or(f64::NAN));
    }

    // Every (target, service) collects twice more (the first may have begun before the last
    // step), with no reload or kill meanwhile; then the counters are final.
    let before = collection_counts(&fleet).await;
    let deadline = Instant::now() + Duration::from_secs(3600);
    loop {
        let now = collection_counts(&fleet).await;
        let done = now.iter().zip(&before).all(|(counts, before)| {
            counts.len() == targets
                && counts
                    .iter()
                    .enumerate()
                    .all(|(i, c)| *c >= before.get(i).copied().unwrap_or(0.0) + 2.0)
        });
        if done {
            break;
        }
        assert!(Instant::now() < deadline, "no collection: {}", fleet.logs());
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let text = fleet.metrics().await;
    let (appflow, supplychain) = fleet.sim.with(|w| {
        (
            w.appflow.truth(&appflow_baseline),
            w.supplychain.truth(&supplychain_baseline),
        )
    });

    let line = |prefix: &str| {
        wrk_text
            .lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|v| v.trim().to_string()))
    };
    let ms = |p: &str| line(p).and_then(|v| milliseconds(&v)).unwrap_or(f64::NAN);
    println!(
        "scrapes: {} requests, {} req/s, p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, socket errors: {}, \
         non-2xx: {}",
        wrk_text
            .lines()
            .find_map(|l| l.trim().split_once(" requests in ").map(|(n, _)| n.to_string()))
            .unwrap_or_else(|| "?".into()),
        line("Requests/sec:").unwrap_or_else(|| "?".into()),
        ms("50%"),
        ms("90%"),
        ms("99%"),
        line("Socket errors:").unwrap_or_else(|| "none".into()),
        line("Non-2xx or 3xx responses:").unwrap_or_else(|| "0".into()),
    );
    println!(
        "{restarts} SIGKILLs and restarts, {reloads} reloads ({skipped} skipped: no SIGHUP handler \
         yet after a restart), {died} ended by themselves, {steps} steps of the world"
    );
    println!(
        "memory: peak VmHWM {:.1} MiB (the highest of the {} processes), VmRSS at the end {:.1} MiB",
        peak_hwm,
        restarts + died + 1,
        end.rss
    );
    println!(
        "VmHWM of each process, in order: {} MiB; ready (/readyz 200) after each restart in: {} s",
        hwms.iter()
            .map(|h| format!("{h:.1}"))
            .collect::<Vec<_>>()
            .join(", "),
        ready
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let logs = fleet.logs();
    println!(
        "log lines: {} with `panicked`, {} ERROR",
        logs.lines().filter(|l| l.contains("panicked")).count(),
        logs.lines()
            .filter(|l| l.contains("ERROR") || l.contains("level=error"))
            .count()
    );
    let mut off = 0.0;
    for (name, key, truth) in [
        (
            "aws_appflow_executions_total",
            (|l: &Labels| Some((l.get("flow_name")?.clone(), l.get("status")?.clone()))) as Key,
            &appflow,
        ),
        (
            "aws_supplychain_flow_executions_total",
            |l: &Labels| {
                Some((
                    format!("{}/{}", l.get("instance_id")?, l.get("flow_name")?),
                    l.get("status")?.clone(),
                ))
            },
            &supplychain,
        ),
    ] {
        let (series, diff, total) = difference(&text, name, key, truth, targets);
        println!(
            "{name}: {series} series compared, sum |exporter - truth| = {diff} (runs counted \
             since the baseline, all targets: {total})"
        );
        off += diff;
    }
    println!(
        "counters off the truth: {off} ({}); not compared: Transfer's finished_total and Customer \
         Profiles' workflows_finished_total count what successive listings showed, so their truth \
         depends on when each collection ran",
        if off == 0.0 { "exact" } else { "NOT EXACT" }
    );
}
