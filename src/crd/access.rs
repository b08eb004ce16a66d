//! `spec.probe.tls` and `spec.probe.headers`: how the operator is let in at endpoints that
//! speak HTTPS or ask for credentials. Secrets never come through the API: files mounted into
//! the operator hold them, so the operator needs no permission to read Secrets.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How the certificates of the `HTTPS` endpoints are verified. Verified by default, against
/// the operator's system CAs; with `caFile`, against that CA only.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TlsSpec {
    /// Path, in the operator's container, of a PEM file of the CA certificates that sign the
    /// endpoints' certificates, e.g. `/etc/nodehealth/validator-ca/ca.crt` from a ConfigMap or
    /// Secret mounted into the operator (chart values `extraVolumes` and `extraVolumeMounts`).
    /// Only these CAs are trusted then. Read again when the file changes. A file the operator
    /// cannot read stalls the policy (reason `InvalidCAFile`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// The name the certificates must be valid for (a DNS name in their subjectAltName, e.g.
    /// `validator.validators.svc`). Omitted: the pod's IP, which the certificate must then carry
    /// as an IP subjectAltName. The probe connects to the pod's IP and sends no SNI, so the
    /// endpoint must present this certificate by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// `true`: certificates are not verified at all (the traffic is encrypted, but to whoever
    /// answers at the pod's IP), as kubelet probes do. The Ready condition says so. Cannot be
    /// combined with `caFile` or `serverName`, which only serve verification.
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// An HTTP header sent with every probe request.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpHeader {
    /// The header's name, e.g. `X-Api-Key`. Not one the probe sets itself or that would break
    /// the request: `Host`, `Content-Length`, `Content-Type`, `Transfer-Encoding`,
    /// `Accept-Encoding`, `Expect`, hop-by-hop headers (`Connection`, `Keep-Alive`, `TE`, …),
    /// nor `Authorization` together with `bearerTokenFile`.
    pub name: String,
    /// The header's value: printable ASCII. It is stored in the NodeHealth, readable by whoever
    /// may read it: put secrets in `bearerTokenFile` instead.
    pub value: String,
}
