#!/bin/sh
# Makes a Redis Cluster of the given nodes (masters first: with --cluster-replicas 1, the first
# half become masters and the second half their replicas), waits until every node reports it ok
# and all agree on the slot map, then loads Strata's Lua scripts on every node: the API's user
# runs them by SHA only, and a replica promoted by a failover must hold them already.
# Idempotent: a cluster already made is only checked and given the scripts again.
#
#     REDISCLI_AUTH=<admin password> sh cluster-init.sh HOST:PORT HOST:PORT ...
#
# Runs as the one-shot service redis-cluster-init of deploy/docker-compose.cluster.yml, in the
# Redis image; needs redis-cli, getent and sha1sum.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
say() { printf 'strata cluster-init: %s\n' "$*" >&2; }
cli() { redis-cli --no-auth-warning "$@"; }
[ $# -ge 6 ] || { say "usage: cluster-init.sh HOST:PORT... (6 nodes or more)"; exit 2; }

# info_field HOST PORT FIELD: one field of CLUSTER INFO.
info_field() { cli -h "$1" -p "$2" CLUSTER INFO | tr -d '\r' | sed -n "s/^$3://p"; }

# CLUSTER MEET, which --cluster create sends, takes IP addresses only: resolve the names.
addresses=
fresh=0
for node; do
  host=${node%:*} port=${node##*:}
  ip=$(getent hosts "$host" | awk '{ print $1; exit }')
  [ -n "$ip" ] || { say "$host does not resolve"; exit 1; }
  tries=150
  until [ "$(cli -h "$host" -p "$port" PING 2>/dev/null)" = PONG ]; do
    tries=$((tries - 1))
    [ "$tries" -gt 0 ] || { say "$node does not answer PING (address, password?)"; exit 1; }
    sleep 0.2
  done
  addresses="$addresses $ip:$port"
  if [ "$(info_field "$host" "$port" cluster_known_nodes)" = 1 ]; then fresh=$((fresh + 1)); fi
done

first=$1
if [ "$fresh" -eq $# ]; then
  say "creating the cluster:$addresses"
  # shellcheck disable=SC2086 # one argument per address
  cli --cluster create $addresses --cluster-replicas 1 --cluster-yes >/dev/null
elif [ "$fresh" -gt 0 ]; then
  # A node that lost its cluster state (its container was recreated) while the others kept theirs:
  # joining it back is an operator's decision (redis-cli --cluster add-node), or start anew.
  say "$fresh of $# nodes belong to no cluster while the others do; to start anew: down -v, then up"
  exit 1
else
  say "the nodes already form a cluster"
fi

# Up to 30 s for every node to see the cluster ok and for all of them to agree on the slots.
tries=150
while :; do
  ok=0
  for node; do
    if [ "$(info_field "${node%:*}" "${node##*:}" cluster_state)" = ok ]; then ok=$((ok + 1)); fi
  done
  if [ "$ok" -eq $# ] && cli --cluster check "$first" >/dev/null 2>&1; then break; fi
  tries=$((tries - 1))
  if [ "$tries" -le 0 ]; then
    cli --cluster check "$first" >&2 || true
    say "$ok of $# nodes report cluster_state:ok after 30 s"
    exit 1
  fi
  sleep 0.2
done
say "cluster ok: $# nodes agree on the slot map"

for node; do sh "$here/load-scripts.sh" -h "${node%:*}" -p "${node##*:}"; done
