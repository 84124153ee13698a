#!/usr/bin/env bash
# pnpm compose:test — runs the shipped deploy/docker-compose.yml for real, on a Docker engine, with
# no container registry: see docs/docker.md for what it exercises and the figures it prints.
#
#   1. tools      docker.io and debootstrap from Debian when missing (root only; otherwise the
#                 exact install command is printed); the buildx and compose CLI plugins, built
#                 from the Go module proxy once and cached in ~/.cache/strata/docker-plugins
#   2. engine     a running dockerd is used as is; otherwise one is started here and stopped at
#                 the end (by its pid)
#   3. stand-ins  local images in place of the registry's base images: debian:trixie-slim (from
#                 debootstrap), postgres, redis, nginx (deploy/stand-ins/); kept in the engine and
#                 rebuilt only when missing
#   4. build      Strata's images from deploy/Dockerfile, through `docker compose build`
#   5. scenarios  scripts/src/compose-test.ts against the running stack, then `down -v`
#
# Environment: STRATA_COMPOSE_KEEP=1 leaves the stack and the engine running after a failure, for
# a look with `docker compose -p strata-compose-test ...`. STRATA_COMPOSE_REBUILD=1 rebuilds the
# stand-ins. Everything else is fixed so that a run is comparable with the last.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

BUILDX_VERSION=v0.38.2
COMPOSE_VERSION=v5.6.0
BASE_RELEASE=trixie
BASE_IMAGE=localhost/debian:${BASE_RELEASE}-slim
cache=${XDG_CACHE_HOME:-$HOME/.cache}/strata
plugins_cache=$cache/docker-plugins
plugin_dir=/usr/local/lib/docker/cli-plugins
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
plugin_pids=()
cleanup() {
  local rc=$?
  for pid in "${plugin_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
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

# The CLI plugins: a plugin this machine already has is used as is; otherwise the pinned version
# is built from the Go module proxy into the cache (buildx ~3 min, compose ~1.5 min on 2 cores)
# and linked into the system plugin directory. The builds run in the background while the
# engine starts and the stand-in images are built with the classic builder.
build_plugin() { # NAME VERSION
  local name=$1 version=$2 dest=$plugins_cache/$1-$2 src
  mkdir -p "$dest"
  export GOFLAGS=-buildvcs=false
  case $name in
    buildx)
      GOBIN=$work/gobin go install -trimpath \
        -ldflags "-s -w -X github.com/docker/buildx/version.Version=$version" \
        "github.com/docker/buildx/cmd/buildx@$version"
      mv "$work/gobin/buildx" "$dest/docker-buildx.tmp" ;;
    compose)
      # `go install` refuses this module (its go.mod has exclude directives): build a copy of it.
      src=$(go mod download -json "github.com/docker/compose/v5@$version" |
        sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
      cp -r "$src" "$work/compose-src" && chmod -R u+w "$work/compose-src"
      (cd "$work/compose-src" && go build -trimpath \
        -ldflags "-s -w -X github.com/docker/compose/v5/internal.Version=$version" \
        -o "$dest/docker-compose.tmp" ./cmd) ;;
  esac
  mv "$dest/docker-$name.tmp" "$dest/docker-$name"
}
plugin_wanted=()
for spec in "buildx $BUILDX_VERSION" "compose $COMPOSE_VERSION"; do
  read -r name version <<<"$spec"
  if [ -x "$plugins_cache/$name-$version/docker-$name" ]; then
    echo "$name $version: cached in $plugins_cache"
  elif docker "$name" version >/dev/null 2>&1; then
    echo "$name: using this machine's plugin ($(docker "$name" version 2>/dev/null | head -n 1))"
    continue
  else
    command -v go >/dev/null || fail "docker $name is missing and go (>= 1.24) is needed to build it"
    is_root || [ -w "$plugin_dir" ] || fail "docker $name is missing; building it needs write access to $plugin_dir"
    echo "$name $version: building from the Go module proxy in the background"
    (build_plugin "$name" "$version" >"$work/$name.log" 2>&1) &
    plugin_pids+=($!)
    kind=cold
  fi
  plugin_wanted+=("$name:$version")
done
t_plugins=$SECONDS

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
# A Debian base like the registry's debian:*-slim: debootstrap's minbase, without package caches,
# lists, documentation and locales, with the release's updates and security sources.
build_base() {
  local root=$work/rootfs mirror
  debootstrap --variant=minbase "$BASE_RELEASE" "$root" >"$work/debootstrap.log" 2>&1 ||
    { tail -n 20 "$work/debootstrap.log"; fail "debootstrap $BASE_RELEASE failed"; }
  mirror=$(awk '$1 == "deb" { print $2; exit }' "$root/etc/apt/sources.list")
  printf 'deb %s %s-updates main\ndeb %s-security %s-security main\n' \
    "$mirror" "$BASE_RELEASE" "$mirror" "$BASE_RELEASE" >>"$root/etc/apt/sources.list"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* \
    "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* "$root"/var/log/*
  # As in the registry's images: no service starts from a package's install script.
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d" && chmod +x "$root/usr/sbin/policy-rc.d"
  # A machine behind a TLS-inspecting proxy (or with a company CA) trusts extra certificates;
  # so must the base, or npm and pnpm cannot reach the registry from a build. Debian's
  # ca-certificates adds them to the system store when a stage installs it, and Node (which
  # brings its own store) reads them from NODE_EXTRA_CA_CERTS.
  local ca=() extra=()
  compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null && ca=(/usr/local/share/ca-certificates/*.crt)
  if ((${#ca[@]})); then
    mkdir -p "$root/usr/local/share/ca-certificates"
    cat "${ca[@]}" >"$root/usr/local/share/ca-certificates/host-extra-ca.crt"
    extra=(-c 'ENV NODE_EXTRA_CA_CERTS=/usr/local/share/ca-certificates/host-extra-ca.crt')
    echo "the base trusts this machine's ${#ca[@]} extra CA certificate(s) from /usr/local/share/ca-certificates"
  fi
  tar -C "$root" -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'ENV DEBIAN_FRONTEND=noninteractive' "${extra[@]}" -c 'CMD ["bash"]' - "$BASE_IMAGE" >/dev/null
  rm -rf "$root"
}
if [ "${STRATA_COMPOSE_REBUILD:-}" = 1 ] || ! have_image "$BASE_IMAGE"; then
  timed "debootstrap $BASE_RELEASE + import" build_base
  kind=cold
fi
echo "$BASE_IMAGE: $(docker image inspect --format '{{.Size}}' "$BASE_IMAGE" | awk '{ printf "%.0f MB", $1 / 1e6 }')"
# The classic builder: these Dockerfiles need nothing from BuildKit, and buildx may still be
# compiling. The layer cache makes a warm run a no-op.
build_standin() { # NAME
  DOCKER_BUILDKIT=0 docker build --build-arg "BASE_IMAGE=$BASE_IMAGE" \
    -t "localhost/strata-stand-in-$1:$BASE_RELEASE" "deploy/stand-ins/$1" >"$work/stand-in-$1.log" 2>&1 ||
    { tail -n 30 "$work/stand-in-$1.log"; fail "building the $1 stand-in failed"; }
}
for name in postgres redis nginx; do
  if [ "${STRATA_COMPOSE_REBUILD:-}" = 1 ] || ! have_image "localhost/strata-stand-in-$name:$BASE_RELEASE"; then
    timed "stand-in $name" build_standin "$name"
  fi
done
docker run --rm --entrypoint nginx "localhost/strata-stand-in-nginx:$BASE_RELEASE" -v 2>&1

# ---- CLI plugins (wait for the background builds) -------------------------------------------------
if ((${#plugin_pids[@]})); then
  step "Waiting for the CLI plugin builds"
  for pid in "${plugin_pids[@]}"; do
    wait "$pid" || { cat "$work"/*.log | tail -n 30; fail "building a Docker CLI plugin failed"; }
  done
  plugin_pids=()
  timings+=("buildx + compose plugins (go, in the background)"$'\t'"$((SECONDS - t_plugins))")
fi
mkdir -p "$plugin_dir"
for spec in "${plugin_wanted[@]}"; do
  name=${spec%%:*} version=${spec#*:}
  ln -sf "$plugins_cache/$name-$version/docker-$name" "$plugin_dir/docker-$name"
done
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
node --import tsx scripts/src/compose-test.ts

