//! The request target and `Host`: origin-form, absolute-form, authority-form and `*`, checked
//! against each other (RFC 9112 §3.2, §3.3).

use super::{refuse, Refusal};

/// A checked target: its authority (absolute- and authority-form) and where its path starts.
pub(super) struct Target<'a> {
    pub(super) authority: Option<&'a [u8]>,
    /// Offset of the path within the target.
    pub(super) path_offset: usize,
}

pub(super) fn check_target<'a>(method: &[u8], target: &'a [u8]) -> Result<Target<'a>, Refusal> {
    if target == b"*" {
        return if method == b"OPTIONS" {
            Ok(Target {
                authority: None,
                path_offset: 0,
            })
        } else {
            Err(refuse(400, "asterisk-form target outside OPTIONS"))
        };
    }
    let (authority, path, path_offset) = if target.starts_with(b"/") {
        (None, target, 0)
    } else {
        let scheme = if target.len() > 7 && target[..7].eq_ignore_ascii_case(b"http://") {
            7
        } else if target.len() > 8 && target[..8].eq_ignore_ascii_case(b"https://") {
            8
        } else {
            return Err(refuse(400, "invalid request target"));
        };
        let rest = &target[scheme..];
        let split = rest
            .iter()
            .position(|&b| b == b'/' || b == b'?')
            .unwrap_or(rest.len());
        let (auth, path) = rest.split_at(split);
        if auth.is_empty() || auth.contains(&b'@') {
            return Err(refuse(400, "invalid request target"));
        }
        (Some(auth), path, scheme + split)
    };
    // Visible ASCII only, and every '%' starts a valid escape.
    let mut i = 0;
    while i < path.len() {
        let b = path[i];
        if b <= 0x20 || b >= 0x7f || b == b'#' {
            return Err(refuse(400, "invalid character in the request target"));
        }
        if b == b'%' {
            let ok = path.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && path.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
            if !ok {
                return Err(refuse(400, "invalid percent-encoding"));
            }
            i += 3;
            continue;
        }
        i += 1;
    }
    Ok(Target {
        authority,
        path_offset,
    })
}

/// Bytes of a host name (RFC 3986 reg-name: unreserved, sub-delims, `%`), by table: this is
/// checked for every byte of every request's `Host`.
const HOST_NAME: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b'%'
            );
        b += 1;
    }
    t
};

/// `host [":" port]` with a reg-name or an IP literal, RFC 3986.
pub fn valid_host(h: &[u8]) -> bool {
    if h.is_empty() || h.len() > 255 {
        return false;
    }
    let (name, port) = if h[0] == b'[' {
        let Some(close) = h.iter().position(|&b| b == b']') else {
            return false;
        };
        let inside = &h[1..close];
        if inside.is_empty()
            || !inside
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return false;
        }
        (&h[..=close], &h[close + 1..])
    } else {
        match h.iter().rposition(|&b| b == b':') {
            Some(c) => (&h[..c], &h[c..]),
            None => (h, &h[h.len()..]),
        }
    };
    let port_ok = port.is_empty()
        || (port[0] == b':' && port.len() <= 6 && port[1..].iter().all(u8::is_ascii_digit));
    let name_ok = name.starts_with(b"[")
        || (!name.is_empty() && name.iter().all(|&b| HOST_NAME[usize::from(b)]));
    port_ok && name_ok
}

pub(super) fn same_host(authority: &[u8], host: &[u8]) -> bool {
    let strip = |a: &[u8]| -> Vec<u8> {
        let a = match a.iter().rposition(|&b| b == b':') {
            Some(c) if !a.ends_with(b"]") && a[c + 1..].iter().all(u8::is_ascii_digit) => &a[..c],
            _ => a,
        };
        a.to_ascii_lowercase()
    };
    strip(authority) == strip(host)
}
