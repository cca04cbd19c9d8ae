# syntax=docker/dockerfile:1
# edgewatch node agent image: the agent, Inspektor Gadget's ig and gadgetctl, nothing else.
#
#   docker build -t edgewatch:0.1.0 .
#   docker build --build-arg IG_VERSION=v0.55.1 -t edgewatch:0.1.0 .
#
# IG_VERSION must be a release edgewatch knows (LATEST_KNOWN in
# src/edgewatch/sources/ig/version.py); gadget images are pulled with the same tag.
# The image runs as an unprivileged user by default; the DaemonSet that runs IG sets
# runAsUser 0 and privileged on that one container (see `edgewatch deploy k8s`).

ARG IG_VERSION=v0.55.1
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# -- ig: the official Inspektor Gadget image (the binary is /usr/bin/ig) -----------------
FROM ghcr.io/inspektor-gadget/ig:${IG_VERSION} AS ig

# -- gadgetctl: from the same IG release (ig daemon mode creates instances with it) ------
FROM ${PYTHON_IMAGE} AS gadgetctl
ARG IG_VERSION
ARG TARGETARCH
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
RUN curl -fsSL "https://github.com/inspektor-gadget/inspektor-gadget/releases/download/${IG_VERSION}/gadgetctl-linux-${TARGETARCH:-amd64}-${IG_VERSION}.tar.gz" \
    | tar -xz -C /usr/local/bin gadgetctl \
 && /usr/local/bin/gadgetctl version

# -- build: edgewatch and its pinned dependencies as wheels --------------------------------
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# -- runtime --------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
ARG IG_VERSION
LABEL org.opencontainers.image.title="edgewatch" \
      org.opencontainers.image.description="Node agent for Inspektor Gadget events on edge Kubernetes" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels edgewatch
COPY --from=ig /usr/bin/ig /usr/local/bin/ig
COPY --from=gadgetctl /usr/local/bin/gadgetctl /usr/local/bin/gadgetctl
COPY docker/entrypoint.sh /usr/local/bin/edgewatch-entrypoint
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/edgewatch edgewatch \
 && mkdir -p /var/lib/edgewatch /etc/edgewatch \
 && chown edgewatch:edgewatch /var/lib/edgewatch
ENV HOST_ROOT=/host \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    EDGEWATCH_IG_VERSION=${IG_VERSION}
USER 10001:10001
WORKDIR /var/lib/edgewatch
EXPOSE 9464
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/edgewatch-entrypoint"]
CMD ["run", "--config", "/etc/edgewatch/agent.yaml"]
