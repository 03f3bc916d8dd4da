# syntax=docker/dockerfile:1
# Adamant's two images, one Dockerfile, by target (docs/deploy.md):
#
#   docker build --target service -t adamant-service .      # the API: no torch (DESIGN.md)
#   docker build --target worker  -t adamant-worker .       # Celery worker + trainer: CPU torch==2.13.0 (the default)
#   docker build --target worker  -t adamant-worker:cuda \
#       --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 .   # the same with a CUDA 12.8 torch build
#
# The CUDA build needs no CUDA base image: torch's cu12x wheels bring the CUDA runtime, cuDNN
# and NCCL as pip packages, and the host's driver comes in through the NVIDIA container
# toolkit. BASE_IMAGE can still name another Debian-based Python 3.11 image (a mirror, a
# digest-pinned copy). Both images run as the unprivileged user `adamant` (uid 10001).

ARG BASE_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
# tini as PID 1: it forwards `docker stop`'s SIGTERM to uvicorn/celery and reaps the trainer
# processes a worker's supervisors start in their own sessions (worker/supervisor.py).
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini=0.19.* \
 && rm -rf /var/lib/apt/lists/*

# ---------------------------------------------------------------------------------------------
FROM base AS venv
RUN python -m venv /opt/venv
WORKDIR /src

# ---------------------------------------------------------------------------------------------
FROM venv AS build-service
COPY pyproject.toml ./
COPY adamant ./adamant
COPY service ./service
COPY worker ./worker
COPY client ./client
# A regular (not editable) install: the image holds the installed packages, not the checkout.
RUN pip install --no-cache-dir .

# ---------------------------------------------------------------------------------------------
FROM venv AS build-worker
# torch first, before the sources are copied (a code change must not re-download it), from the
# index that selects its build: CPU by default, cu12x for CUDA. The worker extra then finds
# torch==2.13.0 satisfied (2.13.0+cpu matches it) and keeps this build.
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN pip install --no-cache-dir --index-url "${TORCH_INDEX}" "torch==${TORCH_VERSION}"
COPY pyproject.toml ./
COPY adamant ./adamant
COPY service ./service
COPY worker ./worker
COPY client ./client
# DL3013 wants `pkg==version` on every pip install; ".[worker]" is this project, whose pins
# (torch==2.13.0, celery 5.7.*, ...) live in pyproject.toml, where hadolint cannot see them.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir ".[worker]" \
 && python -c "import torch; assert torch.__version__.split('+')[0] == '${TORCH_VERSION}', torch.__version__"

# ---------------------------------------------------------------------------------------------
FROM base AS runtime
# ADAMANT_HOME is per container (drain markers, the embedded defaults); ADAMANT_ARTIFACTS is
# the volume every API and worker container shares (datasets, checkpoints).
ENV ADAMANT_HOME=/var/lib/adamant \
    ADAMANT_ARTIFACTS=/var/lib/adamant/artifacts \
    ADAMANT_LOCAL_USER=false
RUN groupadd --system --gid 10001 adamant \
 && useradd --system --uid 10001 --gid adamant --home-dir /var/lib/adamant --shell /usr/sbin/nologin adamant \
 && mkdir -p /var/lib/adamant/artifacts \
 && chown -R adamant:adamant /var/lib/adamant
WORKDIR /var/lib/adamant
VOLUME ["/var/lib/adamant/artifacts"]
ENTRYPOINT ["tini", "--"]

# ---------------------------------------------------------------------------------------------
FROM runtime AS service
COPY --from=build-service /opt/venv /opt/venv
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-m", "adamant.healthcheck", "api", "--url", "http://127.0.0.1:8000/readyz"]
# The workers' count comes from WEB_CONCURRENCY (uvicorn reads it); migrations are a separate
# one-shot `python -m adamant.store.migrate upgrade` (compose's `migrate` service).
# --no-proxy-headers: uvicorn would otherwise take X-Forwarded-For from 127.0.0.1 as the client;
# the service reads forwarded addresses itself, and only from ADAMANT_TRUSTED_PROXIES.
CMD ["python", "-m", "uvicorn", "service.app:create_asgi_app", "--factory", "--host", "0.0.0.0", "--port", "8000", "--timeout-graceful-shutdown", "20", "--no-proxy-headers"]

# ---------------------------------------------------------------------------------------------
FROM runtime AS worker
COPY --from=build-worker /opt/venv /opt/venv
USER 10001:10001
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "-m", "adamant.healthcheck", "worker", "--node", "cpu@%h"]
# One job at a time per worker process (-c); scale out with more containers. GPU containers
# override this command with `-Q gpu,cpu -n gpu@%h` (docker-compose.yml).
CMD ["celery", "-A", "worker.celery_app", "worker", "-Q", "cpu", "-c", "1", "-n", "cpu@%h", "--loglevel", "INFO"]
