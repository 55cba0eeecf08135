//! The generator's control frames: RST_STREAM, PRIORITY, WINDOW_UPDATE, SETTINGS and PING,
//! valid, and by mistake (`Gen::oops`) with the wrong length, stream, value or flag.

use super::Gen;
use crate::support::h2raw::*;

impl Gen {
    pub(super) fn rst_stream(&mut self) {
        let stream = self.stream();
        let code = if self.rng.u8(0..10) == 0 {
            self.rng.u32(..)
        } else {
            self.rng.u32(0..14)
        };
        let mut p = code.to_be_bytes().to_vec();
        if self.oops() {
            p.push(0);
        }
        self.frame(RST_STREAM, 0, stream, p);
        self.track(stream, true);
    }

    pub(super) fn priority(&mut self) {
        let stream = if self.rng.u8(0..3) == 0 {
            self.rng.u32(1..self.next + 20) | 1
        } else {
            self.stream()
        };
        let dep = if self.oops() {
            stream
        } else {
            self.rng.u32(0..self.next + 4)
        };
        let mut p = (dep | (u32::from(self.rng.bool()) << 31))
            .to_be_bytes()
            .to_vec();
        p.push(self.rng.u8(..));
        if self.oops() {
            p.pop();
        }
        self.frame(PRIORITY, 0, stream, p);
    }

    pub(super) fn window_update(&mut self) {
        let stream = if self.rng.bool() { 0 } else { self.stream() };
        let increment = if self.oops() {
            [0, 0x7fff_ffff, self.rng.u32(..)][self.rng.usize(..3)]
        } else {
            self.rng.u32(1..=65_535)
        };
        let mut p = increment.to_be_bytes().to_vec();
        if self.oops() {
            p.pop();
        }
        self.frame(WINDOW_UPDATE, 0, stream, p);
    }

    pub(super) fn settings(&mut self) {
        let stream = u32::from(self.oops());
        match self.rng.u8(0..20) {
            0..=2 => return self.frame(SETTINGS, ACK, stream, Vec::new()),
            3 if self.oops() => return self.frame(SETTINGS, ACK, stream, vec![0; 6]),
            _ => {}
        }
        let mut entries = Vec::new();
        for _ in 0..self.rng.usize(0..=4) {
            // Valid values; by mistake, the invalid ones of RFC 9113 §6.5.2.
            let bad = self.oops();
            let (id, value) = match self.rng.u8(0..8) {
                0 => (SETTINGS_HEADER_TABLE_SIZE, self.rng.u32(0..=8192)),
                1 => (SETTINGS_ENABLE_PUSH, self.rng.u32(0..=1) + u32::from(bad)),
                2 => (SETTINGS_MAX_CONCURRENT_STREAMS, self.rng.u32(0..=200)),
                3 if bad => (SETTINGS_INITIAL_WINDOW_SIZE, self.rng.u32(0x8000_0000..)),
                3 => (
                    SETTINGS_INITIAL_WINDOW_SIZE,
                    [0, 1, 65_535, 0x7fff_ffff, self.rng.u32(..0x8000_0000)][self.rng.usize(..5)],
                ),
                4 if bad => (
                    SETTINGS_MAX_FRAME_SIZE,
                    [16_383, 0x100_0000][self.rng.usize(..2)],
                ),
                4 => (
                    SETTINGS_MAX_FRAME_SIZE,
                    [16_384, 0xff_ffff][self.rng.usize(..2)],
                ),
                5 => (SETTINGS_MAX_HEADER_LIST_SIZE, self.rng.u32(..)),
                // SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441), and unknown ones (ignored).
                6 => (0x8, self.rng.u32(0..=1) + u32::from(bad)),
                _ => (self.rng.u16(0x10..), self.rng.u32(..)),
            };
            entries.extend_from_slice(&id.to_be_bytes());
            entries.extend_from_slice(&value.to_be_bytes());
        }
        if self.oops() {
            entries.push(0);
        }
        self.frame(SETTINGS, 0, stream, entries);
    }

    pub(super) fn ping(&mut self) {
        let flags = if self.rng.u8(0..5) == 0 { ACK } else { 0 };
        let stream = u32::from(self.oops());
        let len = if self.oops() { 7 } else { 8 };
        let payload = self.bytes(len..=len);
        self.frame(PING, flags, stream, payload);
    }
}
