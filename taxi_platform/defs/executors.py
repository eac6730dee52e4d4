"""How a run executes its steps, chosen by configuration (`TAXI_EXECUTOR`), not by code edits.

- `in_process` (default): every step of a run in the run's own process. On one machine the
  steps are I/O- and Arrow-bound and a subprocess per step costs seconds of imports; parallel
  months come from the run queue instead.
- `multiprocess`: one process per step, for a bigger machine running wide runs.
- `k8s`: one Kubernetes Job per step (dagster-k8s's `k8s_job_executor`), with the pod settings
  of the K8sRunLauncher in `deploy/dagster-k8s.yaml` (which already gives each run its own pod).
  Steps then meet only through shared storage: GCS, BigQuery, PostgreSQL, and the lake
  directory on a volume every pod mounts.
"""

from __future__ import annotations

import dagster as dg

EXECUTORS = ("in_process", "multiprocess", "k8s")


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
    raise ValueError(f"TAXI_EXECUTOR must be one of {', '.join(EXECUTORS)}, not {name!r}")
