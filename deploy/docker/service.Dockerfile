# syntax=docker/dockerfile:1
# One image template for the five back-end services (auth, bot, command, storage, log): they
# differ only in the package they install and the service they run, so a build argument names
# it rather than five copies drifting apart. Build from the repository root:
#   docker build -f deploy/docker/service.Dockerfile --build-arg SERVICE=auth \
#       -t botcenter/auth-service .
# The gateway (it also builds the web console) and the discord-sandbox (standalone) keep
# their own Dockerfiles.
# Multi-stage: the build stage resolves the kernel, the contracts and this service only
# (constraints.txt ranges; the laptop-only embedded servers excluded); the runtime stage is
# a slim Python with the virtualenv, running as an unprivileged numeric user.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# auth | bot | command | storage | log: the folder is `${SERVICE}-service`.
ARG SERVICE
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
# Without it COPY would fail later on a folder named "-service"; say what is missing instead.
RUN test -n "$SERVICE" || { echo "build with --build-arg SERVICE=auth|bot|command|storage|log" >&2; exit 1; }
RUN pip install --no-cache-dir "uv>=0.9,<2"
WORKDIR /src
COPY constraints.txt pyproject.toml ./
COPY deploy/docker/excludes.txt ./deploy/docker/excludes.txt
COPY proto ./proto
COPY services ./services
COPY ${SERVICE}-service ./${SERVICE}-service
RUN uv venv /opt/venv && \
    VIRTUAL_ENV=/opt/venv uv pip install --no-cache -c constraints.txt \
        --excludes deploy/docker/excludes.txt . ./${SERVICE}-service sentry-sdk \
        opentelemetry-instrumentation-httpx opentelemetry-instrumentation-aiohttp-client

FROM ${PYTHON_IMAGE} AS runtime
ARG SERVICE
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /app botcenter && \
    mkdir -p /app /tmp/botcenter && chown 10001:10001 /tmp/botcenter
COPY --from=build /opt/venv /opt/venv
# Production refuses missing secrets; the data folder is scratch only (emptyDir on Kubernetes,
# where the root filesystem is read-only). Each service reads only the HTTP address under its
# own prefix (AUTH_, BOT_, ...); all five are set because a build argument cannot be
# upper-cased into a variable name, and the others are ignored.
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    BOTCENTER_MODE=production BOTCENTER_DATA_DIR=/tmp/botcenter \
    BOTCENTER_SERVICE=${SERVICE} \
    AUTH_HTTP_HOST=0.0.0.0 AUTH_HTTP_PORT=8080 \
    BOT_HTTP_HOST=0.0.0.0 BOT_HTTP_PORT=8080 \
    COMMAND_HTTP_HOST=0.0.0.0 COMMAND_HTTP_PORT=8080 \
    STORAGE_HTTP_HOST=0.0.0.0 STORAGE_HTTP_PORT=8080 \
    LOG_HTTP_HOST=0.0.0.0 LOG_HTTP_PORT=8080
WORKDIR /app
USER 10001:10001
EXPOSE 8080
# Liveness only (/healthz never depends on NATS or the database); readiness is /readyz.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status != 200)"]
STOPSIGNAL SIGTERM
# An exec-form ENTRYPOINT cannot expand a variable; the shell only expands it and `exec`s,
# so Python is PID 1 and receives SIGTERM itself.
ENTRYPOINT ["/bin/sh", "-c", "exec botcenter service \"$BOTCENTER_SERVICE\" \"$@\"", "botcenter"]
