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
pub(super) const CLIENT_CRT: &str = "-----BEGIN CERTIFICATE-----
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
        let mut c = rustls::ClientConnection::new(self.config(), "localhost".try_into().unwrap())?;
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
        &format!(
            "{TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: server.key\n"
        ),
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
