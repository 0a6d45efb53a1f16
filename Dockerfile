# canary-webhook image: `docker build -t kubectl-canary/canary-webhook:0.1.0 .`
#
# Two stages: the build stage installs the project and its dependencies into a virtualenv (compilers
# and pip caches stay behind); the final stage gets only that virtualenv on the same slim base, so the
# interpreter paths inside it stay valid.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# The README is optional (the glob may match nothing); pyproject.toml names it as the description.
COPY pyproject.toml README.md* ./
COPY kubectl_canary/ kubectl_canary/
COPY webhook/ webhook/
# A regular (not editable) install: the app lives in the venv's site-packages, nothing refers to /src.
RUN pip install --no-cache-dir . \
    && python -m compileall -q /opt/venv/lib

FROM python:3.11-slim
LABEL org.opencontainers.image.title="canary-webhook" \
      org.opencontainers.image.description="kubectl-canary admission webhook for Gloo Edge RouteTables" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /opt/venv /opt/venv
# HOME=/tmp: the user has no home directory and the root filesystem is read-only in the cluster
# (/tmp is an emptyDir there).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp
# A numeric user and group, so that the kubelet can verify runAsNonRoot without an /etc/passwd entry.
USER 10001:10001
# 8443: the admission calls (HTTPS); 8081: /healthz, /readyz and /metrics (plain HTTP, `serve --probe-port`).
EXPOSE 8443 8081
# No HEALTHCHECK: in Kubernetes the readiness (/readyz) and liveness (/healthz) probes of the
# Deployment check the server, and Docker's HEALTHCHECK would need a shell or curl in the image.
# Exec form: no shell is involved at run time, and signals reach the server directly.
ENTRYPOINT ["canary-webhook", "serve"]
