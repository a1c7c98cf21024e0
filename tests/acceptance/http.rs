use std::io::Read;
use std::process::Command;

use aws_flow_simulator::appflow::{Execution, Flow};

use crate::harness::*;

async fn started() -> (aws_flow_simulator::Simulator, Exporter) {
    let sim = simulator().await;
    let t = now();
    sim.with(|w| {
        let mut flow = Flow::new("f", t - 1000.0).with_sapodata(Some(4), Some(1000));
        flow.executions
            .push(Execution::finished("a", "Successful", t - 500.0, t - 400.0));
        flow.executions
            .push(Execution::finished("b", "Error", t - 300.0, t - 200.0));
        w.appflow.add_flow(flow);
    });
    let exporter = Exporter::start(&sim, FAST).await;
    exporter.settle("appflow").await;
    (sim, exporter)
}

#[tokio::test(flavor = "multi_thread")]
async fn paths_methods_and_encodings() {
    let (_sim, exporter) = started().await;
    let addr = exporter.addr;
    assert_eq!(get(addr, "/nope").await.unwrap().status, 404);
    assert_eq!(
        request(addr, "POST", "/nope", "Content-Length: 0\r\n")
            .await
            .unwrap()
            .status,
        404
    );
    let post = request(addr, "POST", "/metrics", "Content-Length: 0\r\n")
        .await
        .unwrap();
    assert_eq!(post.status, 405);
    assert!(post
        .headers
        .to_ascii_lowercase()
        .contains("allow: get, head"));
    assert_eq!(
        request(addr, "DELETE", "/healthz", "")
            .await
            .unwrap()
            .status,
        405
    );
    let head = request(addr, "HEAD", "/metrics", "").await.unwrap();
    assert_eq!(head.status, 200);
    assert!(head.raw_body.is_empty());
    let index = get(addr, "/").await.unwrap();
    assert_eq!(index.status, 200);
    assert!(index.body.contains("us-east-1") && index.body.contains("href=\"/metrics\""));
    assert!(!index.body.contains("AKIDTEST"));

    let plain = get(addr, "/metrics").await.unwrap();
    assert!(plain.headers.contains("text/plain; version=0.0.4"));
    let gz = request(addr, "GET", "/metrics", "Accept-Encoding: gzip\r\n")
        .await
        .unwrap();
    assert!(gz
        .headers
        .to_ascii_lowercase()
        .contains("content-encoding: gzip"));
    let mut unzipped = String::new();
    flate2::read::GzDecoder::new(&gz.raw_body[..])
        .read_to_string(&mut unzipped)
        .unwrap();
    assert!(unzipped.contains("aws_appflow_flow_info{flow_name=\"f\""));
    assert!(unzipped.contains("aws_flow_exporter_build_info{"));
    assert!(unzipped.contains("process_resident_memory_bytes "));
}

/// `promtool check metrics` reports nothing on a real scrape. CI installs
/// promtool; elsewhere the test says it was skipped.
#[tokio::test(flavor = "multi_thread")]
async fn promtool_finds_nothing_to_say() {
    if Command::new("promtool").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "promtool is required in CI"
        );
        eprintln!("promtool not installed: skipped");
        return;
    }
    let (_sim, exporter) = started().await;
    let text = exporter.metrics().await;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool says:\n{said}"
    );
}
