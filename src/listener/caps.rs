//! Connection caps: all listeners together, and per client address. A connection over a cap is
//! closed at once (and counted); nothing is allocated for it beyond the accept.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Open-connection accounting.
#[derive(Debug, Default)]
pub struct Caps {
    total: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

/// Which cap refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Over {
    /// `limits.max_connections`.
    Total,
    /// `limits.max_connections_per_ip`.
    PerIp,
}

impl Over {
    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Over::Total => "max_connections",
            Over::PerIp => "max_connections_per_ip",
        }
    }
}

/// A counted connection; uncounted when dropped.
#[derive(Debug)]
pub struct Slot {
    caps: Arc<Caps>,
    ip: Option<IpAddr>,
}

impl Caps {
    /// Counts a connection against the global cap (0: unlimited).
    ///
    /// # Errors
    /// [`Over::Total`] when the cap is reached.
    pub fn admit(self: &Arc<Self>, max_total: usize) -> Result<Slot, Over> {
        let now = self.total.fetch_add(1, Ordering::AcqRel) + 1;
        let slot = Slot {
            caps: self.clone(),
            ip: None,
        };
        if max_total > 0 && now > max_total {
            return Err(Over::Total); // `slot` drops and uncounts
        }
        Ok(slot)
    }

    /// Also counts the connection against its client address (0: unlimited). Done once the
    /// real client address is known (after a PROXY protocol header).
    ///
    /// # Errors
    /// [`Over::PerIp`] when that address already has `max_per_ip` connections.
    pub fn admit_ip(slot: &mut Slot, ip: IpAddr, max_per_ip: usize) -> Result<(), Over> {
        if max_per_ip == 0 {
            return Ok(());
        }
        let mut map = slot.caps.per_ip.lock();
        let n = map.entry(ip).or_insert(0);
        if *n >= max_per_ip {
            if *n == 0 {
                map.remove(&ip);
            }
            return Err(Over::PerIp);
        }
        *n += 1;
        slot.ip = Some(ip);
        Ok(())
    }

    /// Open connections now.
    pub fn open(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.caps.total.fetch_sub(1, Ordering::AcqRel);
        if let Some(ip) = self.ip {
            let mut map = self.caps.per_ip.lock();
            if let Some(n) = map.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&ip);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_count_and_release() {
        let caps = Arc::new(Caps::default());
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let mut s1 = caps.admit(3).unwrap();
        Caps::admit_ip(&mut s1, a, 2).unwrap();
        let mut s2 = caps.admit(3).unwrap();
        Caps::admit_ip(&mut s2, a, 2).unwrap();
        let mut s3 = caps.admit(3).unwrap();
        assert_eq!(Caps::admit_ip(&mut s3, a, 2), Err(Over::PerIp));
        assert_eq!(caps.admit(3).err(), Some(Over::Total));
        drop(s1);
        drop(s3);
        assert_eq!(caps.open(), 1);
        let mut s4 = caps.admit(3).unwrap();
        Caps::admit_ip(&mut s4, a, 2).unwrap();
        drop((s2, s4));
        assert_eq!(caps.open(), 0);
        assert!(
            caps.per_ip.lock().is_empty(),
            "no memory kept for gone clients"
        );
    }
}
