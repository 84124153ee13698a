#!/usr/bin/env bash
# Validates the deployment files with real parsers, without a Docker engine:
#   1. deploy/docker-compose.yml with compose-go (the parser `docker compose` uses), plus the
#      properties the deployment relies on (no default secrets, no root user, …); the Dockerfile
#      it builds, with BuildKit's parser; the checker's own tests (`go test`), which show that a
#      Dockerfile without a non-root USER, or a compose file with a default password, fails.
#   2. deploy/nginx/local.conf.template, rendered as the stack runner renders it, with `nginx -t`
#      (both read-routing variants).
#   3. deploy/nginx/docker.conf with `nginx -t` (both read-routing variants), on a temporary copy
#      adapted to this machine; every adaptation is printed. Both nginx checks include the
#      ${STRATA_*} templates (rate limits, timeouts) rendered with the compose file's defaults.
#   4. deploy/redis/start.sh, run against this machine's redis-server: its two ACL users work,
#      and the API's user is refused what it must not do.
# Needs: go >= 1.24 and nginx (Debian: apt-get install -y nginx). Exits non-zero on any failure.
#
# The compose checker is built once into ${XDG_CACHE_HOME:-$HOME/.cache}/strata/ and rebuilt only
# when its sources or the Go version change, so re-runs take a few seconds.
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
command -v go >/dev/null || fail "go not found (Go >= 1.24 is needed to build deploy/compose-check)"
# /usr/sbin is not on a non-root user's PATH on Debian.
nginx_bin=$(command -v nginx || true)
if [ -z "$nginx_bin" ] && [ -x /usr/sbin/nginx ]; then nginx_bin=/usr/sbin/nginx; fi
[ -n "$nginx_bin" ] || fail "nginx not found; install it with: apt-get install -y nginx"
nginx_version=$("$nginx_bin" -v 2>&1 | sed -n 's#^nginx version: nginx/\([0-9.]*\).*#\1#p')
[ -n "$nginx_version" ] || fail "cannot read the version of $nginx_bin"
go version
echo "nginx $nginx_version ($nginx_bin)"

# version_ge A B: true when dotted version A >= B.
version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

# ---- 1. compose file and Dockerfile --------------------------------------------------------------
step "Build the compose checker (deploy/compose-check)"
src="$here/compose-check"
key=$( (cat "$src/go.mod" "$src/go.sum" "$src"/*.go; go version) | sha256sum | cut -c1-16)
cache_dir="${XDG_CACHE_HOME:-$HOME/.cache}/strata"
checker="$cache_dir/compose-check-$key"
if [ -x "$checker" ]; then
  echo "cached: $checker"
else
  mkdir -p "$cache_dir"
  # -mod=readonly: build exactly what go.mod/go.sum pin; fail rather than resolve anew.
  (cd "$src" && GOFLAGS=-mod=readonly CGO_ENABLED=0 go build -trimpath -buildvcs=false -o "$checker.tmp" .)
  mv "$checker.tmp" "$checker"
  # Older builds of other versions are dead weight.
  find "$cache_dir" -maxdepth 1 -name 'compose-check-*' ! -name "compose-check-$key" -delete
  echo "built: $checker"
fi

step "docker-compose.yml (compose-go) and the Dockerfile it builds (BuildKit parser)"
"$checker" -secrets "$src/testdata/secrets.env" -env-file "$here/.env.example" "$here/docker-compose.yml" ||
  fail "compose checks failed (see above)"

step "The checker's own tests: a root USER and a default password are caught (go test)"
(cd "$src" && GOFLAGS=-mod=readonly go test -count=1 ./... >"$work/go-test.log" 2>&1) || {
  cat "$work/go-test.log" >&2
  fail "go test in deploy/compose-check failed"
}
tail -n 1 "$work/go-test.log"

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

# ---- 2. local nginx template ---------------------------------------------------------------------
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
  # The per-address limits only the local stack applies (defaults of scripts/src/stack/config.ts).
  text=${text//'{{CONN_LIMIT}}'/128}
  text=${text//'{{OPS_RATE}}'/10}
  text=${text//'{{OPS_BURST}}'/20}
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
for p in LISTEN_PORT RUN_DIR LOG_DIR CONF_DIR UPSTREAM_SERVERS READ_UPSTREAM BODY_TEMP_DIR CONN_LIMIT OPS_RATE OPS_BURST; do
  grep -q "{{$p}}" "$nginx_dir/local.conf.template" || fail "local.conf.template does not use {{$p}}"
done
ok "uses all ten placeholders the stack runner fills in"
for read_upstream in strata_rr strata_affinity; do
  render_local "$work/local-$read_upstream.conf" "$read_upstream"
  nginx_test "$work/local-$read_upstream.conf"
  ok "nginx -t: local.conf.template rendered with 3 servers, READ_UPSTREAM=$read_upstream"
done

# ---- 3. docker nginx config ----------------------------------------------------------------------
step "docker.conf: nginx -t on an adapted copy (nginx $nginx_version)"
docker_conf="$nginx_dir/docker.conf"
read_template="$nginx_dir/templates/strata-read-location.conf.template"

# What this machine's nginx cannot check, checked by reading the file instead.
grep -Eq '^[[:space:]]*resolver[[:space:]]+127\.0\.0\.11[[:space:]]' "$docker_conf" ||
  fail "docker.conf has no 'resolver 127.0.0.11' (Docker's embedded DNS)"
for upstream in strata_rr strata_affinity; do
  block=$(sed -n "/upstream $upstream {/,/}/p" "$docker_conf")
  grep -Eq 'server[[:space:]]+api:8080[[:space:]].*\bresolve\b' <<<"$block" ||
    fail "upstream $upstream in docker.conf lacks 'server api:8080 ... resolve'"
  grep -Eq '^[[:space:]]*zone[[:space:]]' <<<"$block" ||
    fail "upstream $upstream in docker.conf lacks a 'zone' (required by 'resolve')"
done
ok "both upstreams use 'server api:8080 ... resolve' with a zone, and 'resolver 127.0.0.11' is set"
ok "compose pins an nginx image >= 1.27.3 (asserted by compose-check above)"
grep -q 'STRATA_READ_UPSTREAM' "$here/docker-compose.yml" ||
  fail "docker-compose.yml does not pass STRATA_READ_UPSTREAM to nginx"

# adapt FROM TO FILE: a literal substitution that must match at least once, printed.
adapt() {
  local from=$1 to=$2 file=$3 text
  text=$(<"$file")
  [[ $text == *"$from"* ]] || fail "expected '$from' in docker.conf (adaptation for the local test is stale)"
  printf '%s\n' "${text//"$from"/"$to"}" >"$file"
  echo "     adapted: '$from' -> '${to:-<removed>}'"
}

for read_upstream in strata_rr strata_affinity; do
  echo "STRATA_READ_UPSTREAM=$read_upstream:"
  # The read location, rendered as the nginx image's entrypoint renders templates/ (envsubst).
  location="$work/strata-read-location-$read_upstream.conf"
  text=$(<"$read_template")
  # shellcheck disable=SC2016 # a literal ${...}, as written in the template
  printf '%s\n' "${text//'${STRATA_READ_UPSTREAM}'/"$read_upstream"}" >"$location"
  # shellcheck disable=SC2016 # a literal ${, as written in the template
  if grep -n '\${STRATA_' "$location" >&2; then fail "unrendered variable in $read_template"; fi

  conf="$work/docker-$read_upstream.conf"
  cp "$docker_conf" "$conf"
  adapt '/etc/nginx/strata/' "$nginx_dir/" "$conf"
  adapt '/etc/nginx/conf.d/strata-read-location.conf' "$location" "$conf"
  adapt '/etc/nginx/conf.d/strata-limits.conf' "$work/run/strata-limits.conf" "$conf"
  adapt '/etc/nginx/conf.d/strata-limited-locations.conf' "$work/run/strata-limited-locations.conf" "$conf"
  # The image has an `nginx` user; Debian does not (its nginx runs workers as www-data).
  adapt 'user nginx;' '' "$conf"
  adapt 'pid /run/nginx.pid;' "pid $work/run/docker.pid;" "$conf"
  if [ "$(id -u)" -ne 0 ]; then
    # nginx -t binds the listen sockets (it tolerates a port in use, not a privileged one).
    adapt 'listen 80;' 'listen 8080;' "$conf"
  fi
  if version_ge "$nginx_version" 1.27.3; then
    echo "     'server api:8080 resolve' kept: this nginx supports it"
  else
    # nginx -t resolves plain server names at load time, and `api` only exists on the compose
    # network; `resolve` (which would defer that) is unknown to this nginx.
    adapt 'server api:8080 resolve ' 'server 127.0.0.1:8080 ' "$conf"
  fi
  nginx_test "$conf"
  ok "nginx -t: docker.conf with STRATA_READ_UPSTREAM=$read_upstream"
done

if ! version_ge "$nginx_version" 1.27.3; then
  printf '\n\033[33mNOT CHECKED\033[0m by nginx: the "resolve" parameter of "server api:8080 resolve" in docker.conf.\n'
  echo "    nginx $nginx_version here predates it (open-source nginx >= 1.27.3); it was removed from the"
  echo "    tested copy and 'api' replaced by 127.0.0.1. Its presence, the zones, the resolver and the"
  echo "    pinned image version were checked by reading the files instead (above)."
fi

# ---- 4. Redis start script ------------------------------------------------------------------------
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
  api_pw=validate-api-$RANDOM$RANDOM admin_pw=validate-admin-$RANDOM$RANDOM
  PATH="$work/bin:$(dirname "$redis_bin"):$PATH" REDIS_PASSWORD=$api_pw REDIS_ADMIN_PASSWORD=$admin_pw \
    STRATA_ACL_RULES="$here/redis/api-user.acl" STRATA_ACL_FILE="$work/users.acl" \
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
  cli --user default --pass "$admin_pw" shutdown nosave >/dev/null || true
fi

step "Summary"
echo "validated: docker-compose.yml (compose-go: schema, interpolation with defaults and with .env.example,"
echo "           required secrets, consistency, the deployment assertions), deploy/Dockerfile (BuildKit"
echo "           parser + lint + assertions, non-root USER), local.conf.template x2 and docker.conf x2 with"
echo "           the rendered templates (nginx -t $nginx_version), deploy/redis/start.sh (real redis-server)"
echo "not run:   no image was built and no container started (no Docker engine here)"
echo "deploy/validate.sh: all checks passed in $(($(date +%s) - started)) s"
