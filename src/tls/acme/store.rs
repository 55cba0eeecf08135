//! The ACME state directory: what lives where, and how it is written.
//!
//! ```text
//! <state_dir>/account.json                     account URL, key (PKCS#8) and directory  0600
//! <state_dir>/lock                             advisory lock (see `lock`)
//! <state_dir>/certs/<id>/cert.pem              leaf first, then the chain
//! <state_dir>/certs/<id>/key.pem               private key                              0600
//! <state_dir>/challenges/http-01/<token>       key authorization (while an order runs)
//! <state_dir>/challenges/tls-alpn-01/<name>.pem  challenge certificate + key (ditto)    0600
//! ```
//!
//! Every file is written atomically: a temporary file in the same directory, written, synced,
//! given its mode, then renamed over the old one (and the directory synced). A reader — this
//! node's reload or the other node's — sees the old file or the new one, never half of one;
//! the key is renamed before the certificate, so a new certificate never meets an old key.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Paths inside a state directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// The state directory at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        StateDir { root: root.into() }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Account credentials.
    pub fn account(&self) -> PathBuf {
        self.root.join("account.json")
    }

    /// The lock file.
    pub fn lock(&self) -> PathBuf {
        self.root.join("lock")
    }

    /// A certificate's chain file.
    pub fn cert(&self, id: &str) -> PathBuf {
        self.root.join("certs").join(id).join("cert.pem")
    }

    /// A certificate's key file.
    pub fn key(&self, id: &str) -> PathBuf {
        self.root.join("certs").join(id).join("key.pem")
    }

    /// An HTTP-01 token's file (`None` for a token that is not base64url: never a path).
    pub fn http_token(&self, token: &str) -> Option<PathBuf> {
        safe_token(token).then(|| self.root.join("challenges/http-01").join(token))
    }

    /// A TLS-ALPN-01 challenge certificate's file.
    pub fn alpn_cert(&self, name: &str) -> Option<PathBuf> {
        super::valid_name(name).then(|| {
            self.root
                .join("challenges/tls-alpn-01")
                .join(format!("{name}.pem"))
        })
    }

    /// Reads a certificate's chain and key, when both are there.
    pub fn read_pair(&self, id: &str) -> Option<(Vec<u8>, Vec<u8>)> {
        let cert = std::fs::read(self.cert(id)).ok()?;
        let key = std::fs::read(self.key(id)).ok()?;
        Some((cert, key))
    }

    /// Writes a new certificate: key first, then chain (both atomically).
    ///
    /// # Errors
    /// The I/O error.
    pub fn write_pair(&self, id: &str, chain_pem: &[u8], key_pem: &[u8]) -> std::io::Result<()> {
        write_atomic(&self.key(id), key_pem, 0o600)?;
        write_atomic(&self.cert(id), chain_pem, 0o644)
    }
}

/// ACME tokens are base64url (RFC 8555 §8.3): anything else is refused before it can become a
/// path.
pub fn safe_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 128
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Writes `data` to `path` atomically with permission bits `mode`, creating parent
/// directories (0700: the directory holds private keys).
///
/// # Errors
/// The I/O error.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("path has no parent directory"))?;
    create_private_dir(dir)?;
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("path has no file name"))?;
    let tmp = dir.join(format!(
        ".{}.{}.{:x}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        fastrand::u64(..)
    ));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        file.write_all(data)?;
        // The umask may have narrowed `mode` at creation; set it exactly.
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Creates `dir` and its parents; new directories get mode 0700.
///
/// # Errors
/// The I/O error.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_atomically_with_modes() {
        let dir = tempfile::tempdir().unwrap();
        let s = StateDir::new(dir.path().join("state"));
        s.write_pair("a-1", b"CERT", b"KEY").unwrap();
        s.write_pair("a-1", b"CERT2", b"KEY2").unwrap();
        assert_eq!(
            s.read_pair("a-1").unwrap(),
            (b"CERT2".to_vec(), b"KEY2".to_vec())
        );
        let mode = |p: PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(s.key("a-1")), 0o600);
        assert_eq!(mode(s.root().to_path_buf()), 0o700);
        // No temporary file is left behind.
        let left: Vec<_> = std::fs::read_dir(s.cert("a-1").parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left.len(), 2, "{left:?}");
        assert!(s.http_token("../etc/passwd").is_none());
        assert!(s.http_token("abc_DEF-123").is_some());
    }
}
