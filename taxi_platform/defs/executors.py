"""How a run executes its steps, chosen by configuration (`TAXI_EXECUTOR`), not by code edits.

- `in_process` (default): every step of a run in the run's own process. On one machine the
  steps are I/O- and Arrow-bound and a subprocess per step costs seconds of imports; parallel
  months come from the run queue instead.
- `multiprocess`: one process per step, for a bigger machine running wide runs.
- `k8s`: one Kubernetes Job per step (dagster-k8s's `k8s_job_executor`), with the pod settings
  of the K8sRunLauncher in `deploy/dagster-k8s.yaml` (which already gives each run its own pod).
  Steps then meet only through shared storage: GCS, BigQuery, PostgreSQL, and the lake
  directory on a volume every pod mounts.
- `celery`: each step a task on Celery workers (dagster-celery's executor, where a step whose
  worker process dies fails or retries like any step: `celery_executor.py`) through the broker
  `TAXI_CELERY_BROKER_URL`, results in `TAXI_CELERY_BACKEND_URL` (default: the broker). The
  workers need the same settings, Dagster storage and lake as the code location.
"""

from __future__ import annotations

import warnings

import dagster as dg

from taxi_platform.settings import is_set

EXECUTORS = ("in_process", "multiprocess", "k8s", "celery")


def executor_for(name: str) -> dg.ExecutorDefinition:
    """The executor called `name` (one of EXECUTORS)."""
    if name == "in_process":
        return dg.in_process_executor
    if name == "multiprocess":
        return dg.multiprocess_executor
    if name == "k8s":
        try:
            from dagster_k8s import k8s_job_executor
        except ImportError as err:
            raise RuntimeError(
                "TAXI_EXECUTOR=k8s needs the dagster-k8s package (same release line as dagster)"
            ) from err
        return k8s_job_executor
    if name == "celery":
        return _celery_executor()
    raise ValueError(f"TAXI_EXECUTOR must be one of {', '.join(EXECUTORS)}, not {name!r}")


def _celery_executor() -> dg.ExecutorDefinition:
    """dagster-celery's executor on the broker and result backend the settings name. The
    definitions carry only the variables' names: Dagster reads the URLs (which may hold a
    password) when a run starts."""
    # Here: only TAXI_EXECUTOR=celery needs Celery imported.
    from celery.exceptions import DuplicateTaskNameWarning

    from taxi_platform.defs.celery_executor import celery_executor

    # dagster-celery registers its one task again for every step it submits: noise, once a run.
    warnings.filterwarnings(
        "ignore", message="Task name 'execute_plan'", category=DuplicateTaskNameWarning
    )
    if not is_set("TAXI_CELERY_BROKER_URL"):
        raise ValueError("TAXI_EXECUTOR=celery needs TAXI_CELERY_BROKER_URL, the workers' broker")
    backend = (
        "TAXI_CELERY_BACKEND_URL" if is_set("TAXI_CELERY_BACKEND_URL") else "TAXI_CELERY_BROKER_URL"
    )
    config = {"broker": {"env": "TAXI_CELERY_BROKER_URL"}, "backend": {"env": backend}}
    return celery_executor.configured(config, name="celery")
