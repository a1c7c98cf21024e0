//! Reloading the configuration (SIGHUP, `POST /-/reload`), and the
//! operations series: the configuration in force and the shard.

use std::time::Duration;

use aws_flow_simulator::appflow::Execution;
use sha2::{Digest, Sha256};

use crate::harness::*;

/// Two targets on the same account, told apart by a label; AppFlow only.
fn targets(accounts: &[&str]) -> String {
    let mut yaml = format!("{FAST}targets:\n");
    for account in accounts {
        yaml.push_str(&format!(
            "  - region: us-east-1\n    labels: {{ account: {account} }}\n    services:\n      \
             transfer: {{ enabled: false }}\n      supplychain: {{ enabled: false }}\n      \
             customerprofiles: {{ enabled: false }}\n"
        ));
    }
    yaml
}

fn successes(account: &str) -> String {
    format!(
        "aws_appflow_executions_total{{flow_name=\"orders\",status=\"Successful\",region=\"us-east-1\",account=\"{account}\"}}"
    )
}

fn up_of(account: &str) -> String {
    format!("aws_flow_exporter_collector_up{{account=\"{account}\",aws_service=\"appflow\",region=\"us-east-1\"}}")
}

fn sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn post(exporter: &Exporter, path: &str) -> Response {
    request(exporter.addr, "POST", path, "Content-Length: 0\r\n")
        .await
        .expect("answer")
}

/// Scrapes until `series` has `expected`, at most 20 s.
async fn until(exporter: &Exporter, series: &str, expected: Option<f64>) -> String {
    for _ in 0..200 {
        let text = exporter.metrics().await;
        if value(&text, series) == expected {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{series} never became {expected:?}: {}", exporter.logs());
}

#[tokio::test]
async fn a_reload_keeps_unchanged_targets_removes_old_ones_and_baselines_new_ones() {
    let sim = simulator().await;
    let t = now();
    add_flow_with_one_success(&sim, "orders", t);
    let first = targets(&["a", "b"]);
    let exporter = Exporter::start_with(&sim, &first, &["--web.enable-lifecycle"]).await;
    until(&exporter, &successes("b"), Some(0.0)).await;
    let text = until(&exporter, &successes("a"), Some(0.0)).await;
    assert_eq!(
        value(
            &text,
            &format!(
                "aws_flow_exporter_config_hash{{sha256=\"{}\"}}",
                sha256(&first)
            )
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "aws_flow_exporter_config_last_reload_successful"),
        Some(1.0)
    );
    sim.with(|w| {
        w.appflow.upsert_execution(
            "orders",
            Execution::finished("b", "Successful", t - 300.0, t - 200.0),
        )
    });
    until(&exporter, &successes("a"), Some(1.0)).await;
    let text = until(&exporter, &successes("b"), Some(1.0)).await;
    assert_eq!(value(&text, &up_of("b")), Some(1.0));

    // a stays as it is, b goes, c comes.
    let second = targets(&["a", "c"]);
    std::fs::write(exporter.config_path(), &second).unwrap();
    let answer = post(&exporter, "/-/reload").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let text = until(&exporter, &successes("c"), Some(0.0)).await;
    assert_eq!(
        value(&text, &successes("a")),
        Some(1.0),
        "a keeps its count"
    );
    assert_eq!(value(&text, &successes("b")), None, "b is gone");
    assert_eq!(value(&text, &up_of("b")), None, "with its own series");
    assert_eq!(
        value(
            &text,
            &format!(
                "aws_flow_exporter_config_hash{{sha256=\"{}\"}}",
                sha256(&second)
            )
        ),
        Some(1.0)
    );
    assert!(!text.contains(&sha256(&first)), "one hash at a time");
    // A later run counts in both, once: c was a baseline, not a replay.
    sim.with(|w| {
        w.appflow.upsert_execution(
            "orders",
            Execution::finished("c", "Successful", t - 100.0, t - 50.0),
        )
    });
    until(&exporter, &successes("c"), Some(1.0)).await;
    until(&exporter, &successes("a"), Some(2.0)).await;

    // A file that does not validate changes nothing.
    std::fs::write(exporter.config_path(), "collection:\n  intervall: 1s\n").unwrap();
    let answer = post(&exporter, "/-/reload").await;
    assert_eq!(answer.status, 500);
    assert!(answer.body.contains("intervall"), "{}", answer.body);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let text = exporter.metrics().await;
    assert_eq!(
        value(&text, "aws_flow_exporter_config_last_reload_successful"),
        Some(0.0)
    );
    assert_eq!(value(&text, &successes("a")), Some(2.0));
    assert_eq!(value(&text, &up_of("c")), Some(1.0));
    assert_eq!(
        exporter
            .logs()
            .matches("configuration not reloaded")
            .count(),
        1,
        "one ERROR line"
    );

    // SIGHUP reloads too.
    std::fs::write(exporter.config_path(), &second).unwrap();
    let status = std::process::Command::new("kill")
        .args(["-HUP", &exporter.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    until(
        &exporter,
        "aws_flow_exporter_config_last_reload_successful",
        Some(1.0),
    )
    .await;
}

#[tokio::test]
async fn reload_needs_the_lifecycle_flag_and_a_post() {
    let sim = simulator().await;
    let exporter = Exporter::start(&sim, &targets(&["a"])).await;
    assert_eq!(post(&exporter, "/-/reload").await.status, 403);
    let enabled = Exporter::start_with(&sim, &targets(&["a"]), &["--web.enable-lifecycle"]).await;
    assert_eq!(get(enabled.addr, "/-/reload").await.unwrap().status, 405);
    assert_eq!(post(&enabled, "/-/reload").await.status, 200);
}

#[tokio::test]
async fn the_shard_is_a_series_only_with_sharding() {
    let sim = simulator().await;
    let sharded = Exporter::start_with(&sim, &targets(&["a"]), &["--shard", "1/3"]).await;
    let text = sharded.metrics().await;
    assert_eq!(value(&text, "aws_flow_exporter_shard_ordinal"), Some(1.0));
    assert_eq!(value(&text, "aws_flow_exporter_total_shards"), Some(3.0));
    let plain = Exporter::start(&sim, &targets(&["a"])).await;
    let text = plain.metrics().await;
    assert!(!text.contains("aws_flow_exporter_shard_ordinal"));
    assert!(!text.contains("aws_flow_exporter_total_shards"));
}

/// AppFlow only, one target, with this `exclude`.
fn filtered(exclude: &str) -> String {
    format!(
        "{FAST}targets:\n  - region: us-east-1\n    labels: {{ account: a }}\n    services:\n      \
         appflow: {{ exclude: [{exclude}] }}\n      transfer: {{ enabled: false }}\n      \
         supplychain: {{ enabled: false }}\n      customerprofiles: {{ enabled: false }}\n"
    )
}

fn flow_successes(flow: &str) -> String {
    format!(
        "aws_appflow_executions_total{{flow_name=\"{flow}\",status=\"Successful\",region=\"us-east-1\",account=\"a\"}}"
    )
}

#[tokio::test]
async fn a_changed_filter_keeps_counters_drops_and_baselines() {
    let sim = simulator().await;
    let t = now();
    add_flow_with_one_success(&sim, "orders", t);
    add_flow_with_one_success(&sim, "sales", t);
    let exporter =
        Exporter::start_with(&sim, &filtered("'^sales$'"), &["--web.enable-lifecycle"]).await;
    until(&exporter, &flow_successes("orders"), Some(0.0)).await;
    sim.with(|w| {
        w.appflow.upsert_execution(
            "orders",
            Execution::finished("b", "Successful", t - 300.0, t - 200.0),
        );
        w.appflow.upsert_execution(
            "sales",
            Execution::finished("b", "Successful", t - 300.0, t - 200.0),
        );
    });
    let text = until(&exporter, &flow_successes("orders"), Some(1.0)).await;
    assert_eq!(value(&text, &flow_successes("sales")), None);

    // Now sales is selected and orders is not.
    std::fs::write(exporter.config_path(), filtered("'^orders$'")).unwrap();
    let answer = post(&exporter, "/-/reload").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let text = until(&exporter, &flow_successes("orders"), None).await;
    // sales gets its own baseline: its runs before the reload are not counted.
    assert_eq!(value(&text, &flow_successes("sales")), Some(0.0), "{text}");
    sim.with(|w| {
        w.appflow.upsert_execution(
            "sales",
            Execution::finished("c", "Successful", t - 100.0, t - 50.0),
        )
    });
    until(&exporter, &flow_successes("sales"), Some(1.0)).await;

    // Back: orders was dropped, so it comes back with a baseline too.
    std::fs::write(exporter.config_path(), filtered("'^nothing$'")).unwrap();
    assert_eq!(post(&exporter, "/-/reload").await.status, 200);
    let text = until(&exporter, &flow_successes("orders"), Some(0.0)).await;
    assert_eq!(
        value(&text, &flow_successes("sales")),
        Some(1.0),
        "sales keeps its count across the rebuild"
    );
}

/// A reload answers within `collection.timeout` plus a second whatever is
/// collecting: every unit is mid-collection behind a slow AWS, and the
/// reload rebuilds all of them (hand-overs in parallel, not awaited).
#[tokio::test]
async fn a_reload_answers_within_the_timeout_while_every_unit_collects() {
    let sim = simulator().await;
    add_flow_with_one_success(&sim, "orders", now());
    let config = |rps: u32| {
        format!("collection:\n  interval: 200ms\n  timeout: 1s\n  requests_per_second: {rps}\ntargets:\n  - region: us-east-1\n  - region: us-east-1\n    labels: {{ account: b }}\n")
    };
    let exporter = Exporter::start_with(&sim, &config(1000), &["--web.enable-lifecycle"]).await;
    exporter.collections("appflow", 1).await;
    // From now on every call takes 900 ms: collections run back to back, each of several calls.
    sim.with(|w| {
        w.faults
            .set_latency(aws_flow_simulator::faults::ANY, Duration::from_millis(900))
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for rps in [999, 998] {
        std::fs::write(exporter.config_path(), config(rps)).unwrap();
        let started = std::time::Instant::now();
        let response = post(&exporter, "/-/reload").await;
        let took = started.elapsed();
        assert_eq!(response.status, 200, "{}", response.body);
        assert!(
            took < Duration::from_secs(2),
            "the reload took {took:?}: {}",
            exporter.logs()
        );
    }
    // The hand-overs end in the background: every unit rebuilt, its state carried over.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while exporter.logs().matches("its state carried over").count() < 16 {
        assert!(std::time::Instant::now() < deadline, "{}", exporter.logs());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
