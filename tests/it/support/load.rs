//! A steady concurrent load from the test itself, recording every outcome.

use super::client::Client;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// One request's outcome.
#[derive(Debug, Clone)]
pub struct Sample {
    pub status: Result<u16, String>,
    pub backend: String,
    pub request_id: String,
    /// Generation observed just before sending and just after the response (in-process
    /// proxies only; 0 otherwise).
    pub gen_before: u64,
    pub gen_after: u64,
    /// When the request was sent / answered.
    pub sent_at: std::time::SystemTime,
    pub done_at: std::time::SystemTime,
}

pub struct Load {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// `concurrency` keep-alive clients looping on `path` until stopped.
    pub fn start(
        addr: SocketAddr,
        host: &str,
        path: &str,
        concurrency: usize,
        generation: Option<Arc<dyn Fn() -> u64 + Send + Sync>>,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let tasks = (0..concurrency)
            .map(|_| {
                let (stop, samples, host, path, generation) = (
                    stop.clone(),
                    samples.clone(),
                    host.to_string(),
                    path.to_string(),
                    generation.clone(),
                );
                tokio::spawn(async move {
                    let client = Client::new();
                    let gen = || generation.as_ref().map_or(0, |g| g());
                    while !stop.load(Ordering::Relaxed) {
                        let gen_before = gen();
                        let sent_at = std::time::SystemTime::now();
                        let r = client.try_get(addr, &host, &path).await;
                        let done_at = std::time::SystemTime::now();
                        let gen_after = gen();
                        let sample = match r {
                            Ok(r) => Sample {
                                status: Ok(r.status),
                                backend: r.backend(),
                                request_id: r.header("x-request-id").unwrap_or_default(),
                                gen_before,
                                gen_after,
                                sent_at,
                                done_at,
                            },
                            Err(e) => Sample {
                                status: Err(e),
                                backend: String::new(),
                                request_id: String::new(),
                                gen_before,
                                gen_after,
                                sent_at,
                                done_at,
                            },
                        };
                        samples.lock().unwrap().push(sample);
                    }
                })
            })
            .collect();
        Load {
            stop,
            samples,
            tasks,
        }
    }

    pub fn count(&self) -> usize {
        self.samples.lock().unwrap().len()
    }

    /// Stops and returns every sample.
    pub async fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            let _ = t.await;
        }
        Arc::try_unwrap(self.samples)
            .map(|m| m.into_inner().unwrap())
            .unwrap_or_default()
    }
}

/// Panics listing failures, if any sample failed.
pub fn assert_no_failures(samples: &[Sample], what: &str) {
    let failed: Vec<&Sample> = samples
        .iter()
        .filter(|s| !matches!(s.status, Ok(200)))
        .collect();
    assert!(
        failed.is_empty(),
        "{what}: {} of {} requests failed, e.g. {:?}",
        failed.len(),
        samples.len(),
        failed.iter().take(5).collect::<Vec<_>>()
    );
}
