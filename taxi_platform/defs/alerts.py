"""The failure alert: one POST per failed run of this code location, however it was launched.

Dagster's run-failure sensor counts a run as its code location's by the run's remote origin,
which only runs launched through a code server carry (the daemon's schedules, sensors and
backfills, the UI); `dg launch` executes its run in its own process and records none. So the
sensor watches every run of the instance and keeps those of this location's jobs and assets.

Alerts read only the instance's runs: `dg launch` must record them in the instance the daemon
watches (one `DAGSTER_HOME`), and the sensor alerts only failures after its first tick there.
"""

from collections import defaultdict
from collections.abc import Set

import dagster as dg
import requests

from taxi_platform.defs.resources import AlertWebhook
from taxi_platform.lib.errors import first_line
from taxi_platform.settings import Settings


def _is_hidden(job_name: str) -> bool:
    """Dagster's own jobs (`__ASSET_JOB`, that of `dg launch --assets` and the UI's asset runs)."""
    return job_name.startswith("__")


def is_ours(run: dg.DagsterRun, repo: dg.RepositoryDefinition | None) -> bool:
    """Whether `run` is of one of `repo`'s jobs, over its assets (any run without a `repo`)."""
    if repo is None:
        return True
    assets = repo.asset_graph.get_all_asset_keys()
    return repo.has_job(run.job_name) and (run.asset_selection or set()) <= assets


def _selection(keys: Set[dg.AssetKey], repo: dg.RepositoryDefinition) -> str:
    """The selected assets as `group:NAME` for each whole group, keys for the others."""
    graph = repo.asset_graph
    groups: defaultdict[str | None, set[dg.AssetKey]] = defaultdict(set)
    for key in graph.get_all_asset_keys():
        groups[graph.get(key).group_name].add(key)
    whole = sorted(str(name) for name, members in groups.items() if members <= keys)
    rest = sorted(k.to_user_string() for k in keys if graph.get(k).group_name not in whole)
    return ", ".join([f"group:{name}" for name in whole] + rest)


def job_label(run: dg.DagsterRun, repo: dg.RepositoryDefinition | None) -> str:
    """The job the user knows: the run's own; for an asset run, the job selecting exactly its
    assets (`yellow_monthly` for `group:yellow`), else its groups and asset keys."""
    keys = run.asset_selection
    if not _is_hidden(run.job_name) or not keys or repo is None:
        return f"job {run.job_name}"
    for job in repo.get_all_jobs():
        if not _is_hidden(job.name) and job.asset_layer.selected_asset_keys == keys:
            return f"job {job.name}"
    return f"assets {_selection(keys, repo)}"


def _partition_of(run: dg.DagsterRun) -> str:
    tags = run.tags
    if "dagster/partition" in tags:
        return tags["dagster/partition"]
    start, end = (tags.get(f"dagster/asset_partition_range_{e}") for e in ("start", "end"))
    return f"{start}..{end}" if start else "-"


def failure_message(context: dg.RunFailureSensorContext, ui_url: str) -> str:
    """A Slack-style summary: job, partition, failing steps, error, link to the run."""
    run = context.dagster_run
    steps = [
        f"{event.step_key}: {first_line(event.event_specific_data.error.message)}"
        for event in context.get_step_failure_events()
        if event.event_specific_data and event.event_specific_data.error
    ]
    lines = [
        f"taxi_platform run failed: {job_label(run, context.repository_def)},"
        f" partition {_partition_of(run)}",
        *(f"failed step {s}" for s in steps or [first_line(context.failure_event.message or "")]),
        f"{ui_url}/runs/{run.run_id}",
    ]
    return "\n".join(lines)


def build_failure_alert_sensor(settings: Settings) -> dg.SensorDefinition:
    """POST a JSON alert to the webhook (if configured) when any run of this location fails."""

    @dg.run_failure_sensor(
        name="alert_on_run_failure",
        default_status=dg.DefaultSensorStatus.RUNNING,
        monitor_all_code_locations=True,
        description='POSTs {"text": ...} to TAXI_ALERT_WEBHOOK_URL when a run of this code'
        " location fails, however it was launched (daemon, UI, dg launch).",
    )
    def alert_on_run_failure(context: dg.RunFailureSensorContext, alert_webhook: AlertWebhook):
        if not alert_webhook.url or not is_ours(context.dagster_run, context.repository_def):
            return
        try:
            alert_webhook.post(failure_message(context, settings.ui_url))
        except requests.RequestException as err:
            context.log.warning(
                f"alert webhook POST failed ({type(err).__name__}); "
                f"run {context.dagster_run.run_id} still failed"
            )

    return alert_on_run_failure
