//! HTTPS for probes: a rustls configuration per TLS setting of the policies (CA file, name to
//! verify, or no verification), the reqwest clients built on it, and plain words for the
//! certificate errors a user must act on.
//!
//! Guarantees: a certificate is verified unless the policy says `insecureSkipVerify: true`;
//! with a CA file only that file's CAs are trusted, and a changed file is read again at the next
//! probe (the clients built on the old one are dropped with their connections); without
//! `serverName` the certificate must be valid for the pod's IP (an IP subjectAltName).
//!
//! Caveats: the probe connects to the pod's IP, so no SNI is sent (rustls sends none for an IP
//! address): the endpoint must present the certificate carrying `serverName` by default.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::credentials::{AccessError, MAX_CA_FILE, Stamp, read_capped, stamp, unreadable};
use crate::model::{Tls, Verify};

/// The two clients of one TLS setting: with a kept-alive connection per pod, and without.
#[derive(Clone)]
struct Clients {
    /// The CA file's version they were built from.
    stamp: Option<Stamp>,
    pooled: reqwest::Client,
    fresh: reqwest::Client,
}

/// Builds a reqwest client on a rustls configuration, keeping `idle_per_host` connections.
pub type Build = dyn Fn(ClientConfig, usize) -> Result<reqwest::Client, reqwest::Error> + Send + Sync;

/// The HTTPS clients of every TLS setting in use.
pub struct TlsClients {
    clients: Mutex<HashMap<Tls, Clients>>,
    system_roots: OnceLock<Arc<RootCertStore>>,
    build: Box<Build>,
}

impl TlsClients {
    pub fn new(build: Box<Build>) -> TlsClients {
        TlsClients {
            clients: Mutex::new(HashMap::new()),
            system_roots: OnceLock::new(),
            build,
        }
    }

    /// The client for `tls`, built (or rebuilt, when its CA file changed) as needed.
    pub fn client(&self, tls: &Tls, pooled: bool) -> Result<reqwest::Client, AccessError> {
        let now = match &tls.verify {
            Verify::CaFile(path) => Some(stamp(path).map_err(|e| AccessError::CaFile(unreadable(path, &e)))?),
            Verify::SystemRoots | Verify::Skip => None,
        };
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        let c = match clients.get(tls).filter(|c| c.stamp == now) {
            Some(c) => c.clone(),
            None => {
                let config = self.config(tls)?;
                let build = |idle| (self.build)(config.clone(), idle).map_err(|e| AccessError::Tls(e.to_string()));
                let c = Clients {
                    stamp: now,
                    // One connection per pod address is enough for one probe at a time.
                    pooled: build(1)?,
                    // Nothing kept: the connection closes with the answer and frees its descriptor.
                    fresh: build(0)?,
                };
                clients.insert(tls.clone(), c.clone());
                c
            }
        };
        Ok(if pooled { c.pooled } else { c.fresh })
    }

    /// The rustls configuration of a TLS setting (reads its CA file).
    fn config(&self, tls: &Tls) -> Result<ClientConfig, AccessError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| AccessError::Tls(e.to_string()))?;
        let verifier: Arc<dyn ServerCertVerifier> = match &tls.verify {
            Verify::Skip => Arc::new(Unverified(provider)),
            Verify::CaFile(path) => {
                let roots = ca_roots(path)?;
                named(webpki(roots, provider)?, tls.server_name.as_deref())?
            }
            Verify::SystemRoots => {
                let roots = Arc::clone(self.system_roots.get_or_init(system_roots));
                if roots.is_empty() {
                    return Err(AccessError::NoSystemRoots);
                }
                named(webpki(roots, provider)?, tls.server_name.as_deref())?
            }
        };
        let mut config = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        // As reqwest offers by default (its http2 feature is on).
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// The CAs of a PEM file: every certificate in it, each a valid trust anchor.
fn ca_roots(path: &std::path::Path) -> Result<Arc<RootCertStore>, AccessError> {
    let bad = |why: String| AccessError::CaFile(format!("{:?} {why}", path.display().to_string()));
    let pem = read_capped(path, MAX_CA_FILE).map_err(|e| AccessError::CaFile(unreadable(path, &e)))?;
    let mut roots = RootCertStore::empty();
    for (i, cert) in CertificateDer::pem_slice_iter(&pem).enumerate() {
        let cert = cert.map_err(|e| bad(format!("is not a valid PEM file ({e})")))?;
        roots
            .add(cert)
            .map_err(|e| bad(format!("holds an invalid CA certificate (number {}: {e})", i + 1)))?;
    }
    if roots.is_empty() {
        return Err(bad("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".to_owned()));
    }
    Ok(Arc::new(roots))
}

/// The operator system's trusted CAs (`/etc/ssl/certs`, or `SSL_CERT_FILE`/`SSL_CERT_DIR`).
fn system_roots() -> Arc<RootCertStore> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    // A system bundle may hold a certificate webpki cannot use: the others still count.
    roots.add_parsable_certificates(found.certs);
    Arc::new(roots)
}

fn webpki(roots: Arc<RootCertStore>, provider: Arc<CryptoProvider>) -> Result<Arc<WebPkiServerVerifier>, AccessError> {
    WebPkiServerVerifier::builder_with_provider(roots, provider)
        .build()
        .map_err(|e| AccessError::Tls(e.to_string()))
}

/// The verifier, checking certificates for `server_name` instead of the URL's host when given.
fn named(
    inner: Arc<WebPkiServerVerifier>,
    server_name: Option<&str>,
) -> Result<Arc<dyn ServerCertVerifier>, AccessError> {
    let Some(name) = server_name else {
        return Ok(inner);
    };
    let name =
        ServerName::try_from(name.to_owned()).map_err(|e| AccessError::Tls(format!("serverName {name:?}: {e}")))?;
    Ok(Arc::new(FixedName { inner, name }))
}

/// Verifies certificates for one name, whatever host the connection went to (a pod's IP).
#[derive(Debug)]
struct FixedName {
    inner: Arc<WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for FixedName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _host: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
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

/// `insecureSkipVerify: true`: any certificate is accepted. The handshake's signatures are still
/// checked, so the session is at least with the holder of the certificate's key.
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _host: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Longest certificate words kept: rustls lists every name a certificate carries.
const MAX_WORDS: usize = 300;

/// What a rejected certificate means for the user, with the spec field to change.
pub fn certificate_words(e: &CertificateError) -> String {
    let words = match e {
        CertificateError::UnknownIssuer => {
            "TLS certificate not trusted: signed by an unknown CA (spec.probe.tls.caFile must hold the CA that signed it)"
                .to_owned()
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            format!("TLS {e} (spec.probe.tls.serverName: the name to verify; default the pod's IP)")
        }
        other => format!("TLS certificate rejected: {other}"),
    };
    words.chars().take(MAX_WORDS).collect()
}

/// What a failed handshake means (a rejected certificate, or another TLS error).
pub fn handshake_words(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InvalidCertificate(c) => certificate_words(c),
        other => format!("TLS handshake failed: {other}")
            .chars()
            .take(MAX_WORDS)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_errors_name_the_field_to_change() {
        let w = certificate_words(&CertificateError::UnknownIssuer);
        assert!(w.contains("not trusted") && w.contains("spec.probe.tls.caFile"), "{w}");
        let e = CertificateError::NotValidForNameContext {
            expected: ServerName::try_from("10.0.0.7").unwrap(),
            presented: vec!["DNS name \"validator.svc\"".to_owned()],
        };
        let w = certificate_words(&e);
        assert!(
            w.contains("10.0.0.7") && w.contains("validator.svc") && w.contains("serverName"),
            "{w}"
        );
        assert!(certificate_words(&CertificateError::Expired).contains("Expired"));
        let w = handshake_words(&rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer));
        assert!(w.starts_with("TLS certificate not trusted"), "{w}");
    }

    #[test]
    fn a_ca_file_must_hold_certificates() {
        let dir = std::env::temp_dir().join(format!("nodehealth-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ca.crt");
        let e = ca_roots(&path).unwrap_err().to_string();
        assert!(e.contains("cannot be read") && e.contains("extraVolumeMounts"), "{e}");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let e = ca_roots(&path).unwrap_err().to_string();
        assert!(e.contains("holds no PEM certificate"), "{e}");
        std::fs::write(&path, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").unwrap();
        let e = ca_roots(&path).unwrap_err().to_string();
        assert!(e.contains("invalid CA certificate (number 1"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
