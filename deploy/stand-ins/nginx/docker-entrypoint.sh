#!/bin/sh
# The official image's template step (20-envsubst-on-templates.sh), reduced: every
# /etc/nginx/templates/NAME.template becomes /etc/nginx/conf.d/NAME with only the variables whose
# names match NGINX_ENVSUBST_FILTER substituted, before nginx starts.
set -eu
if [ "${1:-}" = nginx ] || [ "${1:-}" = nginx-debug ]; then
  filter=${NGINX_ENVSUBST_FILTER:-}
  names=$(awk "END { for (name in ENVIRON) { if (name ~ /${filter}/) print name } }" </dev/null)
  defined=$(printf '${%s} ' $names)
  for template in /etc/nginx/templates/*.template; do
    [ -f "$template" ] || continue
    out=/etc/nginx/conf.d/$(basename "$template" .template)
    envsubst "$defined" <"$template" >"$out"
  done
fi
exec "$@"
