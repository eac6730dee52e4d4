"""The scale-out path is configuration: TAXI_EXECUTOR picks the executor (the celery one
configured from settings), and deploy/dagster-k8s.yaml is a valid Dagster instance whose runs
are Kubernetes Jobs."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config

from taxi_platform.catalog import COURSE_MIRROR, YELLOW
from taxi_platform.defs.executors import EXECUTORS, executor_for
from taxi_platform.defs.partitions import monthly_partitions
from taxi_platform.defs.resources import resources_for
from taxi_platform.defs.trips import build_trip_assets
from taxi_platform.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
INSTANCE_ENV = {
    "PG_USER": "taxi",
    "PG_PASSWORD": "secret",
    "PG_HOST": "postgres",
    "PG_PORT": "5432",
    "DAGSTER_PG_USER": "dagster",
    "DAGSTER_PG_PASSWORD": "secret",
    "DAGSTER_PG_HOST": "dagster-postgres",
    "DAGSTER_PG_PORT": "5432",
    "DAGSTER_PG_DATABASE": "dagster",
    "DAGSTER_MAX_CONCURRENT_RUNS": "20",
    "DAGSTER_K8S_INSTANCE_CONFIG_MAP": "taxi-platform-instance",
    "DAGSTER_K8S_NAMESPACE": "taxi-platform",
}


def _instance_config(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, object]:
    for key, value in INSTANCE_ENV.items():
        monkeypatch.setenv(key, value)
    shutil.copyfile(DEPLOY / name, tmp_path / "dagster.yaml")
    config, _ = dagster_instance_config(str(tmp_path))
    return config


def test_executor_defaults_to_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TAXI_EXECUTOR", raising=False)

    assert executor_for(load_settings().executor) is dg.in_process_executor


@pytest.mark.parametrize("name", EXECUTORS)
def test_each_executor_runs_the_pipeline_definitions(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if name == "k8s":
        pytest.importorskip("dagster_k8s", reason="dagster-k8s is not installed")
    monkeypatch.setenv("TAXI_EXECUTOR", name)
    monkeypatch.setenv("TAXI_CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")

    executor = executor_for(load_settings().executor)

    assert executor.name == executor_for(name).name
    defs = dg.Definitions(
        assets=build_trip_assets(YELLOW, monthly_partitions(), COURSE_MIRROR),
        resources=resources_for("local"),
        executor=executor,
    )
    dg.Definitions.validate_loadable(defs)


def test_unknown_executor_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAXI_EXECUTOR", "dask")

    with pytest.raises(ValueError, match="in_process, multiprocess, k8s, celery"):
        executor_for(load_settings().executor)


@pytest.mark.parametrize("backend", [None, "redis://:secret@127.0.0.1:6379/1"])
def test_celery_executor_reads_broker_and_backend_when_a_run_starts(
    backend: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAXI_CELERY_BROKER_URL", "redis://:old@127.0.0.1:6379/0")
    if backend:
        monkeypatch.setenv("TAXI_CELERY_BACKEND_URL", backend)
    else:
        monkeypatch.delenv("TAXI_CELERY_BACKEND_URL", raising=False)
    executor = executor_for("celery")

    broker = "redis://:secret@127.0.0.1:6379/0"
    monkeypatch.setenv("TAXI_CELERY_BROKER_URL", broker)  # e.g. a rotated password
    config = executor.config_schema.resolve_config({}).value["config"]

    assert executor.name == "celery"
    assert (config["broker"], config["backend"]) == (broker, backend or broker)


def test_celery_without_a_broker_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TAXI_CELERY_BROKER_URL", raising=False)

    with pytest.raises(ValueError, match="TAXI_CELERY_BROKER_URL"):
        executor_for("celery")


def test_local_instance_is_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = _instance_config("dagster.yaml", tmp_path, monkeypatch)

    modules = {
        "run_storage": "taxi_platform.dagster_storage",
        "event_log_storage": "taxi_platform.dagster_storage",
        "schedule_storage": "dagster_postgres",
    }
    for kind, module in modules.items():
        storage = config[kind]
        assert storage["module"] == module
        assert storage["config"]["postgres_db"]["db_name"] == {"env": "DAGSTER_PG_DATABASE"}


def test_k8s_instance_launches_runs_as_kubernetes_jobs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dagster_k8s = pytest.importorskip("dagster_k8s", reason="dagster-k8s is not installed")
    import kubernetes
    from dagster_k8s.models import k8s_model_from_dict, k8s_snake_case_dict

    config = _instance_config("dagster-k8s.yaml", tmp_path, monkeypatch)

    launcher = config["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_k8s", "K8sRunLauncher")
    checked = process_config(dagster_k8s.K8sRunLauncher.config_type(), launcher["config"])
    assert checked.success, checked.errors
    settings = checked.value
    assert settings["job_namespace"] == "taxi-platform"
    assert settings["dagster_home"] in (ROOT / "Dockerfile").read_text()
    for model, items in (
        (kubernetes.client.V1Volume, settings["volumes"]),
        (kubernetes.client.V1VolumeMount, settings["volume_mounts"]),
    ):
        for item in items:
            k8s_model_from_dict(model, k8s_snake_case_dict(model, item))
    [mount] = settings["volume_mounts"]
    compose = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
    assert mount["mountPath"] == compose["x-platform-env"]["TAXI_LAKE_DIR"]
    coordinator = process_config(
        dg.QueuedRunCoordinator.config_type(), config["run_coordinator"]["config"]
    )
    assert coordinator.value["max_concurrent_runs"] == 20


@pytest.mark.parametrize("name", ["dagster.yaml", "dagster-k8s.yaml"])
def test_a_dead_run_is_marked_failed_not_left_started(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monitoring = _instance_config(name, tmp_path, monkeypatch)["run_monitoring"]

    assert monitoring["enabled"] is True
    for timeout in ("start_timeout_seconds", "cancel_timeout_seconds", "max_runtime_seconds"):
        assert 0 < monitoring[timeout] <= 7200, timeout


def test_k8s_instance_keeps_the_local_storage() -> None:
    local = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
    k8s = yaml.safe_load((DEPLOY / "dagster-k8s.yaml").read_text())

    for kind in ("run_storage", "event_log_storage", "schedule_storage"):
        assert k8s[kind] == local[kind]
