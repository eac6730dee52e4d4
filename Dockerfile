# The taxi_platform code location (also used for the webserver and daemon services).
FROM python:3.11-slim
WORKDIR /opt/taxi_platform
COPY requirements.lock pyproject.toml ./
RUN pip install --no-cache-dir -r requirements.lock
COPY taxi_platform ./taxi_platform
COPY workspace.yaml ./
COPY deploy ./deploy
COPY docker ./docker
RUN pip install --no-cache-dir --no-deps . \
    && mkdir -p /opt/dagster/home && cp deploy/dagster.yaml /opt/dagster/home/
ENV DAGSTER_HOME=/opt/dagster/home
EXPOSE 4000
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "taxi_platform.definitions"]
