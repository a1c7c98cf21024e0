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

use crate::sync::{lock, read, write};
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

/// `RequestClientCert` and `RequireAnyClientCert`: as in Go, a certificate is
/// asked for and, when one comes, the client must prove it holds its key, but
/// who issued it is not checked (the toolkit calls these insecure).
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    hints: Vec<DistinguishedName>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// `client_allowed_sans`: after `inner` accepts the client certificate, one
/// of its subject alternative names (DNS, e-mail, URI or IP address, as Go
/// prints them) must equal one in the list.
#[derive(Debug)]
struct AllowedSans {
    inner: Arc<dyn ClientCertVerifier>,
    allowed: Vec<String>,
}

/// Why a client certificate was refused; rustls logs it with `Debug`, so
/// both say it in words.
struct NoAllowedSan(Vec<String>);

impl std::fmt::Debug for NoAllowedSan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl std::fmt::Display for NoAllowedSan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the client certificate has none of client_allowed_sans (it has {:?})",
            self.0
        )
    }
}

impl std::error::Error for NoAllowedSan {}

impl ClientCertVerifier for AllowedSans {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let names = subject_alt_names(end_entity).ok_or(rustls::Error::InvalidCertificate(
            rustls::CertificateError::BadEncoding,
        ))?;
        if names.iter().any(|name| self.allowed.contains(name)) {
            Ok(verified)
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Other(rustls::OtherError(Arc::new(NoAllowedSan(names)))),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// One DER element: its tag, its contents and what follows it. Only the
/// low-tag-number form and definite lengths, which is all DER allows for the
/// parts of a certificate read here.
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let (bytes, rest) = rest.split_at_checked(n)?;
        let len = bytes
            .iter()
            .fold(0usize, |len, &b| (len << 8) | usize::from(b));
        (len, rest)
    };
    let (contents, rest) = rest.split_at_checked(len)?;
    Some((tag, contents, rest))
}

/// The subject alternative names of a certificate, as Go's `x509` package
/// lists them: DNS names, e-mail addresses, IP addresses and URIs. `None`
/// when the certificate cannot be read.
fn subject_alt_names(cert: &[u8]) -> Option<Vec<String>> {
    const SEQUENCE: u8 = 0x30;
    const SAN_OID: &[u8] = &[0x55, 0x1d, 0x11]; // 2.5.29.17
    let (SEQUENCE, certificate, _) = der(cert)? else {
        return None;
    };
    let (SEQUENCE, mut tbs, _) = der(certificate)? else {
        return None;
    };
    let mut names = Vec::new();
    while !tbs.is_empty() {
        let (tag, contents, rest) = der(tbs)?;
        tbs = rest;
        // [3] EXPLICIT Extensions
        if tag != 0xa3 {
            continue;
        }
        let (SEQUENCE, mut extensions, _) = der(contents)? else {
            return None;
        };
        while !extensions.is_empty() {
            let (SEQUENCE, extension, rest) = der(extensions)? else {
                return None;
            };
            extensions = rest;
            let (0x06, oid, mut fields) = der(extension)? else {
                return None;
            };
            if oid != SAN_OID {
                continue;
            }
            // critical BOOLEAN DEFAULT FALSE, then the OCTET STRING.
            let (mut tag, mut value, _) = der(fields)?;
            if tag == 0x01 {
                fields = der(fields)?.2;
                (tag, value, _) = der(fields)?;
            }
            if tag != 0x04 {
                return None;
            }
            let (SEQUENCE, mut general_names, _) = der(value)? else {
                return None;
            };
            while !general_names.is_empty() {
                let (tag, name, rest) = der(general_names)?;
                general_names = rest;
                match tag {
                    // rfc822Name, dNSName, uniformResourceIdentifier (IA5String)
                    0x81 | 0x82 | 0x86 => names.push(String::from_utf8(name.to_vec()).ok()?),
                    // iPAddress
                    0x87 => names.push(ip_string(name)?),
                    _ => {}
                }
            }
        }
    }
    Some(names)
}

/// An iPAddress SAN as Go's `net.IP.String` prints it.
fn ip_string(bytes: &[u8]) -> Option<String> {
    match bytes.len() {
        4 => Some(std::net::Ipv4Addr::from(<[u8; 4]>::try_from(bytes).ok()?).to_string()),
        16 => {
            let ip = std::net::Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?);
            Some(match ip.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => ip.to_string(),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::crypto::aws_lc_rs::{cipher_suite as cs, kx_group};
    use rustls::{CipherSuite, ClientConfig, NamedGroup, ProtocolVersion, ServerConfig};

    // Test-only keys and certificates (EC P-256, valid until 2126), made with
    // openssl: a self-signed server certificate for localhost, a CA, and a
    // client certificate from that CA with one SAN of each kind.
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
    const CA_CRT: &str = "-----BEGIN CERTIFICATE-----
MIIBejCCASGgAwIBAgIUfhQud/CbRUzl72ax+ZTx0+XvR48wCgYIKoZIzj0EAwIw
EjEQMA4GA1UEAwwHdGVzdCBjYTAgFw0yNjEyMDYxNjU0NTZaGA8yMTI2MTExMjE2
NTQ1NlowEjEQMA4GA1UEAwwHdGVzdCBjYTBZMBMGByqGSM49AgEGCCqGSM49AwEH
A0IABEUaBSZBTwruxqRRvTGOoBY0RdIQJnhsornKFHDU+aMI4uCXGHGAlMvXA5Fk
4sRCCJUnQN/aEXtlvFJGddU/BVujUzBRMB0GA1UdDgQWBBRR9YIu1EHydHqLqNUW
6sNjfZUwJzAfBgNVHSMEGDAWgBRR9YIu1EHydHqLqNUW6sNjfZUwJzAPBgNVHRMB
Af8EBTADAQH/MAoGCCqGSM49BAMCA0cAMEQCIE2vPa3MlLlXVPTrgPjft6uP0zhO
PgUJ5poTHH27927GAiB5/W90gRegHTHVI7JNE9QhUy/mXME9Cuw8N/+t4uRHgA==
-----END CERTIFICATE-----
";
    const CLIENT_CRT: &str = "-----BEGIN CERTIFICATE-----
MIIB7zCCAZSgAwIBAgIUPT9JvFsK+7C1KmN5Aoa2gXxaRTQwCgYIKoZIzj0EAwIw
EjEQMA4GA1UEAwwHdGVzdCBjYTAgFw0yNjEyMDYxNjU0NTZaGA8yMTI2MTExMjE2
NTQ1NlowEjEQMA4GA1UEAwwHc2NyYXBlcjBZMBMGByqGSM49AgEGCCqGSM49AwEH
A0IABKRJlR5MhClE9jhZNlDIV7FFmxWV51iVUGn/iyXjBSzQ9pcWxyrohC+fq74/
TimgFnDFWsaBLjxInctP0XYjYISjgcUwgcIwXQYDVR0RBFYwVIIPc2NyYXBlci5l
eGFtcGxlgQ9vcHNAZXhhbXBsZS5jb22GGHNwaWZmZTovL2V4YW1wbGUvc2NyYXBl
cocECgAAB4cQIAENuAAAAAAAAAAAAAAABzAMBgNVHRMBAf8EAjAAMBMGA1UdJQQM
MAoGCCsGAQUFBwMCMB0GA1UdDgQWBBQzPsBcAJZsG320UXXnCfXJF1HofjAfBgNV
HSMEGDAWgBRR9YIu1EHydHqLqNUW6sNjfZUwJzAKBggqhkjOPQQDAgNJADBGAiEA
049VTKedl26HPFGxIt8wDmYQoPQkBV5RbmJSr7g/Xf4CIQCFW5/1Eeo7HTLUDLtK
zw0Cn9bEnpGF7Y5/1VZYoPfe7Q==
-----END CERTIFICATE-----
";
    const CLIENT_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgKwoXzJ7sSkxiXXFL
nZ5HFX6FPXmOQ5sHWEynRHiZjoyhRANCAASkSZUeTIQpRPY4WTZQyFexRZsVledY
lVBp/4sl4wUs0PaXFscq6IQvn6u+P04poBZwxVrGgS48SJ3LT9F2I2CE
-----END PRIVATE KEY-----
";

    /// A directory with the certificates as files and `web.yml` holding `yaml`.
    fn dir_with(yaml: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        for (name, pem) in [
            ("server.crt", SERVER_CRT),
            ("server.key", SERVER_KEY),
            ("ca.crt", CA_CRT),
        ] {
            std::fs::write(dir.path().join(name), pem).unwrap();
        }
        let path = dir.path().join("web.yml");
        std::fs::write(&path, yaml).unwrap();
        (dir, path)
    }

    fn load(yaml: &str) -> anyhow::Result<WebConfig> {
        let (_dir, path) = dir_with(yaml);
        WebConfig::load(&path)
    }

    /// The error loading `yaml` gives, which must name `key` and `words`.
    fn refused(yaml: &str, key: &str, words: &str) {
        let error = format!("{:#}", load(yaml).err().expect("accepted"));
        assert!(error.contains(key), "{key:?} not in: {error}");
        assert!(error.contains(words), "{words:?} not in: {error}");
    }

    const TLS: &str = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";

    /// The rustls server configuration for `TLS` plus `extra` lines.
    fn server(extra: &str) -> Arc<ServerConfig> {
        let (dir, _) = dir_with("");
        let tls: TlsFile = serde_yaml_ng::from_str(&format!(
            "cert_file: server.crt\nkey_file: server.key\n{extra}"
        ))
        .unwrap();
        Arc::new(server_config(&tls, dir.path()).unwrap())
    }

    struct Client {
        versions: Vec<&'static rustls::SupportedProtocolVersion>,
        suites: Option<Vec<SupportedCipherSuite>>,
        groups: Option<Vec<&'static dyn SupportedKxGroup>>,
        cert: Option<(&'static str, &'static str)>,
    }

    fn client() -> Client {
        Client {
            versions: vec![&rustls::version::TLS13, &rustls::version::TLS12],
            suites: None,
            groups: None,
            cert: None,
        }
    }

    impl Client {
        fn only(mut self, version: &'static rustls::SupportedProtocolVersion) -> Self {
            self.versions = vec![version];
            self
        }
        fn suites(mut self, suites: &[SupportedCipherSuite]) -> Self {
            self.suites = Some(suites.to_vec());
            self
        }
        fn groups(mut self, groups: &[&'static dyn SupportedKxGroup]) -> Self {
            self.groups = Some(groups.to_vec());
            self
        }
        fn cert(mut self, cert: &'static str, key: &'static str) -> Self {
            self.cert = Some((cert, key));
            self
        }

        fn config(&self) -> Arc<ClientConfig> {
            let mut provider = rustls::crypto::aws_lc_rs::default_provider();
            if let Some(suites) = &self.suites {
                provider.cipher_suites = suites.clone();
            }
            if let Some(groups) = &self.groups {
                provider.kx_groups = groups.clone();
            }
            let mut roots = rustls::RootCertStore::empty();
            roots
                .add(CertificateDer::from_pem_slice(SERVER_CRT.as_bytes()).unwrap())
                .unwrap();
            let builder = ClientConfig::builder_with_provider(Arc::new(provider))
                .with_protocol_versions(&self.versions)
                .unwrap()
                .with_root_certificates(roots);
            Arc::new(match self.cert {
                Some((cert, key)) => builder
                    .with_client_auth_cert(
                        vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
                        PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
                    )
                    .unwrap(),
                None => builder.with_no_client_auth(),
            })
        }

        /// A handshake in memory: what was agreed, or the first error.
        fn connect(
            &self,
            server: &Arc<ServerConfig>,
        ) -> Result<(ProtocolVersion, CipherSuite, NamedGroup), rustls::Error> {
            let mut s = rustls::ServerConnection::new(server.clone())?;
            let mut c =
                rustls::ClientConnection::new(self.config(), "localhost".try_into().unwrap())?;
            for _ in 0..10 {
                let mut bytes = Vec::new();
                while c.wants_write() {
                    c.write_tls(&mut bytes).unwrap();
                }
                let mut read = &bytes[..];
                while !read.is_empty() {
                    s.read_tls(&mut read).unwrap();
                    s.process_new_packets()?;
                }
                let mut bytes = Vec::new();
                while s.wants_write() {
                    s.write_tls(&mut bytes).unwrap();
                }
                let mut read = &bytes[..];
                while !read.is_empty() {
                    c.read_tls(&mut read).unwrap();
                    c.process_new_packets()?;
                }
                if !s.is_handshaking() && !c.is_handshaking() {
                    return Ok((
                        s.protocol_version().unwrap(),
                        s.negotiated_cipher_suite().unwrap().suite(),
                        s.negotiated_key_exchange_group().unwrap().name(),
                    ));
                }
            }
            panic!("the handshake did not finish");
        }
    }

    #[test]
    fn basic_auth_checks_bcrypt_hashes() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let config = WebConfig {
            tls: None,
            users: BTreeMap::from([("alice".to_string(), hash)]),
            headers: Vec::new(),
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
    fn basic_auth_users_must_be_bcrypt_hashes() {
        refused(
            "basic_auth_users:\n  alice: $2y$10$short\n",
            "basic_auth_users.alice",
            "not a bcrypt hash",
        );
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        assert!(load(&format!("basic_auth_users:\n  alice: '{hash}'\n")).is_ok());
    }

    #[test]
    fn unknown_keys_are_errors() {
        refused(
            "basic_auth_userz: {}\n",
            "basic_auth_userz",
            "unknown field",
        );
        refused(
            &format!("{TLS}  cipher_suitez: []\n"),
            "cipher_suitez",
            "unknown field",
        );
        refused(
            "http_server_config:\n  http3: false\n",
            "http3",
            "unknown field",
        );
    }

    #[test]
    fn toolkit_keys_not_implemented_are_refused() {
        refused(
            "rate_limit:\n  interval: 1s\n  burst: 10\n",
            "rate_limit",
            "not supported",
        );
        refused(
            "http_server_config:\n  http2: true\n",
            "http_server_config.http2",
            "HTTP/2 is not supported",
        );
        let config = load("http_server_config:\n  http2: false\n").unwrap();
        assert!(config.tls.is_none());
    }

    #[test]
    fn the_default_tls_is_1_2_and_1_3_in_the_server_order() {
        let server = server("");
        assert!(server.ignore_client_order);
        assert_eq!(server.alpn_protocols, vec![b"http/1.1".to_vec()]);
        let agreed = |c: Client| c.connect(&server).unwrap().0;
        assert_eq!(agreed(client()), ProtocolVersion::TLSv1_3);
        assert_eq!(
            agreed(client().only(&rustls::version::TLS12)),
            ProtocolVersion::TLSv1_2
        );
        assert!(load(TLS).unwrap().tls.is_some());
    }

    #[test]
    fn min_and_max_version_bound_the_protocol() {
        let tls12 = server("max_version: TLS12\n");
        assert!(client()
            .only(&rustls::version::TLS13)
            .connect(&tls12)
            .is_err());
        assert_eq!(
            client().connect(&tls12).unwrap().0,
            ProtocolVersion::TLSv1_2
        );

        let tls13 = server("min_version: TLS13\n");
        assert!(client()
            .only(&rustls::version::TLS12)
            .connect(&tls13)
            .is_err());
        assert_eq!(
            client().connect(&tls13).unwrap().0,
            ProtocolVersion::TLSv1_3
        );

        let both = server("min_version: TLS12\nmax_version: TLS13\n");
        assert_eq!(client().connect(&both).unwrap().0, ProtocolVersion::TLSv1_3);

        for (line, key) in [
            ("min_version: TLS10", "tls_server_config.min_version"),
            ("min_version: TLS11", "tls_server_config.min_version"),
            ("max_version: TLS11", "tls_server_config.max_version"),
        ] {
            refused(
                &format!("{TLS}  {line}\n"),
                key,
                "rustls implements TLS 1.2 and 1.3 only",
            );
        }
        refused(
            &format!("{TLS}  max_version: TLS14\n"),
            "tls_server_config.max_version",
            "unknown TLS version",
        );
        refused(
            &format!("{TLS}  min_version: TLS13\n  max_version: TLS12\n"),
            "min_version",
            "above max_version",
        );
    }

    #[test]
    fn cipher_suites_restrict_tls_1_2_in_the_order_given() {
        let server = server(
            "cipher_suites:\n  - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\n  \
             - TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256\n",
        );
        let suites: Vec<_> = server
            .crypto_provider()
            .cipher_suites
            .iter()
            .map(|s| s.suite())
            .collect();
        assert_eq!(
            suites,
            vec![
                CipherSuite::TLS13_AES_256_GCM_SHA384,
                CipherSuite::TLS13_AES_128_GCM_SHA256,
                CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
                CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
                CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            ]
        );
        let tls12 = || client().only(&rustls::version::TLS12);
        assert_eq!(
            tls12().connect(&server).unwrap().1,
            CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        );
        // A suite left out is refused...
        assert!(tls12()
            .suites(&[cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384])
            .connect(&server)
            .is_err());
        // ...and TLS 1.3 is not restricted (as in Go).
        let (version, suite, _) = client()
            .only(&rustls::version::TLS13)
            .suites(&[cs::TLS13_CHACHA20_POLY1305_SHA256])
            .connect(&server)
            .unwrap();
        assert_eq!(version, ProtocolVersion::TLSv1_3);
        assert_eq!(suite, CipherSuite::TLS13_CHACHA20_POLY1305_SHA256);
    }

    #[test]
    fn prefer_server_cipher_suites_decides_whose_order_wins() {
        let suites = "cipher_suites:\n  - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\n  \
                      - TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256\n";
        let client_order = [
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ];
        let agreed = |prefer: &str| {
            let server = server(&format!("{suites}{prefer}"));
            let suite = client()
                .only(&rustls::version::TLS12)
                .suites(&client_order)
                .connect(&server)
                .unwrap()
                .1;
            (server.ignore_client_order, suite)
        };
        assert_eq!(
            agreed(""),
            (true, CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)
        );
        assert_eq!(
            agreed("prefer_server_cipher_suites: true\n"),
            (true, CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)
        );
        assert_eq!(
            agreed("prefer_server_cipher_suites: false\n"),
            (
                false,
                CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
            )
        );
    }

    #[test]
    fn cipher_suites_rustls_lacks_or_go_ignores_are_refused() {
        refused(
            &format!("{TLS}  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA]\n"),
            "tls_server_config.cipher_suites: TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
            "not supported",
        );
        refused(
            &format!("{TLS}  cipher_suites: [TLS_AES_128_GCM_SHA256]\n"),
            "tls_server_config.cipher_suites: TLS_AES_128_GCM_SHA256",
            "not configurable",
        );
        refused(
            &format!(
                "{TLS}  min_version: TLS13\n  cipher_suites: \
                 [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]\n"
            ),
            "tls_server_config.cipher_suites",
            "min_version TLS13",
        );
        // An empty list is Go's default.
        assert!(load(&format!("{TLS}  cipher_suites: []\n")).is_ok());
    }

    #[test]
    fn curve_preferences_choose_the_key_exchange_groups() {
        let server = server("curve_preferences: [CurveP384, X25519]\n");
        let groups: Vec<_> = server
            .crypto_provider()
            .kx_groups
            .iter()
            .map(|g| g.name())
            .collect();
        assert_eq!(groups, vec![NamedGroup::secp384r1, NamedGroup::X25519]);
        for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
            let only = |group: &'static dyn SupportedKxGroup| {
                client().only(version).groups(&[group]).connect(&server)
            };
            assert_eq!(only(kx_group::SECP384R1).unwrap().2, NamedGroup::secp384r1);
            assert!(only(kx_group::SECP256R1).is_err());
        }
        assert!(load(&format!("{TLS}  curve_preferences: [CurveP256]\n")).is_ok());
        refused(
            &format!("{TLS}  curve_preferences: [CurveP256, CurveP521]\n"),
            "tls_server_config.curve_preferences: CurveP521",
            "not supported",
        );
        refused(
            &format!("{TLS}  curve_preferences: [P256]\n"),
            "tls_server_config.curve_preferences",
            "unknown curve",
        );
    }

    #[test]
    fn client_auth_types_behave_as_in_go() {
        let ca = "client_ca_file: ca.crt\n";
        let trusted = || client().cert(CLIENT_CRT, CLIENT_KEY);
        let untrusted = || client().cert(SERVER_CRT, SERVER_KEY);
        // (type, without a certificate, with a trusted one, with an untrusted one)
        for (kind, none, good, bad) in [
            ("NoClientCert", true, true, true),
            ("RequestClientCert", true, true, true),
            ("RequireAnyClientCert", false, true, true),
            ("RequireClientCert", false, true, true),
            ("VerifyClientCertIfGiven", true, true, false),
            ("RequireAndVerifyClientCert", false, true, false),
        ] {
            let ca = if kind == "NoClientCert" { "" } else { ca };
            let server = server(&format!("client_auth_type: {kind}\n{ca}"));
            for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
                let ok = |c: Client| c.only(version).connect(&server).is_ok();
                assert_eq!(
                    ok(client()),
                    none,
                    "{kind} {version:?} without a certificate"
                );
                assert_eq!(ok(trusted()), good, "{kind} {version:?} trusted");
                assert_eq!(ok(untrusted()), bad, "{kind} {version:?} untrusted");
            }
        }
        // Go needs no CA for these two; one, if given, names the CAs to the client.
        let hinted = server(&format!("client_auth_type: RequestClientCert\n{ca}"));
        assert!(client()
            .cert(CLIENT_CRT, CLIENT_KEY)
            .connect(&hinted)
            .is_ok());
        assert!(load(&format!("{TLS}  client_auth_type: RequireAnyClientCert\n")).is_ok());

        refused(
            &format!("{TLS}  client_ca_file: ca.crt\n"),
            "tls_server_config",
            "client_auth_type is NoClientCert",
        );
        refused(
            &format!("{TLS}  client_auth_type: RequireAndVerifyClientCert\n"),
            "tls_server_config.client_auth_type",
            "needs client_ca_file",
        );
        refused(
            &format!("{TLS}  client_auth_type: VerifyClientCert\n"),
            "tls_server_config.client_auth_type",
            "unknown value",
        );
        refused(
            &format!("{TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: server.key\n"),
            "tls_server_config.client_ca_file",
            "no PEM certificate",
        );
    }

    #[test]
    fn subject_alt_names_are_read_as_go_prints_them() {
        let der = CertificateDer::from_pem_slice(CLIENT_CRT.as_bytes()).unwrap();
        assert_eq!(
            subject_alt_names(&der).unwrap(),
            vec![
                "scraper.example",
                "ops@example.com",
                "spiffe://example/scraper",
                "10.0.0.7",
                "2001:db8::7",
            ]
        );
        let der = CertificateDer::from_pem_slice(CA_CRT.as_bytes()).unwrap();
        assert_eq!(subject_alt_names(&der).unwrap(), Vec::<String>::new());
        assert_eq!(subject_alt_names(b"\x30\x05\x30\x03"), None);
        assert_eq!(subject_alt_names(b""), None);
        assert_eq!(
            ip_string(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1]),
            Some("10.0.0.1".to_string())
        );
    }

    #[test]
    fn client_allowed_sans_admit_only_certificates_naming_one() {
        let auth = "client_auth_type: RequireAndVerifyClientCert\nclient_ca_file: ca.crt\n";
        for san in [
            "scraper.example",
            "ops@example.com",
            "spiffe://example/scraper",
            "10.0.0.7",
            "2001:db8::7",
        ] {
            let server = server(&format!(
                "{auth}client_allowed_sans: [other.example, '{san}']\n"
            ));
            assert!(
                client()
                    .cert(CLIENT_CRT, CLIENT_KEY)
                    .connect(&server)
                    .is_ok(),
                "{san}"
            );
        }
        let server = server(&format!("{auth}client_allowed_sans: [other.example]\n"));
        for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
            let error = client()
                .only(version)
                .cert(CLIENT_CRT, CLIENT_KEY)
                .connect(&server)
                .unwrap_err();
            assert!(error.to_string().contains("client_allowed_sans"), "{error}");
        }
        // With RequireAnyClientCert the SAN is all that is checked.
        let any = server_with_any_cert_and_sans();
        assert!(client().cert(CLIENT_CRT, CLIENT_KEY).connect(&any).is_ok());
        assert!(client().cert(SERVER_CRT, SERVER_KEY).connect(&any).is_err());

        refused(
            &format!("{TLS}  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.crt\n  client_allowed_sans: [a]\n"),
            "tls_server_config.client_allowed_sans",
            "RequireAnyClientCert or RequireAndVerifyClientCert",
        );
        refused(
            &format!("{TLS}  client_allowed_sans: [a]\n"),
            "tls_server_config.client_allowed_sans",
            "RequireAnyClientCert or RequireAndVerifyClientCert",
        );
        refused(
            &format!("{TLS}  client_auth_type: RequireAnyClientCert\n  client_allowed_sans: []\n"),
            "tls_server_config.client_allowed_sans",
            "empty",
        );
    }

    fn server_with_any_cert_and_sans() -> Arc<ServerConfig> {
        server("client_auth_type: RequireAnyClientCert\nclient_allowed_sans: [scraper.example]\n")
    }

    #[test]
    fn certificates_and_ca_may_be_inline() {
        let indent = |pem: &str| pem.replace('\n', "\n    ");
        let yaml = format!(
            "tls_server_config:\n  cert: |\n    {}\n  key: |\n    {}\n  client_ca: |\n    {}\n  \
             client_auth_type: RequireAndVerifyClientCert\n",
            indent(SERVER_CRT),
            indent(SERVER_KEY),
            indent(CA_CRT)
        );
        let (dir, path) = dir_with(&yaml);
        let config = WebConfig::load(&path).unwrap();
        assert!(config.tls.is_some());
        assert_eq!(config.files, vec![path.clone()]);
        let tls: TlsFile = serde_yaml_ng::from_str::<File>(&yaml)
            .unwrap()
            .tls_server_config
            .unwrap();
        let server = Arc::new(server_config(&tls, dir.path()).unwrap());
        assert!(client()
            .cert(CLIENT_CRT, CLIENT_KEY)
            .connect(&server)
            .is_ok());
        assert!(client().connect(&server).is_err());

        refused(
            &format!("{TLS}  cert: x\n"),
            "tls_server_config",
            "both cert and cert_file",
        );
        refused(
            "tls_server_config:\n  cert_file: server.crt\n",
            "tls_server_config",
            "one of key_file or key",
        );
        refused(
            "tls_server_config:\n  min_version: TLS13\n",
            "tls_server_config",
            "one of cert_file or cert",
        );
        refused(
            "tls_server_config:\n  cert_file: missing.crt\n  key_file: server.key\n",
            "tls_server_config.cert_file",
            "missing.crt",
        );
    }

    #[test]
    fn the_certificate_files_are_watched() {
        let (dir, path) = dir_with(&format!(
            "{TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n"
        ));
        let config = WebConfig::load(&path).unwrap();
        let names = ["web.yml", "server.crt", "server.key", "ca.crt"];
        let expected: Vec<_> = names.iter().map(|n| dir.path().join(n)).collect();
        assert_eq!(config.files, expected);
    }

    #[test]
    fn headers_are_checked_and_exposed() {
        let config = load(
            "http_server_config:\n  headers:\n    X-Frame-Options: deny\n    \
             X-Content-Type-Options: nosniff\n    Content-Security-Policy: \"default-src 'self'\"\n    \
             Strict-Transport-Security: ''\n",
        )
        .unwrap();
        let headers: Vec<_> = config
            .headers()
            .iter()
            .map(|(name, value)| (name.as_str(), value.to_str().unwrap()))
            .collect();
        assert_eq!(
            headers,
            vec![
                ("content-security-policy", "default-src 'self'"),
                ("x-content-type-options", "nosniff"),
                ("x-frame-options", "deny"),
            ]
        );
        assert!(load("basic_auth_users: {}\n").unwrap().headers().is_empty());
        refused(
            "http_server_config:\n  headers:\n    X-Powered-By: rust\n",
            "http_server_config.headers.X-Powered-By",
            "cannot be configured",
        );
        refused(
            "http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
            "http_server_config.headers.X-Frame-Options",
            "not one of deny, sameorigin",
        );
        refused(
            "http_server_config:\n  headers:\n    X-XSS-Protection: \"a\\nb\"\n",
            "http_server_config.headers.X-XSS-Protection",
            "invalid value",
        );
    }
}
