//! The operator's own files a policy names: bearer tokens and CA bundles, read from its
//! filesystem (mounted ConfigMaps, Secrets, projected service account tokens), never from the
//! API server.
//!
//! Guarantees: a file is read again as soon as it changes (its size, modification time or inode:
//! kubelet updates a mounted ConfigMap or Secret by swapping a symlink to a new file), checked at
//! every use, so a rotated token goes out from the next probe on; a file is read at most up to
//! its cap; a file that cannot be read is an error naming it, never a panic.
//!
//! Caveats: the checks are blocking `stat` calls on the probe thread (a few microseconds on the
//! tmpfs of a mounted volume), made only for policies that name a file.

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use crate::model::Access;
use crate::policy::InvalidSpec;

/// Longest token read: a Kubernetes service account token is ~1 KiB, cloud identity tokens a
/// few KiB; servers refuse headers over 8-16 KiB anyway.
const MAX_TOKEN: u64 = 16 << 10;
/// Largest CA bundle read: the whole Mozilla bundle (`/etc/ssl/certs/ca-certificates.crt`) is
/// ~220 KiB.
pub const MAX_CA_FILE: u64 = 1 << 20;

/// A file the operator cannot use, in words for the `Stalled` condition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    #[error("{0}")]
    CaFile(String),
    #[error("{0}")]
    TokenFile(String),
    #[error(
        "no trusted CA: the operator's system has no CA certificates; set spec.probe.tls.caFile, or tls.insecureSkipVerify: true"
    )]
    NoSystemRoots,
    #[error("cannot set up TLS ({0})")]
    Tls(String),
}

impl AccessError {
    /// The spec error the user reads in status.
    pub fn invalid_spec(&self) -> InvalidSpec {
        match self {
            AccessError::CaFile(m) => InvalidSpec::BadCaFile(m.clone()),
            AccessError::TokenFile(m) => InvalidSpec::BadBearerTokenFile(m.clone()),
            AccessError::NoSystemRoots | AccessError::Tls(_) => InvalidSpec::BadTls(self.to_string()),
        }
    }
}

/// What identifies one version of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

/// The stamp of the file at `path` now (symlinks followed, as a reader would).
pub fn stamp(path: &Path) -> std::io::Result<Stamp> {
    let m = std::fs::metadata(path)?;
    Ok(Stamp {
        len: m.len(),
        modified: m.modified().ok(),
        inode: m.ino(),
    })
}

/// Reads at most `cap` bytes of a file; more is an error.
pub fn read_capped(path: &Path, cap: u64) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    std::fs::File::open(path)?.take(cap + 1).read_to_end(&mut out)?;
    if out.len() as u64 > cap {
        return Err(std::io::Error::other(format!("larger than {cap} bytes")));
    }
    Ok(out)
}

/// Words for a file that cannot be read, with what to do about it.
pub fn unreadable(path: &Path, e: &std::io::Error) -> String {
    format!(
        "{:?} cannot be read by the operator ({e}): mount it into the operator's container \
         (chart values extraVolumes and extraVolumeMounts)",
        path.display().to_string()
    )
}

struct Token {
    stamp: Stamp,
    header: Arc<str>,
}

/// The bearer tokens of every policy, by file, re-read when the file changes.
#[derive(Default)]
pub struct Tokens {
    tokens: Mutex<HashMap<Arc<Path>, Token>>,
}

impl Tokens {
    /// The `Authorization` value (`Bearer <token>`) the access asks for, if any.
    pub fn authorization(&self, access: &Access) -> Result<Option<Arc<str>>, AccessError> {
        access
            .bearer_token_file
            .as_deref()
            .map(|path| self.header(path))
            .transpose()
    }

    fn header(&self, path: &Path) -> Result<Arc<str>, AccessError> {
        let bad = |why: String| AccessError::TokenFile(why);
        let now = stamp(path).map_err(|e| bad(unreadable(path, &e)))?;
        let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(t) = tokens.get(path).filter(|t| t.stamp == now) {
            return Ok(Arc::clone(&t.header));
        }
        // Stamped before reading: a change during the read shows at the next use.
        let bytes = read_capped(path, MAX_TOKEN).map_err(|e| bad(unreadable(path, &e)))?;
        let token = token(&bytes).map_err(|why| bad(format!("{:?} {why}", path.display().to_string())))?;
        let header: Arc<str> = Arc::from(format!("Bearer {token}"));
        tokens.insert(
            Arc::from(path),
            Token {
                stamp: now,
                header: Arc::clone(&header),
            },
        );
        Ok(header)
    }
}

/// The token a file holds: its content without surrounding whitespace (a trailing newline, as
/// editors and `echo` leave), which must be visible ASCII to go in a header.
pub fn token(bytes: &[u8]) -> Result<&str, &'static str> {
    let text = std::str::from_utf8(bytes).map_err(|_| "holds no token: it is not text")?;
    let token = text.trim();
    if token.is_empty() {
        return Err("is empty: it holds no token");
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("holds a token with spaces or characters an HTTP header cannot carry");
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_the_files_text_trimmed_and_header_safe() {
        assert_eq!(token(b"abc.def-_~+/=\n"), Ok("abc.def-_~+/="));
        assert_eq!(token(b"  eyJhbGciOi  \r\n"), Ok("eyJhbGciOi"));
        assert!(token(b"\n").unwrap_err().contains("empty"));
        assert!(token(b"two words").is_err());
        assert!(token(b"a\r\nHost: x").is_err());
        assert!(token(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn a_rotated_token_is_read_again_and_a_missing_one_is_named() {
        let dir = std::env::temp_dir().join(format!("nodehealth-tokens-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");
        let access = Access {
            bearer_token_file: Some(path.clone()),
            ..Access::default()
        };
        let tokens = Tokens::default();
        let e = tokens.authorization(&access).unwrap_err();
        assert!(
            matches!(&e, AccessError::TokenFile(m) if m.contains("cannot be read") && m.contains("token")),
            "{e}"
        );
        std::fs::write(&path, "first\n").unwrap();
        assert_eq!(tokens.authorization(&access).unwrap().as_deref(), Some("Bearer first"));
        // As kubelet rotates a mounted Secret: a new file renamed over the old one.
        let next = dir.join("token.new");
        std::fs::write(&next, "second").unwrap();
        std::fs::rename(&next, &path).unwrap();
        assert_eq!(tokens.authorization(&access).unwrap().as_deref(), Some("Bearer second"));
        assert_eq!(tokens.authorization(&Access::default()), Ok(None));
        std::fs::write(&path, vec![b'a'; MAX_TOKEN as usize + 1]).unwrap();
        assert!(tokens.authorization(&access).is_err(), "over the cap");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
