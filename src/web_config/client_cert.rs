//! Client certificate checks rustls does not have: any certificate whose key
//! the client holds (Go's RequestClientCert / RequireAnyClientCert), and the
//! toolkit's `client_allowed_sans`, read from the certificate by x509-parser.

use super::*;

/// `RequestClientCert` and `RequireAnyClientCert`: as in Go, a certificate is
/// asked for and, when one comes, the client must prove it holds its key, but
/// who issued it is not checked (the toolkit calls these insecure).
#[derive(Debug)]
pub(super) struct AnyClientCert {
    pub(super) mandatory: bool,
    pub(super) hints: Vec<DistinguishedName>,
    pub(super) algorithms: WebPkiSupportedAlgorithms,
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
pub(super) struct AllowedSans {
    pub(super) inner: Arc<dyn ClientCertVerifier>,
    pub(super) allowed: Vec<String>,
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

/// The subject alternative names of a certificate, as Go's `x509` package
/// lists them: DNS names, e-mail addresses, IP addresses and URIs. `None`
/// when the certificate cannot be read (x509-parser reads it).
pub(super) fn subject_alt_names(cert: &[u8]) -> Option<Vec<String>> {
    use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
    let (_, certificate) = X509Certificate::from_der(cert).ok()?;
    let Some(san) = certificate.subject_alternative_name().ok()? else {
        return Some(Vec::new());
    };
    let mut names = Vec::new();
    for name in &san.value.general_names {
        match name {
            GeneralName::RFC822Name(n) | GeneralName::DNSName(n) | GeneralName::URI(n) => {
                names.push(n.to_string())
            }
            GeneralName::IPAddress(ip) => names.push(ip_string(ip)?),
            // An e-mail, DNS name or URI that is not text: Go refuses the certificate.
            GeneralName::Invalid(tag, _) if matches!(tag.0, 1 | 2 | 6 | 7) => return None,
            _ => {}
        }
    }
    Some(names)
}

/// An iPAddress SAN as Go's `net.IP.String` prints it.
pub(super) fn ip_string(bytes: &[u8]) -> Option<String> {
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
mod tests;
