# syntax=docker/dockerfile:1
# mqtt-kube container images, both from the same wheels:
# - the default target: `mqtt-kube /config/config.yaml`, as uid 1000, health on :8080;
# - the `addon` target: the Home Assistant add-on's image (hassio-addon/config.yaml `image`).
#
# Every build names the package's version (VERSION); a release (.github/workflows/release.yml)
# passes the tag's. Nothing here depends on the build machine's architecture, so one command
# builds and pushes both architectures (amd64 and arm64) of the default image under one tag:
#   docker buildx build --platform linux/amd64,linux/arm64 --build-arg VERSION=0.1.0 \
#     -t ghcr.io/mqtt-kube/mqtt-kube:0.1.0 --push .
# The add-on image is pushed once per Home Assistant architecture, whose name goes into the
# `io.hass.arch` label and the image name (aarch64 for linux/arm64, amd64 for linux/amd64):
#   docker buildx build --target addon --platform linux/arm64 --build-arg VERSION=0.1.0 \
#     --build-arg BUILD_ARCH=aarch64 -t ghcr.io/mqtt-kube/aarch64-addon-mqtt-kube:0.1.0 --push .
ARG PYTHON_IMAGE=python:3.12-slim

# Build stage: the project's wheel, and wheels of every dependency for the target platform.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY pyproject.toml README.md ./
COPY mqtt_kube ./mqtt_kube
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# Runtime stage: a clean interpreter with only the installed wheels; no source, no compilers.
# VERSION is required: the labels carry it, and pip installs exactly that version of the
# wheel, so an image whose labels disagree with the package inside it does not build.
FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION
RUN : "${VERSION:?set --build-arg VERSION to the version in mqtt_kube/__init__.py}"
LABEL org.opencontainers.image.title="mqtt-kube" \
      org.opencontainers.image.description="Bridge Kubernetes objects and MQTT topics, with Home Assistant discovery" \
      org.opencontainers.image.source="https://github.com/mqtt-kube/mqtt-kube" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
# The wheels are mounted for this one step only, so they never become an image layer.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels "mqtt-kube==${VERSION}" \
    && mkdir /config
WORKDIR /config

# The Home Assistant add-on. The Supervisor runs it as root (its /data and /config belong to
# root), under Docker's init, and checks /api/health itself (the add-on's `watchdog`). It
# reads the version and architecture from the io.hass labels; BUILD_ARCH is required, so no
# image is labelled with an empty architecture.
FROM runtime AS addon
ARG VERSION
ARG BUILD_ARCH
RUN : "${BUILD_ARCH:?set --build-arg BUILD_ARCH to the Home Assistant architecture, as in hassio-addon/config.yaml}"
LABEL io.hass.type="addon" \
      io.hass.version="${VERSION}" \
      io.hass.arch="${BUILD_ARCH}" \
      org.opencontainers.image.title="mqtt-kube add-on"
CMD ["python3", "-m", "mqtt_kube.addon"]

# The default image: the service as an unprivileged user.
FROM runtime
RUN useradd --uid 1000 --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin mqtt-kube
# Numeric, so Kubernetes can check runAsNonRoot without reading /etc/passwd.
USER 1000:1000
EXPOSE 8080
# Liveness only: /api/health stays 200 through a broker outage (see /api/ready for that).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/api/health', timeout=4)"]
ENTRYPOINT ["mqtt-kube"]
CMD ["/config/config.yaml"]
