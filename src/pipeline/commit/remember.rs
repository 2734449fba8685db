//! What the dataset says, for a run that leaves something out, and what it refuses: its table format,
//! partition column, primary key and mode ([`remember_layout`]), a run laid out otherwise
//! ([`check_layout`]), and the files an append numbers its own after ([`appendable`]).

use crate::error::{Error, Result};
use crate::load::delta::TableFormat;
use crate::load::layout::DatasetId;
use crate::load::manifest::{FileRecord, Manifest};
use crate::load::staged::WriteMode;
use crate::store::ObjectStore;

use super::request::{LoadRequest, ModeGiven};

/// The dataset's table format for this run: the one given, else the dataset's (a Delta table when it
/// has a Delta log), else Hive for a new dataset. Another
/// format than the dataset's needs a replace the user gives: a forgotten `--table-format` never
/// turns a Delta table back into folders, nor a flag given by mistake the other way.
pub(super) async fn resolve_table_format(
    request: &mut LoadRequest,
    previous: Option<&Manifest>,
    store: &dyn ObjectStore,
) -> Result<()> {
    // The log decides (a conversion killed before its manifest was written made a table all the same).
    let was = match crate::load::delta::log::exists(store, &request.dataset).await? {
        true => Some(TableFormat::Delta),
        false => previous.map(|_| TableFormat::Hive),
    };
    let (Some(was), Some(now)) = (was, request.table_format) else {
        request.table_format = request.table_format.or(was).or(Some(TableFormat::Hive));
        return Ok(());
    };
    let replaced = request.mode == WriteMode::Replace
        && request.mode_given == ModeGiven::User
        && request.partition_range.is_none();
    if now == was {
        return Ok(());
    }
    if replaced {
        tracing::warn!("{} was a {was} table; this run replaces it as a {now} table", request.dataset);
        return Ok(());
    }
    let how = match now {
        TableFormat::Delta => format!(
            ", or turn it into a Delta table in place with `etl convert {} --to delta`",
            request.dataset
        ),
        TableFormat::Hive => String::new(),
    };
    Err(Error::Refused(format!(
        "{} is a {was} table{}; this run's --table-format is {now}. Nothing was changed; leave          --table-format out to load it as it is, or lay it out anew with --mode replace{how}",
        request.dataset,
        previous.map(|m| format!(" (run {})", m.run_id)).unwrap_or_default(),
    )))
}

/// The dataset's objects as its readers see them: all of them for the Hive layout (listed), the
/// files of the table's newest version for a Delta table (files it removed stay, for older
/// versions, until a vacuum).
pub async fn dataset_objects(
    store: &dyn ObjectStore,
    dataset: &DatasetId,
    format: Option<TableFormat>,
) -> Result<Vec<crate::store::ObjectMeta>> {
    match format.unwrap_or_default() {
        TableFormat::Hive => Ok(store.list(&dataset.prefix()).await?),
        TableFormat::Delta => Ok(crate::load::delta::log::read(store, dataset)
            .await?
            .map(|s| s.objects(dataset))
            .unwrap_or_default()),
    }
}

/// What a run that leaves something out takes from the dataset it loads (its manifest, `previous`):
/// the partition column, the primary key, and the mode the dataset's runs give
/// ([`Manifest::default_mode`]), each said in the summary. A forgotten `--partition-col` so never
/// turns a year of daily partitions into one unpartitioned file, nor a forgotten `--mode append` a
/// table into its last file. Only a replace the user gives (`--mode replace`, of every day) loads as
/// told.
pub(super) fn remember_layout(request: &mut LoadRequest, previous: &Manifest) -> Result<()> {
    // The order of its files, whatever the mode: readers' queries stay as fast.
    if request.writer.sort_by.is_empty() && !previous.sort_by.is_empty() {
        request.writer.sort_by = previous.sort_by.clone();
        let columns = previous.sort_by.join(", ");
        request.remembered.push(format!(
            "rows sorted by {columns} in each file, as {} is (--sort-by left out)",
            request.dataset
        ));
    }
    if let (None, Some(bytes)) = (request.writer.row_group_bytes, previous.row_group_bytes) {
        request.writer.row_group_bytes = Some(bytes);
        request.remembered.push(format!(
            "row groups of at most {} of data, as {} has them (--row-group-size left out)",
            crate::bytesize::ByteSize(bytes),
            request.dataset
        ));
    }
    // A replace of a range of days keeps the layout of the days around it.
    if request.mode_given == ModeGiven::User
        && request.mode == WriteMode::Replace
        && request.partition_range.is_none()
    {
        return Ok(());
    }
    let dataset = request.dataset.clone();
    let remembered = |what: String, flag: &str| format!("{what}, as {dataset} is ({flag} left out)");
    if let (None, Some(column)) = (&request.partition_column, &previous.partition_column) {
        request.partition_column = Some(column.clone());
        request.remembered.push(remembered(format!("partitioned by `{column}`"), "--partition-col"));
    }
    let told_no_key =
        request.mode_given == ModeGiven::User && matches!(request.mode, WriteMode::Merge | WriteMode::Append);
    if request.primary_key.is_empty() && !previous.primary_key.is_empty() && told_no_key {
        // As `--mode append --primary-key id` is refused: an append would add a second row for every
        // key the run brings again, a merge drop the rows of the partitions it rewrites.
        return Err(Error::Refused(format!(
            "{} is upserted by its primary key ({}) (run {}): --mode {} would give keys it holds a \
             second row, or lose rows beside them. Nothing was changed; leave --mode out (an upsert \
             by the key), or reload everything without a key with --mode replace",
            request.dataset,
            previous.primary_key.join(", "),
            previous.run_id,
            request.mode.name()
        )));
    }
    if request.primary_key.is_empty() && !previous.primary_key.is_empty() {
        request.primary_key = previous.primary_key.clone();
        let key = previous.primary_key.join(", ");
        request
            .remembered
            .push(remembered(format!("rows upserted by the primary key ({key})"), "--primary-key"));
        // A drop folder's or an incremental run's new rows replace their keys' old ones.
        if request.mode_given == ModeGiven::Command && request.mode == WriteMode::Append {
            request.mode = WriteMode::Upsert;
        }
    }
    if request.mode_given == ModeGiven::Default {
        let given_before = previous.default_mode.as_deref().and_then(|m| m.parse::<WriteMode>().ok());
        request.mode = match given_before {
            Some(mode) if mode != request.default_mode() => {
                request.remembered.push(remembered(format!("mode {}", mode.name()), "--mode"));
                mode
            }
            _ => request.default_mode(),
        };
    }
    Ok(())
}

/// Refuses a merge or an append whose partition column is not the dataset's (a column, another, or
/// none): the files it leaves would be laid out one way and its own another, and readers would see
/// the rows of both. A replace the user or the command chose (which leaves nothing of the old
/// layout) only says so; a default one is refused too: a layout changes only when someone says so.
pub(super) fn check_layout(previous: &Manifest, request: &LoadRequest) -> Result<()> {
    if previous.partition_column == request.partition_column || previous.files.is_empty() {
        return Ok(());
    }
    let layout = |column: &Option<String>| match column {
        Some(column) => format!("partitioned by `{column}`"),
        None => "not partitioned".to_owned(),
    };
    let (was, now) = (layout(&previous.partition_column), layout(&request.partition_column));
    // A replace the user or the command chose (`--full-refresh`) lays the dataset out anew; a default
    // one does not.
    if request.mode == WriteMode::Replace && request.mode_given != ModeGiven::Default {
        tracing::warn!(
            "{} was {was} (run {}); this run replaces it, {now}",
            request.dataset,
            previous.run_id
        );
        return Ok(());
    }
    Err(Error::Refused(format!(
        "{} is {was} (run {}), this {} load is {now}: the files it leaves would disagree with the \
         ones it writes, and readers would see rows twice. Nothing was changed; give the same \
         --partition-col (`partition_column:`), or reload everything (--mode replace, `mode: replace`; \
         --full-refresh for an incremental load)",
        request.dataset,
        previous.run_id,
        request.mode.name()
    )))
}

/// Refuses a run whose primary key is not the dataset's: its upserts would match rows on other
/// columns than the ones that made them unique (only a replace sets a new key).
pub(super) fn check_primary_key(previous: &Manifest, request: &LoadRequest) -> Result<()> {
    let (was, now) = (&previous.primary_key, &request.primary_key);
    if was.is_empty() || now.is_empty() || was == now || request.mode == WriteMode::Replace {
        return Ok(());
    }
    Err(Error::Refused(format!(
        "the primary key of {} is ({}) (run {}), this run's is ({}): rows would be matched on other \
         columns than the ones that made them unique. Nothing was changed; give --primary-key {}, or \
         reload everything under the new key with --mode replace",
        request.dataset,
        was.join(", "),
        previous.run_id,
        now.join(", "),
        was.join(",")
    )))
}

/// The dataset's data files that an append numbers its files after. Files its `manifest` does not list
/// were uploaded by an append that stopped before its manifest: with the lock held (`locked`) they are
/// deleted, so that loading the same source again does not add its rows twice.
///
/// Only when a stopped append explains them ([`stopped_append_explains`]): every file the manifest
/// lists is in place, and each unlisted file is numbered after every listed one of its folder. Any
/// other disagreement (a manifest whose keys are not the dataset's, files copied in by hand) keeps
/// every file and says so: the manifest's word alone never deletes data.
pub(super) async fn appendable(
    store: &dyn ObjectStore,
    dataset: &DatasetId,
    manifest: Option<&Manifest>,
    locked: bool,
) -> Result<Vec<crate::store::ObjectMeta>> {
    let existing = store.list(&dataset.prefix()).await?;
    let Some(manifest) = manifest else { return Ok(existing) };
    let listed: std::collections::HashSet<&str> = manifest.files.iter().map(|f| f.key.as_str()).collect();
    let (orphans, kept): (Vec<_>, Vec<_>) = existing
        .into_iter()
        .partition(|o| dataset.part_of_key(&o.key).is_some() && !listed.contains(o.key.as_str()));
    if orphans.is_empty() {
        return Ok(kept);
    }
    let orphan_keys: Vec<&str> = orphans.iter().map(|o| o.key.as_str()).collect();
    let present: Vec<&str> = kept.iter().map(|o| o.key.as_str()).collect();
    if !stopped_append_explains(dataset, &manifest.files, &present, &orphan_keys) {
        tracing::warn!(
            "{dataset}: its manifest (run {}) and its files disagree: {} data file(s) in place that it              does not list ({}{}); kept, since no stopped append explains them",
            manifest.run_id,
            orphan_keys.len(),
            orphan_keys.iter().take(3).copied().collect::<Vec<_>>().join(", "),
            if orphan_keys.len() > 3 { ", ..." } else { "" }
        );
        return Ok(kept.into_iter().chain(orphans).collect());
    }
    if locked {
        let keys: Vec<String> = orphans.into_iter().map(|o| o.key).collect();
        tracing::warn!(
            "removing {} data file(s) of {dataset} that a stopped append uploaded without its manifest",
            keys.len()
        );
        store.delete_many(&keys).await?;
        return Ok(kept);
    }
    Ok(kept.into_iter().chain(orphans).collect())
}

/// Whether an append stopped before its manifest explains the data files in place that the manifest
/// does not list (`orphans`): the manifest's files are all in place (`present`), and in every folder
/// each orphan is numbered after every file the manifest lists there (an append numbers its files
/// after the existing ones).
fn stopped_append_explains(
    dataset: &DatasetId,
    listed: &[FileRecord],
    present: &[&str],
    orphans: &[&str],
) -> bool {
    let present: std::collections::HashSet<&str> = present.iter().copied().collect();
    if listed.iter().any(|f| !present.contains(f.key.as_str())) {
        return false;
    }
    let mut highest = std::collections::HashMap::new();
    for (partition, part) in listed.iter().filter_map(|f| dataset.part_of_key(&f.key)) {
        let top = highest.entry(partition).or_insert(part);
        *top = (*top).max(part);
    }
    orphans
        .iter()
        .filter_map(|key| dataset.part_of_key(key))
        .all(|(partition, part)| highest.get(&partition).is_none_or(|top| part > *top))
}
