//! What `etl schedule export` writes, before any scheduler's syntax: the job file's jobs grouped
//! by schedule ([`plan`]), the units that run them, what each needs from the environment, what
//! etl's exit codes mean to a scheduler ([`exit`]), and the names each scheduler takes.

use std::collections::BTreeSet;

use super::cron::Cron;
use crate::jobs::{Job, JobLoad, JobsFile};
use crate::load::layout::PartitionRange;

/// How the units run etl, and where they find what they need.
#[derive(Debug, Clone)]
pub struct Export {
    /// Names the units: `NAME` for the file's schedule, `NAME-<job>` for a job's own.
    pub name: String,
    /// The job file as the units read it.
    pub job_file: String,
    /// The job file's own name (the key it is kept under in a ConfigMap).
    pub file_name: String,
    /// The job file's text (embedded where the units cannot read it from a disk).
    pub file_text: String,
    /// The folder the units run in (the job file's relative paths are read from there).
    pub workdir: Option<String>,
    /// The etl executable.
    pub executable: String,
    /// The container image (Kubernetes and Argo).
    pub image: Option<String>,
    /// The scheduler's secret holding the environment: a Kubernetes Secret, an Airflow Variable.
    pub secret: String,
    /// How many times a failed or locked-out run is tried again.
    pub retries: u32,
    /// How long the scheduler waits before trying again, in seconds.
    pub retry_delay: u64,
    /// The time zone the schedules are read in.
    pub timezone: String,
    /// How long a unit may run before the scheduler stops it, in seconds.
    pub timeout: u64,
    /// `--wait-lock` for each unit: how long etl waits for a held lock itself.
    pub wait_lock: Option<u64>,
}

impl Export {
    /// The job file's name as a comment or docstring may show it (no quotes, backslashes or line
    /// breaks to end them early).
    pub fn shown_file_name(&self) -> String {
        self.file_name.chars().map(|c| if c.is_control() || "\"\\`".contains(c) { '_' } else { c }).collect()
    }
}

/// Jobs that run together, on one schedule.
#[derive(Debug)]
pub struct Group<'a> {
    /// `Export::name`, or `Export::name-<job>` for a job with its own schedule.
    pub name: String,
    pub schedule: Cron,
    pub units: Vec<Unit<'a>>,
}

/// One run of etl: a job, or one of its slices.
#[derive(Debug)]
pub struct Unit<'a> {
    pub job: &'a Job,
    pub slice: Option<PartitionRange>,
}

impl Unit<'_> {
    /// The job's name, and the slice's days: `usage`, `usage-2026-01-01-2026-01-31`, `usage-start-2025-12-31`.
    pub fn id(&self) -> String {
        match &self.slice {
            None => self.job.name.clone(),
            Some(range) => {
                let text = range.to_string();
                let (from, to) = text.split_once("..").unwrap_or((&text, ""));
                let end =
                    |day: &str, open: &str| if day.is_empty() { open.to_owned() } else { day.to_owned() };
                format!("{}-{}-{}", self.job.name, end(from, "start"), end(to, "end"))
            }
        }
    }

    /// etl's arguments (after the executable): `run <job file>`, then [`Unit::job_args`].
    pub fn args(&self, export: &Export) -> Vec<String> {
        let mut args = vec!["run".to_owned(), export.job_file.clone()];
        args.extend(self.job_args(export));
        args
    }

    /// The arguments after `etl run <job file>`: the job, its slice, and how long to wait for a
    /// held lock when the scheduler's own retries come too soon for it (Kubernetes).
    pub fn job_args(&self, export: &Export) -> Vec<String> {
        let mut args = vec!["--job".to_owned(), self.job.name.clone()];
        if let Some(range) = &self.slice {
            args.extend(["--partition-range".to_owned(), range.to_string()]);
        }
        if let Some(secs) = export.wait_lock {
            args.extend(["--wait-lock".to_owned(), secs.to_string()]);
        }
        args.extend(["--log-format".to_owned(), "json".to_owned()]);
        args
    }

    /// The name of the scheduler's lock on the unit's dataset (an Argo mutex, a Dagster pool).
    pub fn dataset_lock(&self) -> String {
        format!("etl-{}", self.job.dataset.as_str())
    }

    /// The environment variables the job reads: the target, and its source's secrets.
    pub fn needs(&self) -> Vec<String> {
        needs(self.job)
    }
}

/// The environment a job cannot run without: `ETL_TARGET` (a unit must not fall back to the local
/// folder of whatever machine it lands on), and the variables its source reads its secrets from.
pub fn needs(job: &Job) -> Vec<String> {
    let mut out = vec!["ETL_TARGET".to_owned()];
    match &job.load {
        JobLoad::Api(args) => match args.auth.as_str() {
            "api-key" => out.push(args.api_key_env.clone()),
            "bearer" => out.push(args.token_env.clone()),
            "basic" => out.extend([args.user_env.clone(), args.password_env.clone()]),
            "oauth2" => out.extend([args.client_id_env.clone(), args.client_secret_env.clone()]),
            _ => {}
        },
        JobLoad::Postgres(args) if args.url.is_none() => out.push(args.url_env.clone()),
        JobLoad::Domo { .. } => out.extend(["DOMO_CLIENT_ID".to_owned(), "DOMO_CLIENT_SECRET".to_owned()]),
        _ => {}
    }
    out
}

/// The variables every unit of `groups` needs, sorted.
pub fn all_needs(groups: &[Group]) -> Vec<String> {
    let set: BTreeSet<String> = groups.iter().flat_map(|g| &g.units).flat_map(Unit::needs).collect();
    set.into_iter().collect()
}

/// The enabled jobs of `file`, grouped by schedule: the jobs without one of their own first, on the
/// file's; a disabled job is left out (as `etl run --all` leaves it). A job with no schedule at all
/// is a mistake, named.
pub fn plan<'a>(file: &'a JobsFile, name: &str) -> Result<Vec<Group<'a>>, String> {
    let units = |job: &'a Job| -> Vec<Unit<'a>> {
        if job.slices.is_empty() {
            vec![Unit { job, slice: None }]
        } else {
            job.slices.iter().map(|s| Unit { job, slice: Some(*s) }).collect()
        }
    };
    let enabled: Vec<&Job> = file.jobs.iter().filter(|j| j.enabled).collect();
    if enabled.is_empty() {
        let disabled: Vec<&str> = file.jobs.iter().map(|j| j.name.as_str()).collect();
        return Err(match disabled.as_slice() {
            [] => "it has no jobs to schedule".to_owned(),
            names => {
                format!("it has no enabled job to schedule (\"{}\": enabled: false)", names.join("\", \""))
            }
        });
    }
    for job in &enabled {
        check_job(job)?;
    }
    let mut groups = Vec::new();
    let shared: Vec<&Job> = enabled.iter().copied().filter(|j| j.schedule.is_none()).collect();
    if !shared.is_empty() {
        let Some(schedule) = file.schedule.clone() else {
            let names: Vec<&str> = shared.iter().map(|j| j.name.as_str()).collect();
            return Err(format!(
                "job \"{}\" has no schedule: give it `schedule:` (a cron expression, as \"0 6 * * *\"), or give \
                 the file one at the top for every job without its own",
                names.join("\", \"")
            ));
        };
        groups.push(Group {
            name: name.to_owned(),
            schedule,
            units: shared.into_iter().flat_map(units).collect(),
        });
    }
    for job in enabled.into_iter().filter(|j| j.schedule.is_some()) {
        groups.push(Group {
            name: format!("{name}-{}", job.name),
            schedule: job.schedule.clone().expect("filtered"),
            units: units(job),
        });
    }
    // Airflow and Dagster names take letters, digits and `_`: two jobs must not become one.
    distinct(groups.iter().map(|g| g.name.clone()))?;
    distinct(groups.iter().flat_map(|g| &g.units).map(Unit::id))?;
    Ok(groups)
}

/// Refuses names that become one identifier.
fn distinct(names: impl Iterator<Item = String>) -> Result<(), String> {
    let mut seen: Vec<(String, String)> = Vec::new();
    for name in names {
        let id = identifier(&name);
        if let Some((other, _)) = seen.iter().find(|(_, i)| *i == id) {
            return Err(format!(
                "\"{other}\" and \"{name}\" would both be named `{id}` in Airflow and Dagster (letters, digits \
                 and `_`): rename one of them"
            ));
        }
        seen.push((name, id));
    }
    Ok(())
}

/// What a scheduler needs of a job: variable names it can pass on, and slices that never load a day
/// twice.
fn check_job(job: &Job) -> Result<(), String> {
    for var in needs(job) {
        let fits = var.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !fits {
            return Err(format!(
                "job \"{}\": `{var}` is not a name a scheduler can pass on as an environment variable (letters, \
                 digits and `_`)",
                job.name
            ));
        }
    }
    let mut slices = job.slices.clone();
    slices.sort_by_key(|r| r.from.unwrap_or(i32::MIN));
    for pair in slices.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if a.to.is_none_or(|to| b.from.is_none_or(|from| from <= to)) {
            return Err(format!(
                "job \"{}\": slices {a} and {b} overlap: their common days would be loaded twice",
                job.name
            ));
        }
    }
    Ok(())
}

/// `items` without repeats, in order.
pub fn dedup<'a>(items: &[&'a str]) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for item in items {
        if !out.contains(item) {
            out.push(item);
        }
    }
    out
}

/// `1 CronJob`, `3 CronJobs`.
pub fn count(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// A file the export writes: its name and text.
#[derive(Debug)]
pub struct Written {
    pub file: String,
    pub text: String,
    /// What it holds, for the line the command prints (`3 CronJobs and a ConfigMap`).
    pub holds: String,
}

/// What etl's exit codes mean to a scheduler: each target's rules are written from these.
pub mod exit {
    /// Failed: tried again.
    pub const FAILED: u8 = 1;
    /// Another run holds the dataset's lock: tried again, later.
    pub const LOCKED: u8 = 75;
    /// Bad configuration: trying again cannot help.
    pub const USAGE: u8 = 2;
    /// Data-quality checks failed: trying again on the same data cannot help.
    pub const CHECKS: u8 = 65;
    /// Retried.
    pub const RETRIED: [u8; 2] = [FAILED, LOCKED];
    /// Not retried.
    pub const FINAL: [u8; 2] = [USAGE, CHECKS];
}

/// `text` as a name of lowercase letters, digits and `-` (a Kubernetes object's name, at most `max`
/// characters): what does not fit is cut, with a short hash of the whole so that names stay apart.
pub fn dns_name(text: &str, max: usize) -> String {
    let mut out = slug(text);
    if out.is_empty() {
        // `日本`: nothing of it fits; a letter keeps the name valid, the hash keeps it apart.
        out.push('x');
    }
    if out.len() > max || out != text {
        // Names that had to change keep a hash of the original, so `a_b` and `a.b` stay apart.
        let hash = format!("{:x}", short_hash(text));
        if out.len() + 1 + hash.len() > max {
            out.truncate(max - 1 - hash.len());
            out = out.trim_end_matches('-').to_owned();
        }
        if out != text {
            out = format!("{out}-{hash}");
        }
    }
    out
}

/// `text` in lowercase letters, digits and single `-`s (`My Jobs` → `my-jobs`).
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_owned()
}

/// `text` as an identifier of letters, digits and `_` (an Airflow DAG or task id, a Dagster name).
pub fn identifier(text: &str) -> String {
    let mut out: String = text.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// Five hex digits of an FNV hash: stable across versions and machines.
fn short_hash(text: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in text.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    h & 0xf_ffff
}

/// `text` as a Python string literal (JSON's is one).
pub(crate) fn py(text: &str) -> String {
    serde_json::to_string(text).expect("a string serialises")
}

/// A list of texts as a Python list literal.
pub(crate) fn py_list(items: &[String]) -> String {
    format!("[{}]", items.iter().map(|i| py(i)).collect::<Vec<_>>().join(", "))
}

/// A duration in seconds as a person reads it, exactly (`5m`, `90s`, `2h`).
pub fn human_delay(secs: u64) -> String {
    match secs {
        s if s >= 3600 && s % 3600 == 0 => format!("{}h", s / 3600),
        s if s >= 60 && s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_names_fit_and_stay_apart() {
        assert_eq!(dns_name("etl-jobs-usage", 52), "etl-jobs-usage");
        let a = dns_name("etl-jobs-Usage_2", 52);
        let b = dns_name("etl-jobs-usage.2", 52);
        assert!(a.starts_with("etl-jobs-usage-2-") && b.starts_with("etl-jobs-usage-2-"), "{a} {b}");
        assert_ne!(a, b);
        let long = dns_name(&"x".repeat(80), 52);
        assert_eq!(long.len(), 52, "{long}");
        assert!(long.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
    }

    #[test]
    fn slugs_are_lowercase_words_between_dashes() {
        assert_eq!(slug("My Jobs"), "my-jobs");
        assert_eq!(slug("--a__b..c--"), "a-b-c");
        assert_eq!(slug("été"), "t");
    }

    #[test]
    fn identifiers_are_letters_digits_and_underscores() {
        assert_eq!(identifier("etl-jobs"), "etl_jobs");
        assert_eq!(identifier("usage-2026-01-01-2026-01-31"), "usage_2026_01_01_2026_01_31");
        assert_eq!(identifier("7up"), "_7up");
    }

    #[test]
    fn delays_read_exactly() {
        assert_eq!(
            [human_delay(300), human_delay(90), human_delay(7200), human_delay(1)],
            ["5m", "90s", "2h", "1s"]
        );
    }

    #[test]
    fn python_literals_escape_what_they_must() {
        assert_eq!(py("a\"b\\c\nd"), r#""a\"b\\c\nd""#);
        assert_eq!(py_list(&["x".into(), "y".into()]), r#"["x", "y"]"#);
    }
}
