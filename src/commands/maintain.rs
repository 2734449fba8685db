//! `etl convert`, `etl vacuum` and `etl compact`: a dataset kept in shape (see
//! [`crate::pipeline::maintain`]).

use std::time::Duration;

use super::context::Context;
use crate::cli::args::{CompactArgs, ConvertArgs, VacuumArgs};
use crate::error::Result;
use crate::load::layout::DatasetId;
use crate::pipeline::maintain;
use crate::summary::Summary;

/// The target's store and the dataset named, which must hold something (else the usage error,
/// exit 2, with the ids it has that are nearest).
async fn dataset_of(
    id: &str,
    ctx: &Context,
) -> Result<(std::sync::Arc<dyn crate::store::ObjectStore>, DatasetId)> {
    let store = crate::store::open(&ctx.target).await?;
    let dataset = DatasetId::parse(id)?;
    if store.list(&dataset.prefix()).await?.is_empty() {
        return Err(super::context::no_such_dataset(&dataset, store.as_ref()).await);
    }
    Ok((store, dataset))
}

/// `etl convert <id> --to delta`.
pub async fn convert(args: ConvertArgs, ctx: &Context) -> Result<Summary> {
    let (store, dataset) = dataset_of(&args.id, ctx).await?;
    maintain::convert(store, &dataset, Duration::from_secs(args.wait_lock)).await
}

/// `etl vacuum <id> [--retain HOURS] [--dry-run]`.
pub async fn vacuum(args: VacuumArgs, ctx: &Context) -> Result<Summary> {
    let (store, dataset) = dataset_of(&args.id, ctx).await?;
    let retain = Duration::from_secs(args.retain * 3600);
    maintain::vacuum(store, &dataset, retain, args.dry_run, Duration::from_secs(args.wait_lock)).await
}

/// `etl compact <id> [--partition-range FROM..TO]`.
pub async fn compact(args: CompactArgs, ctx: &Context) -> Result<Summary> {
    let (store, dataset) = dataset_of(&args.id, ctx).await?;
    maintain::compact(store, &dataset, args.partition_range, Duration::from_secs(args.wait_lock)).await
}
