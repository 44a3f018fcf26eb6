//! Segments and clusters are recomputed at most every [`TTL_SECS`]: the
//! pages and exports read the last result, so a page costs a lookup and
//! the seconds of scoring or k-means are paid once (and measured in the
//! bench). One computation at a time; others wait for it. The service keeps
//! the default window and the clusters warm ([`Tier3Cache::warm`], every
//! minute, recomputing what is older than half the TTL), so no reader waits
//! for k-means.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::Mutex;

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

/// Results are keyed by day and by the order facts' version: a rebuild of
/// the facts ([`super::facts`]) makes every result stale at once.
#[derive(Default)]
pub struct Tier3Cache {
    /// Bumped by every rebuild of the order facts.
    pub facts_version: Arc<AtomicU64>,
    rfm: Mutex<HashMap<(i32, i32), (i64, u64, Arc<Segmentation>)>>,
    clusters: Mutex<Option<(i64, i32, u64, Arc<Clustering>)>>,
}

impl Tier3Cache {
    /// The segmentation of the `days` up to today.
    pub async fn segmentation(&self, t: &Tier3<'_>, days: i32) -> Result<(i64, Arc<Segmentation>), ComputeError> {
        self.segmentation_within(t, days, TTL_SECS).await
    }

    pub async fn clustering(&self, t: &Tier3<'_>) -> Result<(i64, Arc<Clustering>), ComputeError> {
        self.clustering_within(t, TTL_SECS).await
    }

    /// The last segmentation of `days` and the last clustering, if any,
    /// without computing or waiting for a computation under way: for a
    /// page that only mentions them.
    pub fn latest(&self, days: i32) -> (Option<Arc<Segmentation>>, Option<Arc<Clustering>>) {
        let rfm = self.rfm.try_lock().ok().and_then(|c| c.iter().filter(|((_, d), _)| *d == days).max_by_key(|((day, _), _)| *day).map(|(_, (_, _, s))| s.clone()));
        let clusters = self.clusters.try_lock().ok().and_then(|c| c.as_ref().map(|(.., c)| c.clone()));
        (rfm, clusters)
    }

    /// Recomputes the default segments and the clusters when older than half the TTL.
    pub async fn warm(&self, t: &Tier3<'_>) -> Result<(), ComputeError> {
        self.segmentation_within(t, super::MarketingQuery::default().days, TTL_SECS / 2).await?;
        self.clustering_within(t, TTL_SECS / 2).await?;
        Ok(())
    }

    async fn segmentation_within(&self, t: &Tier3<'_>, days: i32, max_age: i64) -> Result<(i64, Arc<Segmentation>), ComputeError> {
        let now = crate::accounts::now_secs();
        let version = self.facts_version.load(Ordering::Acquire);
        let mut cache = self.rfm.lock().await;
        if let Some((at, v, s)) = cache.get(&(t.today.0, days)) {
            if now - at < max_age && *v == version {
                return Ok((*at, s.clone()));
            }
        }
        let until = crate::query::Day(t.today.0 + 1).start_secs();
        let s = Arc::new(rfm::segmentation(t, until - days as i64 * 86_400, until).await?);
        cache.retain(|(day, _), _| *day == t.today.0);
        cache.insert((t.today.0, days), (now, version, s.clone()));
        Ok((now, s))
    }

    async fn clustering_within(&self, t: &Tier3<'_>, max_age: i64) -> Result<(i64, Arc<Clustering>), ComputeError> {
        let now = crate::accounts::now_secs();
        let version = self.facts_version.load(Ordering::Acquire);
        let mut cache = self.clusters.lock().await;
        if let Some((at, day, v, c)) = cache.as_ref() {
            if now - at < max_age && *day == t.today.0 && *v == version {
                return Ok((*at, c.clone()));
            }
        }
        let features = clusters::features(t).await?;
        let c = Arc::new(tokio::task::spawn_blocking(move || clusters::cluster(features)).await.expect("k-means does not panic")?);
        *cache = Some((now, t.today.0, version, c.clone()));
        Ok((now, c))
    }
}
