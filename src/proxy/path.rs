//! Request path normalisation: dot segments (`.`, `..`, and their percent-encoded forms) are
//! resolved before routing, and the normalised path is what the backend receives — so a route
//! for `/public` cannot be used to reach `/admin` with `/public/../admin`, whatever the backend
//! does with dot segments. A path that climbs above the root is refused.

use std::borrow::Cow;

fn is_dot(seg: &str) -> bool {
    seg == "." || seg.eq_ignore_ascii_case("%2e")
}

fn is_dotdot(seg: &str) -> bool {
    matches!(seg.len(), 2 | 4 | 6)
        && (seg == ".."
            || seg.eq_ignore_ascii_case(".%2e")
            || seg.eq_ignore_ascii_case("%2e.")
            || seg.eq_ignore_ascii_case("%2e%2e"))
}

/// Normalises `path` (no query). `None` when it climbs above the root.
pub fn normalize(path: &str) -> Option<Cow<'_, str>> {
    let has_dots = path.contains("/.") || path.contains("%2e") || path.contains("%2E");
    if !has_dots {
        return Some(Cow::Borrowed(path));
    }
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    let mut trailing_slash = false;
    for (i, seg) in segments.iter().enumerate() {
        if is_dot(seg) {
            trailing_slash = i == last;
        } else if is_dotdot(seg) {
            out.pop()?;
            trailing_slash = i == last;
        } else {
            out.push(seg);
            trailing_slash = false;
        }
    }
    let mut s = String::with_capacity(path.len());
    for seg in &out {
        s.push('/');
        s.push_str(seg);
    }
    if s.is_empty() || trailing_slash {
        s.push('/');
    }
    if s == path {
        Some(Cow::Borrowed(path))
    } else {
        Some(Cow::Owned(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments() {
        let n = |p: &str| normalize(p).map(|c| c.into_owned());
        assert_eq!(n("/a/b"), Some("/a/b".into()));
        assert!(matches!(normalize("/a/b"), Some(Cow::Borrowed(_))));
        assert_eq!(n("/public/../admin/x"), Some("/admin/x".into()));
        assert_eq!(n("/public/%2e%2e/admin"), Some("/admin".into()));
        assert_eq!(n("/public/%2E./admin"), Some("/admin".into()));
        assert_eq!(n("/a/./b/."), Some("/a/b/".into()));
        assert_eq!(n("/a/b/.."), Some("/a/".into()));
        assert_eq!(n("/.."), None);
        assert_eq!(n("/a/../../etc/passwd"), None);
        assert_eq!(
            n("/a/.hidden/..x"),
            Some("/a/.hidden/..x".into()),
            "names starting with dots are not dot segments"
        );
        assert_eq!(n("/a//b/../c"), Some("/a//c".into()));
    }
}
