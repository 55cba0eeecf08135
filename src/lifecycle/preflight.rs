//! Bind, checked first: every address is bound and released before Pingora starts.

use super::options::StartError;

/// Binds and releases every address first (except those inherited from a predecessor), so
/// "address in use" is a clean startup error instead of a panic inside Pingora's listener task.
pub(super) fn preflight_binds(
    config: &crate::config::Config,
    inherited: &[String],
) -> Result<(), StartError> {
    let mut addrs: Vec<(std::net::SocketAddr, String)> = config
        .listeners
        .iter()
        .map(|l| (l.address, format!("listeners.{}", l.name)))
        .collect();
    if let Some(a) = config.admin.address {
        addrs.push((a, "admin.address".to_string()));
    }
    for (address, what) in addrs {
        if inherited.contains(&address.to_string()) {
            continue;
        }
        std::net::TcpListener::bind(address).map_err(|source| StartError::Bind {
            address,
            what,
            source,
        })?;
    }
    Ok(())
}
