"""docker-compose.yaml, the Dockerfile and .env.example agree with each other, with the code's
settings and with docs/configuration.md (there is no Docker engine here; `docker compose
config` runs when the compose plugin is installed)."""

from __future__ import annotations

import ast
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack import services

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yaml"
ISSUE_SERVICES = {
    *("postgres", "pgadmin", "fake-gcs", "bigquery", "code", "webserver", "daemon"),
    *("redis", "celery-worker"),
}
PLATFORM_SERVICES = ("code", "webserver", "daemon", "celery-worker")
# Read by libraries rather than by taxi_platform: google-cloud-storage, google-auth, Dagster.
LIBRARY_SETTINGS = {"STORAGE_EMULATOR_HOST", "NO_GCE_CHECK", "DAGSTER_HOME"}
SETTING = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|[A-Z]{3,}")
INTERPOLATION = re.compile(r"\$\{([A-Z0-9_]+)(?::?[-?]([^}]*))?\}")


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _services() -> dict[str, dict[str, Any]]:
    return _compose()["services"]


def _settings_read_by_code() -> tuple[set[str], set[str]]:
    """(required, optional) setting names: `EnvVar("X")` is required; `_env_or("X", …)`,
    `os.getenv("X", …)` and helpers taking the name first are optional."""
    required, optional = set(), set()
    package = ROOT / "taxi_platform"
    sources = [
        package / "settings.py",
        *(package / "defs" / n for n in ("resources.py", "executors.py")),
    ]
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            first = node.args[0]
            if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                continue
            if not SETTING.fullmatch(first.value):
                continue
            callee = ast.unparse(node.func)
            (required if callee in ("dg.EnvVar", "dg.EnvVar.int") else optional).add(first.value)
    return required, optional - required


def _instance_settings(path: Path) -> set[str]:
    return set(re.findall(r"\{env: ([A-Z0-9_]+)\}", path.read_text()))


def _env_example() -> dict[str, str | None]:
    """Names in .env.example: `NAME=value` (set) and `# NAME=…` (optional, value None)."""
    names: dict[str, str | None] = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if match := re.fullmatch(r"([A-Z][A-Z0-9_]*)=(.*)", line):
            names[match[1]] = match[2]
        elif match := re.fullmatch(r"# ([A-Z][A-Z0-9_]*)=.*", line):
            names.setdefault(match[1], None)
    return names


def _compose_interpolations() -> dict[str, str | None]:
    return {m[1]: m[2] for m in INTERPOLATION.finditer(COMPOSE.read_text())}


def test_the_issues_services_exist_with_an_image_or_a_build() -> None:
    found = _services()

    assert set(found) >= ISSUE_SERVICES
    for name, service in found.items():
        assert service.get("image") or service.get("build"), name
        if service.get("build"):
            assert (ROOT / service["build"] / "Dockerfile").is_file(), name


def test_every_published_port_is_bound_to_localhost() -> None:
    published = 0
    for name, service in _services().items():
        for port in service.get("ports", []):
            published += 1
            if isinstance(port, dict):
                assert port.get("host_ip") == "127.0.0.1", (name, port)
            else:
                assert str(port).startswith("127.0.0.1:"), (name, port)
            assert service.get("network_mode") != "host", name
    assert published >= 5  # postgres, pgadmin, GCS, BigQuery, the UI


def test_platform_services_get_every_setting_the_code_and_instance_read() -> None:
    required, optional = _settings_read_by_code()
    required |= _instance_settings(ROOT / "deploy" / "dagster.yaml")
    example = _env_example()

    for name in PLATFORM_SERVICES:
        service = _services()[name]
        environment = service["environment"]
        assert required <= set(environment), (name, required - set(environment))
        env_files = [f["path"] if isinstance(f, dict) else f for f in service["env_file"]]
        assert ".env" in env_files, name  # optional settings reach it from .env
    assert optional <= set(example), optional - set(example)


def test_env_example_lists_every_setting_and_only_settings() -> None:
    required, optional = _settings_read_by_code()
    instance = _instance_settings(ROOT / "deploy" / "dagster.yaml")
    k8s = _instance_settings(ROOT / "deploy" / "dagster-k8s.yaml")
    known = required | optional | instance | k8s | LIBRARY_SETTINGS | set(_compose_interpolations())
    names = set(_env_example())

    assert required | optional | instance | k8s <= names
    assert names <= known, names - known
    assert {"TAXI_EXECUTOR", "TAXI_CELERY_BROKER_URL", "TAXI_CELERY_BACKEND_URL"} <= names
    secrets = {"PG_PASSWORD", "DAGSTER_PG_PASSWORD", "PGADMIN_PASSWORD", "GCP_CREDENTIALS"}
    assert not any(_env_example()[s] for s in secrets)  # no secret values in the example


def test_every_setting_is_documented() -> None:
    page = (ROOT / "docs" / "configuration.md").read_text()

    missing = sorted(name for name in _env_example() if f"`{name}`" not in page)

    assert not missing, f"settings missing from docs/configuration.md: {missing}"


def test_compose_defaults_are_the_local_defaults() -> None:
    env = _services()["code"]["environment"]
    defaults = {k: v for k, v in _compose_interpolations().items()}
    local = {
        "GCP_PROJECT": services.GCP_PROJECT,
        "GCS_BUCKET": services.GCS_BUCKET,
        "BQ_DATASET": services.BQ_DATASET,
        "PG_USER": services.PG_USER,
        "PG_DATABASE": services.PG_DATABASE,
        "DAGSTER_PG_DATABASE": services.DAGSTER_PG_DATABASE,
    }
    for name, value in local.items():
        assert env[name] == f"${{{name}:-{value}}}", name
        assert defaults[name] == value
    assert env["TAXI_ENV"] == "local"
    assert env["STORAGE_EMULATOR_HOST"] == "http://fake-gcs:4443"
    assert env["BIGQUERY_EMULATOR_HOST"].startswith("http://bigquery:")
    assert env["PG_HOST"] == "postgres"


def test_the_webserver_and_daemon_reach_the_code_server() -> None:
    workspace = yaml.safe_load((ROOT / "docker" / "workspace.yaml").read_text())
    [entry] = workspace["load_from"]
    server = entry["grpc_server"]
    code = _services()["code"]["command"]

    assert server["host"] == "code"
    assert str(server["port"]) == code[code.index("-p") + 1]
    assert server["location_name"] == code[code.index("--location-name") + 1]
    for name in ("webserver", "daemon"):
        command = _services()[name]["command"]
        assert command[command.index("-w") + 1] == "docker/workspace.yaml"
        assert _services()[name]["depends_on"]["code"]["condition"] == "service_healthy"


def test_bind_mounts_and_commands_point_at_files_in_the_image() -> None:
    for name, service in _services().items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).is_file(), (name, source)
    for name in ("code", "webserver", "daemon", "gcs-init", "bigquery", "celery-worker"):
        command = _services()[name]["command"]
        for arg in command:
            if arg.endswith((".py", ".yaml")):
                assert (ROOT / arg).is_file(), (name, arg)
        if "-m" in command:
            module = command[command.index("-m") + 1]
            assert (ROOT / (module.replace(".", "/") + ".py")).is_file(), (name, module)


def _dockerfile() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [tuple(line.split(None, 1)) for line in lines if line and not line.startswith("#")]


def test_dockerfile_copies_what_the_services_use() -> None:
    instructions = _dockerfile()
    copied = [shlex.split(arg)[:-1] for op, arg in instructions if op == "COPY"]
    copied_paths = {p for group in copied for p in group}
    ignored = (ROOT / ".dockerignore").read_text().split()

    for path in copied_paths:
        assert (ROOT / path).exists(), path
        assert path not in ignored, path
    assert {
        "requirements.lock",
        "pyproject.toml",
        "taxi_platform",
        "deploy",
        "docker",
    } <= copied_paths
    env = " ".join(arg for op, arg in instructions if op == "ENV")
    assert "DAGSTER_HOME=/opt/dagster/home" in env
    assert _services()["code"]["environment"]["DAGSTER_HOME"] == "/opt/dagster/home"
    run = " ".join(arg for op, arg in instructions if op == "RUN")
    assert "cp deploy/dagster.yaml" in run and "requirements.lock" in run
    python = next(arg for op, arg in instructions if op == "FROM")
    assert python.startswith("python:3.11")  # requires-python >=3.11,<3.13


def test_docker_compose_config_is_valid() -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker client on this machine")
    if subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("the docker client has no compose plugin")
    env = {**os.environ, "PG_PASSWORD": "x", "PGADMIN_PASSWORD": "y"}
    done = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
