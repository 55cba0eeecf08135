//! Reading a PROXY protocol header off a fresh connection (before TLS), and making the client
//! address it carries the one the rest of gatehouse sees.

use super::proxy_protocol::{self, Header, Parse};
use pingora::protocols::l4::socket::SocketAddr as PingoraAddr;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::{GetSocketDigest, SocketDigest};
use std::os::unix::io::AsRawFd;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// Reads the header within `limit`; leftover bytes are put back for the next reader.
///
/// # Errors
/// A reason when the header is missing, invalid or late.
pub async fn read(l4: &mut L4Stream, limit: Duration) -> Result<Header, &'static str> {
    let mut buf = Vec::with_capacity(256);
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match proxy_protocol::parse(&buf) {
            Parse::Complete(header, len) => {
                l4.rewind(&buf[len..]);
                if let Header::Proxied { source, .. } = header {
                    let digest = SocketDigest::from_raw_fd(l4.as_raw_fd());
                    let _ = digest.peer_addr.set(Some(PingoraAddr::Inet(source)));
                    l4.set_socket_digest(digest);
                }
                return Ok(header);
            }
            Parse::Invalid(reason) => return Err(reason),
            Parse::Incomplete => {}
        }
        let mut chunk = [0u8; 256];
        match tokio::time::timeout_at(deadline, l4.read(&mut chunk)).await {
            Err(_) => return Err("PROXY header not received in time"),
            Ok(Ok(0)) | Ok(Err(_)) => return Err("connection closed before the PROXY header"),
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
        if buf.len() > 600 {
            return Err("PROXY header too long");
        }
    }
}
