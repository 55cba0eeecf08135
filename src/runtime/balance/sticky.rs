//! Sticky sessions by an inserted cookie (`[pools.<name>.sticky]`): the cookie names the
//! backend by an opaque id — a fixed-seed hash of the pool name and the backend's address, so
//! it is the same in every process, reload and node, and never shows the address — and a
//! request carrying a valid one goes to that backend while it serves. Otherwise the request is
//! balanced as usual and the response sets the cookie for the backend that answered.

use super::hash::KeyHasher;
use super::key::{with_cookie, Fields};
use crate::config::model::{self, StickySettings};
use http::HeaderValue;

/// A pool's sticky cookie, ready to read and to write.
#[derive(Debug)]
pub struct Sticky {
    name: String,
    /// `(id, backend index)`, sorted by id.
    by_id: Vec<(u64, u32)>,
    /// Per backend: the `Set-Cookie` value on cleartext and on TLS connections (`Secure`).
    cookies: Vec<[HeaderValue; 2]>,
}

impl Sticky {
    /// Builds the cookies of `backends` (in pool order).
    pub fn build(
        pool: &str,
        settings: &StickySettings,
        backends: &[std::sync::Arc<model::Backend>],
    ) -> Sticky {
        let ids: Vec<u64> = backends.iter().map(|b| id(pool, &b.address)).collect();
        let mut by_id: Vec<(u64, u32)> = ids
            .iter()
            .enumerate()
            .map(|(i, &id)| (id, i as u32))
            .collect();
        by_id.sort_unstable();
        let cookies = ids
            .iter()
            .map(|&id| [cookie(settings, id, false), cookie(settings, id, true)])
            .collect();
        Sticky {
            name: settings.cookie.clone(),
            by_id,
            cookies,
        }
    }

    /// The backend the request's cookie names, if it carries a valid one.
    pub fn requested(&self, fields: &dyn Fields) -> Option<u32> {
        let id = with_cookie(fields, &self.name, parse_id)??;
        self.by_id
            .binary_search_by_key(&id, |&(id, _)| id)
            .ok()
            .and_then(|pos| self.by_id.get(pos))
            .map(|&(_, index)| index)
    }

    /// The `Set-Cookie` value for a response from backend `chosen`, unless the request's
    /// cookie already named it.
    pub fn set_cookie(
        &self,
        requested: Option<u32>,
        chosen: u32,
        tls: bool,
    ) -> Option<&HeaderValue> {
        if requested == Some(chosen) {
            return None;
        }
        self.cookies
            .get(chosen as usize)
            .map(|pair| &pair[usize::from(tls)])
    }
}

/// A backend's opaque id.
fn id(pool: &str, address: &std::net::SocketAddr) -> u64 {
    let mut h = KeyHasher::default();
    h.write(b"sticky\0");
    h.write(pool.as_bytes());
    h.write(b"\0");
    h.write(address.to_string().as_bytes());
    h.finish()
}

/// 16 lowercase hex digits, nothing else.
fn parse_id(value: &[u8]) -> Option<u64> {
    if value.len() != 16 {
        return None;
    }
    let text = std::str::from_utf8(value).ok()?;
    u64::from_str_radix(text, 16).ok()
}

fn cookie(s: &StickySettings, id: u64, secure: bool) -> HeaderValue {
    let mut v = format!("{}={id:016x}; Path={}", s.cookie, s.path);
    if let Some(age) = s.max_age {
        v.push_str(&format!("; Max-Age={}", age.as_secs().max(1)));
    }
    if s.http_only {
        v.push_str("; HttpOnly");
    }
    v.push_str("; SameSite=");
    v.push_str(s.same_site);
    if secure {
        v.push_str("; Secure");
    }
    // Validated name and path: always a valid value; an empty one would only skip the cookie.
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    struct One(String);

    impl Fields for One {
        fn each(&self, name: &str, visit: &mut dyn FnMut(&[u8]) -> bool) -> bool {
            name == "cookie" && visit(self.0.as_bytes())
        }
    }

    fn backend(port: u16) -> std::sync::Arc<model::Backend> {
        std::sync::Arc::new(model::Backend {
            configured: format!("10.0.0.1:{port}"),
            host: "10.0.0.1".into(),
            address: format!("10.0.0.1:{port}").parse().unwrap(),
            weight: 1,
            backup: false,
            drain: false,
            max_connections: None,
            max_queue: 0,
            queue_timeout: Duration::from_secs(1),
        })
    }

    fn settings() -> StickySettings {
        StickySettings {
            cookie: "srv".into(),
            path: "/".into(),
            http_only: true,
            same_site: "Lax",
            max_age: Some(Duration::from_secs(60)),
        }
    }

    #[test]
    fn cookie_round_trip_without_the_address() {
        let s = Sticky::build("p", &settings(), &[backend(80), backend(81)]);
        let set = s
            .set_cookie(None, 1, false)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        assert!(set.starts_with("srv="), "{set}");
        assert!(
            set.ends_with("; Path=/; Max-Age=60; HttpOnly; SameSite=Lax"),
            "{set}"
        );
        assert!(!set.contains("10.0.0.1") && !set.contains("81"), "{set}");
        let secure = s.set_cookie(None, 1, true).unwrap().to_str().unwrap();
        assert!(secure.ends_with("; Secure"));
        let value = set.split(';').next().unwrap().to_string();
        let back = One(format!("a=b; {value}"));
        assert_eq!(s.requested(&back), Some(1));
        assert_eq!(s.set_cookie(Some(1), 1, false), None, "already right");
        assert!(s.set_cookie(Some(0), 1, false).is_some(), "rewritten");
        assert_eq!(s.requested(&One("srv=zz".into())), None);
        assert_eq!(s.requested(&One("srv=0000000000000000".into())), None);
        // Stable: the same pool and address give the same cookie in another build of the pool.
        let again = Sticky::build("p", &settings(), &[backend(81)]);
        assert_eq!(again.requested(&back), Some(0));
    }
}
