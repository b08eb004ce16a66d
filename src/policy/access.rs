//! `spec.probe.tls`, `bearerTokenFile` and `headers`, checked: what every request of the policy
//! carries. The files are named here and read by the probe shell, which reports a file it
//! cannot read (see `probe::Credentials::check`).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::InvalidSpec;
use crate::crd::{HttpHeader, ProbeSpec, TlsSpec};
use crate::model::{Access, Tls, Verify};

/// Headers a policy may set: enough for an API key or a tenant, and a bound on what every
/// request carries.
pub const MAX_HEADERS: usize = 32;
/// Longest header value accepted: far above an API key, far below servers' header limits (8 KiB
/// for nginx's default `large_client_header_buffers`).
pub const MAX_HEADER_VALUE: usize = 4096;

/// Headers the probe sets itself or that would break the request, lowercase: the message framing
/// (`Host`, `Content-Length`, `Transfer-Encoding`, `Expect`), what the probe must control to read
/// the answer (`Content-Type` of its JSON-RPC calls, `Accept-Encoding`: only gzip is decoded),
/// and the hop-by-hop headers of RFC 9110 section 7.6.1 (they concern one connection, never the
/// endpoint).
const REFUSED: [&str; 13] = [
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "expect",
    "accept-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "te",
    "trailer",
    "upgrade",
];

/// The access of a policy whose endpoints use HTTPS when `https`.
pub fn access(probe: &ProbeSpec, https: bool) -> Result<Access, InvalidSpec> {
    let tls = match &probe.tls {
        Some(_) if !https => {
            return Err(InvalidSpec::BadTls(
                "tls is set, but no endpoint has scheme HTTPS: it would verify nothing".to_owned(),
            ));
        }
        Some(spec) => tls(spec)?,
        None => Tls::default(),
    };
    let bearer_token_file = probe
        .bearer_token_file
        .as_deref()
        .map(|p| absolute(p).map_err(|why| InvalidSpec::BadBearerTokenFile(format!("{p:?} {why}"))))
        .transpose()?;
    let headers = headers(&probe.headers, bearer_token_file.is_some()).map_err(InvalidSpec::BadHeader)?;
    Ok(Access {
        tls,
        bearer_token_file,
        headers,
    })
}

fn tls(spec: &TlsSpec) -> Result<Tls, InvalidSpec> {
    let TlsSpec {
        ca_file,
        server_name,
        insecure_skip_verify,
    } = spec;
    let bad = |m: String| InvalidSpec::BadTls(m);
    if *insecure_skip_verify && (ca_file.is_some() || server_name.is_some()) {
        return Err(bad(
            "insecureSkipVerify: true turns verification off, while caFile and serverName only serve it: \
             set one or the other"
                .to_owned(),
        ));
    }
    let verify = match ca_file {
        _ if *insecure_skip_verify => Verify::Skip,
        Some(p) => Verify::CaFile(absolute(p).map_err(|why| bad(format!("caFile {p:?} {why}")))?),
        None => Verify::SystemRoots,
    };
    if let Some(name) = server_name
        && !server_name_ok(name)
    {
        return Err(bad(format!(
            "serverName {name:?} is neither a DNS name (letters, digits, '-', '.') nor an IP address"
        )));
    }
    Ok(Tls {
        verify,
        server_name: server_name.clone(),
    })
}

/// A file path as the operator's container sees it: absolute, so that it never depends on the
/// operator's working directory.
fn absolute(path: &str) -> Result<PathBuf, &'static str> {
    if path.contains('\0') || !Path::new(path).is_absolute() {
        return Err("must be an absolute path in the operator's container");
    }
    Ok(PathBuf::from(path))
}

/// A DNS name as certificates carry them (RFC 1123 labels), or an IP address.
pub fn server_name_ok(name: &str) -> bool {
    if name.parse::<IpAddr>().is_ok() {
        return true;
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    (1..=253).contains(&name.len())
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// The headers, checked: valid names and values, each name once, none the probe must control.
pub fn headers(spec: &[HttpHeader], token: bool) -> Result<Vec<(String, String)>, String> {
    if spec.len() > MAX_HEADERS {
        return Err(format!("at most {MAX_HEADERS} headers, not {}", spec.len()));
    }
    let mut out: Vec<(String, String)> = Vec::with_capacity(spec.len());
    for HttpHeader { name, value } in spec {
        if name.is_empty() || !name.bytes().all(token_char) {
            return Err(format!("{name:?} is not a header name (RFC 9110 token characters)"));
        }
        let lower = name.to_ascii_lowercase();
        if REFUSED.contains(&lower.as_str()) {
            return Err(format!(
                "{name} is set by the probe or would break the request; it cannot be set"
            ));
        }
        if token && lower == "authorization" {
            return Err("Authorization is set from bearerTokenFile; set one or the other".to_owned());
        }
        if out.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
            return Err(format!("{name} is set twice"));
        }
        if value.len() > MAX_HEADER_VALUE {
            return Err(format!("the value of {name} is longer than {MAX_HEADER_VALUE} bytes"));
        }
        // Visible ASCII, spaces and tabs inside (RFC 9110 field-value): no CR or LF can end the
        // header early and smuggle another in.
        let inner = value.trim_matches([' ', '\t']);
        if inner.len() != value.len() || !value.bytes().all(|b| b == b' ' || b == b'\t' || b.is_ascii_graphic()) {
            return Err(format!(
                "the value of {name} must be printable ASCII, without leading or trailing spaces"
            ));
        }
        out.push((name.clone(), value.clone()));
    }
    Ok(out)
}

/// RFC 9110 section 5.6.2 `tchar`.
fn token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(extra: serde_json::Value) -> ProbeSpec {
        let mut spec = serde_json::json!({"health": {"port": 3334, "scheme": "HTTPS"}});
        for (k, v) in extra.as_object().unwrap() {
            spec[k] = v.clone();
        }
        serde_json::from_value(spec).unwrap()
    }

    fn header(name: &str, value: &str) -> serde_json::Value {
        serde_json::json!({"name": name, "value": value})
    }

    #[test]
    fn https_is_verified_by_default_against_the_system_cas() {
        let a = access(&probe(serde_json::json!({})), true).unwrap();
        assert_eq!(a, Access::default());
        assert_eq!(a.tls.verify, Verify::SystemRoots);
        assert!(a.is_plain());
    }

    #[test]
    fn a_ca_file_is_the_only_trust_and_insecure_must_be_said() {
        let a = access(
            &probe(serde_json::json!({"tls": {"caFile": "/etc/ca/ca.crt", "serverName": "validator.svc"}})),
            true,
        )
        .unwrap();
        assert_eq!(a.tls.verify, Verify::CaFile("/etc/ca/ca.crt".into()));
        assert_eq!(a.tls.server_name.as_deref(), Some("validator.svc"));
        let a = access(&probe(serde_json::json!({"tls": {"insecureSkipVerify": true}})), true).unwrap();
        assert_eq!(a.tls.verify, Verify::Skip);
        // An empty tls block verifies, as no block does.
        let a = access(&probe(serde_json::json!({"tls": {}})), true).unwrap();
        assert_eq!(a.tls.verify, Verify::SystemRoots);
    }

    #[test]
    fn contradictory_or_useless_tls_is_refused_with_the_reason() {
        let err = |extra, https| access(&probe(extra), https).unwrap_err().to_string();
        let e = err(
            serde_json::json!({"tls": {"caFile": "/ca.crt", "insecureSkipVerify": true}}),
            true,
        );
        assert!(e.contains("set one or the other"), "{e}");
        let e = err(
            serde_json::json!({"tls": {"serverName": "a.b", "insecureSkipVerify": true}}),
            true,
        );
        assert!(e.contains("insecureSkipVerify"), "{e}");
        let e = err(serde_json::json!({"tls": {"caFile": "/ca.crt"}}), false);
        assert!(e.contains("no endpoint has scheme HTTPS"), "{e}");
        let e = err(serde_json::json!({"tls": {"caFile": "ca.crt"}}), true);
        assert!(e.contains("absolute path"), "{e}");
        let e = err(serde_json::json!({"tls": {"serverName": "bad name"}}), true);
        assert!(e.contains("neither a DNS name"), "{e}");
        let e = err(serde_json::json!({"bearerTokenFile": "token"}), true);
        assert!(e.starts_with("spec.probe.bearerTokenFile"), "{e}");
        let reason = access(&probe(serde_json::json!({"tls": {"serverName": "-x"}})), true)
            .unwrap_err()
            .reason();
        assert_eq!(reason, "InvalidTLS");
    }

    #[test]
    fn server_names_are_dns_names_or_ip_addresses() {
        for ok in [
            "validator.validators.svc",
            "a",
            "node-1.example.com.",
            "10.0.0.1",
            "::1",
            "fd00::5",
        ] {
            assert!(server_name_ok(ok), "{ok}");
        }
        for bad in [
            "",
            "a..b",
            "-a.b",
            "a-.b",
            "a b",
            "*.example.com",
            "a_b.c",
            &"x".repeat(64),
        ] {
            assert!(!server_name_ok(bad), "{bad}");
        }
    }

    #[test]
    fn headers_that_would_break_the_request_are_refused() {
        let check = |hs: Vec<serde_json::Value>, token: bool| {
            let hs: Vec<HttpHeader> = serde_json::from_value(serde_json::Value::Array(hs)).unwrap();
            headers(&hs, token)
        };
        assert_eq!(
            check(vec![header("X-Api-Key", "k 1"), header("User-Agent", "probe")], false),
            Ok(vec![
                ("X-Api-Key".into(), "k 1".into()),
                ("User-Agent".into(), "probe".into())
            ])
        );
        for name in [
            "Host",
            "content-length",
            "Transfer-Encoding",
            "Connection",
            "TE",
            "Upgrade",
            "Accept-Encoding",
        ] {
            let e = check(vec![header(name, "x")], false).unwrap_err();
            assert!(e.contains("cannot be set"), "{name}: {e}");
        }
        assert!(check(vec![header("Authorization", "Basic eA==")], false).is_ok());
        let e = check(vec![header("authorization", "Basic eA==")], true).unwrap_err();
        assert!(e.contains("bearerTokenFile"), "{e}");
        let e = check(vec![header("X-A", "1"), header("x-a", "2")], false).unwrap_err();
        assert!(e.contains("set twice"), "{e}");
        for value in ["a\r\nHost: evil", "a\nb", "é", " padded", "nul\0"] {
            assert!(check(vec![header("X-A", value)], false).is_err(), "{value:?}");
        }
        for name in ["", "X A", "X:A", "X\r\nA", "Ä"] {
            assert!(check(vec![header(name, "v")], false).is_err(), "{name:?}");
        }
        let many: Vec<_> = (0..=MAX_HEADERS).map(|i| header(&format!("X-{i}"), "v")).collect();
        assert!(check(many, false).unwrap_err().contains("at most 32"));
        let long = "v".repeat(MAX_HEADER_VALUE + 1);
        assert!(check(vec![header("X-A", &long)], false).is_err());
    }
}
