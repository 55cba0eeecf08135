//! The ACME account: created once (key generated here, agreed to the CA's terms, contact and
//! external account binding sent), then kept in the state directory and reused. One account
//! file per directory URL, so pointing gatehouse at another CA creates an account there
//! instead of presenting the old one's credentials to it.

use super::store::{write_atomic, StateDir};
use super::{AcmeError, AcmeSettings};
use instant_acme::{Account, AccountCredentials, ExternalAccountKey, NewAccount};
use std::path::PathBuf;

/// The account file for `settings.directory` in `dir`.
pub fn account_path(dir: &StateDir, directory: &str) -> PathBuf {
    let hash = crate::tls::sha256_hex(&[directory.as_bytes()]);
    dir.root()
        .join("accounts")
        .join(format!("{}.json", &hash[..16]))
}

fn builder(settings: &AcmeSettings) -> Result<instant_acme::AccountBuilder, AcmeError> {
    Ok(match &settings.directory_ca {
        Some(ca) => Account::builder_with_root(ca)?,
        None => Account::builder()?,
    })
}

/// The stored account, if one exists for this directory (no network: `None` otherwise).
///
/// # Errors
/// An unreadable account file, or a directory that cannot be reached.
pub async fn load(settings: &AcmeSettings, dir: &StateDir) -> Result<Option<Account>, AcmeError> {
    let path = account_path(dir, &settings.directory);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(AcmeError::Io(e)),
    };
    let credentials: AccountCredentials =
        serde_json::from_str(&text).map_err(|e| AcmeError::AccountFile {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    Ok(Some(
        builder(settings)?.from_credentials(credentials).await?,
    ))
}

/// The stored account, or a new one (call with the state lock held, so that two nodes never
/// create two accounts).
///
/// # Errors
/// [`AcmeError`].
pub async fn load_or_create(settings: &AcmeSettings, dir: &StateDir) -> Result<Account, AcmeError> {
    if let Some(account) = load(settings, dir).await? {
        return Ok(account);
    }
    let contact: Vec<&str> = settings.contact.iter().map(String::as_str).collect();
    let eab = settings
        .eab
        .as_ref()
        .map(|e| ExternalAccountKey::new(e.kid.clone(), &e.hmac_key));
    let (account, credentials) = builder(settings)?
        .create(
            &NewAccount {
                contact: &contact,
                // Required by every CA; using gatehouse's ACME support is agreeing to them
                // (documented with the `[acme]` section).
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            settings.directory.clone(),
            eab.as_ref(),
        )
        .await?;
    let json = serde_json::to_vec_pretty(&credentials).map_err(|e| AcmeError::AccountFile {
        path: account_path(dir, &settings.directory),
        reason: e.to_string(),
    })?;
    write_atomic(&account_path(dir, &settings.directory), &json, 0o600)?;
    tracing::info!(account = account.id(), directory = %settings.directory, "ACME account created");
    Ok(account)
}
