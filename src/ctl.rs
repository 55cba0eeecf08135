//! Talking to a running instance from the command line (`gatehouse reload`, `gatehouse
//! upgrade`): find its admin listener and token from the config file, then call the admin API.
//!
//! The config file is read leniently here: the point of `gatehouse reload` is often to report
//! that the *new* file is invalid, so only the `[admin]` section has to make sense.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

/// Where and how to reach the admin API.
#[derive(Debug, Clone)]
pub struct AdminEndpoint {
    /// Admin listener.
    pub address: SocketAddr,
    /// Bearer token, if configured.
    pub token: Option<String>,
}

/// Why the admin API could not be reached or understood.
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    /// The config file cannot be read or has no usable `[admin]` section.
    #[error("{0}")]
    Config(String),
    /// Connecting or talking to the instance failed.
    #[error("cannot reach the admin API at {address}: {source}")]
    Io {
        /// Address tried.
        address: SocketAddr,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The response was not HTTP.
    #[error("unexpected response from the admin API: {0}")]
    Protocol(String),
}

/// Reads the `[admin]` section of a config file.
///
/// # Errors
/// When the file is unreadable, the admin listener is disabled or its address is invalid.
pub fn admin_endpoint(config: &Path) -> Result<AdminEndpoint, CtlError> {
    let text = std::fs::read_to_string(config)
        .map_err(|e| CtlError::Config(format!("cannot read {}: {e}", config.display())))?;
    let doc: toml::Table = toml::from_str(&text).map_err(|e| {
        CtlError::Config(format!(
            "{}: invalid TOML: {}",
            config.display(),
            e.message()
        ))
    })?;
    let admin = doc.get("admin").and_then(|v| v.as_table());
    if admin
        .and_then(|a| a.get("enabled"))
        .and_then(|v| v.as_bool())
        == Some(false)
    {
        return Err(CtlError::Config(
            "the admin listener is disabled in the config".into(),
        ));
    }
    let address = admin
        .and_then(|a| a.get("address"))
        .and_then(|v| v.as_str())
        .unwrap_or("127.0.0.1:9901");
    let address: SocketAddr = address
        .parse()
        .map_err(|_| CtlError::Config(format!("admin.address {address:?} is not IP:port")))?;
    let token = admin
        .and_then(|a| a.get("token_file"))
        .and_then(|v| v.as_str())
        .map(|f| {
            crate::config::validate::resolve_path(config.parent().unwrap_or(Path::new(".")), f)
        })
        .and_then(|p| std::fs::read_to_string(p).ok())
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    Ok(AdminEndpoint { address, token })
}

/// Sends one request and returns (status, body).
///
/// # Errors
/// [`CtlError`] on connection or protocol failure.
pub fn call(
    endpoint: &AdminEndpoint,
    method: &str,
    path: &str,
    timeout: Duration,
) -> Result<(u16, String), CtlError> {
    let io = |source| CtlError::Io {
        address: endpoint.address,
        source,
    };
    let mut stream =
        TcpStream::connect_timeout(&endpoint.address, timeout.min(Duration::from_secs(5)))
            .map_err(io)?;
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    let auth = endpoint
        .token
        .as_ref()
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n",
        endpoint.address
    );
    stream.write_all(request.as_bytes()).map_err(io)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(io)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| CtlError::Protocol("no header terminator".into()))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| CtlError::Protocol(head.lines().next().unwrap_or("").to_string()))?;
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok((status, body))
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}
