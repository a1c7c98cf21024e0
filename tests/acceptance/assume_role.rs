//! `role_arn` and `external_id`: the exporter assumes the role through STS
//! (the simulator's, on its real awsQuery protocol), signs every service
//! call with the credentials it got, refreshes them before they expire, and
//! a role it may not assume takes down only that target.

use std::time::{Duration, Instant};

use crate::harness::*;

const ROLE: &str = "arn:aws:iam::123456789012:role/flow-exporter";
const DENIED: &str = "arn:aws:iam::210987654321:role/flow-exporter";

/// AppFlow only, one target per (role, account label).
fn config(targets: &[(&str, &str)]) -> String {
    let mut yaml = format!("{FAST}targets:\n");
    for (role, account) in targets {
        yaml.push_str(&format!(
            "  - region: us-east-1\n    role_arn: {role}\n    external_id: ext-42\n    \
             labels: {{ account: {account} }}\n    services:\n      \
             transfer: {{ enabled: false }}\n      supplychain: {{ enabled: false }}\n      \
             customerprofiles: {{ enabled: false }}\n"
        ));
    }
    yaml
}

fn up_of(account: &str) -> String {
    format!("aws_flow_exporter_collector_up{{account=\"{account}\",aws_service=\"appflow\",region=\"us-east-1\"}}")
}

async fn until_up(exporter: &Exporter, account: &str, expected: f64) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = exporter.metrics().await;
        if value(&text, &up_of(account)) == Some(expected) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{account} never {expected}: {}",
            exporter.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn service_calls_are_signed_with_the_assumed_role_and_refreshed() {
    let sim = simulator().await;
    let t = now();
    add_flow_with_one_success(&sim, "orders", t);
    sim.with(|w| {
        w.sts.allow_role(ROLE, Some("ext-42"));
        // Short-lived: the SDK refreshes them ahead of their expiry.
        w.sts.set_lifetime_seconds(15);
        w.sts.require_issued_keys(true);
    });
    let exporter = Exporter::start(&sim, &config(&[(ROLE, "prod")])).await;
    until_up(&exporter, "prod", 1.0).await;
    let calls = sim.with(|w| w.sts.assume_role_calls().to_vec());
    let first = &calls[0];
    assert_eq!(first.role_arn, ROLE);
    assert_eq!(first.external_id.as_deref(), Some("ext-42"));
    assert_eq!(
        first.access_key_id.as_deref(),
        Some("AKIDTEST"),
        "signed with the base key"
    );
    let issued = first.issued.clone().expect("allowed");
    assert!(sim.with(|w| w.calls_with_key(&issued, "ListFlows")) > 0);
    assert_eq!(
        sim.with(|w| w.calls_with_key("AKIDTEST", "ListFlows")),
        0,
        "never the base credentials"
    );

    // A long run outlives the first credentials without a failed collection.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let text = exporter.metrics().await;
    assert_eq!(
        value(&text, &up_of("prod")),
        Some(1.0),
        "{}",
        exporter.logs()
    );
    let calls = sim.with(|w| w.sts.assume_role_calls().to_vec());
    assert!(calls.len() >= 2, "refreshed: {calls:?}");
    assert!(!text.contains("outcome=\"client_error\"} 1"), "{text}");
}

#[tokio::test]
async fn a_denied_role_takes_down_only_its_target_with_one_error_line() {
    let sim = simulator().await;
    let t = now();
    add_flow_with_one_success(&sim, "orders", t);
    sim.with(|w| {
        w.sts.allow_role(ROLE, Some("ext-42"));
        w.sts.deny_role(DENIED);
    });
    let exporter = Exporter::start(&sim, &config(&[(ROLE, "prod"), (DENIED, "other")])).await;
    until_up(&exporter, "other", 0.0).await;
    until_up(&exporter, "prod", 1.0).await;
    // Several failed collections later, still one line, and no retries.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let text = exporter.metrics().await;
    assert_eq!(value(&text, &up_of("other")), Some(0.0));
    let logs = exporter.logs();
    let errors: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("level=error") && l.contains("no AWS credentials"))
        .collect();
    assert_eq!(errors.len(), 1, "{logs}");
    assert!(errors[0].contains("AccessDenied"), "{}", errors[0]);
    let attempts = |outcome: &str| {
        value(&text, &format!("aws_flow_exporter_api_requests_total{{account=\"other\",aws_service=\"appflow\",operation=\"ListFlows\",outcome=\"{outcome}\",region=\"us-east-1\"}}"))
    };
    assert!(attempts("client_error").unwrap() >= 2.0);
    assert_eq!(attempts("transport_error"), Some(0.0));
}

#[test]
fn missing_credentials_are_a_client_error_not_retried_logged_once() {
    let out = command("http://127.0.0.1:1")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .arg("--once")
        .output()
        .expect("exporter runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors = stderr
        .lines()
        .filter(|l| l.contains("level=error") && l.contains("no AWS credentials"))
        .count();
    assert_eq!(
        errors, 1,
        "one line for the target, not one per service:\n{stderr}"
    );
    assert!(!stderr.contains("level=warn"), "{stderr}");
    let text = String::from_utf8_lossy(&out.stdout);
    let attempts = |outcome: &str| {
        value(&text, &format!("aws_flow_exporter_api_requests_total{{aws_service=\"appflow\",operation=\"ListFlows\",outcome=\"{outcome}\",region=\"us-east-1\"}}"))
    };
    assert_eq!(attempts("client_error"), Some(1.0), "not retried");
    assert_eq!(attempts("transport_error"), Some(0.0));
}
