//! Segments and clusters are computed in the background, never inside a
//! page's request: the pages read the last result ([`Tier3Cache::peek_segmentation`],
//! [`Tier3Cache::peek_clustering`]) with its age, or say that the first one
//! is being computed. The service keeps the default window and the clusters
//! warm ([`Tier3Cache::warm`], every minute, recomputing what is older than
//! half of [`TTL_SECS`]); a page asking for another window, or finding its
//! result older than the TTL, has one computed for the next load
//! ([`Tier3Cache::needs`]). One computation of each kind at a time; an
//! export, which must hand out current members, waits for one.
//!
//! A result counts only for the day and the order facts' version it was
//! computed from: a rebuild of the facts ([`super::facts`], e.g. after an
//! erasure) hides every older result at once, so no page or export shows a
//! customer the facts no longer hold.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::clusters::{self, Clustering};
use super::rfm::{self, Segmentation};
use super::Tier3;

pub const TTL_SECS: i64 = 600;

#[derive(Debug, thiserror::Error)]
pub enum ComputeError {
    #[error(transparent)]
    ClickHouse(#[from] clickhouse::error::Error),
    #[error(transparent)]
    Cluster(#[from] clusters::ClusterError),
}

/// A result, when it was computed, and from what.
struct Computed<T> {
    at: i64,
    day: i32,
    version: u64,
    value: T,
}

/// What the clustering came to: clusters, or why there are none (too few
/// customers is an answer too, shown as such).
type ClusterOutcome = Result<Arc<Clustering>, Arc<clusters::ClusterError>>;

/// Which computation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Job {
    /// RFM segments of a window of days.
    Segments(i32),
    Clusters,
}

#[derive(Default)]
pub struct Tier3Cache {
    /// Bumped by every rebuild of the order facts.
    pub facts_version: Arc<AtomicU64>,
    rfm: Mutex<HashMap<i32, Computed<Arc<Segmentation>>>>,
    clusters: Mutex<Option<Computed<ClusterOutcome>>>,
    /// Held while computing, so one of each kind runs at a time.
    rfm_running: tokio::sync::Mutex<()>,
    clusters_running: tokio::sync::Mutex<()>,
    /// Jobs asked for or under way, since when.
    pending: Mutex<HashMap<Job, i64>>,
}

impl Tier3Cache {
    fn current<T: Clone>(&self, c: &Computed<T>, today: i32) -> Option<(i64, T)> {
        (c.day == today && c.version == self.facts_version.load(Ordering::Acquire)).then(|| (c.at, c.value.clone()))
    }

    /// The last segmentation of `days` up to `today`, however old, if it is
    /// of the current facts.
    pub fn peek_segmentation(&self, today: i32, days: i32) -> Option<(i64, Arc<Segmentation>)> {
        self.rfm.lock().expect("not poisoned").get(&days).and_then(|c| self.current(c, today))
    }

    /// The last clustering of `today`, however old, if it is of the current facts.
    pub fn peek_clustering(&self, today: i32) -> Option<(i64, ClusterOutcome)> {
        self.clusters.lock().expect("not poisoned").as_ref().and_then(|c| self.current(c, today))
    }

    /// Marks `job` as needed, and returns true for the caller to start it,
    /// when there is no result or it is older than the TTL and nothing is
    /// under way.
    pub fn needs(&self, job: Job, today: i32) -> bool {
        let now = crate::accounts::now_secs();
        let at = match job {
            Job::Segments(days) => self.peek_segmentation(today, days).map(|(at, _)| at),
            Job::Clusters => self.peek_clustering(today).map(|(at, _)| at),
        };
        let fresh = at.is_some_and(|at| now - at < TTL_SECS);
        let mut pending = self.pending.lock().expect("not poisoned");
        let start = !fresh && !pending.contains_key(&job);
        if start {
            pending.insert(job, now);
        }
        start
    }

    /// Since when `job` has been asked for or under way.
    pub fn pending_since(&self, job: Job) -> i64 {
        self.pending.lock().expect("not poisoned").get(&job).copied().unwrap_or_else(crate::accounts::now_secs)
    }

    /// Runs `job` (a page asked for it through [`Tier3Cache::needs`]).
    pub async fn run(&self, t: &Tier3<'_>, job: Job) {
        let outcome = match job {
            Job::Segments(days) => self.segmentation(t, days).await.map(drop),
            Job::Clusters => self.clustering(t).await.map(drop),
        };
        self.pending.lock().expect("not poisoned").remove(&job);
        match outcome {
            Ok(()) | Err(ComputeError::Cluster(_)) => {}
            Err(e) => tracing::warn!(error = %e, ?job, "computing for a marketing page failed; the next load asks again"),
        }
    }

    /// The segmentation of the `days` up to today, computed if there is
    /// none within the TTL (an export or the warm-up waits for it).
    pub async fn segmentation(&self, t: &Tier3<'_>, days: i32) -> Result<(i64, Arc<Segmentation>), ComputeError> {
        self.segmentation_within(t, days, TTL_SECS).await
    }

    pub async fn clustering(&self, t: &Tier3<'_>) -> Result<(i64, Arc<Clustering>), ComputeError> {
        self.clustering_within(t, TTL_SECS).await
    }

    /// The last segmentation of `days` and the last clustering, if any,
    /// without computing or waiting: for a page that only mentions them.
    pub fn latest(&self, today: i32, days: i32) -> (Option<Arc<Segmentation>>, Option<Arc<Clustering>>) {
        (self.peek_segmentation(today, days).map(|(_, s)| s), self.peek_clustering(today).and_then(|(_, c)| c.ok()))
    }

    /// Recomputes the default segments and the clusters when older than half the TTL.
    pub async fn warm(&self, t: &Tier3<'_>) -> Result<(), ComputeError> {
        self.segmentation_within(t, super::MarketingQuery::default().days, TTL_SECS / 2).await?;
        self.clustering_within(t, TTL_SECS / 2).await?;
        Ok(())
    }

    async fn segmentation_within(&self, t: &Tier3<'_>, days: i32, max_age: i64) -> Result<(i64, Arc<Segmentation>), ComputeError> {
        let _running = self.rfm_running.lock().await;
        // Read the version before computing: a rebuild during the
        // computation leaves this result already stale.
        let version = self.facts_version.load(Ordering::Acquire);
        let now = crate::accounts::now_secs();
        if let Some((at, s)) = self.peek_segmentation(t.today.0, days) {
            if now - at < max_age {
                return Ok((at, s));
            }
        }
        let until = crate::query::Day(t.today.0 + 1).start_secs();
        let s = Arc::new(rfm::segmentation(t, until - days as i64 * 86_400, until).await?);
        let mut cache = self.rfm.lock().expect("not poisoned");
        cache.retain(|_, c| c.day == t.today.0);
        cache.insert(days, Computed { at: now, day: t.today.0, version, value: s.clone() });
        Ok((now, s))
    }

    async fn clustering_within(&self, t: &Tier3<'_>, max_age: i64) -> Result<(i64, Arc<Clustering>), ComputeError> {
        let _running = self.clusters_running.lock().await;
        let version = self.facts_version.load(Ordering::Acquire);
        let now = crate::accounts::now_secs();
        let unwrap = |at: i64, c: ClusterOutcome| match c {
            Ok(c) => Ok((at, c)),
            Err(e) => Err(ComputeError::Cluster(clusters::ClusterError::clone(&e))),
        };
        if let Some((at, c)) = self.peek_clustering(t.today.0) {
            if now - at < max_age {
                return unwrap(at, c);
            }
        }
        let features = clusters::features(t).await?;
        let outcome = tokio::task::spawn_blocking(move || clusters::cluster(features)).await.expect("k-means does not panic");
        let outcome: ClusterOutcome = outcome.map(Arc::new).map_err(Arc::new);
        *self.clusters.lock().expect("not poisoned") = Some(Computed { at: now, day: t.today.0, version, value: outcome.clone() });
        unwrap(now, outcome)
    }
}
