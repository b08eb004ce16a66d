//! How the operator is let in at a pod's endpoints: whom it trusts over HTTPS, the token it
//! shows, the headers it adds (`spec.probe.tls`, `bearerTokenFile`, `headers`). Files are named,
//! never read here: the probe shell reads them, and reads them again when they change.

use std::path::PathBuf;

/// What every request of a policy carries besides its URL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Access {
    pub tls: Tls,
    /// A file in the operator's filesystem holding a bearer token, sent as
    /// `Authorization: Bearer <token>`.
    pub bearer_token_file: Option<PathBuf>,
    /// Extra request headers (name, value), checked by the policy: none that would break the
    /// request.
    pub headers: Vec<(String, String)>,
}

/// Whom an HTTPS endpoint's certificate must be signed by, and for which name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Tls {
    pub verify: Verify,
    /// The name the certificate must be valid for. `None`: the host of the URL (a pod's IP).
    pub server_name: Option<String>,
}

/// How a certificate is verified.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum Verify {
    /// Against the operator system's trusted CAs.
    #[default]
    SystemRoots,
    /// Against the CA certificates (PEM) of this file only.
    CaFile(PathBuf),
    /// Not at all (`insecureSkipVerify: true`): the connection is encrypted, but to anyone.
    Skip,
}

impl Access {
    /// Whether a custom header of this name is set (names compare without case).
    pub fn sets(&self, name: &str) -> bool {
        self.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    /// Whether requests need more than a bare URL: a token or headers.
    pub fn is_plain(&self) -> bool {
        self.bearer_token_file.is_none() && self.headers.is_empty()
    }
}
