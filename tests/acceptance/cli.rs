use std::process::{Child, Stdio};
use std::time::Duration;

use aws_flow_simulator::appflow::{Execution, Flow};
use aws_flow_simulator::{Fault, Simulator};

use crate::harness::*;

const APPFLOW_ONLY: &str = "targets:\n  - region: us-east-1\n    services:\n      transfer: { enabled: false }\n      supplychain: { enabled: false }\n      customerprofiles: { enabled: false }\n";

#[test]
fn check_config_accepts_a_good_file() {
    let file = config_file(APPFLOW_ONLY);
    let out = run(
        "http://127.0.0.1:9",
        &[
            "--check-config",
            "--config.file",
            file.path().to_str().unwrap(),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_config_names_the_bad_field_and_line() {
    let file = config_file("targets:\n  - region: us-east-1\n    services:\n      appflow:\n        include: [\"ok\", \"([\"]\n");
    let out = run(
        "http://127.0.0.1:9",
        &[
            "--check-config",
            "--config.file",
            file.path().to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("targets[0].services.appflow.include[1]"),
        "{err}"
    );
    assert!(err.contains("line 5"), "{err}");
    // Unknown keys are errors too, also when starting for real.
    let file = config_file("collection:\n  intervall: 5s\n");
    let out = run(
        "http://127.0.0.1:9",
        &["--config.file", file.path().to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("intervall"));
}

#[tokio::test(flavor = "multi_thread")]
async fn once_prints_a_baseline_and_says_if_all_was_up() {
    let sim = simulator().await;
    let t = now();
    add_flow_with_one_success(&sim, "f", t);
    let file = config_file(APPFLOW_ONLY);
    let url = sim.url();
    let path = file.path().to_str().unwrap().to_string();
    let out = tokio::task::spawn_blocking(move || run(&url, &["--once", "--config.file", &path]))
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        value(
            &text,
            &flow_series("executions_total", "f", "status=\"Successful\",")
        ),
        Some(0.0)
    );
    assert_eq!(
        value(
            &text,
            &flow_series("flow_last_success_timestamp_seconds", "f", "")
        ),
        Some(t - 400.0)
    );
    assert_eq!(up(&text, "appflow"), Some(1.0));

    sim.with(|w| w.faults.always("ListFlows", Fault::AccessDenied));
    let url = sim.url();
    let path = file.path().to_str().unwrap().to_string();
    let out = tokio::task::spawn_blocking(move || run(&url, &["--once", "--config.file", &path]))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(up(&text, "appflow"), Some(0.0));
    // Access denied is not retried: one attempt.
    let denied = "aws_flow_exporter_api_requests_total{aws_service=\"appflow\",operation=\"ListFlows\",outcome=\"client_error\",region=\"us-east-1\"}";
    assert_eq!(value(&text, denied), Some(1.0));
}

#[tokio::test(flavor = "multi_thread")]
async fn shards_split_the_flows_with_no_overlap_and_no_gap() {
    let sim = simulator().await;
    let t = now();
    let names: Vec<String> = (0..30).map(|i| format!("flow-{i}")).collect();
    for name in &names {
        add_flow_with_one_success(&sim, name, t);
    }
    let file = config_file(APPFLOW_ONLY);
    let mut seen: Vec<String> = Vec::new();
    for shard in ["0/3", "1/3", "2/3"] {
        let url = sim.url();
        let path = file.path().to_str().unwrap().to_string();
        let out = tokio::task::spawn_blocking(move || {
            run(&url, &["--once", "--config.file", &path, "--shard", shard])
        })
        .await
        .unwrap();
        assert_eq!(out.status.code(), Some(0), "{shard}");
        let text = String::from_utf8_lossy(&out.stdout);
        let mine: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with("aws_appflow_flow_info{"))
            .filter_map(|l| l.split('"').nth(1).map(str::to_string))
            .collect();
        assert!(
            !mine.is_empty() && mine.len() < names.len(),
            "{shard}: {mine:?}"
        );
        seen.extend(mine);
    }
    seen.sort();
    let mut expected = names.clone();
    expected.sort();
    assert_eq!(seen, expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_in_logs_and_no_message_in_labels() {
    let sim = simulator().await;
    let t = now();
    let message = "Invalid credentials for user admin password=hunter2";
    sim.with(|w| {
        let mut flow = Flow::new("orders", t - 1000.0);
        let mut failed = Execution::finished("run-1", "Error", t - 500.0, t - 400.0);
        failed.message = Some(message.into());
        flow.executions.push(failed);
        w.appflow.add_flow(flow);
    });
    let file = config_file(APPFLOW_ONLY);
    let url = sim.url();
    let path = file.path().to_str().unwrap().to_string();
    let out = tokio::task::spawn_blocking(move || {
        command(&url)
            .env("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMIsecretK7MDENG")
            .env("AWS_SESSION_TOKEN", "FwoGZXIvYXdzSESSIONTOKEN")
            .args(["--once", "--log.level", "trace", "--config.file", &path])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let logs = String::from_utf8_lossy(&out.stderr);
    let metrics = String::from_utf8_lossy(&out.stdout);
    for secret in [
        "wJalrXUtnFEMIsecretK7MDENG",
        "FwoGZXIvYXdzSESSIONTOKEN",
        "AKIDTEST",
    ] {
        assert!(!logs.contains(secret), "{secret} in the logs:\n{logs}");
        assert!(!metrics.contains(secret), "{secret} in the metrics");
    }
    assert!(
        !metrics.contains("hunter2"),
        "an execution message became a label"
    );
    assert!(!metrics.contains("run-1"), "an execution id became a label");
}

/// The environment the exporter process `pid` runs with, as `KEY=value` entries.
fn environment(pid: u32) -> Vec<String> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    raw.split(|b| *b == 0)
        .map(|e| String::from_utf8_lossy(e).into_owned())
        .collect()
}

/// Starts the exporter with `GLIBC_TUNABLES` as given (None: unset) and waits for /healthz.
async fn started_with_tunables(sim: &Simulator, tunables: Option<&str>) -> (Child, u32) {
    let file = config_file(APPFLOW_ONLY);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut cmd = command(&sim.url());
    cmd.env_remove("GLIBC_TUNABLES");
    if let Some(tunables) = tunables {
        cmd.env("GLIBC_TUNABLES", tunables);
    }
    let child = cmd
        .arg("--config.file")
        .arg(file.path())
        .arg("--web.listen-address")
        .arg(addr.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while get(addr, "/healthz").await.map(|r| r.status) != Some(200) {
        assert!(std::time::Instant::now() < deadline, "never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid = child.id();
    (child, pid)
}

/// glibc's per-thread caches are turned off by executing the binary again, in the same
/// process, with `GLIBC_TUNABLES` set (docs/operations.md, "The memory allocator"); a value
/// the user set is kept as it is.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[tokio::test(flavor = "multi_thread")]
async fn glibc_tunables_are_set_once_in_the_same_process_unless_given() {
    let sim = simulator().await;
    for (given, expected) in [
        (None, "glibc.malloc.tcache_count=0"),
        (Some("glibc.malloc.mxfast=64"), "glibc.malloc.mxfast=64"),
    ] {
        let (mut child, pid) = started_with_tunables(&sim, given).await;
        let env = environment(pid);
        let _ = child.kill();
        let _ = child.wait();
        let wanted = format!("GLIBC_TUNABLES={expected}");
        assert!(env.contains(&wanted), "{given:?}: {env:?}");
    }
}

/// The revision the binary was built from (build.rs): the variable given at build time, else
/// git's HEAD, else "unknown".
fn built_revision() -> String {
    let given = ["AFE_GIT_REVISION", "GIT_REVISION"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .map(|v| v.trim().to_string())
        .find(|v| !v.is_empty());
    given
        .or_else(|| {
            let out = std::process::Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .output()
                .ok()?;
            let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
            (out.status.success() && !text.is_empty()).then_some(text)
        })
        .unwrap_or_else(|| "unknown".into())
}

/// `build_info{revision}` and `--version` carry the git revision; a first collection and
/// readiness are each one INFO line.
#[tokio::test(flavor = "multi_thread")]
async fn build_info_carries_the_revision_and_first_collections_are_logged() {
    let sim = simulator().await;
    add_flow_with_one_success(&sim, "f", now());
    let file = config_file(APPFLOW_ONLY);
    let url = sim.url();
    let path = file.path().to_str().unwrap().to_string();
    let out = tokio::task::spawn_blocking(move || run(&url, &["--once", "--config.file", &path]))
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let revision = built_revision();
    let text = String::from_utf8_lossy(&out.stdout);
    let info = format!("aws_flow_exporter_build_info{{revision=\"{revision}\",version=\"");
    assert!(text.contains(&info), "{info} in:\n{text}");
    let first: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("first collection ended"))
        .collect();
    assert_eq!(first.len(), 1, "{err}");
    for field in [
        "level=info",
        "up=true",
        "resources=1",
        "calls=",
        "seconds=",
        "aws_service=appflow",
    ] {
        assert!(first[0].contains(field), "{field} in {}", first[0]);
    }
    let ready = err.lines().filter(|l| l.contains("ready:")).count();
    assert_eq!(ready, 1, "{err}");

    let out = run("http://127.0.0.1:9", &["--version"]);
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(
        version.contains(&format!("(revision {revision})")),
        "{version}"
    );
}
