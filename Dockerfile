# Container image for source-harvest, the Airbyte source for the Harvest REST API v2.
#
# Two ways to build (see docker/README.md), both installing exactly requirements.lock (pinned
# versions, hashes checked) and then the connector without dependencies:
#   * default, online:  docker build -t source-harvest:dev .
#       FROM Airbyte's Python connector base image, the locked set downloaded from PyPI.
#   * offline:          docker/build-image.sh   (what `make image` runs)
#       FROM a locally made Debian bookworm base (docker/build-base-image.sh), the locked set
#       installed with --no-index from a wheelhouse/ folder built from the lock on the host and
#       sent in the build context (--build-arg WHEELHOUSE=wheelhouse).
#
# Works with both the classic builder and BuildKit (no RUN --mount, no heredocs).

# Airbyte's Python connector base (Python 3.11 on Debian bookworm, user airbyte uid 1000),
# pinned by digest. Version and digest taken from airbytehq/airbyte,
# airbyte-integrations/connectors/source-google-drive/metadata.yaml
# (data.connectorBuildOptions.baseImage, commit 00ca84635c0179010513c629003d4c78ea353014).
# 4.0.x is the Python 3.11 line of that image; 4.1.x moved to Python 3.13.
ARG BASE_IMAGE=docker.io/airbyte/python-connector-base:4.0.2@sha256:9fdb1888c4264cf6fee473649ecb593f56f58e5d0096a87ee0b231777e2e3e73

# ---------------------------------------------------------------------------------------------
# builder: a virtualenv with the connector and its dependencies. Nothing from this stage but
# /opt/source-harvest reaches the final image (no sources, no wheelhouse, no build leftovers).
# ---------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS builder

# Lets docker/build-image.sh prune this stage's leftover (untagged) images after a build.
LABEL io.airbyte.source-harvest.stage="builder"

# Folder inside the build context holding a wheel for every entry of requirements.lock (setuptools,
# the build backend of setup.py, is one). Empty (default): download them from the package index.
ARG WHEELHOUSE=""
# Extra pip options, e.g. "--index-url https://mirror.example/simple".
ARG PIP_EXTRA_ARGS=""

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

# The venv isolates the connector from the base's system Python: Debian's python3 is
# "externally managed" (PEP 668) and Airbyte's base carries its own tooling (poetry, ...).
RUN python3 -m venv /opt/source-harvest

# .dockerignore lets only the package (setup.py, source_harvest/, ...), requirements.lock and
# wheelhouse/ in.
COPY . /src

# PIP_EXTRA_ARGS is deliberately unquoted: it may hold several options.
# hadolint ignore=SC2086
RUN set -eu; \
    if [ -n "$WHEELHOUSE" ]; then \
      if [ ! -d "/src/$WHEELHOUSE" ]; then \
        echo "WHEELHOUSE=$WHEELHOUSE given but /src/$WHEELHOUSE is not in the build context" >&2; \
        exit 1; \
      fi; \
      echo "installing offline from the wheelhouse /src/$WHEELHOUSE"; \
      set -- --no-index --find-links "/src/$WHEELHOUSE"; \
    else \
      echo "installing from the package index"; \
      set --; \
    fi; \
    /opt/source-harvest/bin/pip install --no-cache-dir "$@" $PIP_EXTRA_ARGS --require-hashes -r /src/requirements.lock; \
    /opt/source-harvest/bin/pip install --no-cache-dir "$@" $PIP_EXTRA_ARGS \
      --no-deps --no-build-isolation --use-pep517 /src; \
    /opt/source-harvest/bin/pip check; \
    test -x /opt/source-harvest/bin/source-harvest; \
    cp /src/requirements.lock /opt/source-harvest/requirements.lock

# Size: drop the test suites that pandas and numpy (dependencies of airbyte-cdk) ship inside
# their packages (~55 MB with bytecode); nothing imports them at run time.
RUN set -eu; \
    for pkg in /opt/source-harvest/lib/python3*/site-packages/pandas \
               /opt/source-harvest/lib/python3*/site-packages/numpy; do \
      if [ -d "$pkg" ]; then find "$pkg" -depth -type d -name tests -exec rm -rf {} +; fi; \
    done

# ---------------------------------------------------------------------------------------------
# final image
# ---------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE}

# Airbyte's base already has the user airbyte (uid 1000) and /airbyte; the local Debian base
# has neither. useradd/groupadd ship in Debian's minbase (package passwd).
RUN set -eu; \
    if ! id -u airbyte >/dev/null 2>&1; then \
      groupadd --gid 1000 airbyte; \
      useradd --uid 1000 --gid airbyte --home-dir /airbyte \
        --no-create-home --shell /usr/sbin/nologin airbyte; \
    fi; \
    mkdir -p /airbyte/integration_code; \
    chown airbyte:airbyte /airbyte /airbyte/integration_code

COPY --from=builder /opt/source-harvest /opt/source-harvest

ENV PATH="/opt/source-harvest/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    AIRBYTE_ENTRYPOINT="source-harvest"

WORKDIR /airbyte/integration_code

# The versions this image holds: /opt/source-harvest/requirements.lock, the lock it was built from.
LABEL io.airbyte.name="source-harvest" \
      io.airbyte.version="0.1.0" \
      io.airbyte.source-harvest.lock="/opt/source-harvest/requirements.lock" \
      org.opencontainers.image.title="source-harvest" \
      org.opencontainers.image.description="Airbyte source connector for the Harvest REST API v2"

# Numeric, so that runtimes (e.g. Kubernetes runAsNonRoot) can tell it is not root; uid 1000
# is the user airbyte in both bases, and its primary group comes from /etc/passwd.
USER 1000

ENTRYPOINT ["source-harvest"]
