#!/bin/sh
# Starts one node of the Redis Cluster of deploy/docker-compose.cluster.yml: deploy/redis/start.sh
# (the same two ACL users, no persistence, Strata's scripts loaded after the start) in cluster mode.
#
#     sh cluster-node.sh NAME [redis-server options]
#
# NAME is the node's address on the compose network (its service name): the node announces it as
# its endpoint (CLUSTER SLOTS, MOVED), so the API replicas reach it through Docker's DNS whatever
# IP the container has. REDIS_MAXMEMORY bounds its memory (default 256mb; noeviction, as the
# single Redis). The cluster's state (nodes.conf) stays in the working directory, so a restarted
# node keeps its id and its place in the cluster.
set -eu

name=${1:?usage: cluster-node.sh NAME [redis-server options]}
shift

# The cluster bus knows peers by IP only, and Docker hands out addresses anew when containers
# restart: after `docker compose restart` or a reboot, a node may look for a peer at an address
# that is now another node's, and the two never meet again. So a node that was in a cluster
# introduces itself to every peer of its nodes.conf at the peer's current address (CLUSTER MEET:
# on seeing a known node id at a new address, both sides update it), each second until it sees
# the cluster ok with no peer lost, for up to 60 s. In the background, detached, like start.sh's
# script loader (compose's init reaps it); the admin password comes from REDISCLI_AUTH.
rejoin() {
  [ -s nodes.conf ] || return 0 # a new node: redis-cluster-init makes the cluster
  # Lines `<id> <ip>:<port>@<bus port>,<hostname>,... <flags> ...`: the other nodes' hostname:port
  # (a peer already lost is written with port 0: the compose file's nodes all listen on 6379).
  peers=$(sed -n 's/^[0-9a-f]\{40\} [^ :]*:\([0-9]*\)@[0-9]*,\([^ ,]*\)[ ,].*/\2:\1/p' nodes.conf |
    sed 's/:0$/:6379/' | grep -v "^$name:" || true)
  cli() { redis-cli --no-auth-warning -h 127.0.0.1 "$@" 2>/dev/null; }
  tries=60
  while [ "$tries" -gt 0 ]; do
    tries=$((tries - 1))
    sleep 1
    nodes=$(cli CLUSTER NODES) || continue
    if cli CLUSTER INFO | grep -q '^cluster_state:ok' && ! printf '%s\n' "$nodes" | grep -Eq ' [^ ]*(fail|noaddr)'; then
      return 0
    fi
    for peer in $peers; do
      ip=$(getent hosts "${peer%:*}" | awk '{ print $1; exit }')
      if [ -n "$ip" ]; then cli CLUSTER MEET "$ip" "${peer##*:}" >/dev/null || true; fi
    done
  done
  printf 'strata cluster-node: %s does not see the cluster ok after 60 s\n' "$name" >&2
}
(REDISCLI_AUTH=${REDIS_ADMIN_PASSWORD:-} rejoin &)

# cluster-node-timeout 1000: a master that stops answering is replaced by its replica within a few
# seconds. cluster-require-full-coverage no: while one shard fails over, the others serve.
exec sh "$(dirname "$0")/start.sh" \
  --maxmemory "${REDIS_MAXMEMORY:-256mb}" --maxmemory-policy noeviction \
  --cluster-enabled yes --cluster-node-timeout 1000 --cluster-require-full-coverage no \
  --cluster-announce-hostname "$name" --cluster-preferred-endpoint-type hostname "$@"
