//! When a request that failed after its upstream connection was established may be retried.
//!
//! The bar is HAProxy's `retry-on conn-failure empty-response` with its safety rules: never
//! after a response byte, never a timeout (the backend may still be working on it), never when
//! the request body can no longer be replayed.

use pingora::prelude::ErrorType;

/// What to do after a failure while proxying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Give up: answer the client with the error.
    No,
    /// A kept-alive connection the backend had closed (the keep-alive race): same backend, new
    /// connection.
    FreshConnection,
    /// The connection broke before any response byte: the backend is probably gone. Another
    /// backend, for idempotent requests.
    OtherBackend,
}

/// The facts the decision depends on.
#[derive(Debug, Clone, Copy)]
pub struct Failure<'a> {
    /// Pingora's error type.
    pub etype: &'a ErrorType,
    /// The backend side failed (Pingora's error source is `Upstream`). A client that hung up or
    /// timed out says nothing about the backend, and nobody is left to answer.
    pub upstream: bool,
    /// Pingora's own judgement that the error is a keep-alive race (decided for reuse).
    pub keepalive_race: bool,
    /// The failed connection was reused from the pool.
    pub reused: bool,
    /// GET, HEAD, OPTIONS, PUT, DELETE, TRACE.
    pub idempotent: bool,
    /// No request body byte was sent upstream.
    pub body_unsent: bool,
    /// The request body is too large to replay.
    pub body_truncated: bool,
    /// A response head already arrived.
    pub response_started: bool,
}

/// Decides (pure; unit-tested).
pub fn decide(f: &Failure<'_>) -> Retry {
    if !f.upstream || f.response_started || f.body_truncated {
        return Retry::No;
    }
    if matches!(f.etype, ErrorType::ReadTimedout | ErrorType::WriteTimedout) {
        return Retry::No;
    }
    if f.reused && f.keepalive_race && (f.idempotent || f.body_unsent) {
        return Retry::FreshConnection;
    }
    let broke = matches!(
        f.etype,
        ErrorType::ConnectionClosed
            | ErrorType::ReadError
            | ErrorType::WriteError
            | ErrorType::H1Error
    );
    if broke && f.idempotent {
        return Retry::OtherBackend;
    }
    Retry::No
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(etype: &ErrorType) -> Failure<'_> {
        Failure {
            etype,
            upstream: true,
            keepalive_race: false,
            reused: false,
            idempotent: true,
            body_unsent: true,
            body_truncated: false,
            response_started: false,
        }
    }

    #[test]
    fn keepalive_race_retries_on_a_fresh_connection() {
        let e = ErrorType::ConnectionClosed;
        let f = Failure {
            keepalive_race: true,
            reused: true,
            idempotent: false,
            ..base(&e)
        };
        assert_eq!(
            decide(&f),
            Retry::FreshConnection,
            "even POST when no body byte went out"
        );
        let f = Failure {
            keepalive_race: true,
            reused: true,
            idempotent: false,
            body_unsent: false,
            ..base(&e)
        };
        assert_eq!(
            decide(&f),
            Retry::No,
            "a POST whose body was sent is not replayed"
        );
    }

    #[test]
    fn a_dying_backend_sends_idempotent_requests_elsewhere() {
        for e in [
            ErrorType::ConnectionClosed,
            ErrorType::ReadError,
            ErrorType::WriteError,
        ] {
            assert_eq!(decide(&base(&e)), Retry::OtherBackend, "{e:?}");
            assert_eq!(
                decide(&Failure {
                    idempotent: false,
                    ..base(&e)
                }),
                Retry::No,
                "{e:?} POST"
            );
        }
    }

    #[test]
    fn never_after_a_response_byte_a_timeout_or_a_lost_body() {
        let e = ErrorType::ConnectionClosed;
        assert_eq!(
            decide(&Failure {
                response_started: true,
                ..base(&e)
            }),
            Retry::No
        );
        assert_eq!(
            decide(&Failure {
                body_truncated: true,
                ..base(&e)
            }),
            Retry::No
        );
        for e in [ErrorType::ReadTimedout, ErrorType::WriteTimedout] {
            assert_eq!(
                decide(&Failure {
                    keepalive_race: true,
                    reused: true,
                    ..base(&e)
                }),
                Retry::No
            );
        }
    }

    #[test]
    fn a_client_that_hangs_up_is_not_the_backends_fault() {
        for e in [
            ErrorType::ConnectionClosed,
            ErrorType::ReadError,
            ErrorType::WriteError,
        ] {
            assert_eq!(
                decide(&Failure {
                    upstream: false,
                    keepalive_race: true,
                    reused: true,
                    ..base(&e)
                }),
                Retry::No,
                "{e:?} from the client"
            );
        }
    }
}
