#!/usr/bin/env bash
# `pnpm model`: model-checks the coherency protocol (model/strata.pml, prose in docs/protocol.md).
#
# 1. The fixed model, exhaustively (-DCOLLAPSE: lossless state compression, no bitstate, no hash
#    compaction), once per scenario: each scenario is one bounded set of faults, because all the
#    faults at once (every fault x two writes x two readers) is a state space of hundreds of millions
#    of states, far beyond a CI budget of minutes. Every scenario must report 0 errors and a
#    completed search.
# 2. Each "no fix" variant (one fix removed with -DNO_FIX_...), breadth-first (-DBFS), so the
#    counterexample spin finds is a shortest one. Each MUST find an error; its trail is replayed
#    with `spin -t` and printed as the list of steps (the model's printf lines).
# It prints a table and exits 1 when any variant does not do what it must.
#
# Why bash and not a TypeScript script: the work is running spin, gcc and pan and reading their
# output; a shell script needs nothing installed beyond those two (not even `pnpm install`), and
# the same file runs by hand (`bash model/run.sh [name...]`) and in CI.
#
# Environment: MODEL_MEMLIM (MB per pan run, default 2048), MODEL_KEEP=1 keeps the work directory.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
model=strata.pml
memlim=${MODEL_MEMLIM:-2048}

for tool in spin gcc; do
  if ! command -v "$tool" >/dev/null; then
    echo "model: '$tool' is not installed (Debian/Ubuntu: apt-get install -y spin gcc)" >&2
    exit 2
  fi
done

# Scenarios (spin -D flags; see the switches at the top of strata.pml).
BUS='-DW=1 -DMAXRESTARTS=0 -DEXP=false'              # subscriber drop + resubscribe, lease lapses
EXPIRY='-DW=1 -DMAXRESTARTS=0 -DMAXDROPS=0'          # fence / L2 entry expiry, lease lapses
RESTART='-DW=1 -DMAXDROPS=0 -DEXP=false -DFLOAT0=0'  # Redis restart, generation sync, quarantine, lapses
TWO='-DW=2 -DMAXRESTARTS=0 -DMAXDROPS=0 -DEXP=false' # two writes, lease lapses
FAILOVER='-DCLUSTER -DW=1 -DMAXRESTARTS=0 -DMAXDROPS=0 -DEXP=false -DFLOAT0=0' # a cluster shard's failover, lapses

# name | expect (pass: no error, fail: an error) | flags
variants=(
  "bus|pass|$BUS"
  "expiry|pass|$EXPIRY"
  "restart|pass|$RESTART"
  "two-writes|pass|$TWO"
  "failover|pass|$FAILOVER"
  "NO_FIX_L2_FENCE_CHECK|fail|$RESTART -DNO_FIX_L2_FENCE_CHECK"
  "NO_FIX_JOIN_RECHECK|fail|$BUS -DNO_FIX_JOIN_RECHECK"
  "NO_FIX_LAPSE_DETACH|fail|$BUS -DNO_FIX_LAPSE_DETACH"
  "NO_FIX_L2_NEEDS_LEASE|fail|$RESTART -DNO_FIX_L2_NEEDS_LEASE"
  "NO_FIX_QUARANTINE|fail|$RESTART -DNO_FIX_QUARANTINE"
  "NO_FIX_AGE_DETACH|fail|$EXPIRY -DNO_FIX_AGE_DETACH"
  "NO_FIX_PROMOTE_AGE|fail|$EXPIRY -DNO_FIX_PROMOTE_AGE"
  "NO_FIX_SET_DEADLINE|fail|$EXPIRY -DNO_FIX_SET_DEADLINE"
  "NO_FIX_FENCE_TTL|fail|$EXPIRY -DNO_FIX_FENCE_TTL"
  "NO_FIX_FAILOVER_MOVE|fail|$FAILOVER -DNO_FIX_FAILOVER_MOVE"
)

# Optional arguments select variants by name.
if (($#)); then
  selected=()
  for v in "${variants[@]}"; do
    for want in "$@"; do [[ ${v%%|*} == "$want" ]] && selected+=("$v"); done
  done
  variants=("${selected[@]}")
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/strata-model.XXXXXX")
[[ ${MODEL_KEEP:-} == 1 ]] || trap 'rm -rf "$work"' EXIT

# Which property an assertion text is.
property() {
  case "$1" in
    *'rep['*']!=0'*) echo 'read-your-writes' ;;
    *'rep['*']==0'*) echo 'bounded staleness' ;;
    *'deadBelow'*) echo 'no stale set (L2 after an ack)' ;;
    *'>=lf['*) echo 'no stale set (L1 below the fence)' ;;
    *'>=seen['*) echo 'no stale set (L1 older than an acked write)' ;;
    *) echo "$1" ;;
  esac
}

rows=()
failed=0
n=${#variants[@]}
i=0
started_all=$(date +%s.%N)
for v in "${variants[@]}"; do
  i=$((i + 1))
  IFS='|' read -r name expect flags <<<"$v"
  dir="$work/$name"
  mkdir -p "$dir"
  cp "$here/$model" "$dir/"
  if [[ $expect == pass ]]; then
    panflags=(-O2 -DSAFETY -DCOLLAPSE "-DMEMLIM=$memlim")
    runflags=(-m2000000 -c1 -w24)
    how='exhaustive DFS'
  else
    # A shortest counterexample is found after a few hundred thousand states at most: compiling
    # pan.c with -O2 would take longer than the search it speeds up.
    panflags=(-O0 -DSAFETY -DBFS "-DMEMLIM=$memlim")
    runflags=(-c1 -w24)
    how='BFS, stops at the first error'
  fi
  printf '==> [%d/%d] %s (%s; %s)\n' "$i" "$n" "$name" "$how" "$flags"
  t0=$(date +%s.%N)
  # shellcheck disable=SC2086 # flags are word lists on purpose
  (cd "$dir" && spin $flags -a "$model" >spin.out 2>&1 && gcc -w "${panflags[@]}" -o pan pan.c) || {
    echo "    spin/gcc failed:"; sed 's/^/    /' "$dir/spin.out"; exit 2
  }
  (cd "$dir" && ./pan "${runflags[@]}" >pan.out 2>&1) || true
  t1=$(date +%s.%N)
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  out="$dir/pan.out"
  errors=$(grep -oE 'errors: [0-9]+' "$out" | grep -oE '[0-9]+' || echo '?')
  states=$(grep -oE '^ *[0-9]+ states, stored' "$out" | grep -oE '[0-9]+' | head -1 || echo '?')
  depth=$(grep -oE 'depth reached [0-9]+' "$out" | grep -oE '[0-9]+' || echo '?')
  complete=yes
  if grep -qE 'Search not completed|out of memory|max search depth too small|aborted' "$out"; then complete=no; fi
  if [[ $expect == pass ]]; then
    [[ $errors == 0 && $complete == yes ]] && verdict=ok || verdict=MISMATCH
  else
    [[ $errors != 0 && $errors != '?' ]] && verdict=ok || verdict=MISMATCH
  fi
  [[ $verdict == ok ]] || failed=1
  printf '    %s states, depth %s, %s error(s), %ss%s -> %s\n' "$states" "$depth" "$errors" "$secs" \
    "$([[ $complete == yes || $expect == fail ]] || echo ', SEARCH INCOMPLETE')" "$verdict"
  if [[ $errors != 0 && $errors != '?' ]]; then
    assertion=$(grep -oE 'assertion violated .*\(at depth' "$out" | sed 's/assertion violated //; s/ (at depth//' | head -1)
    printf '    violated: %s   %s\n' "$(property "$assertion")" "$assertion"
    printf '    counterexample (spin -t):\n'
    # shellcheck disable=SC2086
    (cd "$dir" && spin $flags -t "$model" 2>&1) | grep -E '^ {6}' | sed -E 's/^ +/      /'
    [[ $expect == pass ]] && grep -E 'assertion|error' "$out" | sed 's/^/    /'
  fi
  rows+=("$name|$states|$depth|$errors|$( [[ $expect == pass ]] && echo 0 || echo '>=1' )|$secs|$verdict")
done
total=$(awk -v a="$started_all" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')

echo
printf '%-24s %12s %7s %7s %9s %8s  %s\n' variant 'states' depth errors expected 'time(s)' result
printf '%-24s %12s %7s %7s %9s %8s  %s\n' ------- ------ ----- ------ -------- ------- ------
for row in "${rows[@]}"; do
  IFS='|' read -r name states depth errors expected secs verdict <<<"$row"
  printf '%-24s %12s %7s %7s %9s %8s  %s\n' "$name" "$states" "$depth" "$errors" "$expected" "$secs" "$verdict"
done
echo "total ${total}s"
if ((failed)); then
  echo 'model: MISMATCH: a fixed scenario has an error, or a no-fix variant found none' >&2
  exit 1
fi
echo 'model: every scenario passes, and every removed fix is caught'
