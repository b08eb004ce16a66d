//! How the simulated validators let a probe in, when a test asks: HTTPS with a given certificate,
//! a bearer token required, the request's headers kept for the test to read.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hyper::HeaderMap;
use hyper::header::AUTHORIZATION;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// What every validator's ports demand and keep.
#[derive(Clone, Default)]
pub struct Serving {
    /// Serve HTTPS with this configuration (else plain HTTP).
    pub tls: Option<Arc<ServerConfig>>,
    /// Answer 401 unless `Authorization: Bearer <t>` names a token of this file (one per line),
    /// read at every request so that a test rotates the tokens a server accepts.
    pub bearer_tokens_file: Option<PathBuf>,
    /// Keep each validator's last request headers (`GET /validators/{ip}/request`).
    pub record_requests: bool,
    /// The first validator also listens on `::1`, the one IPv6 loopback address.
    pub ipv6_loopback: bool,
}

/// The TLS configuration of a PEM certificate chain and its private key.
pub fn tls_config(cert_file: &Path, key_file: &Path) -> Result<Arc<ServerConfig>, String> {
    let certs = CertificateDer::pem_file_iter(cert_file)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("--tls-cert-file {}: {e}", cert_file.display()))?;
    if certs.is_empty() {
        return Err(format!("--tls-cert-file {}: no certificate", cert_file.display()));
    }
    let key =
        PrivateKeyDer::from_pem_file(key_file).map_err(|e| format!("--tls-key-file {}: {e}", key_file.display()))?;
    let mut config = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|e| format!("TLS certificate and key: {e}"))?;
    // The validators' server speaks HTTP/1.1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Whether a request may be answered: no token required, or one of the file's tokens given.
/// An unreadable file lets nothing in.
pub fn authorized(headers: &HeaderMap, tokens_file: Option<&Path>) -> bool {
    let Some(path) = tokens_file else { return true };
    let Ok(tokens) = std::fs::read_to_string(path) else {
        return false;
    };
    let given = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    given.is_some_and(|g| tokens.lines().map(str::trim).any(|t| !t.is_empty() && t == g))
}

/// A request's headers as a test reads them: (lowercase name, value) in arrival order.
pub fn recorded(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_of_the_file_lets_a_request_in() {
        let path = std::env::temp_dir().join(format!("nodehealth-sim-tokens-{}", std::process::id()));
        std::fs::write(&path, "old\nnew\n").unwrap();
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(AUTHORIZATION, v.parse().unwrap());
            h
        };
        assert!(authorized(&HeaderMap::new(), None));
        assert!(authorized(&with("Bearer new"), Some(&path)));
        assert!(authorized(&with("Bearer old"), Some(&path)));
        assert!(!authorized(&with("Bearer other"), Some(&path)));
        assert!(!authorized(&with("Basic new"), Some(&path)));
        assert!(!authorized(&HeaderMap::new(), Some(&path)));
        std::fs::remove_file(&path).unwrap();
        assert!(!authorized(&with("Bearer new"), Some(&path)), "file gone");
    }
}
