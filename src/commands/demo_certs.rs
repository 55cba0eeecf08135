//! `gatehouse demo-certs`: a self-signed certificate for the demo config (never production).

use anyhow::Context as _;
use std::path::Path;

/// Writes `demo.crt` and `demo.key` (mode 0600) covering `names` into `out`.
///
/// # Errors
/// When the directory or files cannot be written, or the certificate cannot be made.
pub fn demo_certs(out: &Path, names: &[String]) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let key = rcgen::KeyPair::generate().context("generating a key")?;
    let mut params = rcgen::CertificateParams::new(names.to_vec()).context("certificate names")?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "gatehouse demo (self-signed)");
    let cert = params.self_signed(&key).context("signing")?;
    let cert_path = out.join("demo.crt");
    let key_path = out.join("demo.key");
    std::fs::write(&cert_path, cert.pem())?;
    write_private(&key_path, key.serialize_pem().as_bytes())?;
    println!("wrote {} and {}", cert_path.display(), key_path.display());
    Ok(())
}

fn write_private(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(data)?;
    Ok(())
}
