#!/usr/bin/env bash
# Build a local Debian bookworm + Python 3.11 base image without any image registry.
#
# The machine that builds source-harvest reaches Debian's package mirror but no image
# registry, so `FROM python:...` or `FROM airbyte/python-connector-base` cannot be pulled.
# This script makes an equivalent base with debootstrap and `docker import`.
#
# Idempotent: does nothing when the image already exists (FORCE=1 rebuilds it).
#
# Environment overrides:
#   BASE_IMAGE_TAG   image to create            (default: local/python-base:3.11-bookworm)
#   DEBIAN_SUITE     Debian release             (default: bookworm -> Python 3.11)
#   DEBIAN_MIRROR    mirror URL                 (default: read from this machine's apt sources)
#   FORCE=1          rebuild even if the image exists
set -euo pipefail

BASE_IMAGE_TAG="${BASE_IMAGE_TAG:-local/python-base:3.11-bookworm}"
DEBIAN_SUITE="${DEBIAN_SUITE:-bookworm}"
FORCE="${FORCE:-0}"

log() { printf '[build-base-image] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

command -v docker >/dev/null 2>&1 || die "docker CLI not found"
docker info >/dev/null 2>&1 || die "cannot talk to the Docker engine (is it running, are you allowed to use it?)"

if [[ "$FORCE" != "1" ]] && docker image inspect "$BASE_IMAGE_TAG" >/dev/null 2>&1; then
  log "image $BASE_IMAGE_TAG already exists ($(docker image inspect -f '{{.Id}}' "$BASE_IMAGE_TAG")); nothing to do (FORCE=1 rebuilds)"
  exit 0
fi

[[ "$(id -u)" == "0" ]] || die "debootstrap needs root; run this script as root (or with sudo)"

# --- 1. debootstrap ------------------------------------------------------------------------
if ! command -v debootstrap >/dev/null 2>&1; then
  log "debootstrap missing: apt-get update && apt-get install -y debootstrap"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap
fi

# --- 2. mirror from this machine's apt sources ----------------------------------------------
# Prints the URI of the first enabled `deb` source that serves the plain Debian suite
# ("bookworm", not "bookworm-security"/"bookworm-updates"). Understands both the one-line
# format (*.list) and the deb822 format (*.sources); ignores comments and disabled files.
find_mirror() {
  local files=() f
  [[ -f /etc/apt/sources.list ]] && files+=(/etc/apt/sources.list)
  for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] && files+=("$f")
  done
  ((${#files[@]})) || return 0
  awk -v suite="$DEBIAN_SUITE" '
    function flush() {
      if (types ~ /(^| )deb( |$)/ && enabled != "no" && uris != "" && (" " suites " ") ~ (" " suite "/? ")) {
        split(uris, u, " "); print u[1]; found = 1; exit
      }
      types = ""; uris = ""; suites = ""; enabled = ""
    }
    FNR == 1 { flush(); deb822 = (FILENAME ~ /\.sources$/) }
    /^[[:space:]]*#/ { next }
    deb822 {
      if ($0 ~ /^[[:space:]]*$/) { flush(); next }
      line = $0; key = tolower(line); sub(/:.*/, "", key); sub(/^[^:]*:[[:space:]]*/, "", line)
      if (key == "types") types = line
      else if (key == "uris") uris = line
      else if (key == "suites") suites = line
      else if (key == "enabled") enabled = tolower(line)
      next
    }
    $1 == "deb" {
      i = 2
      if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
      if ($(i + 1) == suite || $(i + 1) == suite "/") { print $i; found = 1; exit }
    }
    END { if (!found) flush() }
  ' "${files[@]}"
}

if [[ -z "${DEBIAN_MIRROR:-}" ]]; then
  DEBIAN_MIRROR="$(find_mirror || true)"
  if [[ -z "$DEBIAN_MIRROR" ]]; then
    DEBIAN_MIRROR="http://deb.debian.org/debian"
    log "no '$DEBIAN_SUITE' source found in /etc/apt/sources.list{,.d/*}; falling back to $DEBIAN_MIRROR"
  else
    log "mirror from this machine's apt sources: $DEBIAN_MIRROR"
  fi
else
  log "mirror from DEBIAN_MIRROR: $DEBIAN_MIRROR"
fi

# --- 3. build the root file system under .tmp/ (gitignored, dockerignored) ------------------
mkdir -p "$repo_root/.tmp"
workdir="$(mktemp -d "$repo_root/.tmp/python-base.XXXXXX")"
rootfs="$workdir/rootfs"

cleanup() {
  local rc=$? m
  # debootstrap mounts /proc and /sys inside the tree; never rm -rf through a live mount.
  if [[ -d "$rootfs" ]]; then
    while read -r m; do
      log "unmounting leftover mount $m"
      umount -l "$m" 2>/dev/null || true
    done < <(awk -v r="$rootfs" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/mounts | sort -r)
  fi
  log "removing $workdir"
  rm -rf --one-file-system "$workdir"
  exit "$rc"
}
trap cleanup EXIT

start=$SECONDS
log "debootstrap --variant=minbase $DEBIAN_SUITE into $rootfs (takes a few minutes)"
debootstrap --variant=minbase \
  --include=python3,python3-venv,python3-pip,ca-certificates \
  "$DEBIAN_SUITE" "$rootfs" "$DEBIAN_MIRROR"
log "debootstrap finished in $((SECONDS - start)) s; tree is $(du -sh --one-file-system "$rootfs" | cut -f1)"

# --- 4. slim the tree -------------------------------------------------------------------------
log "cleaning apt caches, docs, man pages, logs and bytecode"
rm -rf "$rootfs"/var/cache/apt/archives/*.deb \
       "$rootfs"/var/cache/apt/archives/partial/* \
       "$rootfs"/var/cache/apt/*.bin \
       "$rootfs"/var/lib/apt/lists/* \
       "$rootfs"/var/cache/debconf/*-old \
       "$rootfs"/var/lib/dpkg/*-old \
       "$rootfs"/usr/share/man/* \
       "$rootfs"/usr/share/info/* \
       "$rootfs"/usr/share/lintian \
       "$rootfs"/usr/share/linda \
       "$rootfs"/var/log/* \
       "$rootfs"/tmp/* \
       "$rootfs"/root/.cache
# Keep each package's copyright file (licence compliance), drop the rest of /usr/share/doc.
find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -type d -not -name 'C.*' -exec rm -rf {} +
find "$rootfs/usr" -type d -name __pycache__ -prune -exec rm -rf {} +
# Host-specific files; Docker provides its own at run time.
: > "$rootfs/etc/resolv.conf"
: > "$rootfs/etc/hostname"
rm -f "$rootfs/etc/machine-id" "$rootfs/var/lib/dbus/machine-id"
# Image-style apt settings: keep future installs in derived images small.
cat > "$rootfs/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' > "$rootfs/etc/apt/apt.conf.d/docker-no-recommends"
log "tree after cleaning: $(du -sh --one-file-system "$rootfs" | cut -f1)"

py_version="$(chroot "$rootfs" python3 -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
log "python in the tree: $py_version"

# --- 5. import ----------------------------------------------------------------------------------
log "importing the tree as $BASE_IMAGE_TAG"
tar --numeric-owner --xattrs -C "$rootfs" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change "LABEL org.opencontainers.image.description=\"Debian $DEBIAN_SUITE minbase + Python $py_version, made locally by docker/build-base-image.sh\"" \
  --change 'CMD ["python3"]' \
  --message "debootstrap --variant=minbase $DEBIAN_SUITE from $DEBIAN_MIRROR (python $py_version)" \
  - "$BASE_IMAGE_TAG"

log "done in $((SECONDS - start)) s: $BASE_IMAGE_TAG $(docker image inspect -f '{{.Id}} {{.Size}} bytes' "$BASE_IMAGE_TAG")"
