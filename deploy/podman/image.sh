#!/usr/bin/env bash
# Build and run the imdbops image with podman on a machine that cannot reach a container
# registry (CI here, an air-gapped host). Usage, from the repository root:
#
#   deploy/podman/image.sh build            # base image (cached) + deploy/Dockerfile -> localhost/imdbops:local
#   eval "$(deploy/podman/image.sh env)"    # then plain `podman ...` uses the same storage and settings
#   deploy/podman/image.sh base             # only the Debian Python base image
#
# Nothing under /etc is touched: podman reads its settings from CONTAINERS_CONF and
# CONTAINERS_STORAGE_CONF, written under the cache folder. Root, runc, cgroupfs and a file
# event log: what works on a VM without systemd. The base image comes from Debian packages
# (mmdebstrap, the host's apt sources) instead of a registry's python:3.11-slim; the host's
# local CA certificates go into it so pip in RUN steps reaches PyPI the way the host does.
#
# Caching: the base tarball is keyed by the package list, the host apt sources and the local
# CA files; podman's layer cache (storage under the cache folder) re-runs the dependency layer
# only when deploy/Dockerfile or pyproject.toml's dependency list change, and a source edit costs
# only the last `pip install --no-deps .` layer.
set -euo pipefail

CACHE=${IMDBOPS_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/imdbops/image}
IMAGE=${IMDBOPS_IMAGE:-localhost/imdbops:local}
SUITE=${IMDBOPS_BASE_SUITE:-$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")}
# libgomp1: LightGBM's OpenMP runtime (the Dockerfile installs it too, for python:3.11-slim).
PACKAGES=python3,python3-venv,python3-pip,ca-certificates,libgomp1,passwd
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

die() { echo "image.sh: $*" >&2; exit 1; }

write_conf() {
  mkdir -p "$CACHE/storage" "$CACHE/tmp"
  # runroot holds locks and mount state: a stable path per user, not inside the cache.
  local runroot=${IMDBOPS_PODMAN_RUNROOT:-/tmp/imdbops-podman-run-$(id -u)}
  mkdir -p "$runroot"
  cat >"$CACHE/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$CACHE/storage"
runroot = "$runroot"
EOF
  cat >"$CACHE/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$CACHE/tmp/events.log"
tmp_dir = "$runroot/libpod"
EOF
  export CONTAINERS_CONF="$CACHE/containers.conf" CONTAINERS_STORAGE_CONF="$CACHE/storage.conf"
  # buildah's scratch space for layers; keep it beside the storage, not in a small /var/tmp.
  export TMPDIR="$CACHE/tmp"
}

host_sources() {
  # The host's enabled apt sources, deb822 or one-line, as one file for mmdebstrap.
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    case "$f" in
      *.sources) cat "$f"; echo ;;
      *) grep -E '^\s*deb\s' "$f" | sed 's/$/\n/' || true ;;
    esac
  done
}

local_cas() { find /usr/local/share/ca-certificates -type f -name '*.crt' 2>/dev/null | sort; }

base_key() {
  {
    echo "$SUITE $PACKAGES"
    sed -n '/^build_base()/,/^}/p' "$0"
    host_sources
    local_cas | xargs -r cat
  } | sha256sum | cut -c1-16
}

build_base() {
  command -v mmdebstrap >/dev/null || die "mmdebstrap is missing: apt-get install mmdebstrap"
  local key tag tarball sources
  key=$(base_key)
  tag="localhost/imdbops-base:$SUITE-$key"
  tarball="$CACHE/base-$SUITE-$key.tar"
  if ! [ -s "$tarball" ]; then
    sources=$(mktemp --suffix=.sources)
    # Only Debian's own archives (deb822 paragraphs or one-line entries); third-party
    # repositories stay on the host.
    host_sources | awk -v RS= -v ORS='\n\n' '/debian\.org/' >"$sources"
    echo "image.sh: building the $SUITE Python base with mmdebstrap (one-off, cached in $tarball)" >&2
    # Python, pip and CA certificates; no docs, man pages or apt lists.
    mmdebstrap --variant=minbase --include="$PACKAGES" \
      --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
      --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
      --customize-hook='mkdir -p "$1/usr/local/share/ca-certificates"' \
      --customize-hook='for f in /usr/local/share/ca-certificates/*.crt; do [ -f "$f" ] && cp "$f" "$1/usr/local/share/ca-certificates/"; done; true' \
      --customize-hook='chroot "$1" update-ca-certificates >/dev/null' \
      --customize-hook='printf "[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n" > "$1/etc/pip.conf"' \
      --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/log/*' \
      "$SUITE" "$tarball.part.tar" "$sources" >&2
    mv "$tarball.part.tar" "$tarball"
    rm -f "$sources"
  fi
  if ! podman image exists "$tag"; then
    podman import --change 'CMD ["/bin/bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      "$tarball" "$tag" >/dev/null
  fi
  echo "$tag"
}

build_image() {
  local base
  base=$(build_base)
  # Host networking for RUN steps: pip and apt reach their servers exactly as the host does.
  podman build --format docker --network host --layers \
    --build-arg "BASE=$base" \
    --build-arg "GIT_COMMIT=$(git -C "$REPO" rev-parse HEAD 2>/dev/null || echo unknown)" \
    -f "$REPO/deploy/Dockerfile" -t "$IMAGE" "$REPO" >&2
  # No `podman image prune` here: the build stage's final image is dangling, and pruning it
  # would throw away the cache the next build reuses. Prune by hand to reclaim space.
  echo "$IMAGE"
}

command -v podman >/dev/null || die "podman is missing: apt-get install podman runc"
write_conf
case "${1:-build}" in
  env) echo "export CONTAINERS_CONF='$CONTAINERS_CONF' CONTAINERS_STORAGE_CONF='$CONTAINERS_STORAGE_CONF'" ;;
  base) build_base ;;
  build) build_image ;;
  *) die "usage: $0 [build|base|env]" ;;
esac
