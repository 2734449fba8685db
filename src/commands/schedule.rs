//! `etl schedule export <jobs.yaml> --to SCHEDULER`: the job file read and checked as `etl run` reads
//! it, its jobs grouped and rendered by [`crate::schedule`], the file printed or written.

use std::path::{Path, PathBuf};

use crate::cli::args::ScheduleExportArgs;
use crate::error::{Error, Result};
use crate::jobs;
use crate::schedule::{self, Export, Scheduler};

pub fn export(args: ScheduleExportArgs) -> Result<()> {
    let in_a_pod = args.to.in_a_pod();
    let to = args.to.name();
    match (&args.image, in_a_pod) {
        (None, true) => {
            return Err(Error::Usage(format!("--to {to} needs --image: the container image with etl in it (`bash scripts/image.sh TAG` builds \
                 one from the repository's Containerfile)")))
        }
        (Some(_), false) => {
            return Err(Error::Usage(format!(
                "--image is for k8s-cronjob and argo: --to {to} runs etl on the workers (--executable)"
            )))
        }
        _ => {}
    }
    if in_a_pod && args.job_file.is_some() {
        return Err(Error::Usage(format!(
            "--job-file is for airflow and dagster: --to {to} embeds the job file in a ConfigMap"
        )));
    }
    let retry_delay = crate::checks::duration(&args.retry_delay)
        .map_err(|e| Error::Usage(format!("--retry-delay: {e}")))?;
    let timeout =
        crate::checks::duration(&args.timeout).map_err(|e| Error::Usage(format!("--timeout: {e}")))?;
    let file = jobs::read(&args.file)?;
    let file_name = args.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = file_name.trim_end_matches(".yaml").trim_end_matches(".yml");
    let name = match &args.name {
        Some(name) => {
            if !name.starts_with(|c: char| c.is_ascii_lowercase())
                || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            {
                return Err(Error::Usage(format!(
                    "--name `{name}`: the units' names take lowercase letters, digits and `-`, starting with \
                     a letter"
                )));
            }
            name.clone()
        }
        // `My Jobs.yaml` gives `etl-my-jobs`.
        None => {
            let mut name = format!("etl-{}", schedule::plan::slug(stem));
            name.truncate(40);
            name.trim_end_matches('-').to_owned()
        }
    };
    let here = absolute(&args.file)?;
    // A job file's relative paths are read from the folder `etl run` runs in: the one the export
    // runs in, as it would run the jobs by hand.
    let cwd = absolute(Path::new("."))?;
    let mut export = Export {
        name,
        job_file: match &args.job_file {
            Some(path) => path.clone(),
            None => here.to_string_lossy().into_owned(),
        },
        file_text: std::fs::read_to_string(&args.file).map_err(|e| Error::io(&args.file, e))?,
        file_name,
        workdir: args.workdir.clone().or_else(|| (!in_a_pod).then(|| cwd.to_string_lossy().into_owned())),
        executable: args.executable.clone(),
        image: args.image.clone(),
        secret: args.secret.clone(),
        retries: args.retries,
        retry_delay,
        timezone: file.timezone.clone(),
        timeout,
        // Kubernetes tries again after its own few seconds: a unit waits for a held lock itself.
        wait_lock: (args.to == Scheduler::K8sCronjob).then_some(retry_delay),
    };
    if in_a_pod {
        export.job_file = format!("{}/{}", schedule::pod::MOUNT, schedule::pod::mounted_name(&export));
        // The job file travels in a ConfigMap, which anyone who may read the namespace reads.
        if let Some(place) = schedule::pod::literal_secret(&export.file_text) {
            return Err(Error::Config {
                path: args.file.clone(),
                message: format!(
                    "{place} holds a secret's value: --to {to} would copy it into a ConfigMap; send it from \
                     an environment variable instead (--auth with token_env or api_key_env) and put the \
                     value in the Secret `{}`",
                    export.secret
                ),
            });
        }
        if crate::redact::redact(&export.file_text) != export.file_text {
            return Err(Error::Config {
                path: args.file.clone(),
                message: format!(
                    "it holds a secret (a password in a URL): --to {to} would copy it into a ConfigMap; name \
                     an environment variable instead (url_env, token_env) and put the value in the Secret `{}`",
                    export.secret
                ),
            });
        }
    }
    let groups = schedule::plan(&file, &export.name)
        .map_err(|message| Error::Config { path: args.file.clone(), message })?;
    if args.to == Scheduler::Argo {
        schedule::argo::check_names(&file)
            .map_err(|message| Error::Config { path: args.file.clone(), message })?;
    }
    for job in file.jobs.iter().filter(|j| !j.enabled) {
        crate::logging::eprint_lines(&format!("job \"{}\" is disabled (enabled: false): left out", job.name));
    }
    let written = schedule::render(args.to, &groups, &export);
    if !in_a_pod {
        // Paths of this machine, which the workers must have too: said now, not found out there.
        let mut baked = vec![format!("the job file {}", export.job_file)];
        baked.extend(export.workdir.as_ref().map(|dir| format!("the folder {dir}")));
        if export.executable.contains('/') {
            baked.push(format!("the executable {}", export.executable));
        }
        crate::logging::eprint_lines(&format!(
            "the {to} units read {} on the workers: --job-file, --workdir and --executable change them",
            baked.join(", ")
        ));
    }
    let Some(dir) = &args.out else {
        return crate::stdout::print_file(&written.text);
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let path = dir.join(&written.file);
    // Written whole or not at all: a scheduler watching the folder never reads half a file.
    let mut staged = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
    std::io::Write::write_all(&mut staged, written.text.as_bytes()).map_err(|e| Error::io(&path, e))?;
    // Readable as the rest of a repository is (a DAG processor may run as another user); a temporary
    // file is made 0600.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::Permissions::from_mode(0o644);
        staged.as_file().set_permissions(mode).map_err(|e| Error::io(&path, e))?;
    }
    staged.persist(&path).map_err(|e| Error::io(&path, e.error))?;
    crate::logging::eprint_lines(&format!(
        "wrote {}: {} for {}",
        path.display(),
        written.holds,
        units(&groups)
    ));
    Ok(())
}

/// `3 jobs` or `3 jobs (4 units)`.
fn units(groups: &[schedule::Group]) -> String {
    let units: Vec<&schedule::Unit> = groups.iter().flat_map(|g| &g.units).collect();
    let mut jobs: Vec<&str> = units.iter().map(|u| u.job.name.as_str()).collect();
    jobs.dedup();
    let n = jobs.len();
    let text = format!("{n} job{}", if n == 1 { "" } else { "s" });
    if units.len() == n {
        text
    } else {
        format!("{text} ({} units)", units.len())
    }
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).map_err(|e| Error::io(path, e))
}
