//! h2spec's generic HPACK tests (`generic/5`): every header field representation of RFC 7541,
//! hand-encoded by h2spec (the bytes below are its own), appended to a valid `GET /` block;
//! the server answers each request.

use super::conn::{Conn, Headers, Target};
use super::verify::{self, Outcome};
use super::{cases, Case};

pub const CASES: &[Case] = cases![
    "generic/5/1" => indexed_header_field,
    "generic/5/2" => incremental_indexing_indexed_name,
    "generic/5/3" => incremental_indexing_indexed_name_huffman,
    "generic/5/4" => incremental_indexing_new_name,
    "generic/5/5" => incremental_indexing_new_name_huffman,
    "generic/5/6" => without_indexing_indexed_name,
    "generic/5/7" => without_indexing_indexed_name_huffman,
    "generic/5/8" => without_indexing_new_name,
    "generic/5/9" => without_indexing_new_name_huffman,
    "generic/5/10" => never_indexed_indexed_name,
    "generic/5/11" => never_indexed_indexed_name_huffman,
    "generic/5/12" => never_indexed_new_name,
    "generic/5/13" => never_indexed_new_name_huffman,
    "generic/5/14" => dynamic_table_size_update,
    "generic/5/15" => multiple_dynamic_table_size_updates,
];

#[tokio::test]
async fn generic_section_5_hpack() {
    super::run(CASES).await;
}

/// `GET /` with `rep` after the encoder's block, answered with HEADERS on stream 1.
async fn get_with(t: Target, rep: &[u8]) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    let mut block = conn.encode(&t.common_headers());
    block.extend_from_slice(rep);
    conn.write_headers(Headers::new(1, block, true, true)).await;
    verify::headers_frame(&mut conn, 1).await
}

/// RFC 7541 §6.1; generic/5/1.
async fn indexed_header_field(t: Target) -> Outcome {
    get_with(t, b"\xba").await
}

/// RFC 7541 §6.2.1; generic/5/2.
async fn incremental_indexing_indexed_name(t: Target) -> Outcome {
    get_with(
        t,
        b"\x40\x87\xb5\x05\xb1\x61\xcc\x5a\x93\x84\x9c\x48\xac\xa4",
    )
    .await
}

/// RFC 7541 §6.2.1; generic/5/3.
async fn incremental_indexing_indexed_name_huffman(t: Target) -> Outcome {
    get_with(
        t,
        b"\x40\x0a\x75\x73\x65\x72\x2d\x61\x67\x65\x6e\x74\x06\x68\x32\x73\x70\x65\x63",
    )
    .await
}

/// RFC 7541 §6.2.1; generic/5/4.
async fn incremental_indexing_new_name(t: Target) -> Outcome {
    get_with(
        t,
        b"\x40\x06\x78\x2d\x74\x65\x73\x74\x06\x68\x32\x73\x70\x65\x63",
    )
    .await
}

/// RFC 7541 §6.2.1; generic/5/5.
async fn incremental_indexing_new_name_huffman(t: Target) -> Outcome {
    get_with(t, b"\x40\x85\xf2\xb2\x4a\x84\xff\x84\x9c\x48\xac\xa4").await
}

/// RFC 7541 §6.2.2; generic/5/6.
async fn without_indexing_indexed_name(t: Target) -> Outcome {
    get_with(
        t,
        b"\x00\x0a\x75\x73\x65\x72\x2d\x61\x67\x65\x6e\x74\x06\x68\x32\x73\x70\x65\x63",
    )
    .await
}

/// RFC 7541 §6.2.2; generic/5/7.
async fn without_indexing_indexed_name_huffman(t: Target) -> Outcome {
    get_with(
        t,
        b"\x00\x87\xb5\x05\xb1\x61\xcc\x5a\x93\x84\x9c\x48\xac\xa4",
    )
    .await
}

/// RFC 7541 §6.2.2; generic/5/8.
async fn without_indexing_new_name(t: Target) -> Outcome {
    get_with(
        t,
        b"\x00\x06\x78\x2d\x74\x65\x73\x74\x06\x68\x32\x73\x70\x65\x63",
    )
    .await
}

/// RFC 7541 §6.2.2; generic/5/9.
async fn without_indexing_new_name_huffman(t: Target) -> Outcome {
    get_with(t, b"\x00\x85\xf2\xb2\x4a\x84\xff\x84\x9c\x48\xac\xa4").await
}

/// RFC 7541 §6.2.3; generic/5/10.
async fn never_indexed_indexed_name(t: Target) -> Outcome {
    get_with(
        t,
        b"\x10\x0a\x75\x73\x65\x72\x2d\x61\x67\x65\x6e\x74\x06\x68\x32\x73\x70\x65\x63",
    )
    .await
}

/// RFC 7541 §6.2.3; generic/5/11.
async fn never_indexed_indexed_name_huffman(t: Target) -> Outcome {
    get_with(
        t,
        b"\x10\x87\xb5\x05\xb1\x61\xcc\x5a\x93\x84\x9c\x48\xac\xa4",
    )
    .await
}

/// RFC 7541 §6.2.3; generic/5/12 (h2spec sends the same bytes as in 5/13).
async fn never_indexed_new_name(t: Target) -> Outcome {
    get_with(t, b"\x10\x85\xf2\xb2\x4a\x84\xff\x84\x9c\x48\xac\xa4").await
}

/// RFC 7541 §6.2.3; generic/5/13.
async fn never_indexed_new_name_huffman(t: Target) -> Outcome {
    get_with(t, b"\x10\x85\xf2\xb2\x4a\x84\xff\x84\x9c\x48\xac\xa4").await
}

/// RFC 7541 §6.3; generic/5/14: the encoder's table set to 128 octets, announced at the start
/// of the block.
async fn dynamic_table_size_update(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    conn.set_max_dynamic_table_size(128);
    let block = conn.encode(&t.common_headers());
    conn.write_headers(Headers::new(1, block, true, true)).await;
    verify::headers_frame(&mut conn, 1).await
}

/// RFC 7541 §6.3; generic/5/15: two size updates (128, then 4,096) before the block.
async fn multiple_dynamic_table_size_updates(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    let mut block = b"\x3f\x61\x3f\xe1\x1f".to_vec();
    block.extend(conn.encode(&t.common_headers()));
    conn.write_headers(Headers::new(1, block, true, true)).await;
    verify::headers_frame(&mut conn, 1).await
}
