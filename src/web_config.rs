//! `--web.config.file`: TLS and basic auth in the Prometheus exporter-toolkit
//! format, so the file users already have for node_exporter works here.
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt
//!   key_file: server.key
//!   min_version: TLS12          # or TLS13
//!   client_ca_file: ca.crt      # with client_auth_type, for mTLS
//!   client_auth_type: RequireAndVerifyClientCert
//! basic_auth_users:
//!   alice: $2y$10$...           # bcrypt hash
//! ```

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context};
use base64::Engine;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use tokio_rustls::TlsAcceptor;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    tls_server_config: Option<TlsFile>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
    /// Accepted for compatibility with the toolkit format; HTTP/2 is not served.
    http_server_config: Option<serde_yaml_ng::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    cert_file: PathBuf,
    key_file: PathBuf,
    client_ca_file: Option<PathBuf>,
    client_auth_type: Option<String>,
    min_version: Option<String>,
    max_version: Option<String>,
    cipher_suites: Option<Vec<String>>,
    curve_preferences: Option<Vec<String>>,
    prefer_server_cipher_suites: Option<bool>,
}

/// What the server enforces.
pub struct WebConfig {
    pub tls: Option<TlsAcceptor>,
    users: BTreeMap<String, String>,
    /// `Authorization` values already verified: bcrypt is slow on purpose.
    verified: Mutex<HashSet<String>>,
    /// The file and the certificate files it names: a change to any is a reload.
    files: Vec<PathBuf>,
}

impl WebConfig {
    pub fn load(path: &Path) -> anyhow::Result<WebConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let file: File =
            serde_yaml_ng::from_str(&text).with_context(|| format!("{}", path.display()))?;
        let _ = &file.http_server_config;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut files = vec![path.to_path_buf()];
        if let Some(tls) = &file.tls_server_config {
            files.push(resolve(base, &tls.cert_file));
            files.push(resolve(base, &tls.key_file));
            files.extend(tls.client_ca_file.as_ref().map(|ca| resolve(base, ca)));
        }
        let tls = match file.tls_server_config {
            Some(tls) => Some(
                acceptor(&tls, base)
                    .with_context(|| format!("{}: tls_server_config", path.display()))?,
            ),
            None => None,
        };
        for (user, hash) in &file.basic_auth_users {
            if !hash.starts_with("$2") {
                bail!(
                    "{}: basic_auth_users.{user}: not a bcrypt hash",
                    path.display()
                );
            }
        }
        Ok(WebConfig {
            tls,
            users: file.basic_auth_users,
            verified: Mutex::new(HashSet::new()),
            files,
        })
    }

    /// Whether a request with this `Authorization` header may pass.
    pub fn authorized(&self, header: Option<&str>) -> bool {
        if self.users.is_empty() {
            return true;
        }
        let Some(header) = header else { return false };
        if self
            .verified
            .lock()
            .map(|v| v.contains(header))
            .unwrap_or(false)
        {
            return true;
        }
        let ok = basic_credentials(header).is_some_and(|(user, password)| {
            self.users
                .get(&user)
                .is_some_and(|hash| bcrypt::verify(&password, hash).unwrap_or(false))
        });
        if ok {
            if let Ok(mut verified) = self.verified.lock() {
                // Bounded: a handful of scrapers use the same few credentials.
                if verified.len() > 64 {
                    verified.clear();
                }
                verified.insert(header.to_string());
            }
        }
        ok
    }
}

fn basic_credentials(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Paths in the file are relative to the file's directory, as in exporter-toolkit.
fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// How often the files are looked at for changes.
const POLL: Duration = Duration::from_secs(1);

/// Size and modification time of each file: what a change looks like.
type Stamp = Vec<Option<(u64, SystemTime)>>;

fn stamp(files: &[PathBuf]) -> Stamp {
    files
        .iter()
        .map(|f| {
            let meta = std::fs::metadata(f).ok()?;
            Some((meta.len(), meta.modified().ok()?))
        })
        .collect()
}

/// The web configuration in force. It is re-read on SIGHUP and when the file
/// or a certificate file it names changes (certificates get rotated); a
/// version that does not load is reported once and the one in force stays.
pub struct LiveWebConfig {
    path: PathBuf,
    current: RwLock<Arc<WebConfig>>,
    /// The files watched and how they looked at the last load attempt.
    seen: Mutex<(Vec<PathBuf>, Stamp)>,
}

impl LiveWebConfig {
    pub fn load(path: &Path) -> anyhow::Result<LiveWebConfig> {
        let config = WebConfig::load(path)?;
        let files = config.files.clone();
        Ok(LiveWebConfig {
            path: path.to_path_buf(),
            seen: Mutex::new((files.clone(), stamp(&files))),
            current: RwLock::new(Arc::new(config)),
        })
    }

    pub fn current(&self) -> Arc<WebConfig> {
        match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, (Vec<PathBuf>, Stamp)> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Loads the file again; returns whether the new version took effect.
    pub fn reload(&self) -> bool {
        match WebConfig::load(&self.path) {
            Ok(config) => {
                *self.seen() = (config.files.clone(), stamp(&config.files));
                match self.current.write() {
                    Ok(mut c) => *c = Arc::new(config),
                    Err(poisoned) => *poisoned.into_inner() = Arc::new(config),
                }
                tracing::info!(path = %self.path.display(), "web configuration reloaded");
                true
            }
            Err(error) => {
                let mut seen = self.seen();
                seen.1 = stamp(&seen.0);
                tracing::error!(
                    path = %self.path.display(),
                    error = format!("{error:#}"),
                    "web configuration not reloaded; the previous one stays in force"
                );
                false
            }
        }
    }

    /// Whether a watched file changed since the last load attempt.
    fn changed(&self) -> bool {
        let seen = self.seen();
        stamp(&seen.0) != seen.1
    }

    /// Reloads on SIGHUP and on file changes, for as long as the process runs.
    pub async fn watch(self: Arc<Self>) {
        #[cfg(unix)]
        let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        {
            Ok(signal) => Some(signal),
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGHUP");
                None
            }
        };
        let mut poll = tokio::time::interval(POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            #[cfg(unix)]
            let sighup = async {
                match hangup.as_mut() {
                    Some(signal) => signal.recv().await,
                    None => std::future::pending().await,
                }
            };
            #[cfg(not(unix))]
            let sighup = std::future::pending::<Option<()>>();
            tokio::select! {
                _ = sighup => {
                    tracing::info!("SIGHUP: reloading the web configuration");
                    self.reload();
                }
                _ = poll.tick() => {
                    if self.changed() {
                        self.reload();
                    }
                }
            }
        }
    }
}

fn acceptor(tls: &TlsFile, base: &Path) -> anyhow::Result<TlsAcceptor> {
    let _ = (
        &tls.max_version,
        &tls.cipher_suites,
        &tls.curve_preferences,
        &tls.prefer_server_cipher_suites,
    );
    let resolve = |p: &Path| resolve(base, p);
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(resolve(&tls.cert_file))
            .context("cert_file")?
            .collect::<Result<_, _>>()
            .context("cert_file")?;
    if certs.is_empty() {
        bail!("cert_file: no certificate found");
    }
    let key = PrivateKeyDer::from_pem_file(resolve(&tls.key_file)).context("key_file")?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = match tls.min_version.as_deref() {
        None | Some("TLS12") => &[&rustls::version::TLS13, &rustls::version::TLS12],
        Some("TLS13") => &[&rustls::version::TLS13],
        Some(other) => bail!("min_version: {other:?} is not supported (TLS12 or TLS13)"),
    };
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .context("TLS versions")?;
    let builder = match (tls.client_ca_file.as_ref(), tls.client_auth_type.as_deref()) {
        (_, None | Some("NoClientCert")) => builder.with_no_client_auth(),
        (Some(ca), Some(kind @ ("RequireAndVerifyClientCert" | "VerifyClientCertIfGiven"))) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(resolve(ca)).context("client_ca_file")? {
                roots
                    .add(cert.context("client_ca_file")?)
                    .context("client_ca_file")?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            );
            let verifier = if kind == "VerifyClientCertIfGiven" {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(verifier.build().context("client_ca_file")?)
        }
        (None, Some(kind)) => bail!("client_auth_type {kind} needs client_ca_file"),
        (_, Some(kind)) => bail!("client_auth_type {kind:?} is not supported"),
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .context("cert_file/key_file")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_checks_bcrypt_hashes() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let config = WebConfig {
            tls: None,
            users: BTreeMap::from([("alice".to_string(), hash)]),
            verified: Mutex::new(HashSet::new()),
            files: Vec::new(),
        };
        let header = |u: &str, p: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        };
        assert!(config.authorized(Some(&header("alice", "s3cret"))));
        assert!(config.authorized(Some(&header("alice", "s3cret"))));
        assert!(!config.authorized(Some(&header("alice", "wrong"))));
        assert!(!config.authorized(Some(&header("bob", "s3cret"))));
        assert!(!config.authorized(None));
        assert!(!config.authorized(Some("Bearer x")));
        assert!(!config.authorized(Some("Basic !!!")));
    }

    #[test]
    fn unknown_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.yml");
        std::fs::write(&path, "basic_auth_userz: {}\n").unwrap();
        let error = WebConfig::load(&path).err().unwrap();
        assert!(format!("{error:#}").contains("basic_auth_userz"));
    }
}
