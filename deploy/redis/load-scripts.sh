#!/bin/sh
# Loads Strata's Lua scripts into a Redis with SCRIPT LOAD, as a user allowed to (the `default`
# admin user): the API's own user may only run them by SHA (EVALSHA; see api-user.acl), and Redis
# forgets them on every restart, so this runs after every start. Idempotent. Needs redis-cli and
# sha1sum only, no Node.
#
#     REDISCLI_AUTH=<admin password> sh deploy/redis/load-scripts.sh [--wait SECONDS] [redis-cli options]
#     e.g. ... load-scripts.sh -h redis.internal -p 6379
#
# --wait SECONDS  wait up to that long for Redis to answer first (default: do not wait).
# STRATA_LUA_DIR  the scripts (default /etc/strata/lua, where compose mounts them, else this
#                 repository's packages/cache-core/lua).
# Exits non-zero unless every script is loaded under the SHA1 the API sends.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
lua_dir=${STRATA_LUA_DIR:-/etc/strata/lua}
if [ -z "${STRATA_LUA_DIR:-}" ] && [ ! -d "$lua_dir" ]; then lua_dir="$here/../../packages/cache-core/lua"; fi
wait_seconds=0
if [ "${1:-}" = --wait ]; then wait_seconds=$2; shift 2; fi

say() { printf 'strata load-scripts: %s\n' "$*" >&2; }

# Five tries a second: Redis answers within a second of starting when it holds no data.
tries=$((wait_seconds * 5))
until [ "$(redis-cli --no-auth-warning "$@" ping 2>/dev/null)" = PONG ]; do
  if [ "$tries" -le 0 ]; then say "Redis does not answer PING (address, password?)"; exit 1; fi
  tries=$((tries - 1))
  sleep 0.2
done

loaded=0
for file in "$lua_dir"/*.lua; do
  [ -f "$file" ] || { say "no *.lua in $lua_dir"; exit 1; }
  expected=$(sha1sum <"$file" | cut -d' ' -f1)
  got=$(redis-cli --no-auth-warning "$@" -x SCRIPT LOAD <"$file" 2>&1)
  if [ "$got" != "$expected" ]; then
    say "$(basename "$file"): Redis answered \"$got\", expected $expected"
    exit 1
  fi
  loaded=$((loaded + 1))
done
say "$loaded scripts loaded from $lua_dir"
