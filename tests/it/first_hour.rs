//! Issue 29: the first hour of a new user, again: what they run first and read first.

use crate::util::*;

/// Item 3: the flagship runs clean: its first run says the `Date`/`date=` note once, in its summary
/// (no warning: nothing is wrong); later runs do not repeat it.
#[test]
fn the_main_job_runs_without_a_warning() {
    let dir = Dir::new();
    sample_exports(&dir);
    let first = ok(dir.etl().arg("load-cursor-usage"));
    assert_eq!(first.stderr.lines().count(), 1, "one summary line, nothing else: {first:?}");
    assert!(!first.stderr.contains("WARN"), "{first:?}");
    assert!(first.stderr.contains("column `Date` has the name of the partition folders' key"), "{first:?}");
    assert!(first.stderr.contains("`etl inspect cursor-usage` prints reads that keep it"), "{first:?}");
    let again = ok(dir.etl().arg("load-cursor-usage"));
    assert_eq!(again.stderr.lines().count(), 1, "{again:?}");
    assert!(!again.stderr.contains("partition folders' key"), "{again:?}");
}
