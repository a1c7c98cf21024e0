//! `--web.config.file` settings beyond a certificate: enforced by the running
//! exporter, or refused at startup with the key named and status 2.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::*;

/// Test-only, self-signed for localhost (EC P-256, CA:FALSE, valid until 2126).
const SERVER_CRT: &str = "-----BEGIN CERTIFICATE-----
MIIBmDCCAT6gAwIBAgIUcAr13Mejl17moATO6y3jH1Vdl3AwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTIwNjE2NTQ1M1oYDzIxMjYxMTEy
MTY1NDUzWjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAARdwU0RR50soQ/2QOqNucpLhQD4gixZJm1d4dZOUXlJZroLyNBFvKN5
t5Ixdw/xh2vsgZBIfP3R4/9ir2ehMv+No2wwajAdBgNVHQ4EFgQUl+1jIMsr9nWF
+OwEDQVXUy9WoakwHwYDVR0jBBgwFoAUl+1jIMsr9nWF+OwEDQVXUy9WoakwGgYD
VR0RBBMwEYIJbG9jYWxob3N0hwR/AAABMAwGA1UdEwEB/wQCMAAwCgYIKoZIzj0E
AwIDSAAwRQIgQ5pwh5WHvpBb9m80Ap4lfPyirCuxMSX0rTe45zzJ39oCIQDjWwki
oYkQqD7UazBYmfZOpu2UJDIWohXbFgyMlplAzA==
-----END CERTIFICATE-----
";
const SERVER_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg3MxNuqWs2u+Rn+8s
vWzkQvprSv2jXNuoLhg9YaIn5pqhRANCAARdwU0RR50soQ/2QOqNucpLhQD4gixZ
Jm1d4dZOUXlJZroLyNBFvKN5t5Ixdw/xh2vsgZBIfP3R4/9ir2ehMv+N
-----END PRIVATE KEY-----
";

/// `web.yml` with `tls` under the certificate, in a directory with the
/// certificate and key files.
fn web_config(dir: &std::path::Path, extra: &str) -> String {
    std::fs::write(dir.join("tls.crt"), SERVER_CRT).unwrap();
    std::fs::write(dir.join("tls.key"), SERVER_KEY).unwrap();
    let path = dir.join("web.yml");
    std::fs::write(
        &path,
        format!("tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n{extra}"),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

/// GET /healthz over TLS with a rustls client speaking only `version`: the
/// status line, or the error.
async fn healthz(
    addr: std::net::SocketAddr,
    version: &'static rustls::SupportedProtocolVersion,
) -> Result<String, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(SERVER_CRT.as_bytes()).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_protocol_versions(&[version])
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    tls.read_to_end(&mut answer)
        .await
        .map_err(|e| e.to_string())?;
    let answer = String::from_utf8_lossy(&answer);
    Ok(answer.lines().next().unwrap_or_default().to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn max_version_tls12_refuses_a_tls13_only_client() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let web = web_config(dir.path(), "  max_version: TLS12\n");
    let exporter = Exporter::spawn(&sim, FAST, &["--web.config.file", &web]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match healthz(exporter.addr, &rustls::version::TLS12).await {
            Ok(status) => {
                assert_eq!(status, "HTTP/1.1 200 OK");
                break;
            }
            Err(error) => assert!(
                Instant::now() < deadline,
                "no TLS 1.2 answer ({error}): {}",
                exporter.logs()
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let refused = healthz(exporter.addr, &rustls::version::TLS13).await;
    assert!(refused.is_err(), "TLS 1.3 was served: {refused:?}");
}

#[test]
fn settings_that_cannot_be_enforced_stop_the_exporter() {
    for (extra, named) in [
        (
            "  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA]\n",
            "tls_server_config.cipher_suites: TLS_RSA_WITH_AES_128_CBC_SHA",
        ),
        ("  min_version: TLS10\n", "tls_server_config.min_version"),
        (
            "  curve_preferences: [CurveP521]\n",
            "tls_server_config.curve_preferences: CurveP521",
        ),
        (
            "http_server_config:\n  http2: true\n",
            "http_server_config.http2",
        ),
        ("rate_limit:\n  interval: 1s\n  burst: 1\n", "rate_limit"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let web = web_config(dir.path(), extra);
        let out = run("http://127.0.0.1:9", &["--web.config.file", &web]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra}: {stderr}");
        assert!(stderr.contains(named), "{named:?} not in: {stderr}");
    }
}
