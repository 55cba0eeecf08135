//! `[pools.*.health_check]`: what an active check sends and expects, and how often.

use super::suggest::choice;
use super::{positive, Report};
use crate::config::model::{CheckKind, HealthCheckSettings, StartState};
use crate::config::raw;
use crate::config::spans::{child, index};
use std::time::Duration;

/// The check, or `None` when its type is unknown (reported). Every key is checked either way.
pub(super) fn health_check(
    path: &str,
    h: &raw::HealthCheck,
    report: &mut Report<'_>,
) -> Option<HealthCheckSettings> {
    // `None`: unknown or refused. The http keys are then still checked (they show what was
    // meant), but none is called out of place.
    #[derive(Clone, Copy, PartialEq)]
    enum Type {
        Http,
        Tcp,
        Grpc,
    }
    let kind_type = match h.kind.as_deref() {
        None if report.refused(&child(path, "type")) => None,
        None => Some(Type::Http),
        Some(k) => choice(
            report,
            &child(path, "type"),
            "check type",
            k,
            &[
                ("http", Type::Http),
                ("tcp", Type::Tcp),
                ("grpc", Type::Grpc),
            ],
        ),
    };
    if h.service.is_some() && kind_type.is_some_and(|t| t != Type::Grpc) {
        report.error(
            &child(path, "service"),
            "only applies to type = \"grpc\" checks",
        );
    }
    let tcp = kind_type.map(|t| t == Type::Tcp);
    let kind = if kind_type == Some(Type::Grpc) {
        for (key, set) in [
            ("path", h.path.is_some()),
            ("method", h.method.is_some()),
            ("expect_status", h.expect_status.is_some()),
            ("expect_body", h.expect_body.is_some()),
        ] {
            if set {
                report.error(
                    &child(path, key),
                    "does not apply to type = \"grpc\" checks",
                );
            }
        }
        CheckKind::Grpc {
            service: h.service.clone().unwrap_or_default(),
        }
    } else if tcp == Some(true) {
        for (key, set) in [
            ("path", h.path.is_some()),
            ("method", h.method.is_some()),
            ("host", h.host.is_some()),
            ("expect_status", h.expect_status.is_some()),
            ("expect_body", h.expect_body.is_some()),
        ] {
            if set {
                report.error(&child(path, key), "only applies to type = \"http\" checks");
            }
        }
        CheckKind::Tcp
    } else {
        http_check(path, h, report)
    };
    let interval = positive(
        report,
        &child(path, "interval"),
        h.interval,
        Duration::from_secs(2),
    );
    let timeout = positive(
        report,
        &child(path, "timeout"),
        h.timeout,
        Duration::from_secs(1).min(interval),
    );
    if timeout > interval {
        report.warn(
            &child(path, "timeout"),
            "is longer than the interval; a slow backend is checked at most once per timeout",
        );
    }
    let mut count = |key: &str, v: Option<u32>, default: u32| match v {
        Some(0) => {
            report.error(&child(path, key), "must be at least 1");
            default
        }
        Some(n) => n,
        None => default,
    };
    let rise = count("rise", h.rise, 2);
    let fall = count("fall", h.fall, 3);
    let jitter = h.jitter.unwrap_or(0.1);
    if !(0.0..=1.0).contains(&jitter) {
        report.error(
            &child(path, "jitter"),
            "must be a fraction of the interval between 0.0 and 1.0",
        );
    }
    let start = h
        .start
        .as_deref()
        .and_then(|v| {
            choice(
                report,
                &child(path, "start"),
                "start state",
                v,
                &[
                    ("unknown", StartState::Unknown),
                    ("up", StartState::Up),
                    ("down", StartState::Down),
                ],
            )
        })
        .unwrap_or(StartState::Unknown);
    // Only now, with every key checked: an unknown type builds no check.
    tcp?;
    Some(HealthCheckSettings {
        kind,
        interval,
        timeout,
        rise,
        fall,
        jitter: jitter.clamp(0.0, 1.0),
        start,
    })
}

fn http_check(path: &str, h: &raw::HealthCheck, report: &mut Report<'_>) -> CheckKind {
    let method = h.method.as_deref().unwrap_or("GET");
    let method = match http::Method::from_bytes(method.as_bytes()) {
        Ok(m) => m,
        Err(_) => {
            report.error(
                &child(path, "method"),
                format!("{method:?} is not an HTTP method"),
            );
            http::Method::GET
        }
    };
    let check_path = h.path.clone().unwrap_or_else(|| "/".to_string());
    if !check_path.starts_with('/')
        || http::uri::PathAndQuery::try_from(check_path.as_str()).is_err()
    {
        report.error(
            &child(path, "path"),
            format!("{check_path:?} must be a path starting with '/'"),
        );
    }
    let mut expect_status = Vec::new();
    let statuses = h
        .expect_status
        .clone()
        .unwrap_or_else(|| vec!["200-399".to_string()]);
    for (i, s) in statuses.iter().enumerate() {
        match parse_status_range(s) {
            Some(r) => expect_status.push(r),
            None => report.error(
                &index(&child(path, "expect_status"), i),
                format!(
                    "{s:?} is not a status, range or class (e.g. \"200\", \"200-399\", \"2xx\")"
                ),
            ),
        }
    }
    CheckKind::Http {
        method,
        path: check_path,
        host: h.host.clone(),
        expect_status,
        expect_body: h.expect_body.clone(),
    }
}

/// `"200"`, `"200-399"` or `"2xx"` → inclusive range.
pub(crate) fn parse_status_range(s: &str) -> Option<(u16, u16)> {
    let valid = |c: u16| (100..=599).contains(&c);
    if let Some(class) = s.strip_suffix("xx") {
        let d: u16 = class.parse().ok()?;
        return (1..=5).contains(&d).then_some((d * 100, d * 100 + 99));
    }
    if let Some((a, b)) = s.split_once('-') {
        let (a, b): (u16, u16) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
        return (valid(a) && valid(b) && a <= b).then_some((a, b));
    }
    let c: u16 = s.trim().parse().ok()?;
    valid(c).then_some((c, c))
}

#[cfg(test)]
mod tests {
    use super::parse_status_range;

    #[test]
    fn status_ranges() {
        assert_eq!(parse_status_range("200"), Some((200, 200)));
        assert_eq!(parse_status_range("200-399"), Some((200, 399)));
        assert_eq!(parse_status_range("2xx"), Some((200, 299)));
        assert_eq!(parse_status_range("6xx"), None);
        assert_eq!(parse_status_range("399-200"), None);
        assert_eq!(parse_status_range("abc"), None);
    }
}
