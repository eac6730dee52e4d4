# The taxi_platform image: the code location, the Dagster webserver and daemon, the Celery worker
# and the BigQuery emulator of docker-compose.yaml (each service picks its command). For Kubernetes,
# the same image serves the code location and the run pods (deploy/dagster-k8s.yaml).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSTER_HOME=/opt/dagster/home
WORKDIR /opt/taxi_platform
# Pinned dependencies first: this layer is rebuilt only when the lock changes.
COPY requirements.lock pyproject.toml ./
RUN pip install --no-cache-dir -r requirements.lock
COPY taxi_platform ./taxi_platform
# The dev stack is not in the wheel; the compose stack's BigQuery emulator starts from it.
COPY devstack ./devstack
COPY workspace.yaml ./
COPY deploy ./deploy
COPY docker ./docker
RUN pip install --no-cache-dir --no-deps . \
    && mkdir -p "$DAGSTER_HOME" /opt/taxi_platform/lake \
    && cp deploy/dagster.yaml "$DAGSTER_HOME/dagster.yaml"
EXPOSE 3000 4000 9050
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "taxi_platform.definitions", "--location-name", "taxi_platform"]
