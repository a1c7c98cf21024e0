//! Malformed certificates: whatever the bytes, reading their names never
//! panics, and a certificate damaged anywhere is read whole or not at all.

use proptest::prelude::*;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use super::subject_alt_names;

fn client_der() -> Vec<u8> {
    let pem = crate::web_config::tests::CLIENT_CRT.as_bytes();
    CertificateDer::from_pem_slice(pem).unwrap().to_vec()
}

proptest! {
    #[test]
    fn random_bytes_are_refused_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = subject_alt_names(&bytes);
    }

    #[test]
    fn damaged_certificates_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut der = client_der();
        for (at, byte) in flips {
            let i = at.index(der.len());
            der[i] = byte;
        }
        if truncate {
            der.truncate(cut.index(der.len()));
        }
        if let Some(names) = subject_alt_names(&der) {
            // Read at all: every name is text or an address, none empty of meaning.
            prop_assert!(names.len() <= 5);
        }
    }

    #[test]
    fn truncated_certificates_are_not_read(cut in any::<prop::sample::Index>()) {
        let der = client_der();
        let short = &der[..cut.index(der.len())];
        prop_assert_eq!(subject_alt_names(short), None);
    }
}
