//! (v4) Organizations discovery through the real binary: the accounts come
//! from ListAccounts, the exporter's own account is collected with its own
//! credentials and every other one with its role (the simulator serves each
//! account its own world, picked by the key a request is signed with),
//! failures stay local, and refreshes add and remove accounts like a reload.

use std::time::{Duration, Instant};

use aws_flow_simulator::appflow::{Execution, Flow};
use aws_flow_simulator::organizations::Account;
use aws_flow_simulator::{Fault, Simulator};

use crate::harness::*;

const OWN: &str = "123456789012";
const DATA: &str = "210987654321";
const EMPTY: &str = "345678901234";
const SUSPENDED: &str = "567890123456";

fn role(account: &str) -> String {
    format!("arn:aws:iam::{account}:role/flow-exporter")
}

/// AppFlow only, us-east-1, refreshed every `refresh`.
fn config(refresh: &str) -> String {
    format!(
        "{FAST}discovery:\n  organizations:\n    role_name: flow-exporter\n    \
         regions: [us-east-1]\n    refresh_interval: {refresh}\n    labels: {{ org: main }}\n    \
         services:\n      transfer: {{ enabled: false }}\n      supplychain: {{ enabled: false }}\n      \
         customerprofiles: {{ enabled: false }}\n"
    )
}

fn flow(name: &str) -> Flow {
    let t = now();
    let mut flow = Flow::new(name, t - 1000.0);
    flow.executions
        .push(Execution::finished("a", "Successful", t - 500.0, t - 400.0));
    flow
}

/// The management account (with a flow), a member with a flow, an empty member
/// and a suspended one; every request must be signed with the exporter's own
/// key or one STS issued.
fn organization(sim: &Simulator, allowed: &[&str]) {
    sim.with(|w| {
        w.organization.add_account(Account::new(OWN, "management"));
        w.organization.add_account(Account::new(DATA, "data"));
        w.organization.add_account(Account::new(EMPTY, "empty"));
        w.organization
            .add_account(Account::new(SUSPENDED, "gone").in_state("SUSPENDED"));
        w.appflow.add_flow(flow("own-orders"));
        w.member(DATA).appflow.add_flow(flow("member-orders"));
        for account in allowed {
            w.sts.allow_role(&role(account), None);
        }
        w.sts.require_issued_keys(true);
        w.sts.allow_access_key("AKIDTEST");
    });
}

fn up_of(account: &str) -> String {
    format!(
        "aws_flow_exporter_collector_up{{account_id=\"{account}\",aws_service=\"appflow\",\
         org=\"main\",region=\"us-east-1\"}}"
    )
}

/// Scrapes until `ok` holds of the text (20 s at most).
async fn until(exporter: &Exporter, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = exporter.metrics().await;
        if ok(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "never {what}: {text}\n{}",
            exporter.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until two more collections of the accounts' AppFlow have ended.
async fn settle(exporter: &Exporter) -> String {
    let series = "aws_flow_exporter_collection_duration_seconds_count{aws_service=\"appflow\",org=\"main\",region=\"us-east-1\"}";
    let start = value(&exporter.metrics().await, series).unwrap_or(0.0);
    until(exporter, "two more collections", |t| {
        value(t, series).unwrap_or(0.0) >= start + 6.0
    })
    .await
}

fn error_lines(exporter: &Exporter, needle: &str) -> usize {
    exporter
        .logs()
        .lines()
        .filter(|l| l.contains("level=error") && l.contains(needle))
        .count()
}

#[tokio::test]
async fn accounts_are_discovered_and_each_is_signed_with_its_own_role() {
    let sim = simulator().await;
    organization(&sim, &[DATA, EMPTY]);
    let exporter = Exporter::start(&sim, &config("1h")).await;
    let text = until(&exporter, "every account up", |t| {
        [OWN, DATA, EMPTY]
            .iter()
            .all(|a| value(t, &up_of(a)) == Some(1.0))
    })
    .await;
    assert_eq!(value(&text, "aws_flow_exporter_discovery_up"), Some(1.0));
    assert_eq!(
        value(&text, "aws_flow_exporter_discovered_targets"),
        Some(3.0)
    );
    assert!(value(
        &text,
        "aws_flow_exporter_discovery_last_success_timestamp_seconds"
    )
    .is_some());
    for (id, name) in [(OWN, "management"), (DATA, "data"), (EMPTY, "empty")] {
        let info = format!(
            "aws_flow_exporter_account_info{{account_id=\"{id}\",account_name=\"{name}\"}}"
        );
        assert_eq!(value(&text, &info), Some(1.0), "{info}");
    }
    assert!(
        !text.contains(SUSPENDED),
        "a suspended account is not collected"
    );
    // Each account's own flows, with its account_id.
    let info = |flow: &str, account: &str| {
        text.lines().any(|l| {
            l.starts_with("aws_appflow_flow_info{")
                && l.contains(&format!("flow_name=\"{flow}\""))
                && l.contains(&format!("account_id=\"{account}\""))
                && l.contains("org=\"main\"")
        })
    };
    assert!(info("own-orders", OWN), "{text}");
    assert!(info("member-orders", DATA), "{text}");
    assert!(!info("member-orders", OWN) && !info("own-orders", DATA));

    // The own account without AssumeRole; the others with their role, once.
    let calls = sim.with(|w| w.sts.assume_role_calls().to_vec());
    let mut assumed: Vec<&str> = calls.iter().map(|c| c.role_arn.as_str()).collect();
    assumed.sort();
    assert_eq!(assumed, [role(DATA), role(EMPTY)], "{calls:?}");
    assert!(calls
        .iter()
        .all(|c| c.role_session_name == "aws-flow-exporter"
            && c.access_key_id.as_deref() == Some("AKIDTEST")));
    let data_key = calls
        .iter()
        .find(|c| c.role_arn == role(DATA))
        .and_then(|c| c.issued.clone())
        .unwrap();
    sim.with(|w| {
        assert!(w.calls_with_key(&data_key, "appflow:ListFlows") > 0);
        assert_eq!(
            w.calls_in_account(DATA, "appflow:ListFlows"),
            w.calls_with_key(&data_key, "appflow:ListFlows"),
            "every call for the member signed with its role"
        );
        assert!(w.calls_in_account(OWN, "appflow:ListFlows") > 0);
        // The empty account costs one listing call per collection, nothing more.
        assert!(w.calls_in_account(EMPTY, "appflow:ListFlows") > 0);
        assert_eq!(
            w.calls_in_account(EMPTY, "appflow:DescribeFlowExecutionRecords"),
            0
        );
    });

    // Per target only up, success time and tracked; API and durations summed per region.
    assert!(!text
        .lines()
        .any(|l| (l.starts_with("aws_flow_exporter_api_requests_total")
            || l.starts_with("aws_flow_exporter_collection_duration_seconds"))
            && l.contains("account_id")));
    let own_series = text
        .lines()
        .filter(|l| {
            l.starts_with("aws_flow_exporter_") && l.contains(&format!("account_id=\"{EMPTY}\""))
        })
        .count();
    assert!(own_series <= 12, "{own_series} series for an empty account");
    assert!(value(
        &text,
        "aws_flow_exporter_collection_duration_seconds_count{aws_service=\"appflow\",org=\"main\",region=\"us-east-1\"}"
    )
    .is_some_and(|n| n >= 3.0));
    for (operation, at_least) in [
        ("ListAccounts", 1.0),
        ("GetCallerIdentity", 1.0),
        ("AssumeRole", 2.0),
    ] {
        let series = format!(
            "aws_flow_exporter_api_requests_total{{aws_service=\"discovery\",operation=\"{operation}\",\
             org=\"main\",outcome=\"success\",region=\"us-east-1\"}}"
        );
        assert!(
            value(&text, &series).is_some_and(|n| n >= at_least),
            "{series}"
        );
    }
}

#[tokio::test]
async fn a_denied_role_downs_only_its_account_with_one_error() {
    let sim = simulator().await;
    organization(&sim, &[DATA]);
    let exporter = Exporter::start(&sim, &config("1h")).await;
    until(&exporter, "the denied account down", |t| {
        value(t, &up_of(EMPTY)) == Some(0.0)
            && value(t, &up_of(DATA)) == Some(1.0)
            && value(t, &up_of(OWN)) == Some(1.0)
    })
    .await;
    settle(&exporter).await;
    settle(&exporter).await;
    assert_eq!(
        error_lines(&exporter, &role(EMPTY)),
        1,
        "one ERROR per streak, naming the role: {}",
        exporter.logs()
    );
    assert!(exporter
        .logs()
        .lines()
        .any(|l| l.contains("level=error") && l.contains(EMPTY)));
    assert_eq!(error_lines(&exporter, &role(DATA)), 0);
    // Let in: the account recovers.
    sim.with(|w| w.sts.allow_role(&role(EMPTY), None));
    until(&exporter, "the account back", |t| {
        value(t, &up_of(EMPTY)) == Some(1.0)
    })
    .await;
}

#[tokio::test]
async fn list_accounts_failing_keeps_the_last_targets() {
    let sim = simulator().await;
    organization(&sim, &[DATA, EMPTY]);
    let exporter = Exporter::start(&sim, &config("1s")).await;
    until(&exporter, "discovered", |t| {
        value(t, "aws_flow_exporter_discovered_targets") == Some(3.0)
    })
    .await;
    sim.with(|w| {
        w.faults
            .inject("organizations:ListAccounts", Fault::AccessDenied, 1000)
    });
    let text = until(&exporter, "discovery down", |t| {
        value(t, "aws_flow_exporter_discovery_up") == Some(0.0)
    })
    .await;
    assert_eq!(
        value(&text, "aws_flow_exporter_discovered_targets"),
        Some(3.0)
    );
    // Failing for a while: the targets are still collected, one ERROR in all.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let text = settle(&exporter).await;
    assert_eq!(value(&text, &up_of(DATA)), Some(1.0));
    assert_eq!(value(&text, "aws_flow_exporter_discovery_up"), Some(0.0));
    assert!(sim.with(|w| w.calls("organizations:ListAccounts")) >= 3);
    assert_eq!(
        error_lines(&exporter, "cannot list the accounts of the organization"),
        1,
        "{}",
        exporter.logs()
    );
    let denied = "aws_flow_exporter_api_requests_total{aws_service=\"discovery\",operation=\"ListAccounts\",org=\"main\",outcome=\"client_error\",region=\"us-east-1\"}";
    assert!(value(&text, denied).is_some_and(|n| n >= 2.0), "{denied}");
    sim.with(|w| w.faults.clear());
    until(&exporter, "discovery back", |t| {
        value(t, "aws_flow_exporter_discovery_up") == Some(1.0)
    })
    .await;
}

#[tokio::test]
async fn refreshes_add_and_remove_accounts_like_a_reload() {
    let sim = simulator().await;
    organization(&sim, &[DATA, EMPTY, "456789012345"]);
    let exporter = Exporter::start(&sim, &config("1s")).await;
    until(&exporter, "discovered", |t| {
        value(t, "aws_flow_exporter_discovered_targets") == Some(3.0)
            && value(t, &up_of(DATA)) == Some(1.0)
    })
    .await;
    let before = sim.with(|w| w.sts.assume_role_calls().len());
    // One account joins, one is suspended.
    sim.with(|w| {
        w.organization
            .add_account(Account::new("456789012345", "joined"));
        w.member("456789012345")
            .appflow
            .add_flow(flow("new-orders"));
        w.organization.account_mut(EMPTY).unwrap().state = Some("SUSPENDED".into());
    });
    let text = until(
        &exporter,
        "the new account collected, the suspended one gone",
        |t| value(t, &up_of("456789012345")) == Some(1.0) && value(t, &up_of(EMPTY)).is_none(),
    )
    .await;
    assert_eq!(
        value(&text, "aws_flow_exporter_discovered_targets"),
        Some(3.0)
    );
    assert!(!text.contains(&format!("account_id=\"{EMPTY}\"")), "{text}");
    assert!(text.contains("flow_name=\"new-orders\""));
    // The unchanged accounts were not touched: no new role session, no rebuild.
    let calls = sim.with(|w| w.sts.assume_role_calls().to_vec());
    assert_eq!(calls.len(), before + 1, "{calls:?}");
    assert_eq!(calls[before].role_arn, role("456789012345"));
    let logs = exporter.logs();
    assert!(!logs
        .lines()
        .any(|l| l.contains(DATA) && (l.contains("rebuilt") || l.contains("removed"))));
    assert!(logs
        .lines()
        .any(|l| l.contains(EMPTY) && l.contains("collector removed")));
}

fn repo(path: &str) -> String {
    format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn check_config_validates_the_block_and_the_examples() {
    for file in [
        "examples/discovery.yaml",
        "deploy/examples/discovery/config.yaml",
    ] {
        let out = run(
            "http://127.0.0.1:9",
            &["--check-config", "--config.file", &repo(file)],
        );
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The chart's example values carry a discovery configuration too.
    let values = std::fs::read_to_string(repo(
        "deploy/helm/aws-flow-exporter/ci/organizations-values.yaml",
    ))
    .unwrap();
    let block = values.split("config: |\n").nth(1).expect("a config block");
    let config: String = block
        .lines()
        .take_while(|l| l.starts_with("  ") || l.is_empty())
        .map(|l| format!("{}\n", l.strip_prefix("  ").unwrap_or(l)))
        .collect();
    assert!(config.contains("discovery:"), "{config}");
    let chart = config_file(&config);
    let out = run(
        "http://127.0.0.1:9",
        &[
            "--check-config",
            "--config.file",
            chart.path().to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bad = config_file(
        "targets: []\ndiscovery:\n  organizations:\n    role_name: r\n    regions: [us-east-1, mars-1]\n",
    );
    let out = run(
        "http://127.0.0.1:9",
        &[
            "--check-config",
            "--config.file",
            bad.path().to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("discovery.organizations.regions[1]") && stderr.contains("line 5"),
        "{stderr}"
    );
}

#[test]
fn the_demo_organization_is_discovered() {
    let out = run(
        "http://127.0.0.1:9",
        &[
            "--demo",
            "--once",
            "--config.file",
            &repo("examples/discovery.yaml"),
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(value(&text, "aws_flow_exporter_discovery_up"), Some(1.0));
    // Four active accounts, two regions each; the suspended one is not collected.
    assert_eq!(
        value(&text, "aws_flow_exporter_discovered_targets"),
        Some(8.0)
    );
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("aws_flow_exporter_account_info{"))
            .count(),
        4
    );
    assert!(text
        .lines()
        .any(|l| l.starts_with("aws_appflow_flow_info{")
            && l.contains("account_id=\"210987654321\"")));
}

#[tokio::test]
async fn enabled_regions_are_listed_through_each_account_role() {
    let sim = simulator().await;
    organization(&sim, &[DATA, EMPTY]);
    sim.with(|w| {
        let data = w.organization.account_mut(DATA).unwrap();
        data.regions.insert("eu-south-1".into(), "ENABLED".into());
        data.regions.insert("us-west-1".into(), "DISABLED".into());
    });
    let yaml = config("1h").replace("regions: [us-east-1]", "regions: enabled");
    let exporter = Exporter::start(&sim, &yaml).await;
    let up = |account: &str, region: &str| {
        format!(
            "aws_flow_exporter_collector_up{{account_id=\"{account}\",aws_service=\"appflow\",\
             org=\"main\",region=\"{region}\"}}"
        )
    };
    let text = until(&exporter, "the opt-in region collected", |t| {
        value(t, &up(DATA, "eu-south-1")) == Some(1.0)
            && value(t, &up(EMPTY, "us-west-1")) == Some(1.0)
    })
    .await;
    // 8 regions on by default; the member turned one off and an opt-in one on.
    assert_eq!(
        value(&text, "aws_flow_exporter_discovered_targets"),
        Some(24.0)
    );
    assert_eq!(value(&text, &up(DATA, "us-west-1")), None);
    assert_eq!(value(&text, &up(EMPTY, "us-west-1")), Some(1.0));
    let calls = sim.with(|w| w.sts.assume_role_calls().to_vec());
    assert_eq!(
        calls.len(),
        2,
        "one role session per account, all regions: {calls:?}"
    );
    let data_key = calls
        .iter()
        .find(|c| c.role_arn == role(DATA))
        .and_then(|c| c.issued.clone())
        .unwrap();
    sim.with(|w| {
        assert_eq!(w.calls_with_key(&data_key, "account:ListRegions"), 1);
        assert_eq!(
            w.calls_with_key("AKIDTEST", "account:ListRegions"),
            1,
            "the own account"
        );
        assert_eq!(w.calls("account:ListRegions"), 3);
    });
}

#[tokio::test]
async fn discovered_state_is_carried_across_a_restart() {
    let sim = simulator().await;
    organization(&sim, &[DATA, EMPTY]);
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().to_str().unwrap().to_string();
    let restored = format!(
        "aws_flow_exporter_state_restored{{account_id=\"{DATA}\",aws_service=\"appflow\",\
         org=\"main\",region=\"us-east-1\"}}"
    );
    let first = Exporter::start_with(&sim, &config("1h"), &["--storage.path", &storage]).await;
    let text = until(&first, "the member collected", |t| {
        value(t, &up_of(DATA)) == Some(1.0)
    })
    .await;
    assert_eq!(value(&text, &restored), Some(0.0), "a baseline at first");
    settle(&first).await;
    drop(first);
    let second = Exporter::start_with(&sim, &config("1h"), &["--storage.path", &storage]).await;
    let text = until(&second, "the member collected again", |t| {
        value(t, &up_of(DATA)) == Some(1.0)
    })
    .await;
    assert_eq!(value(&text, &restored), Some(1.0), "{}", second.logs());
}

#[tokio::test]
async fn once_fails_when_the_accounts_cannot_be_listed() {
    let sim = simulator().await;
    organization(&sim, &[DATA, EMPTY]);
    sim.with(|w| {
        w.faults
            .always("organizations:ListAccounts", Fault::AccessDenied)
    });
    let file = config_file(&config("1h"));
    let out = run(
        &sim.url(),
        &["--once", "--config.file", file.path().to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(value(&text, "aws_flow_exporter_discovery_up"), Some(0.0));
    assert_eq!(
        value(&text, "aws_flow_exporter_discovered_targets"),
        Some(0.0)
    );
}

/// Not a test: the memory of a debug exporter at SCALE_ORG_ACCOUNTS x 4 regions
/// (`cargo test --test acceptance discovery::memory -- --ignored --nocapture`).
#[tokio::test(flavor = "multi_thread")]
#[ignore]
async fn memory_of_many_accounts() {
    let accounts: usize = std::env::var("SCALE_ORG_ACCOUNTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(250);
    let sim = simulator().await;
    sim.with(|w| {
        w.organization.add_account(Account::new(OWN, "management"));
        for i in 1..accounts {
            let id = format!("{:012}", 100_000_000_000_u64 + i as u64);
            w.organization
                .add_account(Account::new(&id, &format!("a{i}")));
            w.sts.allow_role(&role(&id), None);
        }
    });
    let yaml = "collection:\n  interval: 30s\n  requests_per_second: 1000\ndiscovery:\n  organizations:\n    role_name: flow-exporter\n    regions: [us-east-1, us-west-2, eu-west-1, ap-southeast-1]\n";
    // SCALE_EXPORTER: another binary (the release build) in place of the test's.
    let exporter = match std::env::var("SCALE_EXPORTER") {
        Ok(binary) => {
            let config = config_file(yaml);
            let port = free_port();
            let cmd = command(&sim.url());
            let child = std::process::Command::new(binary)
                .envs(cmd.get_envs().filter_map(|(k, v)| Some((k, v?))))
                .env_remove("AWS_PROFILE")
                .arg("--config.file")
                .arg(config.path())
                .arg("--web.listen-address")
                .arg(format!("127.0.0.1:{port}"))
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            measure(child, port, accounts).await;
            return;
        }
        Err(_) => Exporter::start(&sim, yaml).await,
    };
    let units = accounts * 4 * 4;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let text = exporter.metrics().await;
        let up = text
            .lines()
            .filter(|l| l.starts_with("aws_flow_exporter_collector_up{"))
            .count();
        if up >= units {
            let status =
                std::fs::read_to_string(format!("/proc/{}/status", exporter.pid())).unwrap();
            for line in status
                .lines()
                .filter(|l| l.starts_with("VmRSS") || l.starts_with("VmHWM"))
            {
                println!("{accounts} accounts, {} targets: {line}", accounts * 4);
            }
            println!(
                "series: {}",
                text.lines().filter(|l| !l.starts_with('#')).count()
            );
            break;
        }
        assert!(Instant::now() < deadline, "{up} of {units}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// [`memory_of_many_accounts`] with another binary.
async fn measure(mut child: std::process::Child, port: u16, accounts: usize) {
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let units = accounts * 4 * 4;
    let started = Instant::now();
    loop {
        if let Some(r) = get(addr, "/metrics").await {
            let up = r
                .body
                .lines()
                .filter(|l| l.starts_with("aws_flow_exporter_collector_up{"))
                .count();
            if up >= units {
                let status =
                    std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
                for line in status
                    .lines()
                    .filter(|l| l.starts_with("VmRSS") || l.starts_with("VmHWM"))
                {
                    println!(
                        "{accounts} accounts, {} targets, after {:.0} s: {line}",
                        accounts * 4,
                        started.elapsed().as_secs_f64()
                    );
                }
                println!(
                    "series: {}",
                    r.body.lines().filter(|l| !l.starts_with('#')).count()
                );
                break;
            }
        }
        assert!(started.elapsed() < Duration::from_secs(900));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
}

async fn reload(exporter: &Exporter, yaml: &str) -> u16 {
    std::fs::write(exporter.config_path(), yaml).unwrap();
    request(exporter.addr, "POST", "/-/reload", "Content-Length: 0\r\n")
        .await
        .map_or(0, |r| r.status)
}

#[tokio::test]
async fn a_reload_applies_the_block_at_once_and_can_remove_it() {
    let sim = simulator().await;
    organization(&sim, &[DATA, EMPTY]);
    let exporter = Exporter::start_with(&sim, &config("1h"), &["--web.enable-lifecycle"]).await;
    until(&exporter, "discovered", |t| {
        value(t, &up_of(EMPTY)) == Some(1.0)
    })
    .await;
    let excluded = config("1h").replace("regions:", "exclude: ['^empty$']\n    regions:");
    assert_eq!(reload(&exporter, &excluded).await, 200);
    let text = exporter.metrics().await;
    assert_eq!(value(&text, &up_of(EMPTY)), None, "gone at once");
    assert_eq!(value(&text, &up_of(DATA)), Some(1.0));
    assert_eq!(
        value(&text, "aws_flow_exporter_discovered_targets"),
        Some(2.0)
    );
    // A label name the exporter did not start with needs a restart.
    let relabelled = config("1h").replace("org: main", "org: main, team: data");
    assert_eq!(reload(&exporter, &relabelled).await, 500);
    // Without the block: only the static target is left.
    let static_only = format!(
        "{FAST}targets:\n  - region: us-east-1\n    services:\n      transfer: {{ enabled: false }}\n      \
         supplychain: {{ enabled: false }}\n      customerprofiles: {{ enabled: false }}\n"
    );
    assert_eq!(reload(&exporter, &static_only).await, 200);
    let text = exporter.metrics().await;
    let left: Vec<&str> = text.lines().filter(|l| l.contains("account_id=")).collect();
    assert!(left.is_empty(), "{left:?}\n{}", exporter.logs());
    assert!(!text.contains("aws_flow_exporter_discovery_up"), "{text}");
    until(&exporter, "the static target up", |t| {
        up(t, "appflow") == Some(1.0)
    })
    .await;
}
