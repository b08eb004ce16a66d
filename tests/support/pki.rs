//! Files a test hands to the operator and the simulator (as volumes mounted into a pod would
//! be), and test certificates: a CA and the server certificates it signs.

use std::net::IpAddr;
use std::path::PathBuf;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType};

use super::cluster::unique_suffix;

/// The DNS name the test certificates carry besides the validators' IPs.
pub const SERVICE_NAME: &str = "validators.test";

/// A directory of this test's files (CA, keys, tokens), removed when dropped.
pub struct Files(PathBuf);

impl Files {
    pub fn new(test: &str) -> Files {
        let dir = std::env::temp_dir().join(format!("nodehealth-{test}-{}", unique_suffix()));
        std::fs::create_dir_all(&dir).unwrap();
        Files(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    pub fn path_str(&self, name: &str) -> String {
        self.path(name).to_string_lossy().into_owned()
    }

    /// Writes a file as kubelet updates a mounted volume: a new file renamed over the old one.
    pub fn replace(&self, name: &str, content: &str) {
        let tmp = self.path(&format!(".{name}.tmp"));
        std::fs::write(&tmp, content).unwrap();
        std::fs::rename(&tmp, self.path(name)).unwrap();
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A test CA.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pub pem: String,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let pem = params.self_signed(&key).unwrap().pem();
        Ca {
            issuer: Issuer::new(params, key),
            pem,
        }
    }

    /// A server certificate for these IPs and [`SERVICE_NAME`]: (certificate, key) in PEM.
    pub fn issue(&self, ips: &[IpAddr]) -> (String, String) {
        let mut params = CertificateParams::new(vec![SERVICE_NAME.to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, "validator");
        params
            .subject_alt_names
            .extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}
