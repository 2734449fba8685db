//! The schedulers `etl schedule export` writes units for (its own file, so that the command line
//! can name them without reaching the job files).

/// A scheduler `etl schedule export` writes units for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scheduler {
    /// Kubernetes CronJobs (batch/v1), one per job, and a ConfigMap holding the job file.
    #[value(name = "k8s-cronjob")]
    K8sCronjob,
    /// Argo Workflows CronWorkflows, one per schedule, and a ConfigMap holding the job file.
    Argo,
    /// An Airflow 3 DAG file: one DAG per schedule, one task per job.
    Airflow,
    /// A Dagster definitions file: one job per schedule, one op per job, and their schedules.
    Dagster,
}

impl Scheduler {
    /// The name `--to` takes.
    pub fn name(self) -> &'static str {
        match self {
            Scheduler::K8sCronjob => "k8s-cronjob",
            Scheduler::Argo => "argo",
            Scheduler::Airflow => "airflow",
            Scheduler::Dagster => "dagster",
        }
    }

    /// Whether its units run in a container of `--image` (with the job file in a ConfigMap).
    pub fn in_a_pod(self) -> bool {
        matches!(self, Scheduler::K8sCronjob | Scheduler::Argo)
    }
}
