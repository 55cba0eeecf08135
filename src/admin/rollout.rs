//! Admin endpoints of verified rollouts (see [`crate::rollout`]): the record a driver keeps
//! (`POST /rollouts/POOL/{begin,step,end}`, token) and what it watches
//! (`GET /rollouts/POOL/BACKEND`: in-flight, tunnels, checks, attempts and faults of the
//! backend and of the pool's other backends).

use super::json_response;
use crate::rollout::RolloutError;
use crate::runtime::SharedState;
use http::{Response, StatusCode};
use serde_json::json;

/// The value of `key` in a query string, percent-decoded.
fn param(query: Option<&str>, key: &str) -> Option<String> {
    let raw = query?
        .split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))?;
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// `POST /rollouts/POOL/ACTION?owner=…`.
pub(super) fn record(
    state: &SharedState,
    pool: &str,
    action: &str,
    query: Option<&str>,
) -> Response<Vec<u8>> {
    let Some(owner) = param(query, "owner") else {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": "owner is required"}),
        );
    };
    let result = match action {
        "begin" => {
            if !state.load().pools.iter().any(|p| &*p.name == pool) {
                return json_response(
                    StatusCode::NOT_FOUND,
                    &json!({"error": format!("no pool {pool:?}")}),
                );
            }
            let pid = param(query, "pid").and_then(|p| p.parse().ok());
            state.rollouts.begin(pool, &owner, pid)
        }
        "step" => state.rollouts.step(
            pool,
            &owner,
            &param(query, "backend").unwrap_or_default(),
            &param(query, "phase").unwrap_or_default(),
            &param(query, "message").unwrap_or_default(),
        ),
        "end" => state.rollouts.end(
            pool,
            &owner,
            param(query, "result").as_deref() == Some("ok"),
            param(query, "reason").filter(|r| !r.is_empty()),
        ),
        _ => {
            return json_response(
                StatusCode::NOT_FOUND,
                &json!({"error": "action must be begin, step or end"}),
            )
        }
    };
    match result {
        Ok(()) => json_response(StatusCode::OK, &json!({"result": "ok"})),
        Err(e @ (RolloutError::Busy { .. } | RolloutError::NotRunning { .. })) => {
            json_response(StatusCode::CONFLICT, &json!({"error": e.to_string()}))
        }
    }
}

/// `GET /rollouts/POOL/BACKEND`.
pub(super) fn watch(state: &SharedState, pool: &str, address: &str) -> Response<Vec<u8>> {
    let snapshot = state.load();
    let Some(p) = snapshot.pools.iter().find(|p| &*p.name == pool) else {
        return json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": format!("no pool {pool:?}")}),
        );
    };
    let Some(b) = p
        .backends
        .iter()
        .find(|b| &*b.label == address || b.config.configured == address)
    else {
        return json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": format!("pool {pool} has no backend {address:?}")}),
        );
    };
    b.state.refresh();
    let view = b.state.view();
    let (attempts, faults) = b.state.traffic();
    let (consecutive, passed) = b.state.check_passes();
    let (o_attempts, o_faults) = p
        .backends
        .iter()
        .filter(|o| o.label != b.label)
        .map(|o| o.state.traffic())
        .fold((0, 0), |(a, f), (x, y)| (a + x, f + y));
    json_response(
        StatusCode::OK,
        &json!({
            "pool": pool,
            "rise": p.config.health_check.as_ref().map(|h| h.rise),
            "backend": {
                "address": b.label.to_string(),
                "state": view.state,
                "check_status": view.check_status,
                "last_check": view.last_check,
                "admin": view.admin,
                "inflight": view.inflight,
                "tunnels": b.state.tunnels(),
                "attempts": attempts,
                "faults": faults,
                "consecutive_passes": consecutive,
                "checks_passed": passed,
            },
            "others": {"attempts": o_attempts, "faults": o_faults},
            "rollout": state.rollouts.list().into_iter().find(|r| r.pool == pool),
        }),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn decodes_query_values() {
        let q = Some("owner=a%20b&message=x+y%2Fz&phase=draining");
        assert_eq!(super::param(q, "owner").as_deref(), Some("a b"));
        assert_eq!(super::param(q, "message").as_deref(), Some("x y/z"));
        assert_eq!(super::param(q, "phase").as_deref(), Some("draining"));
        assert_eq!(super::param(q, "missing"), None);
    }
}
