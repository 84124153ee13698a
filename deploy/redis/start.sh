#!/bin/sh
# Starts Redis for deploy/docker-compose.yml with two users, from the environment:
#   default      REDIS_ADMIN_PASSWORD; every command (operators, the healthcheck via REDISCLI_AUTH)
#   strata-api   REDIS_PASSWORD; the rules of api-user.acl (Strata's keys, channel and commands)
# The ACL file holds SHA-256 hashes of the passwords, never the passwords, and is readable by the
# redis user only. Then it hands over to the image's entrypoint, which drops root for `redis`.
#
# Paths can be overridden to run this script outside the image (deploy/validate.sh does):
#   STRATA_ACL_RULES  the rules file            (default /etc/strata/redis/api-user.acl)
#   STRATA_ACL_FILE   where the ACL file goes   (default /tmp/strata-users.acl)
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

# L2 is a cache and PostgreSQL is the source of truth: no snapshots, no AOF.
exec docker-entrypoint.sh redis-server --aclfile "$acl_file" --save '' --appendonly no "$@"
