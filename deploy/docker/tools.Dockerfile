# syntax=docker/dockerfile:1
# botcenter tools: every service package in one image, for the operator commands that span
# services: `botcenter migrate` (a Job before each rollout), `botcenter keys rotate`, and
# `python deploy/nats/render.py`. Never runs as a long-lived service.
#   docker build -f deploy/docker/tools.Dockerfile -t botcenter/tools .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
RUN pip install --no-cache-dir "uv>=0.9,<2"
WORKDIR /src
COPY constraints.txt pyproject.toml ./
COPY deploy/docker/excludes.txt ./deploy/docker/excludes.txt
COPY proto ./proto
COPY services ./services
COPY gateway ./gateway
COPY auth-service ./auth-service
COPY bot-service ./bot-service
COPY command-service ./command-service
COPY storage-service ./storage-service
COPY log-service ./log-service
RUN uv venv /opt/venv && \
    VIRTUAL_ENV=/opt/venv uv pip install --no-cache -c constraints.txt \
        --excludes deploy/docker/excludes.txt \
        . ./gateway ./auth-service ./bot-service ./command-service ./storage-service ./log-service

FROM ${PYTHON_IMAGE} AS runtime
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /app botcenter && \
    mkdir -p /app/deploy/nats
COPY --from=build /opt/venv /opt/venv
COPY deploy/nats/render.py /app/deploy/nats/render.py
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    BOTCENTER_MODE=production BOTCENTER_DATA_DIR=/tmp/botcenter
WORKDIR /app
USER 10001:10001
# A one-shot job: healthy while the process exists.
HEALTHCHECK --interval=30s --timeout=3s CMD ["python", "-c", "pass"]
ENTRYPOINT []
CMD ["botcenter", "--help"]
