//! The digest the pair guard compares with its peer, computed when first asked for.
//!
//! It is a hash of the whole document re-serialized without its per-node settings: a full
//! `toml::Table` of the file, a clone, and a serialization. At 100,000 routes that was a tenth
//! of every load, on every reload and at every start, for a value only a `[pair]` peer ever
//! reads. So the load keeps the text (and the dependent files' contents) and the digest is
//! computed from them on first use, once per loaded config, with exactly the same result.

use std::sync::{Arc, OnceLock};

/// Hex SHA-256 over the config with its per-node settings left out (`[pair]`,
/// `admin.address`, `[logging]`) and the contents of every dependent file (not their paths).
#[derive(Clone)]
pub struct SharedDigest {
    inputs: Arc<Inputs>,
}

struct Inputs {
    text: String,
    files: Vec<Vec<u8>>,
    digest: OnceLock<String>,
}

impl SharedDigest {
    /// The digest of `text` and these dependent files' contents (computed on first
    /// [`Self::value`]).
    pub fn new(text: String, files: Vec<Vec<u8>>) -> Self {
        SharedDigest {
            inputs: Arc::new(Inputs {
                text,
                files,
                digest: OnceLock::new(),
            }),
        }
    }

    /// The hex digest.
    pub fn value(&self) -> &str {
        let inputs = &*self.inputs;
        inputs.digest.get_or_init(|| {
            let shared = shared_text(&inputs.text);
            let mut parts: Vec<&[u8]> = vec![shared.as_bytes()];
            parts.extend(inputs.files.iter().map(Vec::as_slice));
            crate::tls::sha256_hex(&parts)
        })
    }
}

/// The document without its per-node settings, as the pair guard compares it. (Only valid
/// configs get here; a text that no longer parses would give the digest of nothing.)
fn shared_text(text: &str) -> String {
    let Ok(mut shared) = toml::from_str::<toml::Table>(text) else {
        return String::new();
    };
    shared.remove("pair");
    shared.remove("logging");
    if let Some(admin) = shared.get_mut("admin").and_then(|a| a.as_table_mut()) {
        admin.remove("address");
    }
    toml::to_string(&shared).unwrap_or_default()
}

impl PartialEq for SharedDigest {
    fn eq(&self, other: &Self) -> bool {
        self.value() == other.value()
    }
}

impl std::fmt::Debug for SharedDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.inputs.digest.get() {
            Some(d) => f.write_str(d),
            None => f.write_str("(not computed yet)"),
        }
    }
}
