//! Settling what stopped runs left of their publish, before anything else is done to a dataset
//! (holding its lock): a Hive publish's journal is finished or rolled back
//! ([`super::journal::settle`]), a Delta run's pending records written or its files removed
//! ([`super::delta::recover`]).

use super::journal::Recovered;
use super::layout::DatasetId;
use crate::error::Result;
use crate::store::ObjectStore;

/// Settles every publish stopped runs of `dataset` left; returns what it did, oldest first.
pub async fn recover(store: &dyn ObjectStore, dataset: &DatasetId) -> Result<Vec<Recovered>> {
    let prefix = dataset.journal_prefix();
    let journals: Vec<String> = store
        .list(&prefix)
        .await?
        .into_iter()
        .map(|o| o.key)
        .filter(|k| k.ends_with(".json") && !k[prefix.len()..].contains('/'))
        .collect();
    let mut done = Vec::new();
    for key in journals {
        let body = store.get(&key).await?;
        let outcome = match super::delta::recover(store, dataset, &body).await? {
            Some((run_id, true)) => Recovered::Committed(run_id),
            Some((run_id, false)) => Recovered::NotCommitted(run_id),
            None => super::journal::settle(store, dataset, &key, &body).await?,
        };
        tracing::warn!("{dataset}: {outcome}");
        done.push(outcome);
    }
    Ok(done)
}
