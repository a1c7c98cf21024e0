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

fn web_config(dir: &std::path::Path, yaml: &str) -> String {
    let path = dir.join("web.yml");
    std::fs::write(&path, yaml).unwrap();
    path.to_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_auth_guards_everything_but_the_probes() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    // Cost 4 keeps the test fast.
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let web = web_config(
        dir.path(),
        &format!("basic_auth_users:\n  alice: '{hash}'\n"),
    );
    let exporter = Exporter::start_with(&sim, FAST, &["--web.config.file", &web]).await;
    let good = "Authorization: Basic YWxpY2U6czNjcmV0\r\n"; // alice:s3cret
    let wrong = "Authorization: Basic YWxpY2U6d3Jvbmc=\r\n"; // alice:wrong
    assert_eq!(
        request(exporter.addr, "GET", "/metrics", good)
            .await
            .unwrap()
            .status,
        200
    );
    let denied = request(exporter.addr, "GET", "/metrics", wrong)
        .await
        .unwrap();
    assert_eq!(denied.status, 401);
    assert!(denied
        .headers
        .to_ascii_lowercase()
        .contains("www-authenticate: basic"));
    assert_eq!(get(exporter.addr, "/metrics").await.unwrap().status, 401);
    assert_eq!(get(exporter.addr, "/").await.unwrap().status, 401);
    assert_eq!(get(exporter.addr, "/healthz").await.unwrap().status, 200);
}

#[test]
fn a_bad_web_config_is_refused_before_listening() {
    let dir = tempfile::tempdir().unwrap();
    let web = web_config(dir.path(), "basic_auth_users:\n  alice: plaintext\n");
    let out = run("http://127.0.0.1:9", &["--web.config.file", &web]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bcrypt"));
}

/// A real TLS client (curl) against a certificate made by openssl.
#[tokio::test(flavor = "multi_thread")]
async fn tls_serves_https_and_refuses_plain_http() {
    let have = |tool: &str| Command::new(tool).arg("--version").output().is_ok();
    if !have("openssl") || !have("curl") {
        eprintln!("openssl or curl missing: skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let web = web_config(
        dir.path(),
        "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n  min_version: TLS12\n",
    );
    let sim = simulator().await;
    let exporter = Exporter::spawn(&sim, FAST, &["--web.config.file", &web]);
    let url = format!("https://localhost:{}/metrics", exporter.addr.port());
    let curl = |url: String, cacert: std::path::PathBuf| {
        Command::new("curl")
            .args([
                "-sS",
                "--noproxy",
                "*",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--cacert",
            ])
            .arg(cacert)
            .arg(url)
            .output()
            .unwrap()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let out = curl(url.clone(), cert.clone());
        if String::from_utf8_lossy(&out.stdout) == "200" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no HTTPS answer: {}",
            exporter.logs()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = get(exporter.addr, "/metrics").await;
    assert!(plain.is_none_or(|r| r.status != 200));
}

/// Polls `path` with `auth` until it answers `status` (the reload is asynchronous).
async fn eventually_status(addr: std::net::SocketAddr, auth: &str, status: u16) -> bool {
    for _ in 0..50 {
        if request(addr, "GET", "/metrics", auth)
            .await
            .is_some_and(|r| r.status == status)
        {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread")]
async fn the_web_config_is_reloaded_on_change_and_on_sighup() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let users = |user: &str| {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        format!("basic_auth_users:\n  {user}: '{hash}'\n")
    };
    let web = web_config(dir.path(), &users("alice"));
    let exporter = Exporter::start_with(&sim, FAST, &["--web.config.file", &web]).await;
    let alice = "Authorization: Basic YWxpY2U6czNjcmV0\r\n"; // alice:s3cret
    let bob = "Authorization: Basic Ym9iOnMzY3JldA==\r\n"; // bob:s3cret
    assert!(eventually_status(exporter.addr, alice, 200).await);

    // A changed file is picked up by itself.
    web_config(dir.path(), &users("bob"));
    assert!(eventually_status(exporter.addr, bob, 200).await);
    assert!(eventually_status(exporter.addr, alice, 401).await);

    // A broken version is refused; the one in force stays.
    web_config(dir.path(), "basic_auth_users:\n  carol: plaintext\n");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(eventually_status(exporter.addr, bob, 200).await);
    assert!(
        exporter.logs().contains("not reloaded"),
        "{}",
        exporter.logs()
    );

    // SIGHUP reloads at once, whatever the file's timestamps say.
    web_config(dir.path(), &users("alice"));
    let pid = exporter.pid().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(eventually_status(exporter.addr, alice, 200).await);
    assert!(eventually_status(exporter.addr, bob, 401).await);
    assert_eq!(get(exporter.addr, "/healthz").await.unwrap().status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn huge_and_slow_requests_do_not_tie_up_the_server() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_sim, exporter) = started().await;
    // Headers far past hyper's buffer: refused, not buffered without end.
    let huge = format!("X-Big: {}\r\n", "a".repeat(1024 * 1024));
    let answer = request(exporter.addr, "GET", "/metrics", &huge).await;
    assert!(
        answer.as_ref().is_none_or(|r| r.status == 431),
        "{:?}",
        answer.map(|r| r.status)
    );
    // A client that never finishes its headers...
    let mut slow = tokio::net::TcpStream::connect(exporter.addr).await.unwrap();
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // ...does not keep others waiting...
    for _ in 0..3 {
        assert_eq!(get(exporter.addr, "/metrics").await.unwrap().status, 200);
    }
    // ...and is cut off after the header read timeout (10 s).
    let mut rest = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        slow.read_to_end(&mut rest),
    )
    .await;
    assert!(read.is_ok(), "the slow connection was never closed");
    assert_eq!(get(exporter.addr, "/healthz").await.unwrap().status, 200);
}

/// Past 1 MiB the plain text is not kept but inflated while it is sent, from
/// the same joined pieces the gzip body is made of: both must read the same.
/// HTTP/1.0, so that the plain body (of no known length) ends with the connection.
#[tokio::test(flavor = "multi_thread")]
async fn a_large_exposition_reads_the_same_plain_and_gzipped() {
    use aws_flow_simulator::scenario::scale::Scale;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let sim = simulator().await;
    // 2,000 flows with a day of runs make some 10 MB of text.
    sim.with(|w| Scale::new(7, 2_000).populate(w, now()));
    let only_appflow = "targets:\n  - region: us-east-1\n    services:\n      \
        transfer: { enabled: false }\n      supplychain: { enabled: false }\n      \
        customerprofiles: { enabled: false }\n";
    let exporter = Exporter::start(&sim, &format!("{FAST}{only_appflow}")).await;
    exporter.collections("appflow", 1).await;
    let fetch = |gzip: bool| async move {
        let mut stream = tokio::net::TcpStream::connect(exporter.addr).await.unwrap();
        let accept = if gzip {
            "Accept-Encoding: gzip\r\n"
        } else {
            ""
        };
        let req = format!("GET /metrics HTTP/1.0\r\nHost: test\r\n{accept}\r\n");
        stream.write_all(req.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let mut text = String::new();
        if gzip {
            flate2::read::GzDecoder::new(&raw[split + 4..])
                .read_to_string(&mut text)
                .unwrap();
        } else {
            text = String::from_utf8(raw[split + 4..].to_vec()).unwrap();
        }
        text
    };
    let (plain, gzipped) = (fetch(false).await, fetch(true).await);
    // The second plain scrape of the same body decodes the LZ4 copy the first one kept.
    let again = fetch(false).await;
    assert!(plain.len() > 8 * 1024 * 1024, "{} bytes", plain.len());
    // The AWS series come first; the exporter's own, which change per scrape, follow.
    let aws = |text: &str| {
        let end = text.find("# HELP aws_flow_exporter_").expect("own series");
        text[..end].to_string()
    };
    assert_eq!(aws(&plain), aws(&gzipped));
    assert_eq!(aws(&again), aws(&plain));
    assert_eq!(
        aws(&plain)
            .lines()
            .filter(|l| l.starts_with("aws_appflow_flow_info{"))
            .count(),
        2_000
    );
}
