"""docker-compose.yaml, the Dockerfile and .env.example agree with each other, with the code's
settings and with docs/configuration.md. There is no Docker engine here: the file is validated
against the Compose Specification's JSON schema, every service's image, command and settings
are looked up in the repo, the lock and the images, and `docker compose config` runs when the
compose plugin is installed."""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from bqemulator.config import Settings as BqemulatorSettings

from devstack import services

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yaml"
ISSUE_SERVICES = {
    *("postgres", "pgadmin", "fake-gcs", "bigquery", "code", "webserver", "daemon"),
    *("redis", "celery-worker"),
}
PLATFORM_SERVICES = ("code", "webserver", "daemon", "celery-worker")
# Read by libraries rather than by taxi_platform, each named with the distribution reading it.
LIBRARY_SETTINGS = {
    "STORAGE_EMULATOR_HOST": "google-cloud-storage",
    "NO_GCE_CHECK": "google-auth",
    "DAGSTER_HOME": "dagster",
}
# Set by compose for the Celery worker alone: Celery's own names for its broker and backend.
WORKER_SETTINGS = {"CELERY_BROKER_URL": "celery", "CELERY_RESULT_BACKEND": "celery"}
POSIX_SETTINGS = {"HOME"}
SETTING = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|[A-Z]{3,}")
INTERPOLATION = re.compile(r"\$\{([A-Z0-9_]+)(?::?[-?]([^}]*))?\}")
# The Compose Specification's JSON schema (compose-spec/compose-spec, schema/compose-spec.json),
# vendored unchanged from the npm package dclint 3.1.0, where it is schemas/compose.schema.json.
COMPOSE_SCHEMA = ROOT / "taxi_platform_tests" / "schemas" / "compose-spec.json"
PULLED_IMAGE = re.compile(r"[a-z0-9]+(?:[._/-][a-z0-9]+)*:[A-Za-z0-9_][A-Za-z0-9_.-]*")
# What the pulled images hold, from each image's documentation (no engine here to look inside):
# the programs their services run, and the settings their entrypoints read.
PULLED_IMAGE_PROGRAMS = {
    "postgres": {"pg_isready"},
    "redis": {"redis-server", "redis-cli"},
}
PULLED_IMAGE_SETTINGS = {
    "postgres": {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"},
    "dpage/pgadmin4": {"PGADMIN_DEFAULT_EMAIL", "PGADMIN_DEFAULT_PASSWORD"},
}
BASE_IMAGE_PROGRAMS = {"python"}  # python:3.11-slim, the Dockerfile's base


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
    known = (
        required
        | optional
        | instance
        | k8s
        | set(LIBRARY_SETTINGS)
        | set(_compose_interpolations())
    )
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


# --- the Compose Specification and what each service needs ----------------------------------


def _interpolated() -> dict[str, Any]:
    """The file as compose reads it with .env copied from .env.example: each `${NAME}` its value
    there, else its `:-` default, else (a required secret left empty) a stand-in."""
    env = {name: value for name, value in _env_example().items() if value}
    pattern = re.compile(r"\$\{([A-Z0-9_]+)(?:(:?-)([^}]*)|:?\?[^}]*)?\}")

    def value(match: re.Match[str]) -> str:
        return env.get(match[1]) or (match[3] if match[2] else "stand-in")

    return yaml.safe_load(pattern.sub(value, COMPOSE.read_text()))


def _schema_errors(document: dict[str, Any]) -> list[str]:
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    # Draft 7, which the schema names in an https form jsonschema does not look up.
    assert "draft-07" in schema["$schema"]
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(
        schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(document)
    ]


def test_the_file_is_valid_against_the_compose_specification() -> None:
    assert not _schema_errors(_interpolated())


def test_the_schema_refuses_what_compose_refuses() -> None:
    document = _interpolated()
    document["services"]["code"]["imagee"] = "taxi_platform:local"
    document["services"]["redis"]["depends_on"] = {"postgres": {"condition": "started"}}

    errors = _schema_errors(document)

    assert any("imagee" in e for e in errors) and any("depends_on" in e for e in errors), errors


def _builds(service: dict[str, Any]) -> bool:
    return "build" in service


def test_every_service_builds_a_dockerfile_here_or_pulls_a_tagged_image() -> None:
    for name, service in _services().items():
        if _builds(service):
            build = service["build"]
            build = {"context": build} if isinstance(build, str) else build
            context = ROOT / build["context"]
            assert (context / build.get("dockerfile", "Dockerfile")).is_file(), name
            assert service["image"].count(":") == 1, name  # the built image's name:tag
        else:
            image = service["image"]
            assert PULLED_IMAGE.fullmatch(image) and not image.endswith(":latest"), (name, image)


def _programs(service: dict[str, Any]) -> list[list[str]]:
    """The argument lists a service runs: its command and its healthcheck."""
    found = []
    if command := service.get("command"):
        found.append(shlex.split(command) if isinstance(command, str) else command)
    if test := service.get("healthcheck", {}).get("test"):
        kind, *args = test
        found.append(args if kind == "CMD" else shlex.split(args[0]))
    return found


def _locked() -> set[str]:
    """Normalised names of the distributions requirements.lock pins (the image installs it)."""
    lines = (ROOT / "requirements.lock").read_text().splitlines()
    return {_normalised(m[1]) for line in lines if (m := re.fullmatch(r"([\w.-]+)==\S+", line))}


def _normalised(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def _script_distribution(program: str) -> str | None:
    """The distribution installing console script `program`, if any."""
    scripts = importlib.metadata.entry_points(group="console_scripts", name=program)
    return next((_normalised(s.dist.name) for s in scripts if s.dist), None)


def _module_shipped(module: str) -> bool:
    """Whether the image has `module`: from a directory the Dockerfile copies or a locked
    distribution."""
    top = module.split(".")[0]
    copied = {p for op, arg in _dockerfile() if op == "COPY" for p in shlex.split(arg)[:-1]}
    owners = importlib.metadata.packages_distributions().get(top, [])
    shipped = top in copied or bool({_normalised(d) for d in owners} & _locked())
    return shipped and importlib.util.find_spec(module) is not None


def _platform_program_problems(argv: list[str]) -> list[str]:
    """What the platform image lacks to run `argv`."""
    program, problems = argv[0], []
    if program not in BASE_IMAGE_PROGRAMS and _script_distribution(program) not in _locked():
        problems.append(f"{program}: no locked distribution installs it")
    for flag in ("-m", "-A"):  # python -m, dagster -m, celery -A: a module to import
        if flag in argv and not _module_shipped(argv[argv.index(flag) + 1]):
            problems.append(f"{argv[argv.index(flag) + 1]}: not in the image")
    scripts = [a for a in argv[1:2] if a.endswith(".py")] if program == "python" else []
    problems += [f"{a}: no such file" for a in scripts if not (ROOT / a).is_file()]
    return problems


def test_every_command_runs_a_program_and_module_the_image_has() -> None:
    problems = []
    for name, service in _services().items():
        for argv in _programs(service):
            if _builds(service):
                problems += [(name, p) for p in _platform_program_problems(argv)]
            elif not argv[0].startswith("-"):  # else options to the image's entrypoint
                image = service["image"].split(":")[0]
                if argv[0] not in PULLED_IMAGE_PROGRAMS.get(image, set()):
                    problems.append((name, f"{argv[0]}: not a program of {image}"))

    assert not problems


def test_the_platform_images_commands_accept_their_options() -> None:
    """Each console-script command, with `--help` added, parses with the locked versions."""
    argvs = [
        argv
        for service in _services().values()
        if _builds(service)
        for argv in _programs(service)
        if argv[0] not in BASE_IMAGE_PROGRAMS
    ]
    runs = [
        subprocess.Popen(
            [str(Path(sys.executable).with_name(argv[0])), *argv[1:], "--help"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for argv in argvs
    ]
    errors = [
        (argv, run.communicate()[1][-500:], run.returncode)
        for argv, run in zip(argvs, runs, strict=True)
    ]

    assert len(argvs) >= 5  # code server and its healthcheck, webserver, daemon, worker
    assert not [error for error in errors if error[2]]


def _read_by_library(name: str, distribution: str) -> bool:
    """Whether `distribution`'s Python sources hold `name` as a string literal."""
    literal = re.compile(rf"""["']{name}["']""")
    files = importlib.metadata.distribution(distribution).files or []
    return any(
        literal.search(f.locate().read_text(errors="replace")) for f in files if f.suffix == ".py"
    )


def test_the_libraries_named_read_their_settings_and_are_locked() -> None:
    for name, distribution in {**LIBRARY_SETTINGS, **WORKER_SETTINGS}.items():
        assert _normalised(distribution) in _locked(), distribution
        assert _read_by_library(name, distribution), (name, distribution)


def _mounted_script_settings(service: dict[str, Any]) -> set[str]:
    """Names read (`$NAME`) by the repo's scripts the service mounts."""
    sources = [v.split(":")[0] for v in service.get("volumes", []) if v.startswith("./")]
    text = " ".join((ROOT / s).read_text() for s in sources if s.endswith(".sh"))
    return set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", text))


def _platform_settings() -> set[str]:
    """Names the platform image reads: the code's and the instance's (listed in .env.example),
    the libraries', Celery's, the BigQuery emulator's and POSIX ones."""
    required, optional = _settings_read_by_code()
    ours = (required | optional | _instance_settings(ROOT / "deploy" / "dagster.yaml")) & set(
        _env_example()
    )
    prefix = BqemulatorSettings.model_config["env_prefix"]
    emulator = {prefix + field.upper() for field in BqemulatorSettings.model_fields}
    return ours | set(LIBRARY_SETTINGS) | set(WORKER_SETTINGS) | emulator | POSIX_SETTINGS


def test_every_setting_a_service_gets_is_read_by_its_image() -> None:
    unknown = {}
    for name, service in _services().items():
        if _builds(service):
            known = _platform_settings()
        else:
            image = service["image"].split(":")[0]
            known = PULLED_IMAGE_SETTINGS.get(image, set()) | _mounted_script_settings(service)
        if extra := set(service.get("environment", {})) - known:
            unknown[name] = extra

    assert not unknown


def test_every_interpolated_name_is_listed_in_env_example() -> None:
    assert set(_compose_interpolations()) <= set(_env_example())
