//! h2spec's HPACK tests (`hpack/*`): a header block that cannot be decoded is a connection
//! error of type COMPRESSION_ERROR (RFC 7540 §4.3). Each case puts h2spec's own bad bytes
//! next to a valid `GET /` block.

use super::conn::{Conn, Headers, Target};
use super::encoder::integer;
use super::verify::{self, Outcome};
use super::{cases, Case};
use crate::support::h2raw::*;

pub const CASES: &[Case] = cases![
    "hpack/2.3.3/1" => indexed_field_with_invalid_index,
    "hpack/2.3.3/2" => literal_field_with_invalid_index,
    "hpack/4.2/1" => table_size_update_at_the_end_of_the_block,
    "hpack/5.2/1" => huffman_padding_longer_than_7_bits,
    "hpack/5.2/2" => huffman_padded_by_zero,
    "hpack/5.2/3" => huffman_containing_eos,
    "hpack/6.1/1" => indexed_field_with_index_0,
    "hpack/6.3/1" => table_size_update_above_the_setting,
];

#[tokio::test]
async fn hpack() {
    super::run(CASES).await;
}

/// `GET /` with `before` and `after` around the encoder's block: a COMPRESSION_ERROR.
async fn bad_block(t: Target, before: &[u8], after: &[u8]) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    let mut block = before.to_vec();
    block.extend(conn.encode(&t.common_headers()));
    block.extend_from_slice(after);
    conn.write_headers(Headers::new(1, block, true, true)).await;
    verify::connection_error(&mut conn, &[COMPRESSION_ERROR]).await
}

/// RFC 7541 §2.3.3; hpack/2.3.3/1: index 70, past both tables.
async fn indexed_field_with_invalid_index(t: Target) -> Outcome {
    bad_block(t, b"", b"\xc6").await
}

/// RFC 7541 §2.3.3; hpack/2.3.3/2: a literal whose name is index 70.
async fn literal_field_with_invalid_index(t: Target) -> Outcome {
    bad_block(t, b"", b"\x7f\x07\x00").await
}

/// RFC 7541 §4.2; hpack/4.2/1: a size update must come first in a block.
async fn table_size_update_at_the_end_of_the_block(t: Target) -> Outcome {
    bad_block(t, b"", b"\x21").await
}

/// RFC 7541 §5.2; hpack/5.2/1.
async fn huffman_padding_longer_than_7_bits(t: Target) -> Outcome {
    bad_block(t, b"", b"\x00\x85\xf2\xb2\x4a\x84\xff\x84\x49\x50\x9f\xff").await
}

/// RFC 7541 §5.2; hpack/5.2/2: padding must be the EOS code's most significant bits (ones).
async fn huffman_padded_by_zero(t: Target) -> Outcome {
    bad_block(t, b"", b"\x00\x85\xf2\xb2\x4a\x84\xff\x83\x49\x50\x90").await
}

/// RFC 7541 §5.2; hpack/5.2/3.
async fn huffman_containing_eos(t: Target) -> Outcome {
    bad_block(
        t,
        b"",
        b"\x00\x85\xf2\xb2\x4a\x84\xff\x87\x49\x51\xff\xff\xff\xfa\x7f",
    )
    .await
}

/// RFC 7541 §6.1; hpack/6.1/1.
async fn indexed_field_with_index_0(t: Target) -> Outcome {
    bad_block(t, b"", b"\x80").await
}

/// RFC 7541 §6.3; hpack/6.3/1: one more than the server's SETTINGS_HEADER_TABLE_SIZE (4,096
/// when it announced none).
async fn table_size_update_above_the_setting(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    let max = conn
        .settings
        .get(&SETTINGS_HEADER_TABLE_SIZE)
        .copied()
        .unwrap_or(4096);
    let mut block = Vec::new();
    integer(&mut block, 0x20, 5, max as usize + 1);
    block.extend(conn.encode(&t.common_headers()));
    conn.write_headers(Headers::new(1, block, true, true)).await;
    verify::connection_error(&mut conn, &[COMPRESSION_ERROR]).await
}
