//! The one hash every balancing decision uses: FNV-1a over the bytes, then a 64-bit finaliser
//! (murmur3's `fmix64`) so that keys differing in one byte land far apart.
//!
//! Its seed is a constant written here, not drawn at start-up (std's `RandomState` is) and not
//! std's `DefaultHasher` (whose algorithm may change between Rust releases): every process and
//! both nodes of a keepalived pair, whatever build they run, map a key to the same backend.

/// The fixed seed (FNV-1a's 64-bit offset basis).
const SEED: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// An incremental hash: feed parts, then [`KeyHasher::finish`]. No allocation.
#[derive(Debug, Clone, Copy)]
pub struct KeyHasher(u64);

impl Default for KeyHasher {
    fn default() -> Self {
        KeyHasher(SEED)
    }
}

impl KeyHasher {
    /// Adds bytes.
    pub fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(PRIME);
        }
    }

    /// The finished hash.
    pub fn finish(self) -> u64 {
        fmix64(self.0)
    }
}

/// The hash of one byte string.
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h = KeyHasher::default();
    h.write(bytes);
    h.finish()
}

/// murmur3's 64-bit finaliser: every input bit affects every output bit.
pub fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_fixed_forever() {
        // Changing these remaps every hashed key of every deployment: never do it silently.
        assert_eq!(hash_bytes(b""), fmix64(SEED));
        assert_eq!(hash_bytes(b"client-1"), hash_bytes(b"client-1"));
        assert_ne!(hash_bytes(b"client-1"), hash_bytes(b"client-2"));
        let mut h = KeyHasher::default();
        h.write(b"/a");
        h.write(b"?b");
        assert_eq!(h.finish(), hash_bytes(b"/a?b"));
        assert_eq!(hash_bytes(b"gatehouse"), 0xf432_ad5b_af92_def4);
    }
}
