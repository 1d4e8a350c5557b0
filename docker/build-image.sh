#!/usr/bin/env bash
# Build the connector image offline (what `make image` runs) and smoke-test it.
#
#   1. docker/build-base-image.sh  -> local/python-base:3.11-bookworm (skipped when it exists,
#      when BASE_IMAGE is given, or with SKIP_BASE_BUILD=1)
#   2. pip wheel --require-hashes -r requirements.lock -w wheelhouse/  on the host (Python 3.11, same as bookworm's)
#   3. docker build --build-arg BASE_IMAGE=... --build-arg WHEELHOUSE=wheelhouse -t $IMAGE_TAG .
#   4. docker run --rm $IMAGE_TAG spec, and print the image size
#
# Environment overrides:
#   IMAGE_TAG          tag to build                      (default: source-harvest:dev)
#   BASE_IMAGE         base image to build FROM; when set, no local base is built
#                      (default: local/python-base:3.11-bookworm, made by step 1)
#   SKIP_BASE_BUILD=1  do not run docker/build-base-image.sh (the base must exist)
#   REUSE_WHEELHOUSE=1 keep an existing non-empty wheelhouse/ instead of rebuilding it
#   KEEP_BUILDER_CACHE=1  keep the untagged builder-stage image (layer cache for rebuilds)
#   PYTHON             host interpreter used for `pip wheel` (default: python3; must be 3.11)
#
# The plain `docker build -t source-harvest:dev .` (Airbyte's base, PyPI) needs none of this.
set -euo pipefail

log() { printf '[build-image] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

IMAGE_TAG="${IMAGE_TAG:-source-harvest:dev}"
LOCAL_BASE_IMAGE="local/python-base:3.11-bookworm"
SKIP_BASE_BUILD="${SKIP_BASE_BUILD:-0}"
REUSE_WHEELHOUSE="${REUSE_WHEELHOUSE:-0}"
KEEP_BUILDER_CACHE="${KEEP_BUILDER_CACHE:-0}"
PYTHON="${PYTHON:-python3}"
WHEELHOUSE_DIR="wheelhouse"   # relative to the build context (= repo root); gitignored

[[ -f setup.py ]] || die "no setup.py in $repo_root"
[[ -f requirements.lock ]] || die "no requirements.lock in $repo_root (make lock writes it)"
command -v docker >/dev/null 2>&1 || die "docker CLI not found"

# --- 1. base image ------------------------------------------------------------------------------
if [[ -n "${BASE_IMAGE:-}" ]]; then
  log "BASE_IMAGE=$BASE_IMAGE given: not building a local base"
elif [[ "$SKIP_BASE_BUILD" == "1" ]]; then
  BASE_IMAGE="$LOCAL_BASE_IMAGE"
  log "SKIP_BASE_BUILD=1: using $BASE_IMAGE as it is"
else
  BASE_IMAGE="$LOCAL_BASE_IMAGE"
  BASE_IMAGE_TAG="$BASE_IMAGE" "$repo_root/docker/build-base-image.sh"
fi
docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 \
  || die "base image $BASE_IMAGE not found locally (no registry is reachable to pull it)"

# --- 2. wheelhouse on the host ------------------------------------------------------------------
# The wheels must install in the base: check its Python version against the host's.
base_py="$(docker run --rm --entrypoint python3 "$BASE_IMAGE" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
host_py="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
[[ "$base_py" == "$host_py" ]] \
  || die "host $PYTHON is Python $host_py but $BASE_IMAGE has Python $base_py: wheels would not match (set PYTHON=...)"

if [[ "$REUSE_WHEELHOUSE" == "1" ]] && compgen -G "$WHEELHOUSE_DIR/*.whl" >/dev/null; then
  log "REUSE_WHEELHOUSE=1: reusing $WHEELHOUSE_DIR/ ($(find "$WHEELHOUSE_DIR" -name '*.whl' | wc -l) wheels)"
else
  log "building $WHEELHOUSE_DIR/ with $PYTHON (Python $host_py): pip wheel --require-hashes -r requirements.lock"
  rm -rf "$WHEELHOUSE_DIR"
  mkdir -p "$WHEELHOUSE_DIR"
  start=$SECONDS
  # Exactly the locked set, each file checked against the lock's hashes; setuptools (the build
  # backend of setup.py, which the image installs with --no-build-isolation) is one of them.
  # PIP_FIND_LINKS/PIP_NO_INDEX from the caller's environment must not change what is fetched.
  env -u PIP_FIND_LINKS -u PIP_NO_INDEX \
    "$PYTHON" -m pip wheel --disable-pip-version-check --progress-bar off --wheel-dir "$WHEELHOUSE_DIR" \
      --require-hashes -r requirements.lock
  log "wheelhouse built in $((SECONDS - start)) s: $(find "$WHEELHOUSE_DIR" -name '*.whl' | wc -l) wheels, $(du -sh "$WHEELHOUSE_DIR" | cut -f1)"
fi
# A wheel built here from a source distribution (plain linux_x86_64 tag) has a hash of its own,
# which the lock cannot hold: the image's --require-hashes install would refuse it. Say so now.
local_built="$(find "$WHEELHOUSE_DIR" -name '*-linux_*.whl' -printf '%f\n' | sort)"
if [[ -n "$local_built" ]]; then
  log "wheels compiled on this host from source distributions (no manylinux wheel for the pinned version):"
  while read -r w; do log "    $w"; done <<<"$local_built"
  die "their hashes are not in requirements.lock; pin versions that have manylinux wheels (make lock), or build online (docker build .)"
fi

# --- 3. docker build ----------------------------------------------------------------------------
log "docker build -t $IMAGE_TAG (BASE_IMAGE=$BASE_IMAGE, WHEELHOUSE=$WHEELHOUSE_DIR)"
old_id="$(docker image inspect -f '{{.Id}}' "$IMAGE_TAG" 2>/dev/null || true)"
start=$SECONDS
docker build \
  --build-arg BASE_IMAGE="$BASE_IMAGE" \
  --build-arg WHEELHOUSE="$WHEELHOUSE_DIR" \
  -t "$IMAGE_TAG" \
  .
build_s=$((SECONDS - start))
# The classic builder keeps the builder stage as an untagged ~500 MB image per build; drop
# those (only ours, found by the stage label) unless asked to keep them as a cache.
if [[ "$KEEP_BUILDER_CACHE" != "1" ]]; then
  docker image prune -f --filter "label=io.airbyte.source-harvest.stage=builder" >/dev/null
fi
# The image that $IMAGE_TAG named before this build is now untagged: remove it (if unused).
new_id="$(docker image inspect -f '{{.Id}}' "$IMAGE_TAG")"
if [[ -n "$old_id" && "$old_id" != "$new_id" ]] \
   && [[ -z "$(docker image inspect -f '{{join .RepoTags ","}}' "$old_id" 2>/dev/null)" ]]; then
  docker rmi "$old_id" >/dev/null 2>&1 || true
fi

# --- 4. smoke test ------------------------------------------------------------------------------
log "smoke test: docker run --rm $IMAGE_TAG spec"
spec_out="$(docker run --rm "$IMAGE_TAG" spec)" || die "'spec' failed in $IMAGE_TAG"
spec_line="$(grep -m1 '"type": *"SPEC"' <<<"$spec_out")" || die "'spec' printed no SPEC message: $spec_out"
log "spec OK: ${spec_line:0:200}..."
user_id="$(docker run --rm --entrypoint id "$IMAGE_TAG" -u)"
[[ "$user_id" != "0" ]] || die "$IMAGE_TAG runs as root"

size="$(docker image inspect -f '{{.Size}}' "$IMAGE_TAG")"
log "built $IMAGE_TAG in ${build_s} s; runs as uid $user_id; size $size bytes ($((size / 1000000)) MB)"
