//! Runs one [`Plan`] on its own TLS connection (ALPN `h2`): the preface and SETTINGS, the
//! plan's steps written raw, then its end. A reader task drains every frame the server sends
//! meanwhile (so the server never waits on a full socket) and reports what came.

use super::gen::{End, Plan, Step};
use crate::support::h2raw::*;
use crate::support::{patient, WAIT};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// Where the sequences go.
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub host: &'static str,
    pub tls: Arc<rustls::ClientConfig>,
}

/// How a sequence ended, as the client saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ending {
    /// The connection survived and answered the probe with a response head.
    Answered,
    /// The connection survived and reset the probe's stream (with this code).
    ProbeReset(u32),
    /// The server had closed the connection (after a GOAWAY or not) by the end.
    Closed,
    /// The client dropped the connection.
    Dropped,
    /// The client shut its half down and the server closed.
    ShutDown,
}

/// What one sequence did.
pub struct Report {
    pub frames_sent: usize,
    pub ending: Ending,
    /// GOAWAY error codes received.
    pub goaways: Vec<u32>,
    /// RST_STREAM frames received.
    pub resets: usize,
}

/// A sequence that did not end as a live server must end it.
#[derive(Debug)]
pub struct Stuck(pub String);

/// How long a live connection may take to answer the probe, or to close after the client's
/// FIN: far more than a loaded machine needs; only a hung connection reaches it.
const ANSWER: Duration = Duration::from_secs(5);

enum Event {
    Frame(Frame),
    Closed,
}

/// A TLS connection to `t` (ALPN `h2`), nothing sent yet.
pub async fn dial(
    t: &Target,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, Stuck> {
    let tcp = tokio::net::TcpStream::connect(t.addr)
        .await
        .map_err(|e| Stuck(format!("connect: {e}")))?;
    tcp.set_nodelay(true).ok();
    let name = rustls::pki_types::ServerName::try_from(t.host)
        .map_err(|e| Stuck(e.to_string()))?
        .to_owned();
    tokio::time::timeout(
        patient(WAIT),
        tokio_rustls::TlsConnector::from(t.tls.clone()).connect(name, tcp),
    )
    .await
    .map_err(|_| Stuck("TLS handshake: timeout".into()))?
    .map_err(|e| Stuck(format!("TLS handshake: {e}")))
}

/// Runs `plan` against `t`.
pub async fn run(t: &Target, plan: &Plan) -> Result<Report, Stuck> {
    let tls = dial(t).await?;
    let (mut rd, mut wr) = tokio::io::split(tls);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        loop {
            match next_frame(&mut rd).await {
                Ok(Some(f)) => {
                    if tx.send(Event::Frame(f)).is_err() {
                        return;
                    }
                }
                _ => {
                    let _ = tx.send(Event::Closed);
                    return;
                }
            }
        }
    });
    let mut report = Report {
        frames_sent: 1,
        ending: Ending::Dropped,
        goaways: Vec::new(),
        resets: 0,
    };
    // A write error is no failure: the server may have closed already, as it may.
    let mut out = PREFACE.to_vec();
    out.extend(settings(&[]));
    let _ = wr.write_all(&out).await;
    for step in &plan.steps {
        match step {
            Step::Frame {
                kind,
                flags,
                stream,
                payload,
            } => {
                let _ = wr.write_all(&frame(*kind, *flags, *stream, payload)).await;
                report.frames_sent += 1;
            }
            Step::Garbage(bytes) => {
                let _ = wr.write_all(bytes).await;
            }
            Step::Pause(ms) => tokio::time::sleep(Duration::from_millis(*ms)).await,
        }
    }
    let _ = wr.flush().await;
    let mut closed = false;
    let deadline = tokio::time::Instant::now() + patient(ANSWER);
    let result = match &plan.end {
        End::Drop => {
            while let Ok(ev) = rx.try_recv() {
                closed |= see(&ev, &mut report);
            }
            Ok(if closed {
                Ending::Closed
            } else {
                Ending::Dropped
            })
        }
        End::Probe { stream, block } => {
            let _ = wr
                .write_all(&frame(HEADERS, END_STREAM | END_HEADERS, *stream, block))
                .await;
            let _ = wr.flush().await;
            report.frames_sent += 1;
            loop {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Err(_) => {
                        break Err(Stuck(format!(
                            "the connection stayed open but answered nothing to GET / on \
                             stream {stream} within {:?}",
                            patient(ANSWER)
                        )))
                    }
                    Ok(None) => break Ok(Ending::Closed),
                    Ok(Some(ev)) => {
                        see(&ev, &mut report);
                        match ev {
                            Event::Closed => break Ok(Ending::Closed),
                            Event::Frame(f) if f.stream == *stream && f.kind == HEADERS => {
                                break Ok(Ending::Answered)
                            }
                            Event::Frame(f) if f.stream == *stream && f.kind == RST_STREAM => {
                                break Ok(Ending::ProbeReset(f.rst_code().unwrap_or(u32::MAX)))
                            }
                            Event::Frame(_) => {}
                        }
                    }
                }
            }
        }
        End::Shutdown => {
            let _ = wr.shutdown().await;
            loop {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Err(_) => {
                        break Err(Stuck(format!(
                            "the client closed its half, the server kept the connection open \
                             for {:?}",
                            patient(ANSWER)
                        )))
                    }
                    Ok(None) | Ok(Some(Event::Closed)) => break Ok(Ending::ShutDown),
                    Ok(Some(ev)) => {
                        see(&ev, &mut report);
                    }
                }
            }
        }
    };
    reader.abort();
    report.ending = result?;
    Ok(report)
}

/// Notes what a frame says in `report`; true when the connection closed.
fn see(ev: &Event, report: &mut Report) -> bool {
    match ev {
        Event::Frame(f) if f.kind == GOAWAY => report.goaways.extend(f.error_code()),
        Event::Frame(f) if f.kind == RST_STREAM => report.resets += 1,
        Event::Frame(_) => {}
        Event::Closed => return true,
    }
    false
}
