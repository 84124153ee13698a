#!/usr/bin/env bash
# pnpm compose:test — runs the shipped deploy/docker-compose.yml for real, on a Docker engine, with
# no container registry: see docs/docker.md for what it exercises and the figures it prints.
#
#   1. tools      docker.io and debootstrap from Debian when missing (root only; otherwise the
#                 exact install command is printed); the buildx and compose CLI plugins and the
#                 base's root file system (deploy/compose-prepare.sh: built once, cached in
#                 ~/.cache/strata)
#   2. engine     a running dockerd is used as is; otherwise one is started here and stopped at
#                 the end (by its pid)
#   3. stand-ins  local images in place of the registry's base images: debian:trixie-slim (from
#                 debootstrap), postgres, redis, nginx (deploy/stand-ins/); kept in the engine and
#                 rebuilt only when missing or when their folder changed
#   4. build      Strata's images from deploy/Dockerfile, through `docker compose build`
#   5. scenarios  scripts/src/compose-test.ts against the running stack, then `down -v`
#
# --redis cluster runs deploy/docker-compose.cluster.yml (Strata on a 6-node Redis Cluster) and its
# scenarios instead of the single-server ones; steps 1 to 4 are the same.
#
# Environment: STRATA_COMPOSE_KEEP=1 leaves the stack and the engine running after a failure, for
# a look with `docker compose -p strata-compose-test ...`. STRATA_COMPOSE_REBUILD=1 rebuilds the
# stand-ins. Everything else is fixed so that a run is comparable with the last.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

BASE_RELEASE=trixie
BASE_IMAGE=localhost/debian:${BASE_RELEASE}-slim
cache=${XDG_CACHE_HOME:-$HOME/.cache}/strata
work=$(mktemp -d "${TMPDIR:-/tmp}/strata-compose-test.XXXXXX")
started=$(date +%s)
timings=()
kind=warm

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
fail() { printf '\033[31mFAIL\033[0m %s\n' "$*" >&2; exit 1; }
# timed NAME CMD...: runs CMD and records how long it took, for the summary at the end.
timed() {
  local name=$1 t0=$SECONDS
  shift
  "$@"
  timings+=("$name"$'\t'"$((SECONDS - t0))")
}

dockerd_pid=
plugins_pid=
cleanup() {
  local rc=$?
  if [ -n "$plugins_pid" ]; then kill "$plugins_pid" 2>/dev/null || true; fi
  if [ -n "$dockerd_pid" ]; then
    if [ "$rc" != 0 ] && [ "${STRATA_COMPOSE_KEEP:-}" = 1 ]; then
      echo "dockerd (pid $dockerd_pid) left running: STRATA_COMPOSE_KEEP=1"
    else
      echo "stopping the dockerd this run started (pid $dockerd_pid)"
      kill "$dockerd_pid" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
    fi
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

is_root() { [ "$(id -u)" = 0 ]; }

# ---- 1. tools ------------------------------------------------------------------------------------
step "Tools"
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
if ((${#missing[@]})); then
  is_root || fail "missing: ${missing[*]}; install with: sudo apt-get install -y --no-install-recommends ${missing[*]}"
  echo "installing: ${missing[*]}"
  t0=$SECONDS
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  timings+=("apt-get install ${missing[*]}"$'\t'"$((SECONDS - t0))")
fi
docker --version

# The CLI plugins build in the background (minutes, when not cached) while the engine starts and
# the stand-in images are built with the classic builder, which needs no plugin.
compgen -G "$cache/docker-plugins/buildx-*/docker-buildx" >/dev/null &&
  compgen -G "$cache/docker-plugins/compose-*/docker-compose" >/dev/null || kind=cold
t_plugins=$SECONDS
bash deploy/compose-prepare.sh plugins >"$work/plugins.log" 2>&1 &
plugins_pid=$!

# ---- 2. engine -----------------------------------------------------------------------------------
step "Docker engine"
if docker info >/dev/null 2>&1; then
  echo "using the running engine ($(docker info --format '{{.ServerVersion}}'))"
else
  is_root || fail "no Docker engine runs, and starting one needs root: sudo dockerd --storage-driver=overlay2 &"
  mkdir -p "$cache/logs"
  dockerd --storage-driver=overlay2 >"$cache/logs/dockerd.log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 1 150); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
  docker info >/dev/null 2>&1 || { tail -n 20 "$cache/logs/dockerd.log"; fail "dockerd did not start"; }
  echo "started dockerd $(docker info --format '{{.ServerVersion}}') (pid $dockerd_pid, log $cache/logs/dockerd.log)"
fi

# ---- 3. stand-ins for the registry's images ------------------------------------------------------
step "Stand-in base images (no registry is reachable)"
have_image() { docker image inspect "$1" >/dev/null 2>&1; }
# The base: deploy/compose-prepare.sh's root file system (cached), imported as an image.
import_base() {
  local tar=$cache/debian-$BASE_RELEASE-rootfs.tar extra=()
  bash deploy/compose-prepare.sh base
  if tar -tf "$tar" ./usr/local/share/ca-certificates/host-extra-ca.crt >/dev/null 2>&1; then
    extra=(-c 'ENV NODE_EXTRA_CA_CERTS=/usr/local/share/ca-certificates/host-extra-ca.crt')
  fi
  docker import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'ENV DEBIAN_FRONTEND=noninteractive' "${extra[@]}" -c 'CMD ["bash"]' "$tar" "$BASE_IMAGE" >/dev/null
}
if [ "${STRATA_COMPOSE_REBUILD:-}" = 1 ] || ! have_image "$BASE_IMAGE"; then
  [ -s "$cache/debian-$BASE_RELEASE-rootfs.tar" ] || kind=cold
  timed "base image (debootstrap $BASE_RELEASE, import)" import_base
fi
echo "$BASE_IMAGE: $(docker image inspect --format '{{.Size}}' "$BASE_IMAGE" | awk '{ printf "%.0f MB", $1 / 1e6 }')"
# The classic builder: these Dockerfiles need nothing from BuildKit, and buildx may still be
# compiling. The layer cache makes a warm run a no-op. Each image is labelled with a hash of its
# folder, so a stand-in whose files changed is rebuilt (from its cached package layer).
standin_hash() { # NAME
  (cd "deploy/stand-ins/$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
}
build_standin() { # NAME
  DOCKER_BUILDKIT=0 docker build --build-arg "BASE_IMAGE=$BASE_IMAGE" --label "strata.stand-in=$(standin_hash "$1")" \
    -t "localhost/strata-stand-in-$1:$BASE_RELEASE" "deploy/stand-ins/$1" >"$work/stand-in-$1.log" 2>&1 ||
    { tail -n 30 "$work/stand-in-$1.log"; fail "building the $1 stand-in failed"; }
}
standin_current() { # NAME
  local image=localhost/strata-stand-in-$1:$BASE_RELEASE
  have_image "$image" &&
    [ "$(docker image inspect --format '{{index .Config.Labels "strata.stand-in"}}' "$image")" = "$(standin_hash "$1")" ]
}
for name in postgres redis nginx; do
  if [ "${STRATA_COMPOSE_REBUILD:-}" = 1 ] || ! standin_current "$name"; then
    timed "stand-in $name" build_standin "$name"
  fi
done
docker run --rm --entrypoint nginx "localhost/strata-stand-in-nginx:$BASE_RELEASE" -v 2>&1

# ---- CLI plugins (wait for the background build) --------------------------------------------------
step "Docker CLI plugins (deploy/compose-prepare.sh plugins)"
wait "$plugins_pid" || { cat "$work/plugins.log"; fail "the Docker CLI plugins are missing"; }
plugins_pid=
cat "$work/plugins.log"
timings+=("buildx + compose plugins (waited for)"$'\t'"$((SECONDS - t_plugins))")
docker buildx version
docker compose version

# ---- 4 + 5. build Strata's images and run the scenarios ----------------------------------------
step "Scenarios (scripts/src/compose-test.ts)"
export STRATA_COMPOSE_BASE_IMAGE=$BASE_IMAGE STRATA_COMPOSE_STANDIN_TAG=$BASE_RELEASE
# The setup figures, for the summary (and docs/docker.md with STRATA_COMPOSE_UPDATE_DOCS=1): a run
# that built the plugins or the base image is "cold", one that found them cached is "warm".
export STRATA_COMPOSE_STARTED=$started STRATA_COMPOSE_KIND=$kind
STRATA_COMPOSE_SETUP=$(printf '%s\n' "${timings[@]}")
export STRATA_COMPOSE_SETUP
node --import tsx scripts/src/compose-test.ts "$@"

