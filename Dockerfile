# syntax=docker/dockerfile:1
#
# dh-gateway container image (BuildKit, the default builder since Docker 23, for `RUN --mount`):
#   docker build -t registry.example.com/dh-gateway:0.1.0 .
#
# Secure by default: the image listens on 0.0.0.0:50051, and the gateway refuses to serve a
# non-loopback address with neither TLS nor API keys. So the container does not start until the
# operator configures TLS (DHGW_TLS_CERT_FILE / DHGW_TLS_KEY_FILE, mounted files) and/or API keys
# (DHGW_API_KEY_SHA256), as deploy/kubernetes/overlays/replicas does; or moves the listener to
# a loopback address or a unix socket (a sidecar: deploy/kubernetes/overlays/sidecar); or says
# `serve --allow-insecure` on purpose (a service mesh that provides mTLS). The vendor credentials
# come from DHGW_ZEGO_APP_ID and DHGW_ZEGO_SERVER_SECRET_FILE (a mounted file: a secret in the
# environment shows in `docker inspect`). See deploy/kubernetes/README.md.
#
# The base image is pinned by tag, the same in both stages (the wheels are built for its
# CPython); pin it by digest too (python:3.11.14-slim-trixie@sha256:...) for byte-for-byte
# reproducible builds.

# ---- builder: wheels for both distributions and every runtime dependency, at the locked versions.
FROM python:3.11.14-slim-trixie AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
# The runtime dependencies: requirements/runtime.txt (scripts/lock.py), every file checked
# against its hash, wheels only (nothing is compiled here). It pins the gateway's dependencies,
# the client's, and one extra's, redis: the replicas setup (deploy/kubernetes/overlays/replicas)
# shares tasks through Redis. Not the simulator extra (a test double's TLS), nor tracing
# (docs/operations.md), and the dev tools never get here.
COPY requirements/runtime.txt /wheels/
RUN pip download --no-cache-dir --require-hashes --only-binary=:all: --dest /wheels \
    -r /wheels/runtime.txt
COPY clients/python/ clients/python/
COPY pyproject.toml setup.py README.md ./
COPY scripts/build_backend.py scripts/
COPY gateway/ gateway/
# The two distributions of this repository, which no index has, without their dependencies (the
# lock has them): `-C dh-gateway-client=pinned` has the gateway's wheel depend on the client by
# name (scripts/build_backend.py), not on /src/clients/python, which the runtime stage has not.
RUN pip wheel --no-cache-dir --no-deps --config-settings=dh-gateway-client=pinned \
    --wheel-dir /wheels ./clients/python .

# ---- runtime: the interpreter, a venv with the runtime dependencies, nothing else.
FROM python:3.11.14-slim-trixie AS runtime

LABEL org.opencontainers.image.title="dh-gateway" \
      org.opencontainers.image.description="Makes a ZEGOCLOUD digital human speak over gRPC" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/dh-gateway \
    PATH=/opt/dh-gateway/bin:$PATH

# A fixed, non-root UID/GID (10001) so that Kubernetes' runAsNonRoot can verify it and volume
# permissions (fsGroup) are predictable. The wheels are bind-mounted from the builder: they are
# installed (offline, only from them) without being copied into a layer of the image: the lock's
# with their hashes checked again, then this repository's two, whose dependencies the lock
# brought. The venv has no pip or setuptools of its own: the base image's pip installs into it
# from outside.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    groupadd --system --gid 10001 dhgw \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin dhgw \
    && python -m venv --without-pip "$VIRTUAL_ENV" \
    && pip --python "$VIRTUAL_ENV/bin/python" install --no-cache-dir --no-index \
       --find-links=/wheels --require-hashes -r /wheels/runtime.txt \
    && pip --python "$VIRTUAL_ENV/bin/python" install --no-cache-dir --no-index --no-deps \
       --find-links=/wheels dh-gateway-client==0.1.0 dh-gateway==0.1.0 \
    && pip --python "$VIRTUAL_ENV/bin/python" check

# gRPC (DHGW_LISTEN); a plaintext listener serving grpc.health.v1 only (DHGW_HEALTH_LISTEN), for
# the HEALTHCHECK below and Kubernetes' native gRPC probes, which cannot speak TLS; Prometheus
# /metrics, /healthz and /readyz (DHGW_METRICS_LISTEN).
ENV DHGW_LISTEN=0.0.0.0:50051 \
    DHGW_HEALTH_LISTEN=0.0.0.0:50052 \
    DHGW_METRICS_LISTEN=0.0.0.0:9464
EXPOSE 50051 50052 9464

USER 10001:10001

# SIGTERM drains: health turns NOT_SERVING, new drives get UNAVAILABLE / DRAINING, live ones may
# finish for DHGW_DRAIN_TIMEOUT_S, then the rest are stopped (their Stop sent).
STOPSIGNAL SIGTERM
# `dh-gateway health` asks DHGW_HEALTH_LISTEN (else DHGW_LISTEN): plaintext, whatever TLS the
# main listener has, and exempt from API keys.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["dh-gateway", "health"]

ENTRYPOINT ["dh-gateway"]
CMD ["serve"]
