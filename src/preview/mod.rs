//! Reload preview: what a new config would do to real traffic before it serves any.
//!
//! The running process keeps a bounded ring of recent request facts ([`ring`]). A preview
//! builds the candidate config into a snapshot that serves nothing — its own throwaway health
//! registry, no metrics registered — and replays every sample through both the serving
//! snapshot and the candidate with the request path's own routing ([`replay::classify`]),
//! then reports the shares that would move to another pool, 404, 403 or a redirect.
//!
//! Two ways in: `POST /reload?dry_run=1` replays the file the process serves from, and
//! `gatehouse check --against-running` fetches the samples (`GET /preview/samples`, with what
//! the serving config does with each) and replays them through the file it was given, which
//! need not be in place yet.

pub mod headers;
pub mod replay;
pub mod ring;
pub mod sampled;

pub use replay::{Class, Preview};
pub use ring::{Fact, Sample, SampleRing};
pub use sampled::SampledHeaders;

use crate::config::model::Config;
use crate::health::Registry;
use crate::runtime::{SharedState, Snapshot};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Builds `config` into a snapshot for replay only: new pools get a throwaway registry (the
/// live backend states are not touched) and metric handles go to a no-op recorder (no series
/// appear for routes that do not exist yet).
pub fn candidate(config: Config, bound: &[String], previous: Option<&Snapshot>) -> Snapshot {
    let generation = previous.map_or(0, |p| p.generation + 1);
    let registry = Arc::new(Registry::new());
    metrics::with_local_recorder(&metrics::NoopRecorder, || {
        Snapshot::build(Arc::new(config), generation, bound, previous, &registry)
    })
}

/// Replays the process's samples through the serving snapshot and `candidate` (built over the
/// same bound listeners, so listener indexes agree).
pub fn against_serving(state: &SharedState, candidate: &Snapshot) -> Preview {
    let serving = state.load();
    let samples = state.samples.samples();
    let refs: Vec<&Sample> = samples.iter().collect();
    let notes = headers::unsampled_notes(
        serving.config.routes.iter().chain(&candidate.config.routes),
        &refs,
    );
    Preview::compare(samples.iter().map(|s| {
        (
            replay::classify(&serving, s.listener, s),
            replay::classify(candidate, s.listener, s),
        )
    }))
    .with_notes(notes)
}

/// The samples with what the serving config does with each (`GET /preview/samples`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Export {
    /// Bound listener names; a sample's `listener` indexes this list.
    pub listeners: Vec<String>,
    /// The samples, oldest first.
    pub samples: Vec<Recorded>,
}

/// One sample and its fate under the serving config.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Recorded {
    /// The request.
    #[serde(flatten)]
    pub sample: Sample,
    /// What the serving config does with it.
    pub now: Class,
}

impl Export {
    /// The export of `state`'s samples.
    pub fn of(state: &SharedState) -> Export {
        let serving = state.load();
        Export {
            listeners: state.bound.iter().map(|b| b.name.clone()).collect(),
            samples: state
                .samples
                .samples()
                .into_iter()
                .map(|s| Recorded {
                    now: replay::classify(&serving, s.listener, &s),
                    sample: s,
                })
                .collect(),
        }
    }

    /// Replays the export through `config` (a file that need not be serving anywhere yet).
    pub fn replay(&self, config: Config) -> Preview {
        let candidate = candidate(config, &self.listeners, None);
        let refs: Vec<&Sample> = self.samples.iter().map(|r| &r.sample).collect();
        let notes = headers::unsampled_notes(&candidate.config.routes, &refs);
        Preview::compare(self.samples.iter().map(|r| {
            // Listeners are matched by name: the candidate has only those it configures.
            let index = self
                .listeners
                .get(r.sample.listener)
                .and_then(|name| candidate.listeners.iter().position(|l| &*l.name == name))
                .unwrap_or(usize::MAX);
            (
                r.now.clone(),
                replay::classify(&candidate, index, &r.sample),
            )
        }))
        .with_notes(notes)
    }
}
