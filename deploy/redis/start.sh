#!/bin/sh
# Starts Redis for deploy/docker-compose.yml with two users, from the environment:
#   default      REDIS_ADMIN_PASSWORD; every command (operators, the healthcheck via REDISCLI_AUTH)
#   strata-api   REDIS_PASSWORD; the rules of api-user.acl (Strata's keys, channel and commands)
# The ACL file holds SHA-256 hashes of the passwords, never the passwords, and is readable by the
# redis user only. Then it hands over to the image's entrypoint, which drops root for `redis`:
# redis-server stays the container's main process (its signals, its exit code). Meanwhile, in the
# background, load-scripts.sh loads Strata's Lua scripts as `default` once Redis answers: the API
# runs them by SHA only, and Redis forgets them at every start (compose's `init` reaps the loader).
#
# Paths can be overridden to run this script outside the image (deploy/validate.sh does):
#   STRATA_ACL_RULES  the rules file            (default /etc/strata/redis/api-user.acl)
#   STRATA_ACL_FILE   where the ACL file goes   (default /tmp/strata-users.acl)
#   STRATA_LUA_DIR    the Lua scripts           (default /etc/strata/lua)
# Extra arguments are passed on to redis-server.
set -eu

: "${REDIS_PASSWORD:?REDIS_PASSWORD must be set: the password of the strata-api user}"
: "${REDIS_ADMIN_PASSWORD:?REDIS_ADMIN_PASSWORD must be set: the password of the default user}"
rules_file=${STRATA_ACL_RULES:-/etc/strata/redis/api-user.acl}
acl_file=${STRATA_ACL_FILE:-/tmp/strata-users.acl}

sha256() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
rules=$(grep -v '^[[:space:]]*#' "$rules_file" | tr '\n' ' ')

umask 077
{
  printf 'user default reset on #%s ~* &* +@all\n' "$(sha256 "$REDIS_ADMIN_PASSWORD")"
  printf 'user strata-api reset on #%s %s\n' "$(sha256 "$REDIS_PASSWORD")" "$rules"
} >"$acl_file"
# The image runs redis-server as `redis`; elsewhere that user may not exist.
if id redis >/dev/null 2>&1; then chown redis "$acl_file"; fi

# The loader connects where redis-server listens: the port among the arguments, if any.
port=6379 previous=
for arg in "$@"; do
  if [ "$previous" = --port ]; then port=$arg; fi
  previous=$arg
done
# Detached (the subshell exits at once), so it outlives the exec below; the password reaches
# redis-cli through its environment, never its command line.
(REDISCLI_AUTH=$REDIS_ADMIN_PASSWORD sh "$(dirname "$0")/load-scripts.sh" --wait 60 -h 127.0.0.1 -p "$port" &)

# L2 is a cache and PostgreSQL is the source of truth: no snapshots, no AOF.
exec docker-entrypoint.sh redis-server --aclfile "$acl_file" --save '' --appendonly no "$@"
