#!/usr/bin/env bash
# Checks the parts of the deployment that run without a Docker engine, in seconds:
#   1. deploy/nginx/local.conf.template, rendered as the stack runner renders it, with `nginx -t`
#      (both read-routing variants), including the ${STRATA_*} templates (rate limits, timeouts)
#      rendered with the compose file's defaults.
#   2. deploy/redis/start.sh, run against this machine's redis-server: its two ACL users work,
#      the API's user is refused what it must not do, and the Lua scripts it loads as `default`
#      run by SHA for the API's user, which may neither EVAL nor SCRIPT LOAD.
# The compose file, the Dockerfile and deploy/nginx/docker.conf run for real in `pnpm compose:test`
# (a Docker engine, images built from deploy/Dockerfile, `nginx -t` in the nginx container for
# both read routings, then the stack under --scale); see docs/docker.md.
# Needs: nginx (Debian: apt-get install -y nginx). Exits non-zero on any failure.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
nginx_dir="$here/nginx"
started=$(date +%s)

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
fail() { printf '\033[31mFAIL\033[0m %s\n' "$*" >&2; exit 1; }
ok() { printf 'ok   %s\n' "$*"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/strata-validate.XXXXXX")
trap 'rm -rf "$work"' EXIT

# ---- tools ---------------------------------------------------------------------------------------
step "Tools"
# /usr/sbin is not on a non-root user's PATH on Debian.
nginx_bin=$(command -v nginx || true)
if [ -z "$nginx_bin" ] && [ -x /usr/sbin/nginx ]; then nginx_bin=/usr/sbin/nginx; fi
[ -n "$nginx_bin" ] || fail "nginx not found; install it with: apt-get install -y nginx"
nginx_version=$("$nginx_bin" -v 2>&1 | sed -n 's#^nginx version: nginx/\([0-9.]*\).*#\1#p')
[ -n "$nginx_version" ] || fail "cannot read the version of $nginx_bin"
echo "nginx $nginx_version ($nginx_bin)"


# ---- nginx templates, shared by both configurations -----------------------------------------------
# The defaults of the ${STRATA_*} variables, read from the nginx service of the compose file
# (`STRATA_X: ${STRATA_X:-default}`), which is what the nginx image's envsubst renders with.
declare -A strata_defaults=()
while IFS='=' read -r name value; do strata_defaults[$name]=$value; done < <(
  sed -n 's/^[[:space:]]*\(STRATA_[A-Z0-9_]*\): \${STRATA_[A-Z0-9_]*:-\([^}]*\)}[[:space:]]*$/\1=\2/p' "$here/docker-compose.yml"
)
# render_templates DIR: every templates/*.template with its ${STRATA_*} replaced, into DIR.
render_templates() {
  local dir=$1 file text name
  mkdir -p "$dir"
  for file in "$nginx_dir"/templates/*.template; do
    text=$(<"$file")
    for name in "${!strata_defaults[@]}"; do text=${text//"\${$name}"/"${strata_defaults[$name]}"}; done
    if grep -nE '\$\{STRATA_[A-Z0-9_]+\}' <<<"$text" >&2; then fail "$(basename "$file"): a variable above has no default in docker-compose.yml"; fi
    printf '%s\n' "$text" >"$dir/$(basename "$file" .template)"
  done
}

# ---- 1. local nginx template ---------------------------------------------------------------------
# render_local OUT READ_UPSTREAM: replaces every placeholder verbatim, as the stack runner does.
render_local() {
  local out=$1 read_upstream=$2 text
  local servers='server 127.0.0.1:8101 max_fails=1 fail_timeout=2s;
        server 127.0.0.1:8102 max_fails=1 fail_timeout=2s;
        server 127.0.0.1:8103 max_fails=1 fail_timeout=2s;'
  text=$(<"$nginx_dir/local.conf.template")
  text=${text//'{{LISTEN_PORT}}'/8005}
  text=${text//'{{RUN_DIR}}'/"$work/run"}
  text=${text//'{{LOG_DIR}}'/"$work/logs"}
  text=${text//'{{CONF_DIR}}'/"$nginx_dir"}
  text=${text//'{{UPSTREAM_SERVERS}}'/"$servers"}
  text=${text//'{{READ_UPSTREAM}}'/"$read_upstream"}
  text=${text//'{{BODY_TEMP_DIR}}'/"$work/run/client_body_temp"}
  if grep -n '{{' <<<"$text" >&2; then fail "unreplaced placeholder in the rendered local.conf.template (above)"; fi
  printf '%s\n' "$text" >"$out"
}

# nginx_test CONF: nginx -t, with the startup log and relative paths under $work. A warning
# fails the check too: nginx starts with it, but it always points at a mistake in the file.
nginx_test() {
  local conf=$1 log
  log=$("$nginx_bin" -t -p "$work/run/" -e "$work/logs/startup.log" -c "$conf" 2>&1) || {
    printf '%s\n' "$log" >&2
    fail "nginx -t rejected $conf"
  }
  printf '%s\n' "$log" | sed 's/^/     /'
  if grep -q '\[warn\]' <<<"$log"; then fail "nginx -t warned about $conf (above)"; fi
}

step "local.conf.template: placeholders and nginx -t (nginx $nginx_version)"
mkdir -p "$work/run" "$work/logs"
# The stack runner renders the shared templates into RUN_DIR, where the local config includes them.
render_templates "$work/run"
ok "templates rendered with the compose defaults: ${#strata_defaults[@]} STRATA_* variables"
for p in LISTEN_PORT RUN_DIR LOG_DIR CONF_DIR UPSTREAM_SERVERS READ_UPSTREAM BODY_TEMP_DIR; do
  grep -q "{{$p}}" "$nginx_dir/local.conf.template" || fail "local.conf.template does not use {{$p}}"
done
ok "uses all seven placeholders the stack runner fills in"
for read_upstream in strata_rr strata_affinity; do
  render_local "$work/local-$read_upstream.conf" "$read_upstream"
  nginx_test "$work/local-$read_upstream.conf"
  ok "nginx -t: local.conf.template rendered with 3 servers, READ_UPSTREAM=$read_upstream"
done

# ---- 2. Redis start script ------------------------------------------------------------------------
step "deploy/redis/start.sh against this machine's redis-server"
redis_bin=$(command -v redis-server || true)
if [ -z "$redis_bin" ] && [ -x /usr/bin/redis-server ]; then redis_bin=/usr/bin/redis-server; fi
if [ -z "$redis_bin" ] || ! command -v redis-cli >/dev/null; then
  printf '\033[33mNOT CHECKED\033[0m redis-server or redis-cli missing (apt-get install -y redis-server)\n'
else
  # The image's entrypoint is replaced by one that runs its arguments as they are.
  mkdir -p "$work/bin"
  printf '#!/bin/sh\nexec "$@"\n' >"$work/bin/docker-entrypoint.sh"
  chmod +x "$work/bin/docker-entrypoint.sh"
  redis_port=$(node -e "const s = require('net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close() })")
  lua_dir=$(cd "$here/../packages/cache-core/lua" && pwd)
  api_pw=validate-api-$RANDOM$RANDOM admin_pw=validate-admin-$RANDOM$RANDOM
  PATH="$work/bin:$(dirname "$redis_bin"):$PATH" REDIS_PASSWORD=$api_pw REDIS_ADMIN_PASSWORD=$admin_pw \
    STRATA_ACL_RULES="$here/redis/api-user.acl" STRATA_ACL_FILE="$work/users.acl" STRATA_LUA_DIR="$lua_dir" \
    sh "$here/redis/start.sh" --port "$redis_port" --bind 127.0.0.1 --daemonize yes \
    --pidfile "$work/redis.pid" --logfile "$work/redis.log" --dir "$work" || fail "start.sh did not start Redis"
  trap 'kill "$(cat "$work/redis.pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$work"' EXIT
  cli() { redis-cli --no-auth-warning -p "$redis_port" "$@" 2>&1; }
  for _ in $(seq 50); do [ "$(cli --user default --pass "$admin_pw" ping)" = PONG ] && break; sleep 0.1; done
  [ "$(cli --user default --pass "$admin_pw" ping)" = PONG ] || { cat "$work/redis.log" >&2; fail "the default user cannot log in"; }
  [ "$(cli --user strata-api --pass "$api_pw" set strata:k:validate 1)" = OK ] || fail "strata-api cannot write under strata:"
  [[ $(cli --user strata-api --pass "$api_pw" flushall) == *NOPERM* ]] || fail "strata-api may run FLUSHALL"
  [[ $(cli --user strata-api --pass "$api_pw" get other) == *NOPERM* ]] || fail "strata-api may read keys outside strata:"
  [[ $(cli ping) == *NOAUTH* ]] || fail "Redis answers without a password"
  if grep -q -e "$api_pw" -e "$admin_pw" "$work/users.acl"; then fail "the ACL file holds a clear-text password"; fi
  [ "$(stat -c %a "$work/users.acl")" = 600 ] || fail "the ACL file is readable by others"
  ok "default and strata-api log in; strata-api is refused FLUSHALL and keys outside strata:; no password, no access"
  ok "the ACL file (mode 600) holds password hashes only"
  # start.sh loads the Lua scripts in the background once Redis answers.
  sync_sha=$(sha1sum <"$lua_dir/sync-generation.lua" | cut -d' ' -f1)
  all_shas=$(for f in "$lua_dir"/*.lua; do sha1sum <"$f" | cut -d' ' -f1; done)
  loaded() { [ "$(cli --user default --pass "$admin_pw" script exists $all_shas | tr -d '\n')" = "$(printf '1%.0s' $all_shas)" ]; }
  for _ in $(seq 100); do loaded && break; sleep 0.1; done
  loaded || { cat "$work/redis.log" >&2; fail "start.sh did not load every script of $lua_dir"; }
  [ "$(cli --user strata-api --pass "$api_pw" evalsha "$sync_sha" 1 strata:m:validate 0 7)" = 7 ] || fail "strata-api cannot run a loaded script by SHA"
  [[ $(cli --user strata-api --pass "$api_pw" eval 'return 1' 0) == *NOPERM* ]] || fail "strata-api may run any Lua (EVAL)"
  [[ $(cli --user strata-api --pass "$api_pw" script load 'return 1') == *NOPERM* ]] || fail "strata-api may load any Lua (SCRIPT LOAD)"
  ok "start.sh loaded the $(echo $all_shas | wc -w) Lua scripts as default; strata-api runs them by SHA, is refused EVAL and SCRIPT LOAD"
  REDISCLI_AUTH=$admin_pw STRATA_LUA_DIR=$lua_dir sh "$here/redis/load-scripts.sh" -p "$redis_port" 2>&1 | sed 's/^/     /'
  ok "load-scripts.sh, as an operator runs it, loads them again (idempotent)"
  cli --user default --pass "$admin_pw" shutdown nosave >/dev/null || true
fi

step "Summary"
echo "validated: local.conf.template x2 with the rendered templates (nginx -t $nginx_version),"
echo "           deploy/redis/start.sh (real redis-server)"
echo "elsewhere: the compose file, the Dockerfile and docker.conf run for real in pnpm compose:test"
echo "deploy/validate.sh: all checks passed in $(($(date +%s) - started)) s"
