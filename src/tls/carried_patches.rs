//! What the carried rustls patches (vendor/rustls/PATCHES.md) must keep working for rustls's
//! other users, which gatehouse's own tests would not notice.

/// Patch 2 allocates a connection's QUIC state on its first write: a QUIC handshake still
/// stores and reads back both sides' transport parameters and derives the 1-RTT keys.
#[test]
fn a_quic_handshake_keeps_its_quic_state() {
    use rustls::quic::{ClientConnection, Connection, KeyChange, ServerConnection, Version};
    let (server_config, client_config) = super::test_pair::configs();
    let mut client = Connection::Client(
        ClientConnection::new(
            client_config,
            Version::V1,
            super::test_pair::idle_test(),
            b"client parameters".to_vec(),
        )
        .unwrap(),
    );
    let mut server = Connection::Server(
        ServerConnection::new(server_config, Version::V1, b"server parameters".to_vec()).unwrap(),
    );
    let mut one_rtt_keys = 0;
    // One flight from `from` to `to`; counts the 1-RTT keys `from` got.
    let mut send = |from: &mut Connection, to: &mut Connection| {
        let mut flight = Vec::new();
        if let Some(KeyChange::OneRtt { .. }) = from.write_hs(&mut flight) {
            one_rtt_keys += 1;
        }
        if !flight.is_empty() {
            to.read_hs(&flight).unwrap();
        }
    };
    for _ in 0..10 {
        send(&mut client, &mut server);
        send(&mut server, &mut client);
        if !client.is_handshaking() && !server.is_handshaking() {
            break;
        }
    }
    assert!(!client.is_handshaking() && !server.is_handshaking());
    assert_eq!(one_rtt_keys, 2, "both sides derive their 1-RTT keys");
    assert_eq!(
        server.quic_transport_parameters(),
        Some(&b"client parameters"[..])
    );
    assert_eq!(
        client.quic_transport_parameters(),
        Some(&b"server parameters"[..])
    );
    assert!(server.zero_rtt_keys().is_none());
}
