//! `etl schedule export`: a job file's jobs as the units of a scheduler a team already runs
//! (Kubernetes CronJobs, Argo CronWorkflows, Airflow DAGs, Dagster jobs), so that loads fan out past
//! one machine with nothing of etl's own to run.
//!
//! The jobs are grouped by schedule ([`plan`]): the jobs without a `schedule:` of their own run
//! together on the file's, each other job on its own. Every unit runs `etl run <job file> --job NAME`
//! (with `--partition-range` for each of a job's `slices:`), and each scheduler is told what etl's
//! exit codes mean ([`exit`]): 1 and 75 are retried, 2 and 65 are not. Secrets are never written:
//! each target reads them from the scheduler's own store (a Kubernetes Secret, an Airflow Variable,
//! the Dagster run's environment). One module per target renders the units; this one decides them.

pub mod airflow;
pub mod argo;
pub mod cron;
pub mod dagster;
pub mod k8s;
pub mod plan;
pub mod pod;
mod python;
pub mod scheduler;

pub use plan::{plan, Export, Group, Unit, Written};
pub use scheduler::Scheduler;

/// Renders `groups` for `to`.
pub fn render(to: Scheduler, groups: &[Group], export: &Export) -> Written {
    match to {
        Scheduler::K8sCronjob => k8s::render(groups, export),
        Scheduler::Argo => argo::render(groups, export),
        Scheduler::Airflow => airflow::render(groups, export),
        Scheduler::Dagster => dagster::render(groups, export),
    }
}
