//! `--web.config.file`: TLS and basic auth in the Prometheus exporter-toolkit
//! format, so the file users already have for node_exporter works here.
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt       # or cert: inline PEM
//!   key_file: server.key        # or key: inline PEM
//!   min_version: TLS12          # TLS12 (default) or TLS13
//!   max_version: TLS13          # TLS13 (default) or TLS12
//!   cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]  # TLS 1.2 only
//!   curve_preferences: [X25519, CurveP256]
//!   prefer_server_cipher_suites: true
//!   client_ca_file: ca.crt      # or client_ca: inline PEM
//!   client_auth_type: RequireAndVerifyClientCert
//!   client_allowed_sans: [scraper.example]
//! http_server_config:
//!   http2: false                # HTTP/2 is not served: true is refused
//!   headers:
//!     X-Content-Type-Options: nosniff
//! basic_auth_users:
//!   alice: $2y$10$...           # bcrypt hash
//! ```
//!
//! Every key of the toolkit's format is either enforced or refused with an
//! error naming it: a setting that would be silently ignored (a restriction
//! the user believes in) is worse than a refusal. What rustls cannot do
//! (TLS 1.0/1.1, CBC cipher suites, P-521 key exchange), HTTP/2 and the
//! toolkit's `rate_limit` are refused.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context};
use base64::Engine;
use hyper::header::{HeaderName, HeaderValue};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{SupportedKxGroup, WebPkiSupportedAlgorithms};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme, SupportedCipherSuite};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use serde::Deserialize;
use tokio_rustls::TlsAcceptor;

use crate::sync::{lock, read, write};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    tls_server_config: Option<TlsFile>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
    http_server_config: Option<HttpFile>,
    /// The toolkit's request rate limiter: not implemented, so refused
    /// rather than reported as an unknown key.
    rate_limit: Option<serde_yaml_ng::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    cert: Option<String>,
    key: Option<String>,
    client_ca: Option<String>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_ca_file: Option<PathBuf>,
    client_auth_type: Option<String>,
    client_allowed_sans: Option<Vec<String>>,
    min_version: Option<String>,
    max_version: Option<String>,
    cipher_suites: Option<Vec<String>>,
    curve_preferences: Option<Vec<String>>,
    prefer_server_cipher_suites: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpFile {
    http2: Option<bool>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// What the server enforces.
pub struct WebConfig {
    pub tls: Option<TlsAcceptor>,
    users: BTreeMap<String, String>,
    /// `http_server_config.headers`: added to every response.
    headers: Vec<(HeaderName, HeaderValue)>,
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
        Self::from_file(file, path).with_context(|| format!("{}", path.display()))
    }

    fn from_file(file: File, path: &Path) -> anyhow::Result<WebConfig> {
        if file.rate_limit.is_some() {
            bail!(
                "rate_limit: not supported by aws-flow-exporter (remove it, or rate-limit \
                 in a proxy in front)"
            );
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let mut files = vec![path.to_path_buf()];
        if let Some(tls) = &file.tls_server_config {
            let named = [&tls.cert_file, &tls.key_file, &tls.client_ca_file];
            files.extend(named.into_iter().flatten().map(|p| resolve(base, p)));
        }
        let tls = match &file.tls_server_config {
            Some(tls) => Some(TlsAcceptor::from(Arc::new(server_config(tls, base)?))),
            None => None,
        };
        let http = file.http_server_config.unwrap_or_default();
        if http.http2 == Some(true) {
            bail!(
                "http_server_config.http2: HTTP/2 is not supported, the server speaks \
                 HTTP/1.1 only (set http2: false or remove it)"
            );
        }
        let headers = response_headers(&http.headers)?;
        for (user, hash) in &file.basic_auth_users {
            if let Err(error) = hash.parse::<bcrypt::HashParts>() {
                bail!("basic_auth_users.{user}: not a bcrypt hash ({error})");
            }
        }
        Ok(WebConfig {
            tls,
            users: file.basic_auth_users,
            headers,
            verified: Mutex::new(HashSet::new()),
            files,
        })
    }

    /// `http_server_config.headers`: to be set on every response, in this order.
    pub fn headers(&self) -> &[(HeaderName, HeaderValue)] {
        &self.headers
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
        read(&self.current).clone()
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, (Vec<PathBuf>, Stamp)> {
        lock(&self.seen)
    }

    /// Loads the file again; returns whether the new version took effect.
    pub fn reload(&self) -> bool {
        match WebConfig::load(&self.path) {
            Ok(config) => {
                *self.seen() = (config.files.clone(), stamp(&config.files));
                *write(&self.current) = Arc::new(config);
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
                    crate::fault::trip("web-config");
                    if self.changed() {
                        self.reload();
                    }
                }
            }
        }
    }
}

/// The response headers the toolkit lets a user set, with the values it
/// accepts when they form a closed set.
const HEADERS: [(&str, &[&str]); 5] = [
    ("Content-Security-Policy", &[]),
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
];

fn response_headers(
    configured: &BTreeMap<String, String>,
) -> anyhow::Result<Vec<(HeaderName, HeaderValue)>> {
    let mut headers = Vec::new();
    for (name, value) in configured {
        let Some((_, allowed)) = HEADERS.iter().find(|(known, _)| known == name) else {
            let known: Vec<_> = HEADERS.iter().map(|(known, _)| *known).collect();
            bail!(
                "http_server_config.headers.{name}: this header cannot be configured \
                 (only {})",
                known.join(", ")
            );
        };
        // "Unset if blank", as the toolkit documents.
        if value.is_empty() {
            continue;
        }
        if !allowed.is_empty() && !allowed.contains(&value.as_str()) {
            bail!(
                "http_server_config.headers.{name}: {value:?} is not one of {}",
                allowed.join(", ")
            );
        }
        let header_value = HeaderValue::from_str(value)
            .with_context(|| format!("http_server_config.headers.{name}: invalid value"))?;
        let header_name = HeaderName::from_bytes(name.as_bytes())
            .with_context(|| format!("http_server_config.headers.{name}"))?;
        headers.push((header_name, header_value));
    }
    Ok(headers)
}

/// `client_auth_type`, as Go's `tls.ClientAuthType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientAuth {
    NoClientCert,
    RequestClientCert,
    RequireAnyClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

impl ClientAuth {
    fn parse(value: Option<&str>) -> anyhow::Result<ClientAuth> {
        Ok(match value {
            None | Some("" | "NoClientCert") => ClientAuth::NoClientCert,
            Some("RequestClientCert") => ClientAuth::RequestClientCert,
            // RequireClientCert: the toolkit's old spelling, still accepted there.
            Some("RequireAnyClientCert" | "RequireClientCert") => ClientAuth::RequireAnyClientCert,
            Some("VerifyClientCertIfGiven") => ClientAuth::VerifyClientCertIfGiven,
            Some("RequireAndVerifyClientCert") => ClientAuth::RequireAndVerifyClientCert,
            Some(other) => bail!(
                "tls_server_config.client_auth_type: unknown value {other:?} (NoClientCert, \
                 RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven or \
                 RequireAndVerifyClientCert)"
            ),
        })
    }

    /// Whether the handshake fails without a client certificate.
    fn required(self) -> bool {
        matches!(
            self,
            ClientAuth::RequireAnyClientCert | ClientAuth::RequireAndVerifyClientCert
        )
    }
}

/// The PEM text of `name` (inline) or of the file `name_file`, one of them;
/// with the key it came from, for errors.
fn pem_source(
    inline: Option<&str>,
    file: Option<&Path>,
    base: &Path,
    name: &str,
) -> anyhow::Result<Option<(Vec<u8>, String)>> {
    match (inline, file) {
        (Some(_), Some(_)) => {
            bail!("tls_server_config: both {name} and {name}_file are set (use one of them)")
        }
        (Some(text), None) => Ok(Some((
            text.as_bytes().to_vec(),
            format!("tls_server_config.{name}"),
        ))),
        (None, Some(file)) => {
            let key = format!("tls_server_config.{name}_file");
            let path = resolve(base, file);
            let bytes = std::fs::read(&path)
                .with_context(|| format!("{key}: cannot read {}", path.display()))?;
            Ok(Some((bytes, key)))
        }
        (None, None) => Ok(None),
    }
}

fn certificates(pem: &[u8], key: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .with_context(|| key.to_string())?;
    if certs.is_empty() {
        bail!("{key}: no PEM certificate found");
    }
    Ok(certs)
}

/// A TLS version bound: 2 for TLS 1.2, 3 for TLS 1.3.
fn tls_version(key: &str, value: Option<&str>, default: u8) -> anyhow::Result<u8> {
    match value {
        None => Ok(default),
        Some("TLS12") => Ok(2),
        Some("TLS13") => Ok(3),
        Some(old @ ("TLS10" | "TLS11")) => bail!(
            "tls_server_config.{key}: {old} is not supported: rustls implements TLS 1.2 and \
             1.3 only (TLS12 or TLS13)"
        ),
        Some(other) => {
            bail!("tls_server_config.{key}: unknown TLS version {other:?} (TLS12 or TLS13)")
        }
    }
}

/// The TLS 1.2 suites rustls implements, by the names Go gives them.
fn tls12_suites() -> [(&'static str, SupportedCipherSuite); 6] {
    use rustls::crypto::aws_lc_rs::cipher_suite as cs;
    [
        (
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ),
        (
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        ),
        (
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
        (
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        ),
        (
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        ),
        (
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
    ]
}

/// The Go names of the TLS 1.3 suites, which Go (and so the toolkit) does not
/// let a configuration choose.
const TLS13_SUITES: [&str; 3] = [
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// `cipher_suites`: the TLS 1.2 suites, in the order given; the TLS 1.3 ones
/// stay all on, as in Go.
fn cipher_suites(names: &[String]) -> anyhow::Result<Vec<SupportedCipherSuite>> {
    let known = tls12_suites();
    let mut suites: Vec<SupportedCipherSuite> = rustls::crypto::aws_lc_rs::DEFAULT_CIPHER_SUITES
        .iter()
        .filter(|s| s.version() == &rustls::version::TLS13)
        .copied()
        .collect();
    for name in names {
        if TLS13_SUITES.contains(&name.as_str()) {
            bail!(
                "tls_server_config.cipher_suites: {name} is a TLS 1.3 suite; TLS 1.3 suites \
                 are not configurable (as in Go, all three are always on): list TLS 1.2 \
                 suites only"
            );
        }
        let Some((_, suite)) = known.iter().find(|(go, _)| go == name) else {
            let names: Vec<_> = known.iter().map(|(go, _)| *go).collect();
            bail!(
                "tls_server_config.cipher_suites: {name} is not supported (rustls implements, \
                 for TLS 1.2, only {})",
                names.join(", ")
            );
        };
        if !suites.contains(suite) {
            suites.push(*suite);
        }
    }
    Ok(suites)
}

/// `curve_preferences`: the key exchange groups, in the order given.
fn kx_groups(names: &[String]) -> anyhow::Result<Vec<&'static dyn SupportedKxGroup>> {
    use rustls::crypto::aws_lc_rs::kx_group;
    let mut groups: Vec<&'static dyn SupportedKxGroup> = Vec::new();
    for name in names {
        let group = match name.as_str() {
            "CurveP256" => kx_group::SECP256R1,
            "CurveP384" => kx_group::SECP384R1,
            "X25519" => kx_group::X25519,
            "CurveP521" => bail!(
                "tls_server_config.curve_preferences: CurveP521 is not supported: rustls has \
                 no P-521 key exchange (CurveP256, CurveP384 or X25519)"
            ),
            other => bail!(
                "tls_server_config.curve_preferences: unknown curve {other:?} (CurveP256, \
                 CurveP384 or X25519)"
            ),
        };
        if !groups.iter().any(|g| g.name() == group.name()) {
            groups.push(group);
        }
    }
    Ok(groups)
}

/// The rustls configuration `tls_server_config` describes.
fn server_config(tls: &TlsFile, base: &Path) -> anyhow::Result<rustls::ServerConfig> {
    let (cert_pem, cert_key) =
        pem_source(tls.cert.as_deref(), tls.cert_file.as_deref(), base, "cert")?
            .context("tls_server_config: one of cert_file or cert is needed")?;
    let (key_pem, key_key) = pem_source(tls.key.as_deref(), tls.key_file.as_deref(), base, "key")?
        .context("tls_server_config: one of key_file or key is needed")?;
    let certs = certificates(&cert_pem, &cert_key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).with_context(|| key_key.clone())?;

    let min = tls_version("min_version", tls.min_version.as_deref(), 2)?;
    let max = tls_version("max_version", tls.max_version.as_deref(), 3)?;
    if min > max {
        bail!("tls_server_config: min_version is above max_version");
    }
    let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
    if max == 3 {
        versions.push(&rustls::version::TLS13);
    }
    if min == 2 {
        versions.push(&rustls::version::TLS12);
    }

    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    if let Some(names) = tls.cipher_suites.as_deref().filter(|n| !n.is_empty()) {
        if min == 3 {
            bail!(
                "tls_server_config.cipher_suites: the suites listed are TLS 1.2 ones, and \
                 min_version TLS13 turns TLS 1.2 off (remove one of the two)"
            );
        }
        provider.cipher_suites = cipher_suites(names)?;
    }
    if let Some(names) = tls.curve_preferences.as_deref().filter(|n| !n.is_empty()) {
        provider.kx_groups = kx_groups(names)?;
    }
    let provider = Arc::new(provider);

    let auth = ClientAuth::parse(tls.client_auth_type.as_deref())?;
    let ca = pem_source(
        tls.client_ca.as_deref(),
        tls.client_ca_file.as_deref(),
        base,
        "client_ca",
    )?;
    let roots = match &ca {
        Some((pem, key)) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in certificates(pem, key)? {
                roots.add(cert).with_context(|| key.clone())?;
            }
            Some(Arc::new(roots))
        }
        None => None,
    };
    let verifier: Option<Arc<dyn ClientCertVerifier>> = match (auth, roots) {
        (ClientAuth::NoClientCert, None) => None,
        (ClientAuth::NoClientCert, Some(_)) => bail!(
            "tls_server_config: a client CA is set but client_auth_type is NoClientCert \
             (set client_auth_type, e.g. RequireAndVerifyClientCert, or remove the CA)"
        ),
        (ClientAuth::RequestClientCert | ClientAuth::RequireAnyClientCert, roots) => {
            Some(Arc::new(AnyClientCert {
                mandatory: auth.required(),
                hints: roots.map(|r| r.subjects()).unwrap_or_default(),
                algorithms: provider.signature_verification_algorithms,
            }))
        }
        (_, None) => {
            bail!("tls_server_config.client_auth_type: {auth:?} needs client_ca_file or client_ca")
        }
        (_, Some(roots)) => {
            let builder = rustls::server::WebPkiClientVerifier::builder_with_provider(
                roots,
                provider.clone(),
            );
            let builder = if auth.required() {
                builder
            } else {
                builder.allow_unauthenticated()
            };
            Some(
                builder
                    .build()
                    .context("tls_server_config.client_ca_file")?,
            )
        }
    };
    let verifier: Option<Arc<dyn ClientCertVerifier>> = match (&tls.client_allowed_sans, verifier) {
        (None, verifier) => verifier,
        (Some(allowed), _) if allowed.is_empty() => bail!(
            "tls_server_config.client_allowed_sans: the list is empty, no client could connect \
             (remove it or list the SANs)"
        ),
        (Some(allowed), Some(inner)) if auth.required() => Some(Arc::new(AllowedSans {
            inner,
            allowed: allowed.clone(),
        })),
        (Some(_), _) => bail!(
            "tls_server_config.client_allowed_sans: needs client_auth_type \
             RequireAnyClientCert or RequireAndVerifyClientCert (with {auth:?} a client may \
             send no certificate, leaving no SAN to check)"
        ),
    };

    let builder = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .context("tls_server_config: versions, cipher_suites and curve_preferences")?;
    let builder = match verifier {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .with_context(|| format!("{cert_key}/{key_key}"))?;
    // The toolkit's default is the server's order.
    config.ignore_client_order = tls.prefer_server_cipher_suites.unwrap_or(true);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

mod client_cert;
#[cfg(test)]
use client_cert::{ip_string, subject_alt_names};
use client_cert::{AllowedSans, AnyClientCert};

#[cfg(test)]
mod tests;
