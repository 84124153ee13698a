#!/usr/bin/env bash
# What pnpm compose:test needs before a Docker engine is involved, built once and cached in
# ${XDG_CACHE_HOME:-~/.cache}/strata, so later runs on the same machine skip it:
#
#   compose-prepare.sh plugins   the buildx and compose CLI plugins. Debian packages neither (its
#                                docker-compose is the old 1.x), so the pinned versions are built
#                                from the Go module proxy into docker-plugins/ and linked into
#                                /usr/local/lib/docker/cli-plugins. A plugin the machine already
#                                has is used as it is. Needs go >= 1.24. On 2 cores from an empty
#                                Go cache: buildx ~3 min, then compose ~1.5 min (it reuses much of
#                                what buildx compiled, which is why they build one after the other).
#   compose-prepare.sh base      a Debian trixie root file system like the registry's
#                                debian:trixie-slim (debootstrap minbase without package caches,
#                                lists, docs and locales), as debian-trixie-rootfs.tar, which
#                                compose:test imports as localhost/debian:trixie-slim. About 1 min.
#   compose-prepare.sh all       both.
#
# Each part takes a lock, so CI can start `all` early in the background (niced, while the test
# suite runs) and compose:test runs its parts again, waiting for that run or finding them cached.
set -euo pipefail

BUILDX_VERSION=v0.38.2
COMPOSE_VERSION=v5.6.0
BASE_RELEASE=trixie
root_cache=${XDG_CACHE_HOME:-$HOME/.cache}/strata
cache=$root_cache/docker-plugins
plugin_dir=/usr/local/lib/docker/cli-plugins
mkdir -p "$cache"

work=$(mktemp -d "${TMPDIR:-/tmp}/strata-compose-prepare.XXXXXX")
trap 'rm -rf "$work"' EXIT
export GOFLAGS=-buildvcs=false

build() { # NAME VERSION DEST
  local name=$1 version=$2 dest=$3 src
  case $name in
    buildx)
      GOBIN=$work/bin go install -trimpath \
        -ldflags "-s -w -X github.com/docker/buildx/version.Version=$version" \
        "github.com/docker/buildx/cmd/buildx@$version"
      mv "$work/bin/buildx" "$dest.tmp" ;;
    compose)
      # `go install` refuses this module (its go.mod has exclude directives): build a copy.
      src=$(go mod download -json "github.com/docker/compose/v5@$version" |
        sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
      cp -r "$src" "$work/compose" && chmod -R u+w "$work/compose"
      (cd "$work/compose" && go build -trimpath \
        -ldflags "-s -w -X github.com/docker/compose/v5/internal.Version=$version" \
        -o "$dest.tmp" ./cmd) ;;
  esac
  mv "$dest.tmp" "$dest"
}

plugins() {
  exec 8>"$cache/.lock"
  flock 8
  for spec in "buildx $BUILDX_VERSION" "compose $COMPOSE_VERSION"; do
    read -r name version <<<"$spec"
    dest=$cache/$name-$version/docker-$name
    if [ -x "$dest" ]; then
      echo "$name $version: cached ($dest)"
    elif [ ! -L "$plugin_dir/docker-$name" ] && docker "$name" version >/dev/null 2>&1; then
      echo "$name: this machine's plugin ($(docker "$name" version 2>/dev/null | head -n 1))"
      continue
    else
      command -v go >/dev/null || { echo "docker $name is missing, and go (>= 1.24) is needed to build it" >&2; exit 1; }
      echo "$name $version: building from the Go module proxy"
      t0=$SECONDS
      mkdir -p "$(dirname "$dest")"
      build "$name" "$version" "$dest" >"$work/$name.log" 2>&1 || { tail -n 30 "$work/$name.log" >&2; exit 1; }
      echo "$name $version: built in $((SECONDS - t0)) s"
    fi
    mkdir -p "$plugin_dir"
    ln -sf "$dest" "$plugin_dir/docker-$name"
  done
  flock -u 8
}

# The root file system of the stand-in base image, as a tar file.
base() {
  local tar=$root_cache/debian-$BASE_RELEASE-rootfs.tar root mirror
  exec 7>"$root_cache/.base.lock"
  flock 7
  if [ -s "$tar" ]; then
    echo "base: cached ($tar)"
    return
  fi
  command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] ||
    { echo "debootstrap is missing: apt-get install -y debootstrap" >&2; exit 1; }
  echo "base: debootstrap --variant=minbase $BASE_RELEASE"
  local t0=$SECONDS
  root=$work/rootfs
  debootstrap --variant=minbase "$BASE_RELEASE" "$root" >"$work/debootstrap.log" 2>&1 ||
    { tail -n 20 "$work/debootstrap.log" >&2; exit 1; }
  mirror=$(awk '$1 == "deb" { print $2; exit }' "$root/etc/apt/sources.list")
  printf 'deb %s %s-updates main\ndeb %s-security %s-security main\n' \
    "$mirror" "$BASE_RELEASE" "$mirror" "$BASE_RELEASE" >>"$root/etc/apt/sources.list"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* \
    "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* "$root"/var/log/*
  # As in the registry's images: no service starts from a package's install script.
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d" && chmod +x "$root/usr/sbin/policy-rc.d"
  # A machine behind a TLS-inspecting proxy (or with a company CA) trusts extra certificates; so
  # must the base, or npm and pnpm cannot reach the registry from a build. Debian's
  # ca-certificates adds them to the system store when a stage installs it; compose:test points
  # Node (which brings its own store) at them with NODE_EXTRA_CA_CERTS.
  if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
    mkdir -p "$root/usr/local/share/ca-certificates"
    cat /usr/local/share/ca-certificates/*.crt >"$root/usr/local/share/ca-certificates/host-extra-ca.crt"
    echo "base: trusts this machine's extra CA certificates (/usr/local/share/ca-certificates)"
  fi
  tar -C "$root" -cf "$tar.tmp" . && mv "$tar.tmp" "$tar"
  echo "base: $tar in $((SECONDS - t0)) s"
  flock -u 7
}

case ${1:-all} in
  plugins) plugins ;;
  base) base ;;
  all) base && plugins ;;
  *) echo "usage: compose-prepare.sh [plugins|base|all]" >&2; exit 2 ;;
esac
