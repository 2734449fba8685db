//! The keys a `unique` check has seen, in bounded memory.
//!
//! Each row's key (the values of the check's columns) is hashed to 128 bits ([`hash_rows`]; one
//! integer column is kept exactly) and put, with the row's place, in one of 256 buckets by the
//! hash's top byte: appending is sequential and cheap while the rows stream. Past the memory budget
//! (`ETL_UNIQUE_MEMORY`, 256 MiB by default: about 11 million keys) the buckets are appended to
//! files in the run's staging folder and emptied. At the end ([`Seen::duplicates`]) each bucket
//! (1/256 of the keys) is read back on its own, one per core at a time, and its repeated keys
//! found: memory is the budget, or a bucket and its table per core, whichever is more. Two different keys share a 128-bit hash with a
//! probability of about n² / 2¹²⁹ (for 10 billion rows, 1 in 10¹⁹).

use std::hash::BuildHasher;
use std::io::{Read, Write};
use std::path::PathBuf;

use polars::prelude::*;

use crate::error::{Error, Result};

/// The keys of a run's `unique` checks, hashed and noted on a thread of their own while the rows
/// stream on (the typing thread only hands over the key columns, shared, and the rows' places).
pub struct Keys {
    to: Option<std::sync::mpsc::SyncSender<(Vec<DataFrame>, Vec<u64>)>>,
    worker: Option<std::thread::JoinHandle<Result<Vec<Seen>>>>,
}

impl Keys {
    /// Starts the thread, one [`Seen`] per check.
    pub fn start(mut seen: Vec<Seen>) -> Result<Keys> {
        let (to, from) = std::sync::mpsc::sync_channel::<(Vec<DataFrame>, Vec<u64>)>(4);
        let worker = std::thread::Builder::new()
            .name("etl-unique".into())
            .spawn(move || -> Result<Vec<Seen>> {
                for (keys, places) in from {
                    for (seen, df) in seen.iter_mut().zip(&keys) {
                        let columns: Vec<usize> = (0..df.width()).collect();
                        seen.push_batch(&hash_rows(df, &columns)?, &places)?;
                    }
                }
                Ok(seen)
            })
            .map_err(|e| Error::Internal(format!("could not start the unique check's thread: {e}")))?;
        Ok(Keys { to: Some(to), worker: Some(worker) })
    }

    /// Hands over one batch: each check's key columns, and each row's place.
    pub fn send(&mut self, keys: Vec<DataFrame>, places: Vec<u64>) -> Result<()> {
        let sent = self.to.as_ref().is_some_and(|to| to.send((keys, places)).is_ok());
        if sent {
            return Ok(());
        }
        // The thread stopped on an error: that error.
        self.to = None;
        match self.worker.take().map(std::thread::JoinHandle::join) {
            Some(Ok(Err(e))) => Err(e),
            _ => Err(Error::Internal("the unique check's thread stopped".into())),
        }
    }

    /// Waits for every batch handed over; the checks' keys, in order.
    pub fn finish(mut self) -> Result<Vec<Seen>> {
        self.to = None;
        match self.worker.take().map(std::thread::JoinHandle::join) {
            Some(Ok(done)) => done,
            _ => Err(Error::Internal("the unique check's thread stopped".into())),
        }
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        self.to = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// Buckets by the top byte of the hash.
const BUCKETS: usize = 256;

/// Bytes an entry takes, in memory and on disk.
const ENTRY_BYTES: usize = 24;

/// The default memory budget of one `unique` check.
pub const DEFAULT_BUDGET: u64 = 256 << 20;

/// A row's key hash and place: `at` packs the row's file (for a source of several) and line.
#[derive(Debug, Clone, Copy)]
struct Entry {
    hi: u64,
    lo: u64,
    at: u64,
}

/// The place of a row that is not a key (outside `--partition-range`).
pub const SKIP: u64 = u64::MAX;

/// The memory budget of a run's `unique` checks: `ETL_UNIQUE_MEMORY` (`512MiB`), or 256 MiB.
pub fn budget_from_env() -> u64 {
    match std::env::var("ETL_UNIQUE_MEMORY") {
        Err(_) => DEFAULT_BUDGET,
        Ok(text) => match text.parse::<crate::bytesize::ByteSize>() {
            Ok(size) => size.0,
            Err(e) => {
                tracing::warn!("ETL_UNIQUE_MEMORY: {e}; using 256 MiB");
                DEFAULT_BUDGET
            }
        },
    }
}

/// Packs a row's place: the file's index in the top 24 bits, its line in the low 40.
pub fn place(part: usize, line: u64) -> u64 {
    ((part as u64) << 40) | (line & ((1 << 40) - 1))
}

/// The file index and line of a [`place`].
pub fn unplace(at: u64) -> (usize, u64) {
    ((at >> 40) as usize, at & ((1 << 40) - 1))
}

/// The keys seen so far: one arena of the budget's size, split evenly among the buckets. It is
/// reserved, not touched: memory is used only as buckets fill. A full bucket is appended to its
/// file and emptied.
pub struct Seen {
    arena: Box<[std::mem::MaybeUninit<Entry>]>,
    /// Entries in memory, per bucket.
    lens: Vec<usize>,
    /// Each bucket's share of the arena.
    share: usize,
    /// Where buckets spill (created at the first spill).
    dir: PathBuf,
    spilled: Vec<bool>,
}

impl Seen {
    /// Keys held in at most `budget` bytes of memory, spilling into `dir`.
    pub fn new(dir: PathBuf, budget: u64) -> Self {
        let share = (budget as usize / ENTRY_BYTES / BUCKETS).max(1);
        let arena = Box::new_uninit_slice(share * BUCKETS);
        Seen { arena, lens: vec![0; BUCKETS], share, dir, spilled: vec![false; BUCKETS] }
    }

    /// Notes a row's key hash and place.
    #[inline]
    pub fn push(&mut self, (hi, lo): (u64, u64), at: u64) -> Result<()> {
        let b = (hi >> 56) as usize;
        let len = self.lens[b];
        self.arena[b * self.share + len].write(Entry { hi, lo, at });
        self.lens[b] = len + 1;
        if len + 1 == self.share {
            self.spill(b)?;
        }
        Ok(())
    }

    /// Notes a batch's key hashes (`None`: a null in the key, not compared) and places.
    pub fn push_batch(&mut self, hashes: &[Option<(u64, u64)>], places: &[u64]) -> Result<()> {
        for (hash, &at) in hashes.iter().zip(places) {
            if let (Some(hash), false) = (*hash, at == SKIP) {
                self.push(hash, at)?;
            }
        }
        Ok(())
    }

    /// Whether the keys went past the budget (and onto disk).
    pub fn spilled(&self) -> bool {
        self.spilled.iter().any(|s| *s)
    }

    /// Bucket `b`'s entries in memory.
    fn held(&self, b: usize) -> &[Entry] {
        let start = b * self.share;
        let held = &self.arena[start..start + self.lens[b]];
        // SAFETY: the first `lens[b]` entries of a bucket's share were written by `push`.
        unsafe { &*(held as *const [std::mem::MaybeUninit<Entry>] as *const [Entry]) }
    }

    fn file(&self, bucket: usize) -> PathBuf {
        self.dir.join(format!("unique-{bucket:03}.bin"))
    }

    /// Appends bucket `b` to its file and empties it.
    fn spill(&mut self, b: usize) -> Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        let path = self.file(b);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        let mut out = std::io::BufWriter::new(file);
        for e in self.held(b) {
            let mut bytes = [0u8; ENTRY_BYTES];
            bytes[..8].copy_from_slice(&e.hi.to_le_bytes());
            bytes[8..16].copy_from_slice(&e.lo.to_le_bytes());
            bytes[16..].copy_from_slice(&e.at.to_le_bytes());
            out.write_all(&bytes).map_err(|e| Error::io(&path, e))?;
        }
        out.flush().map_err(|e| Error::io(&path, e))?;
        self.lens[b] = 0;
        self.spilled[b] = true;
        Ok(())
    }

    /// Every row whose key an earlier row had: `(its place, the first row's place)`, by place.
    pub fn duplicates(self) -> Result<Vec<(u64, u64)>> {
        use rayon::prelude::*;
        let found: Vec<Vec<(u64, u64)>> = (0..BUCKETS)
            .into_par_iter()
            .map(|b| -> Result<Vec<(u64, u64)>> {
                if !self.spilled[b] {
                    return Ok(repeats(self.held(b)));
                }
                // The spilled entries came first.
                let path = self.file(b);
                let mut bytes = Vec::new();
                std::fs::File::open(&path)
                    .and_then(|mut f| f.read_to_end(&mut bytes))
                    .map_err(|e| Error::io(&path, e))?;
                let word = |c: &[u8]| u64::from_le_bytes(c.try_into().expect("8 bytes"));
                let mut entries: Vec<Entry> = bytes
                    .chunks_exact(ENTRY_BYTES)
                    .map(|c| Entry { hi: word(&c[..8]), lo: word(&c[8..16]), at: word(&c[16..]) })
                    .collect();
                entries.extend_from_slice(self.held(b));
                Ok(repeats(&entries))
            })
            .collect::<Result<_>>()?;
        let mut all: Vec<(u64, u64)> = found.into_iter().flatten().collect();
        all.sort_unstable();
        Ok(all)
    }
}

/// The repeats among one bucket's entries (in the order they came): `(place, first place)`. An open
/// table indexed by the hash's low bits (a strong hash already), twice as many slots as entries.
fn repeats(entries: &[Entry]) -> Vec<(u64, u64)> {
    const EMPTY: u64 = u64::MAX;
    let slots = (entries.len() * 2).next_power_of_two().max(16);
    let mask = slots - 1;
    let mut table = vec![Entry { hi: 0, lo: 0, at: EMPTY }; slots];
    let mut out = Vec::new();
    for e in entries {
        let mut i = e.lo as usize & mask;
        loop {
            let slot = &mut table[i];
            if slot.at == EMPTY {
                *slot = *e;
                break;
            }
            if slot.hi == e.hi && slot.lo == e.lo {
                out.push((e.at, slot.at));
                break;
            }
            i = (i + 1) & mask;
        }
    }
    out
}

/// Keys of the two halves of the hash.
const LANES: [u64; 2] = [0x243F_6A88_85A3_08D3, 0x1319_8A2E_0370_7344];

/// One step of a strong 64-bit mixer (SplitMix64's finaliser), a bijection of `v` for a given `h`:
/// a key of one integer column never collides.
#[inline]
fn mix(h: u64, v: u64, lane: u64) -> u64 {
    let mut z = (h.rotate_left(23) ^ v).wrapping_add(lane).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Each row's key hash over `columns` of `df`; `None` for a row with a null in one of them.
pub fn hash_rows(df: &DataFrame, columns: &[usize]) -> Result<Vec<Option<(u64, u64)>>> {
    let polars = |e: PolarsError| Error::Internal(format!("hashing a unique check's key: {e}"));
    let mut hashes: Vec<Option<(u64, u64)>> = vec![Some((0, 0)); df.height()];
    let text_lanes = [
        foldhash::quality::FixedState::with_seed(LANES[0]),
        foldhash::quality::FixedState::with_seed(LANES[1]),
    ];
    for &index in columns {
        let series = df.columns()[index].as_materialized_series().to_physical_repr().into_owned();
        let no_nulls = series.null_count() == 0;
        macro_rules! fold {
            ($ca:expr, $word:expr) => {{
                let ca = $ca;
                if no_nulls {
                    // No validity to look at: straight over the values.
                    for (h, v) in hashes.iter_mut().zip(ca.into_no_null_iter()) {
                        if let Some(h) = h.as_mut() {
                            let word: u64 = $word(v);
                            *h = (mix(h.0, word, LANES[0]), mix(h.1, word, LANES[1]));
                        }
                    }
                } else {
                    for (h, v) in hashes.iter_mut().zip(ca.iter()) {
                        match (h.as_mut(), v) {
                            (Some(h), Some(v)) => {
                                let word: u64 = $word(v);
                                *h = (mix(h.0, word, LANES[0]), mix(h.1, word, LANES[1]));
                            }
                            _ => *h = None,
                        }
                    }
                }
            }};
        }
        match series.dtype() {
            DataType::Int64 => fold!(series.i64().map_err(polars)?, |v: i64| v as u64),
            DataType::Int32 => fold!(series.i32().map_err(polars)?, |v: i32| v as i64 as u64),
            DataType::UInt64 => fold!(series.u64().map_err(polars)?, |v: u64| v),
            DataType::UInt32 => fold!(series.u32().map_err(polars)?, |v: u32| u64::from(v)),
            DataType::Boolean => {
                let numbers = series.cast(&DataType::UInt32).map_err(polars)?;
                fold!(numbers.u32().map_err(polars)?, |v: u32| u64::from(v))
            }
            // -0.0 and 0.0 are one value.
            DataType::Float64 => fold!(series.f64().map_err(polars)?, |v: f64| (v + 0.0).to_bits()),
            // Text, and anything else as its text (decimals).
            dtype => {
                let text = match dtype {
                    DataType::String => series,
                    _ => series.cast(&DataType::String).map_err(polars)?,
                };
                for (h, v) in hashes.iter_mut().zip(text.str().map_err(polars)?.iter()) {
                    match (h.as_mut(), v) {
                        (Some(h), Some(v)) => {
                            let (a, b) = (text_lanes[0].hash_one(v), text_lanes[1].hash_one(v));
                            *h = (mix(h.0, a, LANES[0]), mix(h.1, b, LANES[1]));
                        }
                        _ => *h = None,
                    }
                }
            }
        }
    }
    Ok(hashes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen_with(budget: u64, keys: &[u64]) -> Vec<(u64, u64)> {
        let dir = tempfile::tempdir().unwrap();
        let mut seen = Seen::new(dir.path().join("spill"), budget);
        for (line, k) in keys.iter().enumerate() {
            let h = (mix(0, *k, LANES[0]), mix(0, *k, LANES[1]));
            seen.push(h, place(0, line as u64 + 2)).unwrap();
        }
        let spilled = seen.spilled();
        let dups = seen.duplicates().unwrap();
        assert_eq!(spilled, budget < 1 << 20, "a small budget spills");
        dups
    }

    #[test]
    fn repeats_are_found_in_memory_and_spilled_alike() {
        // 20,000 keys, every 1,000th repeated (the repeat 5,000 rows after the first).
        let mut keys: Vec<u64> = (0..20_000).collect();
        for i in (0..15_000).step_by(1000) {
            keys[i + 5000] = keys[i];
        }
        let expected: Vec<(u64, u64)> =
            (0..15_000).step_by(1000).map(|i| (i as u64 + 5002, (i % 5000) as u64 + 2)).collect();
        assert_eq!(seen_with(DEFAULT_BUDGET, &keys), expected);
        // 24 KiB: 1,024 entries, spilled about twenty times.
        assert_eq!(seen_with(24 << 10, &keys), expected);
    }

    #[test]
    fn places_pack_file_and_line() {
        assert_eq!(unplace(place(3, 123_456_789)), (3, 123_456_789));
    }

    #[test]
    fn a_composite_key_is_hashed_whole_and_nulls_are_not_keys() {
        let df = df!(
            "a" => [Some(1i64), Some(1), Some(2), None],
            "b" => [Some("x"), Some("y"), Some("x"), Some("x")],
        )
        .unwrap();
        let h = hash_rows(&df, &[0, 1]).unwrap();
        assert!(h[3].is_none());
        assert_ne!(h[0], h[1]);
        assert_ne!(h[0], h[2]);
        let again = hash_rows(&df!("a" => [1i64], "b" => ["x"]).unwrap(), &[0, 1]).unwrap();
        assert_eq!(again[0], h[0]);
    }
}
