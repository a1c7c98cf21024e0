//! Runs the real exporter binary against the simulator, configured only
//! through the standard AWS environment variables, and reads it over HTTP.

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use aws_flow_simulator::appflow::{Execution, Flow};
use aws_flow_simulator::Simulator;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Collections every 200 ms so that tests wait little.
pub const FAST: &str =
    "collection:\n  interval: 200ms\n  timeout: 2s\n  requests_per_second: 1000\n";

pub async fn simulator() -> Simulator {
    Simulator::start("127.0.0.1:0".parse().unwrap())
        .await
        .expect("simulator starts")
}

/// Adds flow `name`, created at t-1000, with run "a": Successful from t-500 to t-400.
pub fn add_flow_with_one_success(sim: &Simulator, name: &str, t: f64) {
    sim.with(|w| {
        let mut flow = Flow::new(name, t - 1000.0);
        flow.executions
            .push(Execution::finished("a", "Successful", t - 500.0, t - 400.0));
        w.appflow.add_flow(flow);
    });
}

pub fn now() -> f64 {
    aws_flow_simulator::epoch_now()
}

/// The exporter command with a clean AWS environment pointing at `endpoint`.
pub fn command(endpoint: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aws-flow-exporter"));
    for (key, _) in std::env::vars() {
        if key.starts_with("AWS_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
        .env("AWS_SECRET_ACCESS_KEY", "test-secret-key")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("NO_PROXY", "127.0.0.1,localhost");
    cmd
}

/// A config file that lives as long as the test.
pub fn config_file(yaml: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(yaml.as_bytes()).unwrap();
    file
}

pub struct Exporter {
    child: Child,
    pub addr: SocketAddr,
    log: PathBuf,
    _dir: tempfile::TempDir,
    _config: tempfile::NamedTempFile,
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Exporter {
    /// Starts the exporter with `yaml` as its configuration and waits for /healthz.
    pub async fn start(sim: &Simulator, yaml: &str) -> Exporter {
        Exporter::start_with(sim, yaml, &[]).await
    }

    /// Starts with extra flags; waits until /healthz answers over plain HTTP.
    pub async fn start_with(sim: &Simulator, yaml: &str, args: &[&str]) -> Exporter {
        let exporter = Exporter::spawn(sim, yaml, args);
        let deadline = Instant::now() + Duration::from_secs(20);
        while get(exporter.addr, "/healthz").await.map(|r| r.status) != Some(200) {
            assert!(
                Instant::now() < deadline,
                "exporter never answered: {}",
                exporter.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        exporter
    }

    /// Starts without waiting for anything.
    pub fn spawn(sim: &Simulator, yaml: &str, args: &[&str]) -> Exporter {
        Exporter::spawn_env(sim, yaml, args, &[])
    }

    /// [`Exporter::spawn`] with these environment variables set too.
    pub fn spawn_env(sim: &Simulator, yaml: &str, args: &[&str], env: &[(&str, &str)]) -> Exporter {
        let config = config_file(yaml);
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("exporter.log");
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let child = command(&sim.url())
            .arg("--config.file")
            .arg(config.path())
            .arg("--web.listen-address")
            .arg(addr.to_string())
            .arg("--log.level")
            .arg("debug")
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("exporter starts");
        Exporter {
            child,
            addr,
            log,
            _dir: dir,
            _config: config,
        }
    }

    /// The configuration file it was started with (rewrite it to test reloads).
    pub fn config_path(&self) -> &std::path::Path {
        self._config.path()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub async fn metrics(&self) -> String {
        let response = get(self.addr, "/metrics").await.expect("scrape");
        assert_eq!(response.status, 200);
        response.body
    }

    /// Waits until `n` more collections of `service` have ended after this call.
    pub async fn collections(&self, service: &str, n: u64) -> String {
        let series = format!("aws_flow_exporter_collection_duration_seconds_count{{aws_service=\"{service}\",region=\"us-east-1\"}}");
        let start = value(&self.metrics().await, &series).unwrap_or(0.0);
        // Generous: a collection of 1,100 workflows takes some 27 s on two busy cores.
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let text = self.metrics().await;
            if value(&text, &series).unwrap_or(0.0) >= start + n as f64 {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "no collection ended: {}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the next collection of `service` after this call has ended, twice
    /// (so one started after any change the test just made).
    pub async fn settle(&self, service: &str) -> String {
        self.collections(service, 2).await
    }
}

pub struct Response {
    pub status: u16,
    pub headers: String,
    pub body: String,
    pub raw_body: Vec<u8>,
}

/// A minimal HTTP/1.1 request; None when the connection fails.
pub async fn request(addr: SocketAddr, method: &str, path: &str, extra: &str) -> Option<Response> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let req = format!("{method} {path} HTTP/1.1\r\nHost: test\r\n{extra}Connection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.ok()?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let headers = String::from_utf8_lossy(&raw[..split]).to_string();
    let raw_body = raw[split + 4..].to_vec();
    let status = headers.split_whitespace().nth(1)?.parse().ok()?;
    Some(Response {
        status,
        body: String::from_utf8_lossy(&raw_body).to_string(),
        headers,
        raw_body,
    })
}

pub async fn get(addr: SocketAddr, path: &str) -> Option<Response> {
    request(addr, "GET", path, "").await
}

/// The value of the series written exactly as `series` (name and labels).
pub fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
        .map(|v| v.trim().parse().expect("a number"))
}

/// `aws_appflow_<metric>{flow_name="<flow>",<extra>region="us-east-1"}`.
pub fn flow_series(metric: &str, flow: &str, extra: &str) -> String {
    format!("aws_appflow_{metric}{{flow_name=\"{flow}\",{extra}region=\"us-east-1\"}}")
}

pub fn up(text: &str, service: &str) -> Option<f64> {
    value(
        text,
        &format!(
            "aws_flow_exporter_collector_up{{aws_service=\"{service}\",region=\"us-east-1\"}}"
        ),
    )
}

/// Runs the exporter to completion with these arguments.
pub fn run(endpoint: &str, args: &[&str]) -> Output {
    command(endpoint)
        .args(args)
        .output()
        .expect("exporter runs")
}
